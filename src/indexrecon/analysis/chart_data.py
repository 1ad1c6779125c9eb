"""The data behind each chart of a review and of a backtest, as plain DataFrames and dicts
(present/charts.py draws them): the industry mix, the top weights, the cumulative weight
curve, the board's coverage curve, and index levels normalised for a level chart with the
official series rebased, their drawdowns and statistics.

The review is read through its public views (`res.industry_mix()`, `res.constituents`,
`res.candidates`, `res.stats()`); nothing here imports results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import IndexReconError

if TYPE_CHECKING:
    from ..results.review import ReviewResult

__all__ = [
    "BacktestSeries",
    "backtest_series",
    "coverage_data",
    "cumulative_weight_data",
    "drawdown",
    "industry_mix_data",
    "levels_frame",
    "top_weights_data",
]


def industry_mix_data(res: ReviewResult) -> pd.DataFrame:
    """Weight and count per Shenwan level-1 industry, heaviest first (columns industry,
    industry_cn, count, weight)."""
    mix = res.industry_mix()
    return pd.DataFrame(
        {
            "industry": mix["sw_l1_name_en"].astype(str),
            "industry_cn": mix["sw_l1_name"].astype(str),
            "count": mix["count"].astype(int),
            "weight": mix["weight"].astype(float),
        }
    )


def top_weights_data(res: ReviewResult, n: int = 20) -> pd.DataFrame:
    """The `n` heaviest constituents (columns code, name, industry, weight, label)."""
    cons = res.constituents
    top = cons.sort_values(["weight", "code"], ascending=[False, True], kind="stable").head(n)
    names = top["name"].fillna("").astype(str) if "name" in top else pd.Series("", index=top.index)
    out = pd.DataFrame(
        {
            "code": top["code"].astype(str),
            "name": names,
            "industry": top["industry"].fillna("").astype(str) if "industry" in top else "",
            "weight": top["weight"].astype(float),
        }
    ).reset_index(drop=True)
    out["label"] = [f"{c} {nm}".strip() for c, nm in zip(out["code"], out["name"], strict=True)]
    return out


def cumulative_weight_data(res: ReviewResult) -> pd.DataFrame:
    """Cumulative weight of the heaviest k constituents, k = 0..N (columns n, cum_weight,
    equal: the same curve for an equal-weight index)."""
    w = np.sort(res.constituents["weight"].to_numpy(dtype=float))[::-1]
    n = w.size
    k = np.arange(n + 1)
    return pd.DataFrame(
        {
            "n": k,
            "cum_weight": np.concatenate([[0.0], np.cumsum(w)]),
            "equal": k / n if n else k * 0.0,
        }
    )


def coverage_data(res: ReviewResult, cap_col: str = "total_cap") -> tuple[dict[str, Any], pd.DataFrame]:
    """The coverage numbers (as in `res.stats()["coverage"]`) and the board's concentration
    curve: every board stock by market cap, largest first, with the cumulative share of
    companies and of market cap and whether it is a constituent."""
    cov = res.stats()["coverage"]
    c = res.candidates
    board = c[c[cap_col].notna()].sort_values([cap_col, "code"], ascending=[False, True], kind="stable")
    cap = board[cap_col].to_numpy(dtype=float)
    total = cap.sum()
    n = len(board)
    members = set(res.codes)
    curve = pd.DataFrame(
        {
            "code": board["code"].to_numpy(),
            "share_of_companies": np.arange(1, n + 1) / n if n else np.array([]),
            "share_of_market_cap": np.cumsum(cap) / total if total else np.zeros(n),
            "member": [code in members for code in board["code"]],
        }
    )
    return cov, curve


def levels_frame(obj: Any, name: str = "level") -> pd.DataFrame:
    """Index levels as a DataFrame with columns date (datetime.date) and level, sorted.

    Accepts a DataFrame with a date column (or a date index) and a level/close/value column,
    a Series indexed by date, or an object with a `levels` attribute holding either."""
    if obj is None:
        raise IndexReconError("no index levels given")
    if hasattr(obj, "levels") and not isinstance(obj, (pd.DataFrame, pd.Series)):
        obj = obj.levels
    if isinstance(obj, pd.Series):
        df = pd.DataFrame({"date": obj.index, "level": obj.to_numpy()})
    elif isinstance(obj, pd.DataFrame):
        df = obj.reset_index() if "date" not in obj.columns else obj
        date_col = "date" if "date" in df.columns else df.columns[0]
        level_col = next((c for c in (name, "level", "close", "value", "nav") if c in df.columns), None)
        if level_col is None:
            numeric = [c for c in df.columns if c != date_col and pd.api.types.is_numeric_dtype(df[c])]
            if not numeric:
                raise IndexReconError("index levels need a 'level' column")
            level_col = numeric[0]
        df = pd.DataFrame({"date": df[date_col].to_numpy(), "level": df[level_col].to_numpy()})
    else:
        raise IndexReconError(f"cannot read index levels from {type(obj).__name__}")
    df["date"] = pd.to_datetime(df["date"]).dt.date
    df["level"] = pd.to_numeric(df["level"], errors="coerce").astype(float)
    df = df.dropna(subset=["level"])
    return df.sort_values("date", kind="stable").drop_duplicates("date", keep="last").reset_index(drop=True)


def drawdown(levels: pd.Series) -> pd.Series:
    """Drawdown from the running peak: level / running max - 1 (0 at a new high)."""
    v = levels.astype(float)
    return v / v.cummax() - 1.0


@dataclass
class BacktestSeries:
    """The rebuilt levels and, when the store has it, the official index over the same days
    rebased to the rebuilt level on the first common day."""

    rebuilt: pd.DataFrame  # date, level
    official: pd.DataFrame | None = None  # date, level (rebased), close (as published)
    official_label: str = ""

    def stats(self) -> list[dict[str, Any]]:
        """Per series: first and last level, total and annualised return, maximum
        drawdown; for the rebuilt series also the annualised tracking error (daily return
        differences, x sqrt(252)) and daily-return correlation against the official one."""
        rows = [_series_stats("rebuilt", self.rebuilt)]
        if self.official is not None and len(self.official):
            rows.append(_series_stats(self.official_label or "official", self.official))
            merged = self.rebuilt.merge(self.official, on="date", suffixes=("", "_off"))
            if len(merged) > 2:
                diff = merged["level"].pct_change() - merged["level_off"].pct_change()
                rows[0]["tracking_error"] = float(diff.std(ddof=1) * math.sqrt(252))
                rows[0]["correlation"] = float(
                    merged["level"].pct_change().corr(merged["level_off"].pct_change())
                )
        return rows


def _series_stats(name: str, df: pd.DataFrame) -> dict[str, Any]:
    lv = df["level"].to_numpy(dtype=float)
    days = (df["date"].iloc[-1] - df["date"].iloc[0]).days if len(df) > 1 else 0
    total = lv[-1] / lv[0] - 1 if len(lv) and lv[0] else float("nan")
    annual = (1 + total) ** (365.25 / days) - 1 if days > 0 and total > -1 else float("nan")
    return {
        "series": name,
        "start": df["date"].iloc[0].isoformat() if len(df) else None,
        "end": df["date"].iloc[-1].isoformat() if len(df) else None,
        "first": float(lv[0]) if len(lv) else float("nan"),
        "last": float(lv[-1]) if len(lv) else float("nan"),
        "total_return": float(total),
        "annualised_return": float(annual),
        "max_drawdown": float(drawdown(df["level"]).min()) if len(df) else float("nan"),
    }


def backtest_series(levels: Any, official: Any = None, official_label: str = "") -> BacktestSeries:
    """Normalise rebuilt (and official) levels for the charts: official rebased to the
    rebuilt level on the first day both have."""
    reb = levels_frame(levels)
    if reb.empty:
        raise IndexReconError("the backtest returned no levels")
    off = None
    if official is not None:
        off = levels_frame(official)
        off = off[(off["date"] >= reb["date"].iloc[0]) & (off["date"] <= reb["date"].iloc[-1])]
        common = reb.merge(off, on="date", suffixes=("", "_off"))
        if common.empty:
            off = None
        else:
            scale = common["level"].iloc[0] / common["level_off"].iloc[0]
            off = off.assign(close=off["level"], level=off["level"] * scale).reset_index(drop=True)
    return BacktestSeries(reb, off, official_label)
