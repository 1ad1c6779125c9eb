"""The engine: compiles a methodology into SQL that DuckDB runs over the store.

One review is a short pipeline of set operations on temp tables, each bounded by the data
cutoff: candidates (the board's listed stocks) -> window metrics (one grouped scan of the
bars, share capital joined ASOF) -> universe exclusions -> screens in order -> ranking ->
buffered selection with a cap on changes -> weights. Every step records, per stock, the
reason it fell out or got in, so any stock near a boundary can say why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import DependencyCycleError, IndexReconError, StoreError
from .loader import load_methodology
from .metrics import ATTRIBUTES_TABLE, EXTERNAL_METRICS, METRICS, WEIGHT_SHARES
from .schedule import (
    ReviewDates,
    TradingCalendar,
    check_in_data,
    daily_review_dates,
    latest_review_in_force,
    parse_review,
    review_dates,
    reviews_between,
)
from .schema import Methodology, Screen
from .store import Store
from .weights import cap_weights, tier_case_sql

if TYPE_CHECKING:
    from .results import ReviewResult

IncumbentSpec = str | Path | Iterable[str] | None


@dataclass
class Context:
    """Per-store state shared by the reviews of one run (calendar, caches, chain stack)."""

    store: Store
    cal: TradingCalendar
    cache: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    stack: list[str] = field(default_factory=list)
    has_float: bool = False
    has_free_float: bool = False
    has_status: bool = False
    external: dict[str, str] = field(default_factory=dict)  # metric -> SQL of (code, date, value)
    metric_tables: dict[tuple[dt.date, dt.date, tuple[str, ...]], str] = field(default_factory=dict)
    metric_seq: int = 0
    own_warnings: dict[int, tuple[list[str], list[str]]] = field(default_factory=dict)

    @property
    def has_esg(self) -> bool:
        return "esg_score" in self.external


_CONTEXTS: dict[int, Context] = {}


def context(store: Store) -> Context:
    ctx = _CONTEXTS.get(id(store))
    if ctx is None or ctx.store is not store:
        store.require("securities", "bars", "shares", "calendar")
        days = [r[0] for r in store.con.execute("SELECT date FROM calendar ORDER BY date").fetchall()]
        row = store.con.execute("SELECT count(float_shares), count(free_float_shares) FROM shares").fetchone()
        ctx = Context(store, TradingCalendar(days))
        ctx.has_float, ctx.has_free_float = bool(row and row[0]), bool(row and row[1])
        if store.has_table("status"):
            r = store.con.execute("SELECT count(*) FROM status").fetchone()
            ctx.has_status = bool(r and r[0])
        ctx.external = _external_sources(store)
        _CONTEXTS[id(store)] = ctx
    return ctx


def _external_sources(store: Store) -> dict[str, str]:
    """For each external metric the store has data for, the SQL of its (code, date, value)."""
    attrs: set[str] = set()
    if store.has_table(ATTRIBUTES_TABLE):
        attrs = {r[0] for r in store.con.execute(f"SELECT DISTINCT attribute FROM {ATTRIBUTES_TABLE}").fetchall()}
    esg_rows = 0
    if store.has_table("esg_scores"):
        r = store.con.execute("SELECT count(*) FROM esg_scores").fetchone()
        esg_rows = int(r[0]) if r else 0
    out: dict[str, str] = {}
    for name, (_, tables) in EXTERNAL_METRICS.items():
        parts = []
        if "esg_scores" in tables and name == "esg_score" and esg_rows:
            parts.append("SELECT code, date, CAST(score AS DOUBLE) AS value FROM esg_scores")
        if ATTRIBUTES_TABLE in tables and name in attrs:
            parts.append(
                f"SELECT code, date, CAST(value AS DOUBLE) AS value FROM {ATTRIBUTES_TABLE} "
                f"WHERE attribute = {_lit(name)}"
            )
        if parts:
            out[name] = " UNION ALL ".join(parts)
    return out


def methodology_key(m: Methodology) -> str:
    blob = json.dumps(m.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _lit(v: Any) -> str:
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, dt.date):
        return f"DATE '{v.isoformat()}'"
    return repr(v)


# ---------------------------------------------------------------------------------------
# Incumbents
# ---------------------------------------------------------------------------------------
def official_members(store: Store, index_code: str | None, before: dt.date) -> list[str] | None:
    """Official members on the last day before `before`: membership intervals first, else
    the latest official weight snapshot before it. None if the store has neither."""
    if not index_code:
        return None
    day = before - dt.timedelta(days=1)
    rows = store.con.execute(
        "SELECT DISTINCT code FROM index_membership WHERE index_code = ? AND start_date <= ? "
        "AND (end_date IS NULL OR end_date >= ?) ORDER BY code",
        [index_code, day, day],
    ).fetchall()
    if rows:
        return [r[0] for r in rows]
    rows = store.con.execute(
        "SELECT code FROM official_weights WHERE index_code = ? AND trade_date = "
        "(SELECT max(trade_date) FROM official_weights WHERE index_code = ? AND trade_date < ?) "
        "ORDER BY code",
        [index_code, index_code, before],
    ).fetchall()
    return [r[0] for r in rows] if rows else None


def _read_codes_file(path: Path) -> list[str]:
    if not path.exists():
        raise IndexReconError(f"incumbents file {path} does not exist")
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        items = data.get("constituents", data) if isinstance(data, dict) else data
        codes = [x["code"] if isinstance(x, dict) else str(x) for x in items]
    elif path.suffix == ".parquet":
        codes = pd.read_parquet(path)["code"].astype(str).tolist()
    else:
        text = path.read_text().splitlines()
        first = text[0].split(",") if text else []
        if "code" in first:
            col = first.index("code")
            codes = [ln.split(",")[col] for ln in text[1:] if ln.strip()]
        else:
            codes = [ln.split(",")[0] for ln in text if ln.strip()]
    codes = [c.strip().zfill(6) for c in codes]
    bad = [c for c in codes if not c.isdigit() or len(c) != 6]
    if bad:
        raise IndexReconError(f"incumbents file {path}: '{bad[0]}' is not a 6-digit stock code")
    return sorted(set(codes))


def first_simulable_review(m: Methodology, ctx: Context) -> str:
    for label in reviews_between(m, ctx.cal.first, ctx.cal.last):
        try:
            if review_dates(m, ctx.cal, label).window_start >= ctx.cal.first:
                return label
        except StoreError:  # its cutoff lies before the store's first day
            continue
    raise StoreError(f"the store's data is too short for any complete {m.name} review window")


def resolve_incumbents(
    m: Methodology, ctx: Context, rd: ReviewDates, spec: IncumbentSpec, dep_inc: str = "auto"
) -> tuple[list[str], str]:
    """Incumbent codes and a label saying where they came from."""
    if spec is None or spec == "none":
        return [], "none (pure rule ranking)"
    if isinstance(spec, str) and spec in ("official", "auto", "simulate"):
        if spec in ("official", "auto"):
            codes = official_members(ctx.store, m.index_code, rd.effective)
            if codes is not None:
                return codes, f"official members before {rd.effective}"
            if spec == "official":
                raise StoreError(
                    f"the store has no official {m.index_code or m.name} membership before "
                    f"{rd.effective}; use --incumbents simulate"
                )
        return _simulated_incumbents(m, ctx, rd, dep_inc)
    if isinstance(spec, (str, Path)):
        return _read_codes_file(Path(spec)), f"file {spec}"
    return sorted({str(c).zfill(6) for c in spec}), "given list"


def _simulated_incumbents(
    m: Methodology, ctx: Context, rd: ReviewDates, dep_inc: str = "auto"
) -> tuple[list[str], str]:
    """Roll reviews forward from the earliest complete window to the one before `rd`.

    Each review's incumbents are the previous review's simulated result (cached), so rolling
    through k reviews costs k runs however often it is asked for; the indices this one
    depends on are resolved at every step with `dep_inc`."""
    if m.schedule.frequency == "daily":
        prev = ctx.cal.on_or_before(rd.effective - dt.timedelta(days=1))
        if prev <= ctx.cal.first:
            return [], "none (first day of the data)"
        res = run_review(m, ctx.store, as_of=prev, incumbents="none", _ctx=ctx)
        return res.codes, f"simulated: previous day {res.dates.review}"
    seed = first_simulable_review(m, ctx)
    labels = [lb for lb in reviews_between(m, ctx.cal.first, rd.effective) if lb < rd.review]
    labels = [lb for lb in labels if lb >= seed]
    if not labels:
        return [], f"none (review {rd.review} is the first with a complete window: seed)"
    prev_label = labels[-1]
    if prev_label == seed:
        res = run_review(m, ctx.store, seed, incumbents=None, allow_provisional=True, _ctx=ctx, _dep_inc=dep_inc)
    else:
        res = run_review(
            m, ctx.store, prev_label, incumbents="simulate", allow_provisional=True, _ctx=ctx, _dep_inc=dep_inc
        )
    return res.codes, f"simulated: seeded {seed} by pure ranking, rolled through {prev_label}"


# ---------------------------------------------------------------------------------------
# The review pipeline
# ---------------------------------------------------------------------------------------
def run_review(
    m: Methodology | str | Path | dict[str, Any],
    store: Store,
    review: str | None = None,
    *,
    as_of: dt.date | None = None,
    incumbents: IncumbentSpec = "auto",
    allow_provisional: bool = False,
    _ctx: Context | None = None,
    _dep_inc: str | None = None,
) -> ReviewResult:
    """Run one review of `m` over `store` and return the full candidate table.

    Indices this one depends on (`universe.exclude_members_of`, `universe.members_of`) are
    reviewed first, in the same run, at the review of theirs in force on this effective
    date; their incumbents follow `incumbents` when it is a mode (official / auto /
    simulate / none; official falls back to auto, with a warning, for an index the store
    has no official membership of), else auto."""
    from .results import ReviewResult

    m = load_methodology(m)  # type: ignore[arg-type]
    ctx = _ctx or context(store)
    if m.schedule.frequency == "daily":
        day = as_of or (_daily_day(ctx, review) if review else ctx.cal.last)
        rd = daily_review_dates(m, ctx.cal, day)
    else:
        if review is None:
            if as_of is None:
                raise IndexReconError("give a review (YYYY-MM) or an as-of date")
            review = latest_review_in_force(m, ctx.cal, as_of)
        rd = review_dates(m, ctx.cal, review)
    check_in_data(rd, ctx.cal, allow_provisional=allow_provisional)
    rules = m.for_date(rd.effective)
    dep_inc = _dep_inc or (incumbents if isinstance(incumbents, str) else "auto")
    if dep_inc not in ("official", "auto", "simulate", "none"):
        dep_inc = "auto"  # a file of this index's incumbents says nothing about the others

    dep_warnings: list[str] = []
    # The stack holds only the chain of dependencies being resolved, so rolling this
    # index's own reviews forward is not mistaken for a cycle.
    ctx.stack.append(m.name)
    try:
        excluded, required = _dependency_members(rules, ctx, rd, dep_inc, dep_warnings)
    finally:
        ctx.stack.pop()
    warnings: list[str] = []
    inc_key = incumbents if isinstance(incumbents, str) or incumbents is None else "list:" + ",".join(
        sorted(str(c) for c in incumbents)  # type: ignore[union-attr]
    )
    deps = hashlib.sha256(json.dumps([excluded, required], sort_keys=True).encode()).hexdigest()[:16]
    key = (methodology_key(rules), rd.review, f"{inc_key}|{dep_inc}|{deps}")
    if key in ctx.cache:
        return ctx.cache[key]
    inc_codes, inc_label = resolve_incumbents(rules, ctx, rd, incumbents, dep_inc)
    inc_codes = _map_codes(ctx, inc_codes)
    cand = _pipeline(rules, ctx, rd, inc_codes, excluded, required, warnings)
    if rd.provisional:
        warnings.insert(
            0,
            f"provisional: the store ends {ctx.cal.last}, before the scheduled data cutoff; "
            "results use the data so far",
        )
    res = ReviewResult(
        methodology=rules,
        dates=rd,
        candidates=cand,
        incumbents_source=inc_label,
        incumbents=inc_codes,
        # provisional first, then what the dependencies reported, then this index's own
        warnings=list(dict.fromkeys([*warnings[: int(rd.provisional)], *dep_warnings,
                                     *warnings[int(rd.provisional):]])),
        store_label=store.label,
        synthetic=store.synthetic,
        store=store,
    )
    ctx.cache[key] = res
    ctx.own_warnings[id(res)] = (warnings, dep_warnings)
    return res


def _map_codes(ctx: Context, codes: list[str]) -> list[str]:
    """Codes given under an old code (official lists, files) mapped to the code the store
    keys the history by (table code_changes)."""
    if not codes or not ctx.store.has_table("code_changes"):
        return codes
    changes = dict(ctx.store.con.execute("SELECT old_code, new_code FROM code_changes").fetchall())
    out = []
    for c in codes:
        for _ in range(5):
            c = changes.get(c, c)
        out.append(c)
    return sorted(set(out))


def _daily_day(ctx: Context, review: str) -> dt.date:
    """The day a review label names for a daily methodology: a date (YYYY-MM-DD), or a month
    (YYYY-MM) - its first trading day, or for a month past the store's data the next
    trading day after it (the next rebalance, e.g. what `rebalance` asks for)."""
    try:
        return dt.date.fromisoformat(review)
    except ValueError:
        pass
    year, month = parse_review(review)
    first = dt.date(year, month, 1)
    if first > ctx.cal.last:
        return ctx.cal.after(ctx.cal.last, 1)
    return ctx.cal.after(first, 0)


def _dependency_members(
    rules: Methodology, ctx: Context, rd: ReviewDates, dep_inc: str, warnings: list[str]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Members of the indices this one excludes / draws from, computed first (in one run)."""
    out: tuple[dict[str, list[str]], dict[str, list[str]]] = ({}, {})
    u = rules.universe
    for kind, names in ((0, u.exclude_members_of), (1, u.members_of)):
        for name in names:
            dep = load_methodology(name)
            if dep.name in ctx.stack:
                chain = " -> ".join([*ctx.stack, dep.name])
                raise DependencyCycleError(f"methodologies depend on each other's members in a cycle: {chain}")
            inc = dep_inc
            if dep.schedule.frequency == "daily":
                label, when = None, rd.effective
            else:
                label, when = latest_review_in_force(dep, ctx.cal, rd.effective), None
            if inc == "official":
                eff = review_dates(dep, ctx.cal, label).effective if label else rd.effective
                if official_members(ctx.store, dep.index_code, eff) is None:
                    warnings.append(
                        f"{dep.name}: the store has no official {dep.index_code or dep.name} membership; "
                        "its incumbents are simulated (auto)"
                    )
                    inc = "auto"
            res = run_review(dep, ctx.store, label, as_of=when, incumbents=inc, allow_provisional=True,
                             _ctx=ctx, _dep_inc=dep_inc if dep_inc != "official" else None)
            out[kind][name] = res.codes
            own, nested = ctx.own_warnings.get(id(res), (res.warnings, []))
            warnings.extend(nested)  # already prefixed with the index they come from
            warnings.extend(f"{dep.name}: {w}" for w in own)
    return out


def _metric_sql() -> str:
    return ",\n  ".join(f"{m.sql} AS {m.name}" for m in METRICS.values())


def _window_metrics(ctx: Context, start: dt.date, cutoff: dt.date, boards: tuple[str, ...]) -> str:
    """A temp table of the boards' stocks' window metrics for [start, cutoff]: one grouped scan of
    the bars with share capital joined point in time, computed once per window and run (CSI
    300, 500, 1000 and 2000 of one review share it)."""
    key = (start, cutoff, boards)
    name = ctx.metric_tables.get(key)
    if name is not None:
        return name
    while len(ctx.metric_tables) >= 8:  # keep a few windows (daily methodologies move every day)
        old = ctx.metric_tables.pop(next(iter(ctx.metric_tables)))
        ctx.store.con.execute(f"DROP TABLE IF EXISTS {old}")
    ctx.metric_seq += 1
    name = f"_ir_m{ctx.metric_seq}"
    ctx.store.con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        WITH codes AS (SELECT code FROM securities WHERE board IN ({", ".join(_lit(b) for b in boards)})),
        sh AS (
          -- share capital as intervals [effective_date, next change): a plain range join
          -- gives the ASOF rows, several times faster over a year of bars; only the
          -- boards' stocks, and only the intervals that overlap the window
          SELECT * FROM (
            SELECT code, effective_date AS d0, total_shares, float_shares, free_float_shares,
                   lead(effective_date, 1, DATE '9999-12-31') OVER (
                     PARTITION BY code ORDER BY effective_date, total_shares, float_shares, free_float_shares
                   ) AS d1
            FROM shares WHERE effective_date <= $cutoff AND code IN (SELECT code FROM codes)
          ) WHERE d1 > $start
        ),
        w AS (
          SELECT b.code, b.date, b.close, b.amount, b.volume, s.total_shares,
                 coalesce(s.float_shares, s.total_shares) AS float_sh,
                 coalesce(s.free_float_shares, s.float_shares, s.total_shares) AS ff_sh
          FROM bars b LEFT JOIN sh s ON b.code = s.code AND b.date >= s.d0 AND b.date < s.d1
          WHERE b.date BETWEEN $start AND $cutoff AND b.code IN (SELECT code FROM codes)
        )
        SELECT code,
          {_metric_sql()},
          arg_max(total_shares, date) AS shares_total,
          arg_max(float_sh, date) AS shares_float,
          arg_max(ff_sh, date) AS shares_ff,
          max(date) AS last_bar
        FROM w GROUP BY code
        """,
        {"start": start, "cutoff": cutoff},
    )
    ctx.metric_tables[key] = name
    return name


def _pipeline(
    m: Methodology,
    ctx: Context,
    rd: ReviewDates,
    incumbents: list[str],
    excluded: dict[str, list[str]],
    required: dict[str, list[str]],
    warnings: list[str],
) -> pd.DataFrame:
    con = ctx.store.con
    u = m.universe
    boards = ", ".join(_lit(b) for b in u.boards)
    cutoff, start = rd.cutoff, rd.window_start
    p = {"cutoff": cutoff, "start": start}
    externals = ",\n          ".join(f"CAST(NULL AS DOUBLE) AS {_q(n)}" for n in EXTERNAL_METRICS)
    metrics = _window_metrics(ctx, start, cutoff, tuple(sorted(u.boards)))

    # Candidates: the boards' stocks listed by the cutoff and not delisted by then, with
    # their industry at the cutoff and the window metrics from one grouped scan.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _ir_c AS
        WITH sec AS (
          SELECT code, name, board, exchange, list_date FROM securities
          WHERE board IN ({boards})
            AND (list_date IS NULL OR list_date <= $cutoff)
            AND (delist_date IS NULL OR delist_date > $cutoff)
        ),
        cal AS (SELECT date FROM calendar WHERE date <= $cutoff),
        ind AS (
          SELECT code, arg_max(sw_l1_code, start_date) AS sw_l1_code,
                 arg_max(sw_l1_name, start_date) AS sw_l1_name,
                 arg_max(sw_l1_name_en, start_date) AS sw_l1_name_en,
                 arg_max(sw_l2_code, start_date) AS sw_l2_code,
                 arg_max(sw_l2_name, start_date) AS sw_l2_name,
                 arg_max(sw_l3_code, start_date) AS sw_l3_code
          FROM industry WHERE start_date <= $cutoff AND (end_date IS NULL OR end_date >= $cutoff)
          GROUP BY code
        )
        SELECT sec.*, ind.sw_l1_code, ind.sw_l1_name, ind.sw_l1_name_en, ind.sw_l2_name,
          ind.sw_l2_code, ind.sw_l3_code,
          (SELECT count(*) FROM cal WHERE cal.date >= coalesce(sec.list_date, DATE '1900-01-01'))
            AS listing_days,
          (SELECT count(*) FROM cal WHERE cal.date >= greatest($start, coalesce(sec.list_date, $start)))
            - coalesce(agg.traded_days, 0) AS suspended_days,
          agg.* EXCLUDE (code),
          {externals},
          CAST(NULL AS DOUBLE) AS composite_rank,
          CAST(NULL AS VARCHAR) AS stage,
          CAST(NULL AS VARCHAR) AS reason,
          CAST(NULL AS BIGINT) AS rank,
          CAST(NULL AS BOOLEAN) AS incumbent,
          CAST(NULL AS BOOLEAN) AS selected,
          CAST(NULL AS VARCHAR) AS status,
          CAST(NULL AS DOUBLE) AS weight,
          CAST(NULL AS DOUBLE) AS inclusion_factor,
          CAST(NULL AS DOUBLE) AS cap_factor
        FROM sec LEFT JOIN {metrics} agg USING (code) LEFT JOIN ind USING (code)
        """,
        p,
    )
    for name, src in ctx.external.items():
        con.execute(
            f"""UPDATE _ir_c SET {_q(name)} = e.value FROM (
                 SELECT code, arg_max(value, date) AS value FROM ({src}) WHERE date <= $cutoff
                 GROUP BY code) e WHERE _ir_c.code = e.code""",
            {"cutoff": cutoff},
        )

    def drop(stage: str, cond: str, reason: str, params: dict[str, Any] | None = None) -> None:
        sql = f"UPDATE _ir_c SET stage = {_lit(stage)}, reason = {reason} WHERE reason IS NULL AND ({cond})"
        con.execute(sql, {k: v for k, v in (params or {}).items() if f"${k}" in sql})

    def codes_table(codes: list[str]) -> None:
        con.execute("CREATE OR REPLACE TEMP TABLE _ir_x AS SELECT unnest($c::VARCHAR[]) AS code", {"c": codes})

    # The sample space: universe rules, first reason wins.
    if u.exclude_codes:
        drop("universe", f"code IN ({', '.join(_lit(c) for c in u.exclude_codes)})", "'excluded by code list'")
    for name, codes in required.items():
        codes_table(codes)
        drop("universe", "code NOT IN (SELECT code FROM _ir_x)", _lit(f"not a member of {name} at this review"))
    st_kinds = []
    if u.exclude_st:
        st_kinds += ["ST", "*ST"]
    if u.exclude_delisting:
        st_kinds.append("delisting")
    has_status = ctx.has_status and bool(
        con.execute("SELECT count(*) FROM status WHERE start_date <= ?", [cutoff]).fetchone()[0]  # type: ignore[index]
    )
    if st_kinds and not has_status:
        what = " and ".join(x for x, on in (("ST / *ST", u.exclude_st), ("delisting-arrangement", u.exclude_delisting)) if on)
        warnings.append(
            f"the store has no status data up to the cutoff (table status): the exclusion of {what} "
            "stocks is not applied"
        )
    elif st_kinds:
        con.execute(
            f"""UPDATE _ir_c SET stage = 'universe', reason = s.status || ' at the data cutoff'
                FROM (SELECT code, min(status) AS status FROM status
                      WHERE status IN ({", ".join(_lit(k) for k in st_kinds)})
                        AND start_date <= $cutoff AND (end_date IS NULL OR end_date >= $cutoff)
                      GROUP BY code) s
                WHERE _ir_c.code = s.code AND _ir_c.reason IS NULL""",
            {"cutoff": cutoff},
        )
    drop("universe", "traded_days IS NULL", "'no trading in the review window'")
    if u.min_listing_age is not None or u.listing_age_by_board:
        _listing_age(m, ctx, rd, drop)
    if u.max_suspended_days is not None:
        drop(
            "universe",
            f"suspended_days > {int(u.max_suspended_days)}",
            f"format('suspended {{}} trading days in the window (more than {u.max_suspended_days})', suspended_days)",
        )
    # Members of the indices this one excludes: still part of the sample space (stage
    # 'membership'), so a sample-space screen ranks them ("CSI 300 members and the top 300").
    for name, codes in excluded.items():
        codes_table(codes)
        drop("membership", "code IN (SELECT code FROM _ir_x)", _lit(f"member of {name} at this review"))

    # Screens, in order, each over the stocks still in (or the whole sample space).
    codes_table(incumbents)
    con.execute("CREATE OR REPLACE TEMP TABLE _ir_i AS SELECT code FROM _ir_x")
    for i, s in enumerate(m.screens, start=1):
        _screen(s, i, ctx, drop, warnings)

    _rank_and_select(m, ctx, incumbents, drop, warnings)
    con.execute(
        "UPDATE _ir_c SET selected = coalesce(selected, false), "
        "incumbent = coalesce(incumbent, false), status = coalesce(status, '')"
    )
    _weights(m, ctx, warnings)
    df = con.execute("SELECT * FROM _ir_c ORDER BY rank NULLS LAST, code").df()
    for t in ("_ir_c", "_ir_x", "_ir_q", "_ir_i"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return df


def _listing_age(m: Methodology, ctx: Context, rd: ReviewDates, drop: Any) -> None:
    """Listing ages: the default rule, and each board's own (`listing_age_by_board`)."""
    from .schema import BoardListingAge

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
            # Large new listings may enter early: ranked among the whole universe with data.
            metric = exc.metric
            within = f"r <= {int(exc.top_n)}" if exc.top_n is not None else f"r <= ceil(n * {exc.top_pct / 100!r})"
            tbl = f"_ir_e{i}"
            ctx.store.con.execute(
                f"""CREATE OR REPLACE TEMP TABLE {tbl} AS SELECT code FROM (
                      SELECT code, row_number() OVER (ORDER BY {_q(metric)} DESC, code) AS r,
                             count(*) OVER () AS n
                      FROM _ir_c WHERE {_q(metric)} IS NOT NULL) WHERE {within}"""
            )
            cond = f"({cond}) AND (({too_young(exc.min_age)}) OR code NOT IN (SELECT code FROM {tbl}))"
        where = f"board IN ({', '.join(_lit(b) for b in boards)}) AND ({cond})" if per_board else cond
        on_board = f" on board {boards[0]}" if per_board and len(boards) == 1 else ""
        drop(
            "universe",
            where,
            f"format('listed {{}} trading days (since {{}}); needs {age.describe()}{on_board}', listing_days, list_date)",
            {"cutoff": rd.cutoff},
        )
        if exc is not None:
            ctx.store.con.execute(f"DROP TABLE IF EXISTS _ir_e{i}")


def _screen(s: Screen, i: int, ctx: Context, drop: Any, warnings: list[str]) -> None:
    con = ctx.store.con
    col = _q(s.metric)
    stage = f"screen {i}"
    if s.metric in EXTERNAL_METRICS and s.metric not in ctx.external:
        what = "ESG data (table esg_scores)" if s.metric == "esg_score" else f"{s.metric} data (table {ATTRIBUTES_TABLE})"
        note = f" [{s.note}]" if s.note else ""
        warnings.append(f"screen {i} ({s.describe()}{note}) skipped: the store has no {what}")
        return
    v = s.value
    exempt = " AND _ir_c.code NOT IN (SELECT code FROM _ir_i)" if s.applies_to == "newcomers" else ""
    if s.type in ("min_value", "max_value"):
        drop(stage, f"{col} IS NULL{exempt}", _lit(f"no {s.metric} data (screen {i}: {s.describe()})"))
        op = "<" if s.type == "min_value" else ">"
        drop(stage, f"{col} {op} {v!r}{exempt}", f"format('{s.metric} {{}} fails screen {i}: {s.describe()}', round({col}, 4))")
        return
    # Rank-based screens rank the stocks still in, or the sample space: the stocks still in
    # plus the members of the indices this one excludes; ranks count from the top.
    pool = "reason IS NULL" if s.scope == "remaining" else "(reason IS NULL OR stage = 'membership')"
    drop(stage, f"{col} IS NULL{exempt}", _lit(f"no {s.metric} data (screen {i}: {s.describe()})"))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ir_x AS
            SELECT code, row_number() OVER (ORDER BY {col} DESC, code) AS r, count(*) OVER () AS n
            FROM _ir_c WHERE ({pool}) AND {col} IS NOT NULL"""
    )
    if s.type == "drop_bottom_pct":
        keep = f"n - floor(n * {v / 100!r})"
        cond = f"r > {keep}"
    elif s.type == "keep_top_pct":
        keep = f"ceil(n * {v / 100!r})"
        cond = f"r > {keep}"
    elif s.type == "keep_top_n":
        keep = str(int(v))
        cond = f"r > {keep}"
    else:
        keep = str(int(v))
        cond = f"r <= {keep}"
    con.execute(
        f"""UPDATE _ir_c SET stage = {_lit(stage)},
              reason = format('{s.describe()}: rank {{}} of {{}} (cut at {{}})', x.r, x.n, CAST({keep} AS BIGINT))
            FROM _ir_x x WHERE _ir_c.code = x.code AND _ir_c.reason IS NULL AND {cond}{exempt}"""
    )


def _composite_rank(m: Methodology, ctx: Context) -> None:
    """composite_rank = the weighted average of each named metric's rank among the stocks
    still in (1 = best; ties share the lowest rank)."""
    terms = m.selection.composite or []
    total = sum(t.weight for t in terms)
    parts = [
        f"{t.weight!r} * rank() OVER (ORDER BY {_q(t.metric)} {'ASC' if t.order == 'asc' else 'DESC'} NULLS LAST)"
        for t in terms
    ]
    ctx.store.con.execute(
        f"""UPDATE _ir_c SET composite_rank = x.cr FROM (
              SELECT code, ({' + '.join(parts)}) / {total!r} AS cr FROM _ir_c WHERE reason IS NULL) x
            WHERE _ir_c.code = x.code"""
    )


def _rank_and_select(m: Methodology, ctx: Context, incumbents: list[str], drop: Any, warnings: list[str]) -> None:
    con = ctx.store.con
    sel = m.selection
    n = sel.count
    if sel.rank_by == "composite_rank":
        _composite_rank(m, ctx)
    direction = "ASC" if sel.order == "asc" else "DESC"
    order = ", ".join(
        [f"{_q(sel.rank_by)} {direction} NULLS LAST", *(f"{_q(t)} {direction} NULLS LAST" for t in sel.tie_break), "code"]
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _ir_x AS SELECT unnest($c::VARCHAR[]) AS code", {"c": incumbents})
    # An incumbent the store knows nothing about (no row in securities: the data lacks it,
    # e.g. a stock missing from a survivorship-biased source) keeps its place too.
    unknown = 0 if sel.all_eligible else con.execute(  # (a composite holds only what it can see)
        "SELECT count(*) FROM _ir_x WHERE code NOT IN (SELECT code FROM securities)"
    ).fetchone()[0]  # type: ignore[index]
    if unknown:
        con.execute(
            """INSERT INTO _ir_c (code, stage, reason, incumbent, selected, status)
               SELECT code, 'selection', 'kept: unknown to the store (no securities row; a gap in the data)',
                      true, true, 'retained'
               FROM _ir_x WHERE code NOT IN (SELECT code FROM securities)"""
        )
        warnings.append(f"{unknown} incumbent(s) are unknown to the store (no data at all): kept without a rank")
    # An incumbent the store cannot rank (e.g. no share capital, so no market cap) keeps its
    # place: a gap in the data is no evidence that it should leave. Newcomers without the
    # data cannot enter.
    no_data = f"reason IS NULL AND {_q(sel.rank_by)} IS NULL AND code IN (SELECT code FROM _ir_x)"
    kept = 0 if sel.all_eligible else con.execute(f"SELECT count(*) FROM _ir_c WHERE {no_data}").fetchone()[0]  # type: ignore[index]
    if kept:
        con.execute(
            f"""UPDATE _ir_c SET stage = 'selection', selected = true, incumbent = true, status = 'retained',
                  reason = {_lit(f"kept: no {sel.rank_by} data to rank it (a gap in the store's data)")}
                WHERE {no_data}"""
        )
        warnings.append(
            f"{kept} incumbent(s) have no {sel.rank_by} data (e.g. no share capital in the store): "
            "kept without a rank"
        )
    if not sel.all_eligible:  # a composite holds every eligible stock, ranked or not
        drop("selection", f"{_q(sel.rank_by)} IS NULL", _lit(f"no {sel.rank_by} data to rank by"))
    n = max(n - kept - unknown, 0)
    b_new = min(sel.buffer.newcomers_within if sel.buffer else n, n)
    b_inc = sel.buffer.incumbents_within if sel.buffer else n

    if sel.industry_balance is not None:
        _industry_select(m, ctx, order, bool(incumbents), warnings, n)
    else:
        # Priority tier 0: newcomers within b_new and incumbents within b_inc; then fill by rank.
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _ir_s AS
            WITH r AS (
              SELECT code, row_number() OVER (ORDER BY {order}) AS rank,
                     code IN (SELECT code FROM _ir_x) AS inc
              FROM _ir_c WHERE reason IS NULL
            ),
            t AS (SELECT *, CASE WHEN inc AND rank <= {b_inc} THEN 0
                                 WHEN NOT inc AND rank <= {b_new} THEN 0 ELSE 1 END AS tier FROM r)
            SELECT *, row_number() OVER (ORDER BY tier, rank) <= {n} AS sel_raw FROM t"""
        )
        n_inc_ranked = con.execute("SELECT count(*) FROM _ir_s WHERE inc").fetchone()[0]  # type: ignore[index]
        limit = n
        if sel.max_changes_pct is not None and incumbents:
            limit = max(int(np.floor(sel.count * sel.max_changes_pct / 100 + 1e-9)), n - n_inc_ranked)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _ir_s AS
            WITH a AS (SELECT *, CASE WHEN sel_raw AND NOT inc
                         THEN row_number() OVER (PARTITION BY sel_raw AND NOT inc ORDER BY rank) END AS add_seq
                       FROM _ir_s),
            b AS (SELECT *, sel_raw AND (inc OR add_seq <= {limit}) AS sel1 FROM a),
            k AS (SELECT *, CASE WHEN inc AND NOT sel1
                         THEN row_number() OVER (PARTITION BY inc AND NOT sel1 ORDER BY rank) END AS keep_seq
                  FROM b)
            SELECT *, sel1 OR (keep_seq IS NOT NULL AND keep_seq <= {n} - (SELECT count(*) FROM b WHERE sel1))
                      AS selected
            FROM k"""
        )
        buf = sel.buffer is not None
        _apply_selection(con, _select_update_sql(n, b_new, b_inc, limit, buf, bool(incumbents), sel.count))
    # Incumbents that are no longer candidates at all (delisted, moved board, no data).
    con.execute(
        "UPDATE _ir_c SET incumbent = true, status = 'deleted', "
        "reason = 'deleted: ' || reason WHERE code IN (SELECT code FROM _ir_x) AND rank IS NULL "
        "AND NOT coalesce(selected, false)"
    )
    gone = con.execute(
        "SELECT count(*) FROM _ir_x WHERE code NOT IN (SELECT code FROM _ir_c)"
    ).fetchone()[0]  # type: ignore[index]
    if gone:
        con.execute(
            """INSERT INTO _ir_c (code, name, board, stage, reason, incumbent, selected, status)
               SELECT x.code, s.name, s.board, 'universe',
                      'deleted: not a listed stock of the index boards at the cutoff', true, false, 'deleted'
               FROM _ir_x x LEFT JOIN securities s USING (code)
               WHERE x.code NOT IN (SELECT code FROM _ir_c)"""
        )
    n = sel.count
    n_sel = con.execute("SELECT count(*) FROM _ir_c WHERE selected").fetchone()[0]  # type: ignore[index]
    if n_sel < n and not sel.all_eligible:
        warnings.append(f"only {n_sel} stocks passed the rules; the index has {n_sel} of {n} places filled")
    if n_sel > n and sel.all_eligible:
        warnings.append(f"{n_sel} stocks passed the rules, more than the maximum of {n}")
    con.execute("DROP TABLE IF EXISTS _ir_s")


def _apply_selection(con: Any, select_sql: str) -> None:
    """Record rank, status and reason of every ranked stock. The values are computed by a
    SELECT and the table rebuilt with them: DuckDB updates thousands of distinct strings far
    more slowly in place (an UPDATE ... FROM) than it writes them into a new table."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _ir_u AS {select_sql}")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _ir_c AS SELECT c.* REPLACE (
             coalesce(u.rank, c.rank) AS rank, coalesce(u.inc, c.incumbent) AS incumbent,
             coalesce(u.selected, c.selected) AS selected,
             CASE WHEN u.code IS NULL THEN c.stage ELSE 'selection' END AS stage,
             coalesce(u.status, c.status) AS status, coalesce(u.reason, c.reason) AS reason)
           FROM _ir_c c LEFT JOIN _ir_u u USING (code)"""
    )
    con.execute("DROP TABLE IF EXISTS _ir_u")


def _allocate(n: int, share: dict[str, float], floor_: dict[str, int], avail: dict[str, int]) -> dict[str, int]:
    """Places per group: `n` split in proportion to `share` by largest remainder, at least
    `floor_` (leaders already in) and at most `avail` (stocks there are) per group."""
    groups = sorted(share)
    total = sum(share.values()) or 1.0
    target = {g: n * share[g] / total for g in groups}
    q = {g: min(avail[g], max(floor_.get(g, 0), int(np.floor(target[g])))) for g in groups}
    # hand out or take back places one at a time, by the largest gap to the target
    for _ in range(10 * n + len(groups) + 10):
        diff = n - sum(q.values())
        if diff == 0:
            break
        if diff > 0:
            cands = [g for g in groups if q[g] < avail[g]]
            if not cands:
                break
            g = max(cands, key=lambda x: (target[x] - q[x], share[x], x))
            q[g] += 1
        else:
            cands = [g for g in groups if q[g] > floor_.get(g, 0)]
            if not cands:
                break
            g = max(cands, key=lambda x: (q[x] - target[x], -share[x], x))
            q[g] -= 1
    return q


def _industry_select(m: Methodology, ctx: Context, order: str, has_inc: bool, warnings: list[str], n: int) -> None:
    """Industry-balanced selection of `n` places: places per industry, leaders first,
    buffers scaled to each industry's places, the best-ranked fill the rest."""
    con = ctx.store.con
    sel = m.selection
    ib = sel.industry_balance
    assert ib is not None
    grp = f"coalesce({ib.level}_code, '?')"
    alloc = _q(ib.allocate_by)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ir_s AS
        SELECT code, {grp} AS grp, row_number() OVER (ORDER BY {order}) AS rank,
               row_number() OVER (PARTITION BY {grp} ORDER BY {order}) AS grank,
               {f"row_number() OVER (PARTITION BY coalesce({ib.leaders}_code, code) ORDER BY {order}) = 1"
                if ib.leaders else "false"} AS leader,
               code IN (SELECT code FROM _ir_x) AS inc,
               coalesce({alloc}, 0) AS alloc
        FROM _ir_c WHERE reason IS NULL"""
    )
    rows = con.execute(
        "SELECT grp, sum(alloc), count(*), count(*) FILTER (WHERE leader) FROM _ir_s GROUP BY grp ORDER BY grp"
    ).fetchall()
    if not rows:
        _apply_selection(con, _industry_update_sql(n))
        return
    share = {r[0]: float(r[1] or 0.0) for r in rows}
    avail = {r[0]: int(r[2]) for r in rows}
    leaders = {r[0]: int(r[3]) for r in rows}
    if sum(leaders.values()) > n:
        warnings.append(
            f"{sum(leaders.values())} industry leaders ({ib.leaders}) exceed the {n} places: "
            "the best-ranked leaders are kept"
        )
        leaders = {g: 0 for g in leaders}
        con.execute(
            f"UPDATE _ir_s SET leader = leader AND code IN (SELECT code FROM _ir_s WHERE leader ORDER BY rank LIMIT {n})"
        )
        for g, c in con.execute("SELECT grp, count(*) FROM _ir_s WHERE leader GROUP BY grp").fetchall():
            leaders[g] = int(c)
    quota = _allocate(n, share, leaders, avail)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _ir_q AS SELECT unnest($g::VARCHAR[]) AS grp, unnest($q::BIGINT[]) AS q",
        {"g": list(quota), "q": [quota[g] for g in quota]},
    )
    b = sel.buffer
    bn = f"ceil(q * {b.newcomers_within / sel.count!r})" if b else "q"
    bi = f"ceil(q * {b.incumbents_within / sel.count!r})" if b else "q"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ir_s AS
        WITH t AS (
          SELECT s.*, q.q, {bn} AS b_new, {bi} AS b_inc,
                 CASE WHEN leader THEN 0
                      WHEN inc AND {'TRUE' if (b and has_inc) else 'FALSE'} AND grank <= {bi} THEN 1
                      WHEN NOT inc AND grank <= {bn} THEN 1 ELSE 2 END AS tier
          FROM _ir_s s JOIN _ir_q q USING (grp))
        SELECT *, row_number() OVER (PARTITION BY grp ORDER BY tier, grank) <= q AS selected FROM t"""
    )
    _apply_selection(con, _industry_update_sql(n, bool(b and has_inc), has_inc))


def _industry_update_sql(n: int, buf: bool = False, has_inc: bool = False) -> str:
    bi = "TRUE" if buf else "FALSE"
    hi = "TRUE" if has_inc else "FALSE"
    del hi
    return f"""
    SELECT s.code, s.rank, s.inc, s.selected,
      CASE WHEN s.selected AND s.inc THEN 'retained' WHEN s.selected THEN 'added'
           WHEN s.inc THEN 'deleted' ELSE '' END AS status,
      CASE
        WHEN s.selected AND s.leader THEN format('rank {{}}, selected: the largest of its industry', s.rank)
        WHEN s.selected AND s.inc AND s.grank > s.q AND {bi}
          THEN format('rank {{}} ({{}} in industry {{}}), kept by incumbent buffer {{}} of its {{}} places',
                      s.rank, s.grank, s.grp, s.b_inc, s.q)
        WHEN s.selected THEN format('rank {{}} ({{}} in industry {{}}), within its {{}} places',
                                    s.rank, s.grank, s.grp, s.q)
        WHEN s.inc THEN format('rank {{}} ({{}} in industry {{}}), deleted: outside its {{}} places',
                               s.rank, s.grank, s.grp, s.q)
        ELSE format('rank {{}} ({{}} in industry {{}}), outside its {{}} places', s.rank, s.grank, s.grp, s.q) END
        AS reason
    FROM _ir_s s"""


def _select_update_sql(n: int, b_new: int, b_inc: int, limit: int, buf: bool, has_inc: bool,
                       shown: int | None = None) -> str:
    """The UPDATE that records rank, status and the in/out reason of every ranked stock
    (`n` ranked places; `shown` the index's place count in the reasons)."""
    places = shown or n
    bi = "TRUE" if (buf and has_inc) else "FALSE"
    hi = "TRUE" if has_inc else "FALSE"
    return f"""
    SELECT s.code, s.rank, s.inc, s.selected,
      CASE WHEN s.selected AND s.inc THEN 'retained' WHEN s.selected THEN 'added'
                    WHEN s.inc THEN 'deleted' ELSE '' END AS status,
      CASE
        WHEN s.selected AND s.inc AND NOT s.sel1
          THEN format('rank {{}}, kept: at most {limit} changes per review', s.rank)
        WHEN s.selected AND s.inc AND s.rank <= {n} THEN format('rank {{}}, retained', s.rank)
        WHEN s.selected AND s.inc AND s.tier = 0
          THEN format('rank {{}}, kept by incumbent buffer {b_inc}', s.rank)
        WHEN s.selected AND s.inc THEN format('rank {{}}, kept to fill the {places} places', s.rank)
        WHEN s.selected AND s.tier = 0 AND {bi}
          THEN format('rank {{}}, added (newcomer within {b_new})', s.rank)
        WHEN s.selected AND {hi} THEN format('rank {{}}, added to fill the {places} places', s.rank)
        WHEN s.selected THEN format('rank {{}}, selected', s.rank)
        WHEN s.inc AND s.rank > {b_inc}
          THEN format('rank {{}}, deleted: outside incumbent buffer {b_inc}', s.rank)
        WHEN s.inc THEN format('rank {{}}, deleted: displaced by higher-priority candidates', s.rank)
        WHEN s.sel_raw THEN format('rank {{}}, not added: at most {limit} changes per review', s.rank)
        WHEN s.rank <= {n} AND {bi}
          THEN format('rank {{}}, not added: newcomers must rank within {b_new}', s.rank)
        ELSE format('rank {{}}, outside the {places} places', s.rank) END AS reason
    FROM _ir_s s"""


def _weights(m: Methodology, ctx: Context, warnings: list[str]) -> None:
    """Weights at the data cutoff: price x weighting shares (x tier factor), then caps."""
    con = ctx.store.con
    w = m.weighting
    ratio = "shares_ff / nullif(shares_total, 0)"
    if w.method == "equal":
        base, factor = "1.0", "1.0"
    else:
        col = WEIGHT_SHARES[w.method]
        shares = {"total_shares": "shares_total", "float_sh": "shares_float", "ff_sh": "shares_ff"}[col]
        if w.method == "free_float_cap" and w.inclusion_factor:
            factor = tier_case_sql([(t.up_to_pct, t.factor_pct) for t in w.inclusion_factor], ratio)
            shares = "shares_total"
        else:
            factor = "1.0"
        base = f"last_close * {shares} * ({factor})"
        missing = {"float_cap": not ctx.has_float, "free_float_cap": not ctx.has_free_float}
        if missing.get(w.method):
            warnings.append(
                f"the store has no {'free-float' if w.method == 'free_float_cap' else 'float'} share data: "
                f"{w.method} weights use total shares (inclusion factor 100%)"
            )
    rows = con.execute(
        f"""SELECT code, {base} AS base, {factor} AS factor, sw_l1_code
            FROM _ir_c WHERE selected ORDER BY rank"""
    ).fetchall()
    if not rows:
        return
    base_all = np.array([r[1] if r[1] is not None else np.nan for r in rows], dtype=float)
    ok = np.isfinite(base_all) & (base_all > 0)
    bad = [r[0] for r, good in zip(rows, ok, strict=True) if not good]
    if bad:
        if not ok.any():
            raise IndexReconError(
                f"cannot weight any of the {len(rows)} constituents (no price or shares at the cutoff)"
            )
        warnings.append(
            f"{len(bad)} constituent(s) cannot be weighted (no price or shares at the cutoff), e.g. {bad[0]}: "
            "left without a weight; the others' weights sum to 1"
        )
        rows = [r for r, good in zip(rows, ok, strict=True) if good]
    codes = [r[0] for r in rows]
    base_v = base_all[ok]
    c = w.caps
    groups = np.array([r[3] or "?" for r in rows]) if c.industry_pct else None
    weights = cap_weights(
        base_v,
        single=c.single_pct / 100 if c.single_pct else None,
        top_k=(c.top_k.k, c.top_k.pct / 100) if c.top_k else None,
        groups=groups,
        group_cap=c.industry_pct / 100 if c.industry_pct else None,
    )
    uncapped = base_v / base_v.sum()
    df = pd.DataFrame(
        {
            "code": codes,
            "weight": weights,
            "inclusion_factor": [float(r[2]) for r in rows],
            "cap_factor": weights / uncapped,
        }
    )
    con.register("_ir_w", df)
    try:
        con.execute(
            """UPDATE _ir_c SET weight = d.weight, inclusion_factor = d.inclusion_factor,
                 cap_factor = d.cap_factor FROM _ir_w d WHERE _ir_c.code = d.code"""
        )
    finally:
        con.unregister("_ir_w")

