"""An index's own published PE (TTM) and PB (the store's ``index_valuation`` table, from
``ingest akshare --datasets index_valuation``) for `market valuation`, used instead of the
per-stock computation when the store has them for the index."""

from __future__ import annotations

import datetime as dt
import math

from ..data.store import Store
from .market import MIN_PERCENTILE_DATES, MarketResult, _one, trading_day

PUBLISHED_CONVENTION = (
    "the provider's own published index PE (TTM) and PB (index_valuation), not recomputed from "
    "the members: csindex weights by the index's calculation shares and gives no PB; legulegu "
    "gives its cap-weighted TTM PE and PB"
)


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
