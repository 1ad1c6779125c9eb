"""Screens: listing age, metric thresholds and grade screens, each a step marking who falls out and why."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..methodology.grades import (
    GRADE_METRICS,
    GRADE_SCALES,
    RATINGS_TABLE,
    off_scale_sql,
    place,
)
from ..methodology.schema import Methodology, Screen
from ..methodology.vocabulary import (
    ATTRIBUTES_TABLE,
    EXTERNAL_METRICS,
    VALUATION_TABLE,
)
from .context import Context, _lit, _q
from .steps import Steps


def _listing_age(m: Methodology, plan: Steps) -> None:
    """Listing ages: the default rule, and each board's own (`listing_age_by_board`)."""
    from ..methodology.schema import BoardListingAge

    u = m.universe
    rules: list[tuple[list[str], BoardListingAge]] = []
    default_boards = [b for b in u.boards if b not in u.listing_age_by_board]
    if u.min_listing_age is not None and default_boards:
        rules.append((default_boards, BoardListingAge(min_age=u.min_listing_age,
                                                      new_listing_exception=u.new_listing_exception)))
    rules += [([b], rule) for b, rule in u.listing_age_by_board.items()]

    def too_young(a: Any) -> str:
        if a.trading_days is not None:
            return f"listing_days < {int(a.trading_days)}"
        return f"list_date > $cutoff - INTERVAL {int(a.months)} MONTH"

    per_board = bool(u.listing_age_by_board)
    for i, (boards, rule) in enumerate(rules):
        age, exc = rule.min_age, rule.new_listing_exception
        cond = too_young(age)
        if exc is not None:
            # Large new listings may enter early: ranked among every candidate with data.
            col = _q(exc.metric)
            plan.add(
                f"""SELECT *, CASE WHEN {col} IS NOT NULL THEN
                      row_number() OVER (PARTITION BY {col} IS NULL ORDER BY {col} DESC, code) END AS _er{i},
                      count(*) OVER (PARTITION BY {col} IS NULL) AS _en{i} FROM {{prev}}"""
            )
            within = f"_er{i} <= {int(exc.top_n)}" if exc.top_n is not None else f"_er{i} <= ceil(_en{i} * {exc.top_pct / 100!r})"
            cond = f"({cond}) AND (({too_young(exc.min_age)}) OR _er{i} IS NULL OR NOT ({within}))"
        where = f"board IN ({', '.join(_lit(b) for b in boards)}) AND ({cond})" if per_board else cond
        on_board = f" on board {boards[0]}" if per_board and len(boards) == 1 else ""
        plan.drop(
            "universe",
            where,
            f"format('listed {{}} trading days (since {{}}); needs {age.describe()}{on_board}', listing_days, list_date)",
        )


def missing_data(metric: str, ctx: Context) -> str | None:
    """What the store lacks for an external `metric` (for the warning of a rule it skips),
    or None when the metric is not external or the store has its data."""
    if metric not in EXTERNAL_METRICS or metric in ctx.external:
        return None
    if metric in GRADE_METRICS:
        return f"{GRADE_METRICS[metric]} ESG grades (table {RATINGS_TABLE})"
    if metric == "esg_score":
        return "ESG data (table esg_scores)"
    if metric == "profitable":
        return f"profitability data (table {VALUATION_TABLE}: PE (TTM) snapshots)"
    return f"{metric} data (table {ATTRIBUTES_TABLE})"


def _screen(s: Screen, i: int, ctx: Context, plan: Steps, warnings: list[str], cutoff: dt.date) -> None:
    col = _q(s.metric)
    stage = f"screen {i}"
    what = missing_data(s.metric, ctx)
    if what:
        note = f" [{s.note}]" if s.note else ""
        warnings.append(f"screen {i} ({s.describe()}{note}) skipped: the store has no {what}")
        return
    if s.type == "min_grade":
        _grade_screen(s, i, ctx, plan, warnings, cutoff)
        return
    exempt = " AND NOT incumbent" if s.applies_to == "newcomers" else ""
    if s.boards:  # the screen holds for these boards only
        exempt += f" AND board IN ({', '.join(_lit(b) for b in s.boards)})"

    def threshold(f: Any) -> str:
        """The screen's cut as SQL: incumbents' own where the screen gives them one."""
        if s.incumbents_value is None:
            return f(s.value)
        return f"CASE WHEN incumbent THEN {f(s.incumbents_value)} ELSE {f(s.value)} END"

    if s.if_missing == "drop":
        plan.drop(stage, f"{col} IS NULL{exempt}", _lit(f"no {s.metric} data (screen {i}: {s.describe()})"))
    if s.type in ("min_value", "max_value"):
        op = "<" if s.type == "min_value" else ">"
        plan.drop(stage, f"{col} {op} {threshold(repr)}{exempt}",
                  f"format('{s.metric} {{}} fails screen {i}: {s.describe()}', round({col}, 4))")
        return
    # Rank-based screens rank the stocks still in, or the sample space: the stocks still in
    # plus the members of the indices this one excludes; ranks count from the top.
    pool = "reason IS NULL" if s.scope == "remaining" else "(reason IS NULL OR stage = 'membership')"
    pool = f"({pool} AND {col} IS NOT NULL)"
    # the count shares the rank's partition (so DuckDB computes both in one window pass);
    # it is read only where the rank is, inside the pool
    plan.add(
        f"""SELECT *, CASE WHEN {pool} THEN row_number() OVER (PARTITION BY {pool} ORDER BY {col} DESC, code) END AS _r{i},
                  count(*) OVER (PARTITION BY {pool}) AS _n{i} FROM {{prev}}"""
    )
    if s.type == "drop_bottom_pct":
        keep = threshold(lambda v: f"_n{i} - floor(_n{i} * {v / 100!r})")
    elif s.type == "keep_top_pct":
        keep = threshold(lambda v: f"ceil(_n{i} * {v / 100!r})")
    else:
        keep = threshold(lambda v: str(int(v)))
    cond = f"_r{i} <= {keep}" if s.type == "drop_top_n" else f"_r{i} > {keep}"
    plan.drop(stage, f"_r{i} IS NOT NULL AND {cond}{exempt}",
              f"format('{s.describe()}: rank {{}} of {{}} (cut at {{}})', _r{i}, _n{i}, CAST({keep} AS BIGINT))")


def _grade_screen(s: Screen, i: int, ctx: Context, plan: Steps, warnings: list[str], cutoff: dt.date) -> None:
    """A minimum grade: stocks rated worse are out; unrated stocks stay (the rules exclude
    stocks rated below a grade). Grades off the provider's scale are warned about."""
    provider = GRADE_METRICS[s.metric]
    scale = GRADE_SCALES[provider]
    assert s.grade is not None
    col = _q(s.metric)
    plan.drop(f"screen {i}", f"{col} > {place(provider, s.grade)}",
              f"format('{provider} ESG grade {{}} fails screen {i}: {s.describe()}', "
              f"list_extract({_lit(list(scale))}::VARCHAR[], CAST({col} AS INTEGER)))")
    row = ctx.store.con.execute(off_scale_sql(provider), {"cutoff": cutoff}).fetchone()
    if row and row[0]:
        warnings.append(f"screen {i}: {row[0]} {provider} ratings up to the cutoff have a grade not on its scale "
                        f"({', '.join(scale)}): those stocks count as unrated and are kept")


