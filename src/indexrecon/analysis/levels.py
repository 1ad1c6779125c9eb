"""Index calculation: daily levels, drifted weights and the tracking of an official index.

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

import contextlib
import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..data import pit_shares
from ..data.store import Store
from ..errors import IndexReconError, StoreError

if TYPE_CHECKING:
    from ..methodology.schema import Methodology
    from ..results.review import ReviewResult

# Official total-return indices of the price indices (same constituents and weights).
TOTAL_RETURN_INDEX = {"399006": "399606"}

ShareSeries = Literal["total", "float", "free_float", "bonus"]
SHARE_SERIES = ("total", "float", "free_float", "bonus")
PERIODS_PER_YEAR = 252



@contextlib.contextmanager
def single_threaded(store: Store) -> Iterator[None]:
    """Run a block with DuckDB on one thread, restoring the setting afterwards (a daily
    chain's many small reviews: parallel operators cost more than they save on one day's
    data). Where the connection refuses the setting the block runs as it is: only speed
    depends on it."""
    rows = store.con.execute("SELECT current_setting('threads')").fetchall()
    before = int(rows[0][0]) if rows else None
    try:
        store.con.execute("SET threads = 1")
    except Exception:  # a setting the connection may not allow; run as is
        before = None
    try:
        yield
    finally:
        if before is not None:
            store.con.execute(f"SET threads = {before}")

def _one(store: Store, sql: str, params: Any = None) -> tuple[Any, ...] | None:
    """The first row of a query, with the result fully consumed (DuckDB 2 refuses other work
    on a connection while a result is pending)."""
    rows = store.con.execute(sql, params).fetchall() if params is not None else store.con.execute(sql).fetchall()
    return rows[0] if rows else None


def _register(store: Store, name: str, df: pd.DataFrame) -> None:
    """con.register, after finishing any pending result on the connection."""
    store.con.execute("SELECT 1").fetchall()
    store.con.register(name, df)


def _q(store: Store, sql: str, params: Any = None) -> pd.DataFrame:
    """A query as a DataFrame with DATE columns as datetime.date (not pandas timestamps)."""
    df = store.con.execute(sql, params).df() if params is not None else store.con.execute(sql).df()
    for col in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[col]):
            df[col] = df[col].dt.date
    return df


# ---------------------------------------------------------------------------------------
# Baskets: what the index holds over a span of days
# ---------------------------------------------------------------------------------------
@dataclass
class Basket:
    """The holdings of one review or snapshot.

    `weights` (code, weight) hold at the close of `base_date`; the basket supplies the
    returns of the trading days from `start` (the effective date) through `end`, or up to the
    next basket's start. `shares` says which share count carries the weighting shares between
    base date and end: the methodology's series (`total`, `float`, `free_float`) follows every
    share change point in time, `bonus` only bonus issues and splits (implied shares of an
    official snapshot, equal weights). `scale` is the market value the weights stand for on
    the base date (sum of price x weighting shares), which turns the constants into real
    weighting shares and gives the divisor its units.
    """

    weights: pd.DataFrame
    base_date: dt.date
    start: dt.date
    end: dt.date | None = None
    shares: ShareSeries = "total"
    scale: float = 1.0
    label: str = ""

    def __post_init__(self) -> None:
        if self.shares not in SHARE_SERIES:
            raise IndexReconError(f"shares must be one of {', '.join(SHARE_SERIES)}, got '{self.shares}'")


def share_series(m: Methodology) -> ShareSeries:
    """The share count that carries a methodology's weighting shares between reviews."""
    w = m.weighting
    if w.method == "equal":
        return "bonus"
    if w.method == "free_float_cap" and w.inclusion_factor:
        return "total"  # tiered factors multiply total shares
    return {"total_cap": "total", "float_cap": "float", "free_float_cap": "free_float"}[w.method]  # type: ignore[return-value]


def _selected(res: ReviewResult, columns: list[str]) -> pd.DataFrame:
    """The named columns of the review's constituents (a DataFrame of them alone)."""
    return res.table.where_value("selected", bool).select(columns).to_pandas()


_SCALE_SHARES = {"total": "shares_total", "float": "shares_float", "free_float": "shares_ff"}


def _review_scale(res: ReviewResult) -> float:
    """Sum of last close x weighting shares of a review's constituents (uncapped base)."""
    m = res.methodology
    if m.weighting.method == "equal":
        return float(sum(1 for s in res.table.column("selected") if s)) or 1.0
    col = _SCALE_SHARES[share_series(m)]
    sel = _selected(res, ["last_close", col, "inclusion_factor"])
    if sel.empty:
        return 1.0
    base = sel["last_close"].astype(float) * sel[col].astype(float) * sel["inclusion_factor"].fillna(1.0).astype(float)
    total = float(base.sum())
    return total if math.isfinite(total) and total > 0 else 1.0


def basket_from_review(
    res: ReviewResult,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    share_changes: Literal["all", "bonus"] = "all",
) -> Basket:
    """The holdings a review fixes: its weights at the data cutoff (inclusion and cap factors
    included), applied from its effective date. `share_changes="bonus"` freezes the weighting
    shares except for bonus issues and splits."""
    cons = _selected(res, ["code", "weight"])
    series = share_series(res.methodology) if share_changes == "all" else "bonus"
    return Basket(
        weights=cons.reset_index(drop=True),
        base_date=res.dates.cutoff,
        start=start or res.dates.effective,
        end=end,
        shares=series,
        scale=_review_scale(res),
        label=res.dates.review,
    )


def official_snapshot(store: Store, index_code: str, date: dt.date) -> pd.DataFrame:
    """An official weight snapshot (code, weight), codes mapped through code changes."""
    df = _q(
        store,
        "SELECT code, weight FROM official_weights WHERE index_code = ? AND trade_date = ? ORDER BY code",
        [index_code, date],
    )
    if df.empty:
        dates = store.con.execute(
            "SELECT DISTINCT trade_date FROM official_weights WHERE index_code = ? ORDER BY 1",
            [index_code],
        ).fetchall()
        have = ", ".join(str(r[0]) for r in dates) or "none"
        raise StoreError(f"the store has no official {index_code} weights on {date} (snapshots: {have})")
    return map_codes(store, df)


def map_codes(store: Store, df: pd.DataFrame, keys: list[str] | None = None) -> pd.DataFrame:
    """Codes given under an old code mapped to the code the store keys history by (weights
    of an old and a new code in the same group of `keys` are added up)."""
    if not store.has_table("code_changes"):
        return df
    changes = dict(store.con.execute("SELECT old_code, new_code FROM code_changes").fetchall())
    if not changes:
        return df
    codes = df["code"].astype(str)
    if not codes.isin(list(changes)).any():
        return df
    for _ in range(5):  # follow chains of changes
        mapped = codes.map(lambda c: changes.get(c, c))
        if mapped.equals(codes):
            break
        codes = mapped
    out = df.assign(code=codes)
    group = [*(keys or []), "code"]
    if "weight" in out.columns and out.duplicated(group).any():
        out = out.groupby(group, as_index=False, sort=False)["weight"].sum()
    return out


def index_close(store: Store, index_code: str, date: dt.date) -> float | None:
    row = _one(store, "SELECT close FROM index_bars WHERE index_code = ? AND date = ?", [index_code, date])
    return float(row[0]) if row else None


def basket_from_official(
    store: Store, index_code: str, date: dt.date, *, share_changes: Literal["all", "bonus"] = "bonus"
) -> Basket:
    """Implied weighting shares from an official snapshot: weight x index close / price on the
    snapshot date (the divisor is 1 there), applied from the next trading day."""
    w = official_snapshot(store, index_code, date)
    level = index_close(store, index_code, date)
    nxt = _one(store, "SELECT min(date) FROM calendar WHERE date > ?", [date])
    if not nxt or nxt[0] is None:
        raise StoreError(f"the store has no trading day after the snapshot {date}")
    return Basket(
        weights=w, base_date=date, start=nxt[0], shares="total" if share_changes == "all" else "bonus",
        scale=level or 1.0, label=f"official {index_code} {date}",
    )


def implied_shares(store: Store, index_code: str, date: dt.date) -> pd.DataFrame:
    """Implied weighting shares of an official snapshot: code, weight, close, shares, where
    shares = weight x index close / stock close (sum of shares x close = the index level)."""
    w = official_snapshot(store, index_code, date)
    level = index_close(store, index_code, date) or 1.0
    con = store.con
    _register(store, "_irk_w", w)
    try:
        df = _q(
            store,
            """SELECT w.code, w.weight, b.close, b.price_date
               FROM _irk_w w LEFT JOIN (
                 SELECT code, arg_max(close, date) AS close, max(date) AS price_date FROM bars
                 WHERE date <= $d AND code IN (SELECT code FROM _irk_w) GROUP BY code) b USING (code)
               ORDER BY w.code""",
            {"d": date},
        )
    finally:
        con.unregister("_irk_w")
    df["implied_shares"] = df["weight"] * level / df["close"]
    return df


# ---------------------------------------------------------------------------------------
# The panel
# ---------------------------------------------------------------------------------------
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


def _basket_frame(store: Store, baskets: list[Basket], start: dt.date, end: dt.date) -> pd.DataFrame:
    """One row per (basket, code): weight, base date, the days it supplies, share series.

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
    return df.merge(m, on="k", how="left")


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


def _build_panel(store: Store, bk: pd.DataFrame, lo: dt.date, hi: dt.date) -> list[str]:
    """Temp tables _irk_c (basket constants) and _irk_p (basket x day x code panel)."""
    con = store.con
    has_status = store.has_table("status")
    _register(store, "_irk_bk_df", bk)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _irk_bk AS SELECT * FROM _irk_bk_df")
    finally:
        con.unregister("_irk_bk_df")
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
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _irk_cp AS
           -- the (code, day) pairs a basket reads: its base date, and each day it supplies
           -- with the day before; not every code on every day of the span
           WITH g AS (SELECT DISTINCT code, date FROM (
                        SELECT code, base_date AS date FROM _irk_bk
                        UNION ALL
                        SELECT k.code, unnest([d.date, d.prev]) AS date
                        FROM _irk_bk k JOIN _irk_days d ON d.date BETWEEN k.d_from AND k.d_to)
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
        JOIN _irk_days d ON d.date BETWEEN c.d_from AND c.d_to
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
    for t in ("_irk_bk", "_irk_codes", "_irk_days", "_irk_px", "_irk_sh", "_irk_ev", "_irk_q", "_irk_cp",
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
    lo = min(start, min(bk["base_date"]))
    try:
        warnings = _build_panel(store, bk, lo, end)
        daily, trans, wdf = _panel_sums(store, weight_dates)
    finally:
        _drop_panel(store)
    labels = bk.drop_duplicates("k").set_index("k")["label"]
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
# ---------------------------------------------------------------------------------------
def performance_stats(
    levels: pd.DataFrame,
    *,
    column: str = "level",
    rf: float = 0.0,
    move_days: int = 5,
    periods_per_year: int = PERIODS_PER_YEAR,
) -> dict[str, Any]:
    """Return, risk and drawdown of a level series (`date` and `column`).

    Annualised return is geometric over the trading days covered; volatility the standard
    deviation of daily returns x sqrt(periods_per_year); Sharpe (annualised return - rf) /
    volatility; maximum drawdown the largest peak-to-trough fall, with its peak, trough and
    recovery dates; best/worst moves the largest rise and fall over `move_days` trading days."""
    lv = levels[["date", column]].dropna().reset_index(drop=True)
    v = lv[column].to_numpy(dtype=float)
    dates = list(lv["date"])
    n = len(v) - 1
    out: dict[str, Any] = {"start": dates[0] if dates else None, "end": dates[-1] if dates else None, "days": n}
    if n < 1:
        return out
    r = v[1:] / v[:-1] - 1
    cum = v[-1] / v[0] - 1
    ann = (1 + cum) ** (periods_per_year / n) - 1 if cum > -1 else -1.0
    vol = float(np.std(r, ddof=1) * math.sqrt(periods_per_year)) if n > 1 else float("nan")
    peak = np.maximum.accumulate(v)
    dd = v / peak - 1
    t = int(np.argmin(dd))
    p = int(np.argmax(v[: t + 1])) if t > 0 else 0
    rec = next((dates[i] for i in range(t + 1, len(v)) if v[i] >= v[p]), None)
    out.update(
        cumulative_return=float(cum),
        annualised_return=float(ann),
        volatility=vol,
        sharpe=float((ann - rf) / vol) if vol and math.isfinite(vol) and vol > 0 else float("nan"),
        max_drawdown=float(dd[t]),
        drawdown_peak=dates[p],
        drawdown_trough=dates[t],
        drawdown_recovery=rec,
        best_day=float(r.max()),
        best_day_date=dates[int(np.argmax(r)) + 1],
        worst_day=float(r.min()),
        worst_day_date=dates[int(np.argmin(r)) + 1],
    )
    k = int(move_days)
    if k >= 1 and len(v) > k:
        mv = v[k:] / v[:-k] - 1
        b, w = int(np.argmax(mv)), int(np.argmin(mv))
        out.update(
            move_days=k,
            best_move=float(mv[b]), best_move_start=dates[b], best_move_end=dates[b + k],
            worst_move=float(mv[w]), worst_move_start=dates[w], worst_move_end=dates[w + k],
        )
    return out


def relative_stats(
    ours: pd.DataFrame,
    other: pd.DataFrame,
    *,
    column: str = "level",
    other_column: str = "level",
    periods_per_year: int = PERIODS_PER_YEAR,
) -> dict[str, Any]:
    """Tracking error (annualised std of daily return differences), correlation of daily
    returns, excess annualised return and information ratio, on the common days."""
    a = ours[["date", column]].rename(columns={column: "a"})
    b = other[["date", other_column]].rename(columns={other_column: "b"})
    j = a.merge(b, on="date").dropna().sort_values("date").reset_index(drop=True)
    if len(j) < 3:
        return {"common_days": max(len(j) - 1, 0)}
    ra = j["a"].pct_change().iloc[1:].to_numpy()
    rb = j["b"].pct_change().iloc[1:].to_numpy()
    diff = ra - rb
    n = len(diff)
    te = float(np.std(diff, ddof=1) * math.sqrt(periods_per_year))
    cum_a = j["a"].iloc[-1] / j["a"].iloc[0]
    cum_b = j["b"].iloc[-1] / j["b"].iloc[0]
    excess = float(cum_a ** (periods_per_year / n) - cum_b ** (periods_per_year / n))
    corr = float(np.corrcoef(ra, rb)[0, 1]) if np.std(ra) > 0 and np.std(rb) > 0 else float("nan")
    return {
        "common_days": n,
        "tracking_error": te,
        "correlation": corr,
        "excess_annualised_return": excess,
        "information_ratio": excess / te if te > 0 else float("nan"),
    }


# ---------------------------------------------------------------------------------------
# Tracking an official index from a weight snapshot
# ---------------------------------------------------------------------------------------
@dataclass
class TrackResult:
    """Our path from an official snapshot against the official close."""

    index_code: str
    snapshot: dt.date
    levels: pd.DataFrame  # date, level, official, return, official_return, diff, gap
    stats: dict[str, Any]
    drift: pd.DataFrame  # later official snapshots vs our drifted weights
    warnings: list[str]
    synthetic: bool = False

    def to_dict(self) -> dict[str, Any]:
        from ..results.review import _clean

        return {
            "index_code": self.index_code,
            "snapshot": self.snapshot.isoformat(),
            "synthetic": self.synthetic,
            "stats": {k: _clean(v) for k, v in self.stats.items()},
            "snapshot_drift": [{k: _clean(v) for k, v in r.items()} for r in self.drift.to_dict("records")],
            "warnings": list(self.warnings),
            "levels": [{k: _clean(v) for k, v in r.items()} for r in self.levels.to_dict("records")],
        }


def _reviews_effective_in(m: Methodology, store: Store, start: dt.date, end: dt.date) -> list[dt.date]:
    """Effective dates of `m`'s scheduled reviews in (start, end]."""
    from ..engine import context
    from ..methodology.schedule import review_dates, reviews_between

    if m.schedule.frequency != "periodic":
        return []
    cal = context(store).cal
    out = []
    for label in reviews_between(m, start, end):
        with contextlib.suppress(IndexReconError):
            eff = review_dates(m, cal, label).effective
            if start < eff <= end:
                out.append(eff)
    return out


def track(
    m: Methodology | str,
    store: Store,
    from_official: dt.date,
    end: dt.date,
    *,
    share_changes: Literal["all", "bonus"] = "bonus",
    index_code: str | None = None,
    total_return: bool = False,
    against: str | None = None,
) -> TrackResult:
    """Reproduce an official index from one weight snapshot: implied weighting shares
    (weight x close level / price on the snapshot date) carried forward with bonus issues
    (and, with share_changes="all", every share change), priced daily and compared with the
    official close. The level starts at the official close of the snapshot date.

    `total_return`: our total-return level (cash dividends of the store's `dividends`
    reinvested on the ex-date) against the official total-return index, `against` or the
    index's own in TOTAL_RETURN_INDEX (399006 -> 399606), from the price index's weights."""
    from ..methodology.loader import load_methodology

    mm = load_methodology(m) if m is not None else None  # type: ignore[arg-type]
    if index_code is None and mm is not None:
        index_code = mm.index_code
    if not index_code:
        raise IndexReconError("the methodology has no index_code to track")
    store.require("official_weights", "index_bars")
    if end < from_official:
        raise IndexReconError(f"end {end} is before the snapshot from_official {from_official}")
    last = store.date_range()[1]
    if end > last:  # never clip silently: the user asked for days the store does not have
        raise StoreError(f"end {end} is after the store's last day {last}; give an end on or before it")
    level_code = index_code
    if total_return:
        level_code = against or TOTAL_RETURN_INDEX.get(index_code)
        if not level_code:
            raise IndexReconError(f"no total-return index is known for {index_code}; give its code (against)")
        store.require("dividends")
    elif against:
        level_code = against
    official = _q(
        store,
        "SELECT date, close AS official FROM index_bars WHERE index_code = ? AND date BETWEEN ? AND ? ORDER BY date",
        [level_code, from_official, end],
    )
    if official.empty or official["date"].iloc[0] != from_official:
        raise StoreError(f"the store has no official {level_code} close on {from_official} (table index_bars)")
    basket = basket_from_official(store, index_code, from_official, share_changes=share_changes)
    base = float(official["official"].iloc[0])
    later = [r[0] for r in store.con.execute(
        "SELECT DISTINCT trade_date FROM official_weights WHERE index_code = ? AND trade_date > ? AND trade_date <= ? ORDER BY 1",
        [index_code, from_official, end],
    ).fetchall()]
    path, wdf = index_levels(store, [basket], from_official, end, base=base, weight_dates=later or None)
    if index_code == getattr(mm, "index_code", None):
        frozen = _reviews_effective_in(mm, store, from_official, end)
        if frozen:
            path.warnings.append(
                f"the basket of the {from_official} weights is held unchanged through the review(s) effective "
                f"{', '.join(str(d) for d in frozen)}: the official index changed constituents then, so the "
                "gap after them is rebalancing, not tracking error"
            )
    levels = path.levels
    if total_return:  # the total-return series takes the place of the price level
        levels = levels.drop(columns=["level", "return"]).rename(
            columns={"total_return_level": "level", "total_return": "return"})
    lv = levels[["date", "level", "return", "constituents"]].merge(official, on="date", how="left")
    lv["official_return"] = lv["official"].pct_change(fill_method=None)
    lv.loc[0, "official_return"] = np.nan
    lv["diff"] = lv["return"] - lv["official_return"]
    lv["gap"] = lv["level"] / lv["official"] - 1
    rel = relative_stats(levels, official, other_column="official")
    d = lv["diff"].dropna()
    stats: dict[str, Any] = {
        "index_code": level_code,
        "weights_of": index_code,
        "total_return": total_return,
        "snapshot": from_official,
        "end": lv["date"].iloc[-1],
        "days": int(d.size),
        "tracking_error": rel.get("tracking_error"),
        "correlation": rel.get("correlation"),
        "mean_daily_diff": float(d.mean()) if d.size else None,
        "max_abs_daily_diff": float(d.abs().max()) if d.size else None,
        "max_abs_daily_diff_date": lv.loc[d.abs().idxmax(), "date"] if d.size else None,
        "final_gap": float(lv["gap"].iloc[-1]),
        "max_abs_gap": float(lv["gap"].abs().max()),
        "max_abs_gap_date": lv.loc[lv["gap"].abs().idxmax(), "date"],
        "level_end": float(lv["level"].iloc[-1]),
        "official_end": float(lv["official"].iloc[-1]) if pd.notna(lv["official"].iloc[-1]) else None,
    }
    drift_rows = []
    for d_ in later:
        off = official_snapshot(store, index_code, d_)
        ours = wdf[wdf["date"] == d_] if wdf is not None else pd.DataFrame(columns=["code", "weight"])
        j = off.merge(ours[["code", "weight"]], on="code", how="outer", suffixes=("_official", "_ours")).fillna(0.0)
        j["abs"] = (j["weight_official"] - j["weight_ours"]).abs()
        top = j.sort_values("abs", ascending=False).head(3)
        drift_rows.append({
            "date": d_,
            "official_count": len(off),
            "in_both": int(((j["weight_official"] > 0) & (j["weight_ours"] > 0)).sum()),
            "weight_distance": float(0.5 * j["abs"].sum()),
            "largest_gaps": ", ".join(
                f"{r.code} {100 * r.weight_ours:.2f}% vs {100 * r.weight_official:.2f}%" for r in top.itertuples()
            ),
        })
    drift = pd.DataFrame(drift_rows, columns=["date", "official_count", "in_both", "weight_distance", "largest_gaps"])
    cols = ["date", "level", "official", "return", "official_return", "diff", "gap", "constituents"]
    return TrackResult(level_code, from_official, lv[cols], stats, drift, path.warnings, store.synthetic)
