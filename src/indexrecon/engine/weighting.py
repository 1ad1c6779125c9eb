"""Weight caps by exact iterative redistribution, shared by every methodology.

Each pass scales every group over its cap (a single stock, the top-k combined, an
industry) down to exactly its cap and hands the excess to the stocks not bound by any cap,
in proportion to their weights, until nothing is over and the weights sum to 1. With a
single-stock cap alone the bound set only grows, so this ends in at most n passes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import IndexReconError

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
    labels = np.unique(groups) if groups is not None and group_cap is not None else []
    if group_cap is not None and len(labels) * group_cap < 1 - 1e-9:
        raise IndexReconError(
            f"caps cannot sum to 100%: {len(labels)} industries x {group_cap:.4g} industry cap < 100%"
        )
    for _ in range(10_000):
        scale = np.ones(n)
        binding = np.zeros(n, dtype=bool)  # members of a group at (or over) its cap
        if single is not None:
            scale = np.minimum(scale, np.where(w > single, single / w, 1.0))
            binding |= w >= single - _EPS
        if top_k is not None:
            k, cap = top_k
            idx = np.argsort(-w, kind="stable")[:k]
            tot = w[idx].sum()
            if tot > cap:
                scale[idx] = np.minimum(scale[idx], cap / tot)
            if tot >= cap - _EPS:
                binding[idx] = True
        if group_cap is not None and groups is not None:
            for g in labels:
                mask = groups == g
                tot = w[mask].sum()
                if tot > group_cap:
                    scale[mask] = np.minimum(scale[mask], group_cap / tot)
                if tot >= group_cap - _EPS:
                    binding |= mask
        w = w * scale
        excess = 1.0 - w.sum()
        if abs(excess) <= _EPS:
            break
        free = ~binding
        if not free.any() or w[free].sum() <= 0:
            raise IndexReconError("caps cannot sum to 100%: every constituent is at a cap")
        # the excess goes to the stocks with headroom, in proportion to their weights
        w[free] += excess * w[free] / w[free].sum()
    else:
        raise IndexReconError(
            "weight caps cannot all hold at once for these constituents (no convergence); loosen them"
        )
    return w


def methodology_caps(caps: Any, industries: list[Any] | None = None) -> dict[str, Any]:
    """`cap_weights` keyword arguments from a methodology's `weighting.caps` (percent) and
    the constituents' industry codes (used only with an industry cap)."""
    return {
        "single": caps.single_pct / 100 if caps.single_pct else None,
        "top_k": (caps.top_k.k, caps.top_k.pct / 100) if caps.top_k else None,
        "groups": np.array([g or "?" for g in industries or []]) if caps.industry_pct else None,
        "group_cap": caps.industry_pct / 100 if caps.industry_pct else None,
    }


# the candidate table's share column each weighting method multiplies the price by
_SHARE_COLUMNS = {"total_cap": "shares_total", "float_cap": "shares_float", "free_float_cap": "shares_ff"}


def weighting_sql(w: Any, ratio: str) -> tuple[str | None, str]:
    """How a methodology's `weighting` turns a candidate into its weighting base: the share
    column (`shares_total`, `shares_float`, `shares_ff`; None for equal weights) and the
    inclusion-factor SQL over the free-float ratio expression `ratio` ("1.0" without one).
    With tiered (or exact) free-float factors the factor multiplies total shares."""
    if w.method == "equal":
        return None, "1.0"
    if w.method == "free_float_cap" and w.inclusion_factor:
        if w.inclusion_factor == "exact":
            return "shares_total", ratio
        return "shares_total", tier_case_sql([(t.up_to_pct, t.factor_pct) for t in w.inclusion_factor], ratio)
    return _SHARE_COLUMNS[w.method], "1.0"


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
