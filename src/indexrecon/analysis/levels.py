"""Index calculation: daily levels and drifted weights of a chain of baskets.

(What a basket holds: `baskets`; statistics of a level series: `performance`; tracking an
official index from a weight snapshot: `tracking`.)

An index holds *weighting shares* (units) of its constituents: at a review, shares x
inclusion factor x cap factor, fixed with the data of the cutoff; from an official weight
snapshot, the implied shares weight x level / price. Its level is sum(units x price) /
divisor, and the divisor is adjusted whenever the units change - at every review and at every
corporate action - so that the level does not move at that moment. That is the same as chain
linking the daily return

    1 + R_t = sum_i u_it P_it / sum_i u_it Pref_it

where Pref is the previous close as the exchange adjusts it for the day's events. The whole
calculation is set work in DuckDB:

* per stock, every bar gets a bonus-adjusted close QP = close x B (B the cumulative product of
  the bonus/split share ratios up to that day) and a total-return-adjusted close QTR = close x
  A (A also compounds P_before / (P_before - cash) at every cash ex-date);
* a panel of constituents x trading days carries the last adjusted close forward over days
  without a bar (suspensions keep their last price);
* each basket (the holdings of one review, or one snapshot) turns weights at its base date into
  constants c_i = w_i / (QP_i N_i) at that date, where N = shares / B is the share count net
  of bonus issues (other share changes - placements, buy-backs, estimate revisions - move N
  and are valued at the previous close, i.e. absorbed by the divisor);
* day t's return is sum c N_t QP_t / sum c N_t QP_{t-1} (price) and the same weights applied
  to QTR_t / QTR_{t-1} (total return: cash dividends reinvested across the index on the
  ex-date, as the providers' total-return indices do).

Bonus shares: a share change is a bonus/split when its `source` says so (bonus, split,
送/转增), or - for an unlabelled increase of 10% or more - when the raw price fell on the
change date by more than half the share ratio (log scale). Code changes: the store keys the
history by the new code, and codes given under an old code (official snapshots, incumbents)
are mapped through `code_changes`. Delistings: a constituent leaves at its delist date or when
it enters a delisting arrangement after the base date; the others carry on (divisor).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..data import pit_shares
from ..data.store import Store
from ..errors import IndexReconError, StoreError
from .baskets import Basket, ShareSeries, basket_from_review, map_codes, official_snapshot
from .query import _one, _q, _register

if TYPE_CHECKING:
    from ..results.review import ReviewResult


@dataclass
class IndexPath:
    """Daily levels of a basket chain, and the weight changes at each basket change."""

    levels: pd.DataFrame  # date, level, total_return_level, return, total_return, constituents, divisor
    transitions: pd.DataFrame  # basket, label, date (first day), turnover
    warnings: list[str] = field(default_factory=list)


def _trading_days(store: Store, lo: dt.date, hi: dt.date) -> list[dt.date]:
    return [r[0] for r in store.con.execute(
        "SELECT date FROM calendar WHERE date BETWEEN ? AND ? ORDER BY date", [lo, hi]
    ).fetchall()]


def _on_or_before(store: Store, d: dt.date) -> dt.date:
    row = _one(store, "SELECT max(date) FROM calendar WHERE date <= ?", [d])
    if not row or row[0] is None:
        raise StoreError(f"{d} is before the store's first trading day")
    return row[0]


def _basket_frame(store: Store, baskets: list[Basket], start: dt.date,
                  end: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per (basket k, code) with its weight, and one row per basket: its base date,
    the days it supplies (d_from, d_to), share series, scale and label.

    Baskets are ordered by start; each supplies the days from its start (after the base day
    `start`) to its own end or the day before the next basket's start."""
    import bisect

    days = [r[0] for r in store.con.execute("SELECT date FROM calendar ORDER BY date").fetchall()]
    bs = sorted(enumerate(baskets), key=lambda kb: (kb[1].start, kb[0]))
    ks: list[int] = []
    codes: list[str] = []
    weights: list[float] = []
    meta = []
    for pos, (_, b) in enumerate(bs):
        nxt = bs[pos + 1][1].start if pos + 1 < len(bs) else None
        d_to = min(b.end or end, end)
        if nxt is not None:
            d_to = min(d_to, nxt - dt.timedelta(days=1))
        d_from = max(b.start, start + dt.timedelta(days=1))
        i = bisect.bisect_right(days, b.base_date)
        if i == 0:
            raise StoreError(f"basket {b.label or pos}: {b.base_date} is before the store's first trading day")
        meta.append((pos, days[i - 1], d_from, d_to, b.shares, float(b.scale), b.label))
        c = b.weights["code"].tolist()
        codes += [str(x) for x in c]
        weights += b.weights["weight"].tolist()
        ks += [pos] * len(c)
    df = pd.DataFrame({"k": ks, "code": codes, "weight": np.array(weights, dtype=float)})
    df = df[df["weight"].notna() & (df["weight"] > 0)]
    df = map_codes(store, df, keys=["k"])
    empty = sorted(set(range(len(bs))) - set(df["k"]))
    if empty:
        raise IndexReconError(f"basket {meta[empty[0]][6] or empty[0]} has no positive weights")
    df["weight"] = df["weight"] / df.groupby("k")["weight"].transform("sum")
    m = pd.DataFrame(meta, columns=["k", "base_date", "d_from", "d_to", "series", "scale", "label"])
    return df.reset_index(drop=True), m


def _build_adjustments(store: Store, lo: dt.date, hi: dt.date) -> None:
    """For the codes in _irk_codes, from `lo` to `hi`: bars (_irk_px, from each stock's last
    bar on or before `lo`), share change points (_irk_sh, from the one in force on `lo`),
    corporate-action events with cumulative factors (_irk_ev) and adjusted closes (_irk_q).
    Only ratios of adjusted closes inside the span matter, so earlier events are left out."""
    con = store.con
    has_div = store.has_table("dividends")
    pit_shares.ensure(con)  # float / free-float counts as the engine reads them
    p = {"lo": lo, "hi": hi}
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _irk_px AS
           WITH f AS (SELECT code, max(date) AS d FROM bars
                      WHERE code IN (SELECT code FROM _irk_codes) AND date <= $lo AND close > 0 GROUP BY code)
           SELECT b.code, b.date, b.close FROM bars b LEFT JOIN f USING (code)
           WHERE b.code IN (SELECT code FROM _irk_codes) AND b.date >= coalesce(f.d, $lo)
             AND b.date <= $hi AND b.close > 0""",
        p,
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _irk_sh AS
           SELECT * EXCLUDE (first_day) FROM (
             SELECT code, effective_date AS date, total_shares AS tot,
                    coalesce(float_shares, total_shares) AS flt,
                    coalesce(free_float_shares, float_shares, total_shares) AS ff,
                    lower(coalesce(source, '')) AS src,
                    total_shares / lag(total_shares) OVER (PARTITION BY code ORDER BY effective_date) AS ratio,
                    max(effective_date) FILTER (WHERE effective_date <= $lo)
                      OVER (PARTITION BY code) AS first_day
             FROM shares_pit WHERE code IN (SELECT code FROM _irk_codes) AND effective_date <= $hi)
           WHERE first_day IS NULL OR date >= first_day""",
        p,
    )
    cash = (
        """SELECT code, ex_date AS date, sum(cash_per_share) AS cash FROM dividends
           WHERE code IN (SELECT code FROM _irk_codes) AND ex_date <= $hi AND cash_per_share > 0
           GROUP BY ALL"""
        if has_div
        else "SELECT NULL::VARCHAR AS code, NULL::DATE AS date, NULL::DOUBLE AS cash WHERE false"
    )
    # Corporate-action events per stock and their cumulative adjustment factors.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _irk_ev AS
        -- the closes around a few hundred dates: a join on the code and arg_min / arg_max,
        -- not an ASOF join, which would sort every bar of the panel for them
        WITH up AS (
          SELECT sh.code, sh.date, any_value(sh.ratio) AS ratio, any_value(sh.src) AS src,
                 arg_min(px.close, px.date) FILTER (WHERE px.date >= sh.date) AS p_on,
                 arg_max(px.close, px.date) FILTER (WHERE px.date < sh.date) AS p_before
          FROM (SELECT * FROM _irk_sh WHERE ratio > 1 + 1e-9) sh LEFT JOIN _irk_px px ON px.code = sh.code
          GROUP BY sh.code, sh.date
        ),
        bonus AS (
          SELECT code, date, ratio AS f FROM up
          WHERE regexp_matches(src, '{pit_shares.BONUS_LABEL}')
             OR (ratio >= {pit_shares.MIN_INFERRED_RATIO} AND NOT regexp_matches(src, '{pit_shares.NOT_BONUS_LABEL}')
                 AND p_on / p_before < 1 / sqrt(ratio))
        ),
        cash AS ({cash}),
        px0 AS (SELECT code, min(date) AS d0 FROM _irk_px GROUP BY code),
        ev AS (
          SELECT e.* FROM (
            SELECT code, date, coalesce(bonus.f, 1.0) AS f, coalesce(cash.cash, 0.0) AS cash
            FROM bonus FULL OUTER JOIN cash USING (code, date)) e
          JOIN px0 ON px0.code = e.code AND e.date > px0.d0
        ),
        evp AS (
          SELECT ev.code, ev.date, any_value(ev.f) AS f, any_value(ev.cash) AS cash,
                 arg_max(px.close, px.date) FILTER (WHERE px.date < ev.date) AS p_before
          FROM ev LEFT JOIN _irk_px px ON px.code = ev.code
          GROUP BY ev.code, ev.date
        )
        SELECT code, date, f, cash,
          sum(ln(f)) OVER w AS lb,
          sum(ln(f) + CASE WHEN cash > 0 AND p_before > cash THEN ln(p_before / (p_before - cash)) ELSE 0 END)
            OVER w AS la
        FROM evp
        WINDOW w AS (PARTITION BY code ORDER BY date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)""",
        {"hi": hi} if has_div else None,
    )
    # Adjusted closes on bar days, then carried over every day of the panel.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _irk_q AS
           SELECT px.code, px.date, px.close * exp(coalesce(e.lb, 0)) AS qp,
                  px.close * exp(coalesce(e.la, 0)) AS qtr
           FROM _irk_px px LEFT JOIN (
             -- each bar of a stock with events: the cumulative factors of its last event
             SELECT px.code, px.date, arg_max(e.lb, e.date) AS lb, arg_max(e.la, e.date) AS la
             FROM _irk_px px JOIN _irk_ev e ON px.code = e.code AND px.date >= e.date
             GROUP BY px.code, px.date) e USING (code, date)"""
    )


def _build_panel(store: Store, bk: tuple[pd.DataFrame, pd.DataFrame], lo: dt.date, hi: dt.date) -> list[str]:
    """Temp tables _irk_c (basket constants) and _irk_p (basket x day x code panel), from
    the rows and the baskets of `_basket_frame`."""
    con = store.con
    has_status = store.has_table("status")
    rows, meta = bk
    # the baskets' dates and labels joined on in SQL: a frame of Python dates repeated on
    # every (basket, code) row costs more to hand to DuckDB than the rows themselves
    _register(store, "_irk_rows_df", rows.assign(_pos=np.arange(len(rows))))
    _register(store, "_irk_meta_df", meta)
    try:
        con.execute("""CREATE OR REPLACE TEMP TABLE _irk_bk AS
                       SELECT r.k, r.code, r.weight, m.* EXCLUDE (k)
                       FROM _irk_rows_df r LEFT JOIN _irk_meta_df m ON m.k = r.k ORDER BY r._pos""")
    finally:
        con.unregister("_irk_rows_df")
        con.unregister("_irk_meta_df")
    # ci numbers the codes in code order: the panel's ordered sums sort by (basket, ci), the
    # same order as (basket, code), on integers instead of strings
    con.execute("CREATE OR REPLACE TEMP TABLE _irk_codes AS "
                "SELECT code, row_number() OVER (ORDER BY code) AS ci FROM (SELECT DISTINCT code FROM _irk_bk)")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _irk_days AS
           SELECT date, lag(date) OVER (ORDER BY date) AS prev FROM calendar
           WHERE date BETWEEN $lo AND $hi""",
        {"lo": lo, "hi": hi},
    )
    _build_adjustments(store, lo, hi)
    # the days each basket supplies (with the day before): a range join of the few baskets
    # with the calendar, so that the panel joins its constituents on the basket alone
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _irk_kd AS
           SELECT k.k, d.date, d.prev FROM (SELECT DISTINCT k, d_from, d_to FROM _irk_bk) k
           JOIN _irk_days d ON d.date BETWEEN k.d_from AND k.d_to"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _irk_cp AS
           -- the (code, day) pairs a basket reads: its base date, and each day it supplies
           -- with the day before; not every code on every day of the span
           WITH g AS (SELECT DISTINCT code, date FROM (
                        SELECT code, base_date AS date FROM _irk_bk
                        UNION ALL
                        SELECT k.code, unnest([d.date, d.prev]) AS date
                        FROM _irk_bk k JOIN _irk_kd d ON d.k = k.k)
                      WHERE date IS NOT NULL),
           -- each pair's adjusted close: its day's bar, or for the few pairs without one
           -- (suspensions) the last bar before; an ASOF join of every pair sorts the pairs
           -- and the bars, several times more slowly
           j AS (SELECT g.code, g.date, q.qp, q.qtr FROM g LEFT JOIN _irk_q q USING (code, date)),
           m AS (SELECT j.code, j.date, arg_max(q.qp, q.date) AS qp, arg_max(q.qtr, q.date) AS qtr
                 FROM j JOIN _irk_q q ON q.code = j.code AND q.date < j.date
                 WHERE j.qp IS NULL GROUP BY j.code, j.date),
           q AS (SELECT code, date, coalesce(j.qp, m.qp) AS qp, CASE WHEN j.qp IS NULL THEN m.qtr ELSE j.qtr END AS qtr
                 FROM j LEFT JOIN m USING (code, date)),
           -- the few events and share changes join on the code within their date ranges
           sh AS (SELECT *, lead(date, 1, DATE '9999-12-31') OVER (PARTITION BY code ORDER BY date) AS d1
                  FROM _irk_sh),
           ev AS (SELECT g.code, g.date, arg_max(e.lb, e.date) AS lb
                  FROM g JOIN _irk_ev e ON g.code = e.code AND g.date >= e.date GROUP BY g.code, g.date)
           SELECT code, date, q.qp, q.qtr, exp(coalesce(ev.lb, 0)) AS bcum,
                  s.tot, s.flt, s.ff
           FROM g
           JOIN q USING (code, date)
           LEFT JOIN ev ON ev.code = g.code AND ev.date = g.date
           LEFT JOIN sh s ON g.code = s.code AND g.date >= s.date AND g.date < s.d1"""
    )
    n_sql = """CASE series WHEN 'total' THEN {p}.tot WHEN 'float' THEN {p}.flt
                WHEN 'free_float' THEN {p}.ff ELSE NULL END / {p}.bcum"""
    exit_sql = (
        """(SELECT min(st.start_date) FROM status st WHERE st.code = k.code
             AND st.status = 'delisting' AND st.start_date > k.base_date)"""
        if has_status
        else "NULL::DATE"
    )
    # Basket constants at the base date: c = weight / (QP x N); a stock without shares data
    # at the base date is carried by bonus issues only (N = 1).
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _irk_c AS
        WITH j AS (
          SELECT k.*, p.qp AS qp0, {n_sql.format(p="p")} AS n0,
                 least(s.delist_date, {exit_sql}) AS exit_date
          FROM _irk_bk k
          LEFT JOIN _irk_cp p ON p.code = k.code AND p.date = k.base_date
          LEFT JOIN securities s ON s.code = k.code
        )
        SELECT k, code, label, weight, base_date, d_from, d_to, scale, exit_date, qp0,
               CASE WHEN n0 IS NULL OR n0 <= 0 THEN 'bonus' ELSE series END AS series,
               coalesce(CASE WHEN n0 > 0 THEN n0 END, 1.0) AS n0,
               weight / (qp0 * coalesce(CASE WHEN n0 > 0 THEN n0 END, 1.0)) AS c
        FROM j"""
    )
    warnings: list[str] = []
    missing = con.execute(
        "SELECT k, label, code FROM _irk_c WHERE qp0 IS NULL ORDER BY k, code"
    ).fetchall()
    if missing:
        ex = ", ".join(f"{r[2]} ({r[1] or r[0]})" for r in missing[:5])
        warnings.append(
            f"{len(missing)} constituent(s) have no price on or before their base date and are "
            f"left out (the rest renormalised): {ex}"
        )
    # The panel: for each basket, each day it supplies, each constituent still listed:
    # v0 = value at the previous close, v1 = value at this close, g = total-return relative.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _irk_p AS
        SELECT c.k, d.date, c.code, x.ci,
               c.c * coalesce(CASE WHEN c.series = 'bonus' THEN 1.0 ELSE {n_sql.format(p="p1")} END, c.n0) AS u,
               p0.qp AS qp_prev, p1.qp AS qp_now, p1.qtr / p0.qtr AS g_tr, c.scale
        FROM _irk_c c
        JOIN _irk_codes x ON x.code = c.code
        JOIN _irk_kd d ON d.k = c.k
        JOIN _irk_cp p1 ON p1.code = c.code AND p1.date = d.date
        JOIN _irk_cp p0 ON p0.code = c.code AND p0.date = d.prev
        WHERE c.qp0 IS NOT NULL AND (c.exit_date IS NULL OR d.date < c.exit_date)
          AND p0.qp IS NOT NULL AND p1.qp IS NOT NULL"""
    )
    # Falls beyond any daily price limit (the board's widest, from market_rules) are almost
    # always ex-dates the store has no record of (a bonus issue or split missing from the
    # shares table): say so, with examples.
    from ..data.market_rules import widest_fraction_sql

    drops = con.execute(
        f"""SELECT DISTINCT p.code, p.date, p.qp_now / p.qp_prev - 1 AS r
            FROM _irk_p p JOIN _irk_days d ON d.date = p.date
            JOIN _irk_px b0 ON b0.code = p.code AND b0.date = d.prev
            JOIN _irk_px b1 ON b1.code = p.code AND b1.date = p.date
            LEFT JOIN securities s ON s.code = p.code
            WHERE p.qp_now < p.qp_prev * (1 - {widest_fraction_sql("s.board")} - 0.02)
              AND (s.list_date IS NULL OR p.date > s.list_date + INTERVAL 10 DAY)
            ORDER BY p.date, p.code"""
    ).fetchall()
    if drops:
        ex = ", ".join(f"{c} {d} {100 * r:.0f}%" for c, d, r in drops[:4])
        warnings.append(
            f"{len(drops)} constituent-day(s) fall beyond the daily price limit between two sessions "
            f"after adjustment ({ex}{', ...' if len(drops) > 4 else ''}): likely bonus issues or splits "
            "missing from the store's shares table, priced as losses"
        )
    return warnings


def adjusted_returns(store: Store, codes: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
    """Each stock's daily returns from bar to bar, adjusted for its corporate actions: code,
    date, close, price_return (bonus issues and splits neutralised, cash dividends not) and
    total_return (cash reinvested), the same adjustments the index levels use."""
    df = pd.DataFrame({"code": sorted({str(c) for c in codes})})
    _register(store, "_irk_codes_df", df)
    try:
        store.con.execute("CREATE OR REPLACE TEMP TABLE _irk_codes AS SELECT code FROM _irk_codes_df")
    finally:
        store.con.unregister("_irk_codes_df")
    try:
        _build_adjustments(store, start, end)
        return _q(
            store,
            """SELECT code, date, close, price_return, total_return FROM (
                 SELECT q.code, q.date, px.close,
                        q.qp / lag(q.qp) OVER w - 1 AS price_return,
                        q.qtr / lag(q.qtr) OVER w - 1 AS total_return
                 FROM _irk_q q JOIN _irk_px px USING (code, date)
                 WINDOW w AS (PARTITION BY q.code ORDER BY q.date))
               WHERE date BETWEEN $s AND $e ORDER BY code, date""",
            {"s": start, "e": end},
        )
    finally:
        _drop_panel(store)


def _drop_panel(store: Store) -> None:
    for t in ("_irk_bk", "_irk_codes", "_irk_days", "_irk_kd", "_irk_px", "_irk_sh", "_irk_ev", "_irk_q", "_irk_cp",
              "_irk_c", "_irk_p"):
        store.con.execute(f"DROP TABLE IF EXISTS {t}")


def index_levels(store: Store, baskets: list[Basket], start: dt.date, end: dt.date, *,
                 base: float = 1000.0, weight_dates: list[dt.date] | None = None,
                 ) -> tuple[IndexPath, pd.DataFrame | None]:
    """Daily price and total-return levels of a chain of baskets (see `_index_levels`). Every
    sum over the panel adds its terms in a fixed order (ORDER BY inside the aggregate), so the
    same inputs give bit-identical levels however many threads DuckDB uses."""
    return _index_levels(store, baskets, start, end, base=base, weight_dates=weight_dates)


def _index_levels(
    store: Store,
    baskets: list[Basket],
    start: dt.date,
    end: dt.date,
    *,
    base: float = 1000.0,
    weight_dates: list[dt.date] | None = None,
) -> tuple[IndexPath, pd.DataFrame | None]:
    """Daily price and total-return levels of a chain of baskets from `start` (the base day,
    level `base`) to `end`, plus the weights on `weight_dates` (date, code, weight) if asked.

    Each day's return uses the basket in force that day; at a basket change the new units
    are valued at the previous close, so the level is continuous (the divisor absorbs it)."""
    if not baskets:
        raise IndexReconError("no holdings to calculate an index from")
    first = _one(store, "SELECT min(date) FROM calendar WHERE date >= ?", [start])
    if not first or first[0] is None:
        raise StoreError(f"the store has no trading day on or after {start}")
    start = first[0]
    end = _on_or_before(store, end)
    if end < start:
        raise IndexReconError(f"the end {end} is before the start {start}")
    bk = _basket_frame(store, baskets, start, end)
    lo = min(start, min(bk[1]["base_date"]))
    try:
        warnings = _build_panel(store, bk, lo, end)
        daily, trans, wdf = _panel_sums(store, weight_dates)
    finally:
        _drop_panel(store)
    labels = bk[1].set_index("k")["label"]
    trans.insert(1, "label", trans["basket"].map(labels))
    days = _trading_days(store, start, end)
    out = pd.DataFrame({"date": days})
    out = out.merge(daily, on="date", how="left")
    gaps = out.loc[1:, "ret"].isna()
    if gaps.any():
        warnings.append(f"{int(gaps.sum())} day(s) without any priced constituent: level held flat")
    out.loc[0, ["ret", "tr_ret"]] = np.nan
    r = out["ret"].fillna(0.0).to_numpy(copy=True)
    rt = out["tr_ret"].fillna(0.0).to_numpy(copy=True)
    r[0] = rt[0] = 0.0
    out["level"] = base * np.cumprod(1.0 + r)
    out["total_return_level"] = base * np.cumprod(1.0 + rt)
    out["divisor"] = out["cap"] / out["level"]
    out = out.rename(columns={"ret": "return", "tr_ret": "total_return"})
    out["constituents"] = out["constituents"].astype("Int64")
    cols = ["date", "level", "total_return_level", "return", "total_return", "constituents", "divisor"]
    return IndexPath(out[cols], trans, warnings), wdf


def _panel_sums(store: Store, weight_dates: list[dt.date] | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Daily returns and values, the turnover at each basket change, and the weights on
    `weight_dates`: every sum over the panel in (basket, code) order."""
    daily = _q(
        store,
        """SELECT date, sum(u * qp_now ORDER BY k, ci) / sum(u * qp_prev ORDER BY k, ci) - 1 AS ret,
                  sum(u * qp_prev * g_tr ORDER BY k, ci) / sum(u * qp_prev ORDER BY k, ci) - 1 AS tr_ret,
                  count(*) AS constituents, sum(u * qp_now * scale ORDER BY k, ci) AS cap
           FROM _irk_p GROUP BY date ORDER BY date""",
    )
    trans = _q(
        store,
        """WITH f AS (SELECT k, min(date) AS d0, max(date) AS d1 FROM _irk_p GROUP BY k),
               fo AS (SELECT k, d0, lag(k) OVER (ORDER BY k) AS k_prev FROM f),
               neww AS (SELECT p.k, p.code, p.u * p.qp_prev / sum(p.u * p.qp_prev) OVER (PARTITION BY p.k ORDER BY p.code ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS w
                        FROM _irk_p p JOIN f ON p.k = f.k AND p.date = f.d0),
               oldw AS (SELECT fo.k, p.code, p.u * p.qp_now / sum(p.u * p.qp_now) OVER (PARTITION BY fo.k ORDER BY p.code ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS w
                        FROM fo JOIN f ON f.k = fo.k_prev JOIN _irk_p p ON p.k = f.k AND p.date = f.d1),
               d AS (SELECT k, 0.5 * sum(abs(coalesce(n.w, 0) - coalesce(o.w, 0)) ORDER BY code) AS turnover
                     FROM neww n FULL JOIN oldw o USING (k, code) GROUP BY k)
               SELECT fo.k AS basket, fo.d0 AS date,
                      CASE WHEN fo.k_prev IS NOT NULL THEN d.turnover END AS turnover
               FROM fo LEFT JOIN d USING (k) ORDER BY fo.k"""
    )
    return daily, trans, (_weights_at(store, weight_dates) if weight_dates else None)


def _weights_at(store: Store, dates: list[dt.date]) -> pd.DataFrame:
    """Weights at the close of each date, from the panel (the basket supplying that day)."""
    con = store.con
    df = pd.DataFrame({"date": pd.to_datetime(sorted(set(dates))).date})
    _register(store, "_irk_wd", df)
    try:
        return _q(
            store,
            """SELECT p.date, p.code, p.u * p.qp_now / sum(p.u * p.qp_now) OVER (PARTITION BY p.date ORDER BY p.code ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS weight
               FROM _irk_p p WHERE p.date IN (SELECT date FROM _irk_wd)
                 AND p.k = (SELECT max(k) FROM _irk_p x WHERE x.date = p.date)
               ORDER BY p.date, weight DESC, p.code""",
        )
    finally:
        con.unregister("_irk_wd")


def drifted_weights(
    store: Store,
    weights: pd.DataFrame,
    base_date: dt.date,
    dates: list[dt.date] | dt.date,
    *,
    shares: ShareSeries = "total",
) -> pd.DataFrame:
    """Weights (code, weight at `base_date`) drifted with prices and share changes to the close
    of each date in `dates` (date, code, weight). A date on the base date returns the weights
    as given, renormalised; constituents delisted by a date drop out."""
    ds = [dates] if isinstance(dates, dt.date) else list(dates)
    base = _on_or_before(store, base_date)
    later = [d for d in ds if d > base]
    out = []
    if len(later) < len(ds):
        w = map_codes(store, weights[["code", "weight"]].copy())
        w = w.assign(weight=w["weight"] / w["weight"].sum())
        for d in ds:
            if d <= base:
                out.append(w.assign(date=d)[["date", "code", "weight"]])
    if later:
        nxt = _one(store, "SELECT min(date) FROM calendar WHERE date > ?", [base])
        b = Basket(weights=weights, base_date=base, start=nxt[0] if nxt else base, shares=shares)
        snap = {d: _on_or_before(store, d) for d in later}
        _, wdf = index_levels(store, [b], base, max(snap.values()), weight_dates=list(snap.values()))
        assert wdf is not None
        for d, s in snap.items():
            out.append(wdf[wdf["date"] == s].assign(date=d)[["date", "code", "weight"]])
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["date", "code", "weight"])


def official_weights_on(store: Store, index_code: str, snapshot: dt.date, date: dt.date) -> pd.DataFrame:
    """An official snapshot's weights drifted to `date` (code, weight): implied weighting
    shares carried through bonus issues and splits, priced on `date`."""
    w = official_snapshot(store, index_code, snapshot)
    df = drifted_weights(store, w, snapshot, date, shares="bonus")
    return df[["code", "weight"]].sort_values("weight", ascending=False, kind="stable").reset_index(drop=True)


def weights_on(res: ReviewResult, date: dt.date, store: Store | None = None) -> pd.DataFrame:
    """Weights of a review's constituents on `date`, drifted from the data cutoff.

    The review fixes each stock's weighting shares; afterwards a weight moves with the
    stock's price and the methodology's share count (a bonus issue - price down, shares up -
    leaves it unchanged). Constituents delisted by `date` drop out and the rest are
    renormalised."""
    store = store or res.store
    assert store is not None
    b = basket_from_review(res)
    df = drifted_weights(store, b.weights, res.dates.cutoff, date, shares=b.shares)
    return df[["code", "weight"]].sort_values("code").reset_index(drop=True)


# ---------------------------------------------------------------------------------------
# Statistics of a level series
