"""Valuation of an index: its PE (TTM) and PB and their percentile over the years before a day.

The index's own published PE/PB (`index_valuation`) when the store has them, else computed
from the per-stock `valuation` table over its members.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from ..data.store import Store
from ..errors import StoreError
from .market import MarketResult, _a_share_sql, _one, is_official, trading_day
from .query import _register

PUBLISHED_CONVENTION = (
    "the provider's own published index PE (TTM) and PB (index_valuation), not recomputed from "
    "the members: csindex weights by the index's calculation shares and gives no PB; legulegu "
    "gives its cap-weighted TTM PE and PB"
)
MIN_PERCENTILE_DATES = 20  # fewer dates in the window than this give no percentile
VALUATION_CONVENTION = (
    "PE = total market cap / total trailing earnings over the members with a PE, each stock's "
    "earnings = its total cap / its PE (TTM), so loss-makers with a negative PE count as negative "
    "earnings (the CSI / CNI convention); PB likewise with book = cap / PB; members without a PE "
    "(or PB) in the data are left out of both sums and counted"
)


def _members_sql(store: Store, target: str) -> tuple[str, str]:
    """SQL of the official members of `target` as intervals (code, start_date, end_date) and a
    label: index_membership where the store has it, else the official weight snapshots, each
    holding until the next."""
    if store.has_table("index_membership") and _one(
            store, "SELECT count(*) > 0 FROM index_membership WHERE index_code = ?", [target])[0]:  # type: ignore[index]
        return (f"SELECT code, start_date, end_date FROM index_membership WHERE index_code = '{target}'",
                "official membership (index_membership)")
    if store.has_table("official_weights") and _one(
            store, "SELECT count(*) > 0 FROM official_weights WHERE index_code = ?", [target])[0]:  # type: ignore[index]
        return (f"""
            WITH s AS (SELECT DISTINCT trade_date FROM official_weights WHERE index_code = '{target}'),
            n AS (SELECT trade_date, lead(trade_date) OVER (ORDER BY trade_date) AS nxt FROM s)
            SELECT w.code, w.trade_date AS start_date, CAST(n.nxt - INTERVAL 1 DAY AS DATE) AS end_date
            FROM official_weights w JOIN n USING (trade_date) WHERE w.index_code = '{target}'
            """, "official weight snapshots (official_weights), each holding until the next")
    raise StoreError(f"the store has no official members of {target} (index_membership or official_weights)")


def _review_members(store: Store, target: str, start: dt.date, end: dt.date) -> tuple[Any, str]:
    """Members of the methodology `target` as intervals, from its reviews in force from
    `start` to `end` rolled forward point in time (as `backtest` does)."""
    import pandas as pd

    from ..methodology.loader import load_methodology
    from .backtest import review_chain

    m = load_methodology(target)
    chain = review_chain(m, store, start, end)
    rows = []
    for i, r in enumerate(chain):
        nxt = chain[i + 1].dates.effective - dt.timedelta(days=1) if i + 1 < len(chain) else None
        rows += [(c, r.dates.effective, nxt) for c in r.codes]
    return pd.DataFrame(rows, columns=["code", "start_date", "end_date"]), f"{m.name} reviews rebuilt point in time"


def valuation(store: Store, target: str, date: dt.date | None = None, years: int = 10) -> MarketResult:
    """The index's PE (TTM) and PB on `date` (the last valuation day on or before it) and
    their percentile among the valuation days of the `years` before it (the share of days with
    a value at or below the day's), from the store's `valuation(code, date, pe_ttm, pb)` table.
    With fewer than MIN_PERCENTILE_DATES days in the window the percentile is refused. When the
    store has the index's own published PE/PB (index_valuation) for `target`, those are used."""
    import pandas as pd

    from .query import _q

    published = published_valuation(store, target, date, years)
    if published is not None:
        return published
    if not store.has_table("valuation"):
        raise StoreError(f"store {store.path} has no valuation table (per-stock PE/PB: `ingest files` of the "
                         "shared dataset's daily_basic snapshots, or `ingest akshare`)")
    d = trading_day(store, date)
    row = _one(store, "SELECT max(date) FROM valuation WHERE date <= ?", [d])
    vd = row[0] if row else None
    if vd is None:
        raise StoreError(f"the store's valuation table has no data on or before {d}")
    warnings = [] if vd == d else [f"the last valuation day on or before {d} is {vd}: figures are of {vd}"]
    lo = dt.date(vd.year - years, vd.month, min(vd.day, 28))
    if is_official(store, target):
        members_sql, source = _members_sql(store, target)
    else:
        first_val = _one(store, "SELECT min(date) FROM valuation WHERE date >= ?", [lo])[0]  # type: ignore[index]
        members, source = _review_members(store, target, max(lo, first_val, store.date_range()[0]), vd)
        _register(store, "_market_members", members)
        members_sql = "SELECT * FROM _market_members"
    # the company's whole capital: a provider's PE (TTM) is the company's cap over its earnings
    sh_table, _ = _a_share_sql(store)
    a_sh = "sh.total_shares"
    sql = f"""
    WITH m AS ({members_sql}),
    v AS (SELECT DISTINCT date FROM valuation WHERE date BETWEEN $lo AND $hi),
    mem AS (SELECT v.date, m.code FROM v JOIN m ON v.date >= m.start_date
                                        AND (m.end_date IS NULL OR v.date <= m.end_date)),
    px AS (  -- caps and earnings in DECIMAL: sums that do not depend on the scan order
      SELECT mem.date, mem.code, CAST(b.close * {a_sh} AS DECIMAL(38, 4)) AS cap,
             CAST(x.pe_ttm AS DECIMAL(38, 6)) AS pe_ttm, CAST(x.pb AS DECIMAL(38, 6)) AS pb
      FROM mem LEFT JOIN bars b ON b.code = mem.code AND b.date = mem.date
      ASOF LEFT JOIN {sh_table} sh ON sh.code = mem.code AND mem.date >= sh.effective_date
      LEFT JOIN valuation x ON x.code = mem.code AND x.date = mem.date
    )
    SELECT date, count(*) AS members, count(cap) AS priced,
           count(*) FILTER (WHERE cap IS NOT NULL AND pe_ttm < 0) AS negative_pe,
           count(*) FILTER (WHERE cap IS NOT NULL AND pe_ttm IS NOT NULL AND pe_ttm <> 0) AS with_pe,
           count(*) FILTER (WHERE cap IS NOT NULL AND pb IS NOT NULL AND pb <> 0) AS with_pb,
           CAST(sum(cap) FILTER (WHERE pe_ttm IS NOT NULL AND pe_ttm <> 0) AS DOUBLE)
             / nullif(CAST(sum(CAST(CAST(cap AS DOUBLE) / CAST(pe_ttm AS DOUBLE) AS DECIMAL(38, 4)))
                      FILTER (WHERE pe_ttm IS NOT NULL AND pe_ttm <> 0) AS DOUBLE), 0) AS pe_ttm,
           CAST(sum(cap) FILTER (WHERE pb IS NOT NULL AND pb <> 0) AS DOUBLE)
             / nullif(CAST(sum(CAST(CAST(cap AS DOUBLE) / CAST(pb AS DOUBLE) AS DECIMAL(38, 4)))
                      FILTER (WHERE pb IS NOT NULL AND pb <> 0) AS DOUBLE), 0) AS pb
    FROM px GROUP BY date ORDER BY date
    """
    df = _q(store, sql, {"lo": lo, "hi": vd})
    if not is_official(store, target):
        store.con.unregister("_market_members")
    today = df[df["date"] == vd]
    if today.empty:
        raise StoreError(f"the store has no members of {target} in force on {vd} ({source})")
    t = today.iloc[0]
    if not t["priced"]:
        raise StoreError(f"no member of {target} has a close and share capital on {vd}")
    df = df[df["priced"] > 0].reset_index(drop=True)

    def pctile(col: str) -> float | None:
        s = df[col].dropna()
        s = s[s > 0]  # a negative ratio (total losses) has no place on the scale
        if pd.isna(t[col]) or t[col] <= 0:
            if not pd.isna(t[col]):
                warnings.append(f"the members' total {'earnings' if col == 'pe_ttm' else 'book value'} on {vd} "
                                f"is negative ({col} {t[col]:.2f}): no percentile")
            return None
        if len(s) < MIN_PERCENTILE_DATES:
            return None
        return float((s <= t[col]).mean())

    n = len(df)
    if n < MIN_PERCENTILE_DATES:
        warnings.append(f"only {n} valuation day(s) in the {years} years to {vd}: a percentile needs at "
                        f"least {MIN_PERCENTILE_DATES}, none is given")
    if t["priced"] < t["members"]:
        warnings.append(f"{int(t['members'] - t['priced'])} of {int(t['members'])} members have no close or "
                        f"share capital on {vd}: left out")
    no_pe = int(t["priced"] - t["with_pe"])
    if no_pe:
        why = (" and none of the members has a negative PE: the data gives no PE for loss-makers, so they "
               "cannot count as negative earnings and the PE is that of the members with a PE (usually lower "
               "than the providers', who include the losses)") if not t["negative_pe"] else ""
        warnings.append(f"{no_pe} priced member(s) have no PE on {vd}: left out of the PE{why}")
    payload = {
        "target": target, "date": vd, "years": years, "members_from": source,
        "convention": VALUATION_CONVENTION,
        "pe_ttm": t["pe_ttm"], "pb": t["pb"],
        "pe_percentile": pctile("pe_ttm"), "pb_percentile": pctile("pb"),
        "window": {"start": df["date"].iloc[0], "end": vd, "dates": n},
        "members": int(t["members"]), "with_pe": int(t["with_pe"]), "with_pb": int(t["with_pb"]),
        "history": df.to_dict("records"),
    }
    return MarketResult(payload, df, warnings, store.synthetic)



def published_valuation(store: Store, target: str, date: dt.date | None, years: int) -> MarketResult | None:
    """PE/PB of `target` on `date` (the provider's last day on or before it) and their percentile
    over the `years` before it, from the one provider with the most days in that window (ties:
    the provider's name); None when the store has no published figures of `target` by then."""
    if not store.has_table("index_valuation"):
        return None
    d = trading_day(store, date)
    lo = dt.date(d.year - years, d.month, min(d.day, 28))
    row = _one(store, """SELECT source, max(date) FROM index_valuation
                         WHERE index_code = ? AND date BETWEEN ? AND ?
                         GROUP BY source ORDER BY count(*) DESC, source LIMIT 1""", [target, lo, d])
    if not row:
        return None
    source, vd = row
    lo = dt.date(vd.year - years, vd.month, min(vd.day, 28))
    df = store.con.execute(
        "SELECT date, pe_ttm, pb FROM index_valuation WHERE index_code = ? AND source = ? "
        "AND date BETWEEN ? AND ? ORDER BY date", [target, source, lo, vd]).df()
    warnings = [f"{target}: the published PE/PB of {source} (index_valuation), not computed from "
                "per-stock valuation"]
    if vd != d:
        warnings.append(f"the last {source} day on or before {d} is {vd}: figures are of {vd}")
    day = df.iloc[-1]
    n = len(df)

    def value(col: str) -> float | None:
        v = day[col]
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    def pctile(col: str) -> float | None:
        v = value(col)
        s = df[col].dropna()
        s = s[s > 0]  # a negative ratio (total losses) has no place on the scale
        if v is None:
            warnings.append(f"{source} gives no {col} of {target} on {vd}")
            return None
        if v <= 0 or len(s) < MIN_PERCENTILE_DATES:
            return None
        return float((s <= v).mean())

    if n < MIN_PERCENTILE_DATES:
        warnings.append(f"only {n} {source} day(s) in the {years} years to {vd}: a percentile needs at "
                        f"least {MIN_PERCENTILE_DATES}, none is given")
    payload = {
        "target": target, "date": vd, "years": years, "members_from": f"published by {source}",
        "convention": PUBLISHED_CONVENTION,
        "pe_ttm": value("pe_ttm"), "pb": value("pb"),
        "pe_percentile": pctile("pe_ttm"), "pb_percentile": pctile("pb"),
        "window": {"start": df["date"].iloc[0].date(), "end": vd, "dates": n},
        "members": None, "with_pe": None, "with_pb": None, "source": source,
        "history": df.to_dict("records"),
    }
    return MarketResult(payload, df, warnings, store.synthetic)
