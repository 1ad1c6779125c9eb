"""Analytics of one review: industry mix, concentration and coverage of the board."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..results.review import _clean

if TYPE_CHECKING:
    from ..results.review import ReviewResult


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


def concentration(weights: np.ndarray, codes: Any = None) -> dict[str, Any]:
    """Top-N shares, HHI, effective N and Gini of the weighted constituents. A constituent
    without a weight (no price or shares at the cutoff) is left out of the figures, which
    would otherwise all be NaN, and reported beside them: `unweighted_count` and, given the
    codes, `unweighted_codes`."""
    w_all = np.asarray(weights, dtype=float)
    weighted = np.isfinite(w_all)
    w = np.sort(w_all[weighted])[::-1]
    hhi = float((w**2).sum())
    out: dict[str, Any] = {
        "count": int(w_all.size),
        "weighted_count": int(w.size),
        "top1": float(w[:1].sum()),
        "top5": float(w[:5].sum()),
        "top10": float(w[:10].sum()),
        "hhi": hhi,
        "effective_n": float(1 / hhi) if hhi > 0 else 0.0,
        "gini": gini(w),
        "unweighted_count": int(w_all.size - w.size),
    }
    if codes is not None:
        out["unweighted_codes"] = sorted(str(c) for c, ok in zip(codes, weighted, strict=True) if not ok)
    return out


def coverage(candidates: pd.DataFrame, constituents: pd.DataFrame, cap_col: str = "total_cap") -> dict[str, Any]:
    """How much of the board the index holds, by companies and by total market cap. Board
    stocks without a market cap (no share data at the cutoff) cannot be counted in either
    share: they are left out and counted in `board_stocks_without_cap`."""
    board = candidates[candidates[cap_col].notna()]
    board_cap = float(board[cap_col].sum())
    idx_cap = float(constituents[cap_col].fillna(0).sum())
    n_board, n_idx = len(board), len(constituents)
    avg_board = board_cap / n_board if n_board else 0.0
    avg_idx = idx_cap / n_idx if n_idx else 0.0
    return {
        "board_stocks": n_board,
        # an incumbent unknown to the store (no board) is no board stock at all
        "board_stocks_without_cap": int((candidates[cap_col].isna() & candidates["board"].notna()).sum()),
        "index_stocks": n_idx,
        "share_of_companies": n_idx / n_board if n_board else 0.0,
        "board_total_cap": board_cap,
        "index_total_cap": idx_cap,
        "share_of_market_cap": idx_cap / board_cap if board_cap else 0.0,
        "avg_cap_multiple": avg_idx / avg_board if avg_board else 0.0,
    }


def official_snapshot_date(store: Any, index_code: str, on_or_after: Any) -> Any:
    row = store.con.execute(
        "SELECT min(trade_date) FROM official_weights WHERE index_code = ? AND trade_date >= ?",
        [index_code, on_or_after],
    ).fetchone()
    return row[0] if row else None


def compare_official(res: Any, official_date: Any = None) -> dict[str, Any]:
    """A rebuilt review against the store's official list: overlap, the codes missed and
    the extra ones (each with its rank and reason), and the weight distance (half the L1
    distance over the union, our weights drifted to the official date)."""
    from ..errors import StoreError
    from .levels import weights_on

    store, m = res.store, res.methodology
    if not m.index_code:
        raise StoreError(f"methodology {m.name} has no index_code to compare with")
    if official_date is None:
        official_date = official_snapshot_date(store, m.index_code, res.dates.effective)
        if official_date is None:
            raise StoreError(
                f"the store has no official {m.index_code} weights on or after {res.dates.effective}"
            )
    official = store.con.execute(
        "SELECT code, weight FROM official_weights WHERE index_code = ? AND trade_date = ? ORDER BY code",
        [m.index_code, official_date],
    ).df()
    if official.empty:
        raise StoreError(f"the store has no official {m.index_code} weights on {official_date}")
    ours = weights_on(res, official_date)
    w_off = dict(zip(official["code"], official["weight"], strict=True))
    w_our = dict(zip(ours["code"], ours["weight"], strict=True))
    ours_set = set(res.codes)
    union = sorted(set(w_off) | ours_set)
    distance = 0.5 * sum(abs(w_off.get(c, 0.0) - w_our.get(c, 0.0)) for c in union)
    cand = res.candidates.set_index("code")

    def row(code: str) -> dict[str, Any]:
        if code in cand.index:
            r = cand.loc[code]
            rank = None if pd.isna(r["rank"]) else int(r["rank"])
            return {"code": code, "name": r["name"], "rank": rank, "reason": r["reason"]}
        name = store.con.execute("SELECT name, board FROM securities WHERE code = ?", [code]).fetchone()
        why = "no data for this code in the store" if name is None else f"not a candidate (board {name[1]})"
        return {"code": code, "name": name[0] if name else None, "rank": None, "reason": why}

    missing = [
        {**row(c), "official_weight": w_off[c]} for c in sorted(set(w_off) - ours_set)
    ]
    extra = [{**row(c), "weight": w_our.get(c)} for c in sorted(ours_set - set(w_off))]
    by_rank = lambda d: (d["rank"] is None, d["rank"] or 0, d["code"])  # noqa: E731
    return {
        **res.header(),
        "official_date": str(official_date),
        "overlap": len(ours_set & set(w_off)),
        "official_count": len(w_off),
        "rebuilt_count": len(ours_set),
        "missing": sorted(missing, key=by_rank),
        "extra": sorted(extra, key=by_rank),
        "weight_distance": distance,
    }


def review_industry_mix(res: ReviewResult) -> pd.DataFrame:
    """A review's industry mix (`ReviewResult.industry_mix`)."""
    return industry_mix(res.constituents.rename(columns={"industry": "sw_l1_name_en"}))


def review_stats(res: ReviewResult) -> dict[str, Any]:
    """A review's industry mix, concentration and coverage (`ReviewResult.stats`)."""
    cons = res.constituents
    return {
        "industry_mix": [
            {k: _clean(v) for k, v in row.items()} for row in review_industry_mix(res).to_dict("records")
        ],
        "concentration": concentration(cons["weight"].to_numpy(), cons["code"]),
        "coverage": coverage(res.candidates, cons),
    }
