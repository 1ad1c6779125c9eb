"""The sample space and its window metrics: one grouped scan of the bars, share capital joined point in time."""

from __future__ import annotations

import datetime as dt

from ..data import pit_shares
from ..data.market_rules import ST_LIMIT_PCT
from ..methodology.schema import Methodology
from ..methodology.vocabulary import (
    METRICS,
)
from .context import Context, _lit


def _metric_exprs(ctx: Context) -> dict[str, str]:
    """Each window aggregate's SQL by metric name. Without float (free-float) shares in the
    store those columns fall back to total (float) shares: the aggregates are then written
    over the same column, so DuckDB computes each distinct one once."""
    ff = "float_sh" if not ctx.has_free_float else "ff_sh"
    fl = "total_shares" if not ctx.has_float else "float_sh"
    a = "a_sh" if ctx.has_a_shares else "total_shares"
    return {m.name: m.sql.replace("ff_sh", ff if ff != "float_sh" else fl).replace("float_sh", fl).replace("a_sh", a)
            for m in METRICS.values()}


def _metric_sql(ctx: Context) -> str:
    """The window aggregates (`_metric_exprs`) as select items."""
    return ",\n  ".join(f"{sql} AS {name}" for name, sql in _metric_exprs(ctx).items())


def _candidates_base(ctx: Context, start: dt.date, cutoff: dt.date, boards: tuple[str, ...],
                     skip: int = 0) -> tuple[str, list[str]]:
    """The boards' candidates for the window [start, cutoff] (a temp table, or a view of one
    filtered to the boards) and its columns: the stocks listed by the cutoff and not delisted
    by then, with their industry at the cutoff, trading days since listing and in the window,
    and the window metrics from one grouped scan of the bars with share capital joined point
    in time. `skip`: a stock's first trading days since listing left out of its window (CSI:
    new listings from the 6th).

    One table per window and run: it is built once over every board the run's reviews of that
    window read (`ctx.window_boards`, e.g. CSI 300, 500 and 1000 on four boards and CSI 2000
    on five), and each review reads its own boards' rows. A row depends only on its stock's
    data, so the rows a review reads are those a table of its boards alone would hold."""
    key = (start, cutoff, int(skip))
    want = frozenset(boards)
    hit = ctx.metric_tables.get(key)
    if hit is None or not want <= set(hit[2]):
        if hit is not None:  # a board no review announced: rebuilt over both
            want |= frozenset(hit[2])
            ctx.store.con.execute(f"DROP TABLE IF EXISTS {ctx.metric_tables.pop(key)[0]}")
        hit = _build_window(ctx, start, cutoff, tuple(sorted(want | ctx.window_boards.get(key, frozenset()))),
                            skip)
        ctx.metric_tables[key] = hit
    name, cols, held = hit
    if set(held) == set(boards):
        return name, cols
    return f"(SELECT * FROM {name} WHERE board IN ({', '.join(_lit(b) for b in sorted(boards))}))", cols


def _build_window(ctx: Context, start: dt.date, cutoff: dt.date, boards: tuple[str, ...],
                  skip: int) -> tuple[str, list[str], tuple[str, ...]]:
    """The temp table of `_candidates_base` over `boards`: its name, columns and boards."""
    while len(ctx.metric_tables) >= 8:  # keep a few windows (daily methodologies move every day)
        old, _, _ = ctx.metric_tables.pop(next(iter(ctx.metric_tables)))
        ctx.store.con.execute(f"DROP TABLE IF EXISTS {old}")
    ctx.metric_seq += 1
    name = f"_ir_m{ctx.metric_seq}"
    con = ctx.store.con
    if ctx.metric_seq > 1:  # a run of many windows: the whole series once, not per window
        pit_shares.ensure(con)
    shares = pit_shares.rows(con, "code IN (SELECT code FROM sec)")
    # the first day of a stock's window data: its (skip + 1)-th trading day since listing
    first_day = f"""
        first_day AS (
          SELECT sec.code, coalesce(c.date, DATE '9999-12-31') AS d FROM sec
          ASOF LEFT JOIN cal a ON coalesce(sec.list_date, DATE '1900-01-01') > a.date
          LEFT JOIN cal c ON c.pos = coalesce(a.pos, 0) + 1 + {int(skip)}
        ),""" if skip else ""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        WITH cal AS (SELECT date, row_number() OVER (ORDER BY date) AS pos FROM calendar WHERE date <= $cutoff),
        sec AS (
          SELECT code, name, board, exchange, list_date FROM securities
          WHERE board IN ({", ".join(_lit(b) for b in boards)})
            AND (list_date IS NULL OR list_date <= $cutoff)
            AND (delist_date IS NULL OR delist_date > $cutoff)
        ),
        sh AS (
          -- share capital as intervals [effective_date, next change): a plain range join
          -- gives the ASOF rows, several times faster over a year of bars; only the
          -- boards' stocks, and only the intervals that overlap the window
          -- (the point-in-time series of pit_shares: sparse counts carried as ratios)
          SELECT * FROM (
            SELECT code, effective_date AS d0, total_shares, float_shares, free_float_shares, a_shares,
                   {", ".join(w for _, w in pit_shares.SPARSE)},
                   lead(effective_date, 1, DATE '9999-12-31') OVER (
                     PARTITION BY code ORDER BY effective_date, total_shares, float_shares, free_float_shares
                   ) AS d1
            FROM {shares} WHERE effective_date <= $cutoff AND code IN (SELECT code FROM sec)
          ) WHERE d1 > $start
        ),{first_day}
        w AS (
          SELECT b.code, b.date, b.close, b.amount, b.volume, s.total_shares,
                 coalesce(s.float_shares, s.total_shares) AS float_sh,
                 coalesce(s.free_float_shares, s.float_shares, s.total_shares) AS ff_sh,
                 coalesce(s.a_shares, s.total_shares) AS a_sh
          FROM bars b LEFT JOIN sh s ON b.code = s.code AND b.date >= s.d0 AND b.date < s.d1
          {"JOIN first_day f ON b.code = f.code AND b.date >= f.d" if skip else ""}
          WHERE b.date BETWEEN $start AND $cutoff AND b.code IN (SELECT code FROM sec)
        ),
        agg AS (
          SELECT code,
            {_metric_sql(ctx)},
            arg_max(total_shares, date) AS shares_total,
            arg_max(float_sh, date) AS shares_float,
            arg_max(ff_sh, date) AS shares_ff,
            max(date) AS last_bar
          FROM w GROUP BY code
        ),
        ind AS (
          SELECT code, arg_max(sw_l1_code, start_date) AS sw_l1_code,
                 arg_max(sw_l1_name, start_date) AS sw_l1_name,
                 arg_max(sw_l1_name_en, start_date) AS sw_l1_name_en,
                 arg_max(sw_l2_code, start_date) AS sw_l2_code,
                 arg_max(sw_l2_name, start_date) AS sw_l2_name,
                 arg_max(sw_l3_code, start_date) AS sw_l3_code
          FROM industry WHERE start_date <= $cutoff AND (end_date IS NULL OR end_date >= $cutoff)
            AND code IN (SELECT code FROM sec)
          GROUP BY code
        ),
        -- calendar positions before the listing day and before the window (or listing),
        -- found ASOF rather than by counting days per stock
        pos AS (
          SELECT sec.code, coalesce(a.pos, 0) AS before_list, coalesce(b.pos, 0) AS before_window
          FROM sec {"LEFT JOIN first_day f USING (code)" if skip else ""}
          ASOF LEFT JOIN cal a ON coalesce(sec.list_date, DATE '1900-01-01') > a.date
          ASOF LEFT JOIN cal b ON greatest($start, coalesce({"f.d" if skip else "sec.list_date"}, $start)) > b.date
        )
        SELECT sec.*, ind.sw_l1_code, ind.sw_l1_name, ind.sw_l1_name_en, ind.sw_l2_name,
          ind.sw_l2_code, ind.sw_l3_code,
          (SELECT count(*) FROM cal) - pos.before_list AS listing_days,
          (SELECT count(*) FROM cal) - pos.before_window - coalesce(agg.traded_days, 0) AS suspended_days,
          agg.* EXCLUDE (code),
          -- trading days without a bar since the last one: suspended at the cutoff for that long
          (SELECT count(*) FROM cal) - lb.pos AS suspended_run,
          -- the dates of the observations the sparse counts in force at the cutoff rest on
          -- (pit_shares: what a review's share-data warnings say), from the last interval
          {", ".join(f"cov.{c}" for c in pit_shares.OBSERVED.values())}
        FROM sec JOIN pos USING (code) LEFT JOIN agg USING (code) LEFT JOIN ind USING (code)
          LEFT JOIN cal lb ON lb.date = agg.last_bar
          LEFT JOIN (SELECT code, {", ".join(f"{w} AS {pit_shares.OBSERVED[c]}" for c, w in pit_shares.SPARSE)}
                     FROM sh WHERE d1 = DATE '9999-12-31') cov USING (code)
        """,
        {"start": start, "cutoff": cutoff},
    )
    cols = ["code", "name", "board", "exchange", "list_date", "sw_l1_code", "sw_l1_name", "sw_l1_name_en",
            "sw_l2_name", "sw_l2_code", "sw_l3_code", "listing_days", "suspended_days", *METRICS,
            "shares_total", "shares_float", "shares_ff", "last_bar", "suspended_run"]  # the SELECT above, in order
    return name, cols, boards


def _rule_metrics(m: Methodology) -> set[str]:
    """The metric columns the rules of `m` read."""
    u, sel = m.universe, m.selection
    out = {sel.rank_by, *sel.tie_break, *(s.metric for s in m.screens), *(t.metric for t in sel.composite or [])}
    if sel.tilt is not None:
        out.add(sel.tilt.metric)
    excs = [u.new_listing_exception, *(r.new_listing_exception for r in u.listing_age_by_board.values())]
    out |= {e.metric for e in excs if e is not None}
    return out


def status_kinds(m: Methodology, ctx: Context, cutoff: dt.date) -> tuple[list[str], list[str]]:
    """The status kinds a methodology excludes that are applied at `cutoff` (the store has data of
    that kind up to it) and the warnings saying which are not, or rest on inferred status."""
    u = m.universe
    warnings: list[str] = []
    wanted = [(["ST", "*ST"], "ST / *ST", u.exclude_st), (["delisting"], "delisting-arrangement", u.exclude_delisting)]
    st_kinds, missing = [], []
    for kinds, what, on in wanted:
        if not on:
            continue
        if any(k in ctx.status_from and ctx.status_from[k] <= cutoff for k in kinds):
            st_kinds += kinds
        else:
            missing.append(what)
    if missing:
        warnings.append(
            f"the store has no status data up to the cutoff (table status): the exclusion of {' and '.join(missing)} "
            "stocks is not applied"
        )
    if "ST" in st_kinds and ctx.status_inferred_boards:
        off = [b for b in u.boards if b not in ctx.status_inferred_boards]
        warnings.append(
            f"ST status is inferred from the {ST_LIMIT_PCT}% price limits of {', '.join(ctx.status_inferred_boards)} "
            "(meta status_source), not an official list"
            + (f": ST stocks on {', '.join(off)} are not excluded" if off else "")
        )
    return st_kinds, warnings
