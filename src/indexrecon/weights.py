"""Weight caps by exact iterative redistribution, shared by every methodology.

Each pass finds the groups over their cap (a single stock, the top-k combined, an
industry), scales each down to exactly its cap, freezes its members, and hands the excess
to the unfrozen stocks in proportion to their weights. The frozen set only grows, so the
loop ends in at most n + groups passes with every cap holding exactly.
"""

from __future__ import annotations

import numpy as np

from .errors import IndexReconError

_EPS = 1e-12


def cap_weights(
    base: np.ndarray,
    *,
    single: float | None = None,
    top_k: tuple[int, float] | None = None,
    groups: np.ndarray | None = None,
    group_cap: float | None = None,
) -> np.ndarray:
    """Normalise `base` to weights summing to 1 that respect every cap (fractions)."""
    base = np.asarray(base, dtype=float)
    n = base.size
    if n == 0:
        return base
    if np.any(~np.isfinite(base)) or np.any(base < 0) or base.sum() <= 0:
        raise IndexReconError("weights need positive, finite base values for every constituent")
    w = base / base.sum()
    if single is None and top_k is None and group_cap is None:
        return w
    if single is not None and single * n < 1 - 1e-9:
        raise IndexReconError(
            f"caps cannot sum to 100%: {n} stocks x {single:.4g} single cap < 100%"
        )
    frozen = np.zeros(n, dtype=bool)
    labels = np.unique(groups) if groups is not None and group_cap is not None else []
    if group_cap is not None and len(labels) * group_cap < 1 - 1e-9:
        raise IndexReconError(
            f"caps cannot sum to 100%: {len(labels)} industries x {group_cap:.4g} industry cap < 100%"
        )
    for _ in range(4 * n + 10):
        over = np.zeros(n, dtype=bool)
        scale = np.ones(n)
        if single is not None:
            hit = w > single + _EPS
            scale[hit] = np.minimum(scale[hit], single / w[hit])
            over |= hit
        if top_k is not None:
            k, cap = top_k
            idx = np.argsort(-w, kind="stable")[:k]
            tot = w[idx].sum()
            if tot > cap + _EPS:
                scale[idx] = np.minimum(scale[idx], cap / tot)
                over[idx] = True
        if group_cap is not None and groups is not None:
            for g in labels:
                mask = groups == g
                tot = w[mask].sum()
                if tot > group_cap + _EPS:
                    scale[mask] = np.minimum(scale[mask], group_cap / tot)
                    over |= mask
        if not over.any():
            break
        w = w * scale
        frozen |= over
        free = ~frozen
        excess = 1.0 - w.sum()
        if free.any() and w[free].sum() > 0:
            w[free] += excess * w[free] / w[free].sum()
        elif excess > 1e-9:
            raise IndexReconError("caps cannot sum to 100%: every constituent is at its cap")
    return w / w.sum()


def tier_case_sql(tiers: list[tuple[float, float | str]], ratio: str) -> str:
    """A SQL CASE turning a free-float ratio (fraction) into its tiered inclusion factor."""
    parts = []
    for up_to_pct, factor_pct in tiers:
        bound = up_to_pct / 100
        if factor_pct == "ceil":
            val = f"least(1.0, ceil(round({ratio} * 100, 6)) / 100)"
        else:
            val = repr(float(factor_pct) / 100)
        parts.append(f"WHEN round({ratio}, 9) <= {bound!r} THEN {val}")
    return "CASE " + " ".join(parts) + " ELSE 1.0 END"
