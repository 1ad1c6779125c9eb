"""Tracking an official index from one weight snapshot: our level against the official close."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..data.store import Store
from ..errors import IndexReconError, StoreError
from .baskets import basket_from_official, official_snapshot
from .levels import index_levels
from .performance import relative_stats
from .query import _q

if TYPE_CHECKING:
    from ..methodology.schema import Methodology

# Official total-return indices of the price indices (same constituents and weights).
TOTAL_RETURN_INDEX = {"399006": "399606"}


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
    names: dict[str, str] = {}
    if later:
        # stock names (where the store has them) beside the codes of the largest gaps
        names = {str(c): str(n) for c, n in store.con.execute(
            "SELECT code, name FROM securities WHERE name IS NOT NULL AND name <> ''").fetchall()}
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
                f"{r.code}{' ' + names[r.code] if r.code in names else ''} {100 * r.weight_ours:.2f}% vs "
                f"{100 * r.weight_official:.2f}%" for r in top.itertuples()
            ),
        })
    drift = pd.DataFrame(drift_rows, columns=["date", "official_count", "in_both", "weight_distance", "largest_gaps"])
    cols = ["date", "level", "official", "return", "official_return", "diff", "gap", "constituents"]
    return TrackResult(level_code, from_official, lv[cols], stats, drift, path.warnings, store.synthetic)
