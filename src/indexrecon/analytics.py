"""Analytics of one review: industry mix, concentration and coverage of the board."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def industry_mix(constituents: pd.DataFrame) -> pd.DataFrame:
    """Weight and count per Shenwan level-1 industry, heaviest first."""
    df = constituents.assign(
        sw_l1_code=constituents["sw_l1_code"].fillna("?"),
        sw_l1_name=constituents["sw_l1_name"].fillna("(no industry)"),
        sw_l1_name_en=constituents["sw_l1_name_en"].fillna("(no industry)"),
    )
    out = (
        df.groupby(["sw_l1_code", "sw_l1_name", "sw_l1_name_en"], dropna=False)
        .agg(count=("code", "size"), weight=("weight", "sum"))
        .reset_index()
        .sort_values(["weight", "sw_l1_code"], ascending=[False, True], kind="stable")
        .reset_index(drop=True)
    )
    return out


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 = equal, ->1 = concentrated)."""
    v = np.sort(np.asarray(values, dtype=float))
    n = v.size
    if n == 0 or v.sum() == 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float((2 * (i * v).sum()) / (n * v.sum()) - (n + 1) / n)


def concentration(weights: np.ndarray) -> dict[str, float]:
    w = np.sort(np.asarray(weights, dtype=float))[::-1]
    hhi = float((w**2).sum())
    return {
        "count": int(w.size),
        "top1": float(w[:1].sum()),
        "top5": float(w[:5].sum()),
        "top10": float(w[:10].sum()),
        "hhi": hhi,
        "effective_n": float(1 / hhi) if hhi > 0 else 0.0,
        "gini": gini(w),
    }


def coverage(candidates: pd.DataFrame, constituents: pd.DataFrame, cap_col: str = "total_cap") -> dict[str, Any]:
    """How much of the board the index holds, by companies and by total market cap."""
    board = candidates[candidates[cap_col].notna()]
    board_cap = float(board[cap_col].sum())
    idx_cap = float(constituents[cap_col].fillna(0).sum())
    n_board, n_idx = len(board), len(constituents)
    avg_board = board_cap / n_board if n_board else 0.0
    avg_idx = idx_cap / n_idx if n_idx else 0.0
    return {
        "board_stocks": n_board,
        "index_stocks": n_idx,
        "share_of_companies": n_idx / n_board if n_board else 0.0,
        "board_total_cap": board_cap,
        "index_total_cap": idx_cap,
        "share_of_market_cap": idx_cap / board_cap if board_cap else 0.0,
        "avg_cap_multiple": avg_idx / avg_board if avg_board else 0.0,
    }
