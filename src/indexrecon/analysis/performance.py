"""Statistics of a level series: return, risk and drawdown, and against another series."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

PERIODS_PER_YEAR = 252


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
