"""Calibrate the residual term of the review probabilities (indexrecon.analysis.forecast, item (c))
on past CSI 300 / 500 / 1000 reviews and score them on later ones; write the figures into
docs/validation.md (section "## Probabilities of the review outcome").

    python scripts/calibrate_forecast.py --store /tmp/real.duckdb            # ingests ../shared/realdata if absent
    python scripts/calibrate_forecast.py --store /tmp/real.duckdb --no-write

Calibration: the reviews 2022-12, 2023-06 and 2023-12 (official incumbents, forecast at the
data cutoff), a grid of SIGMA_RESIDUAL x EPSILON, the pair with the lowest Brier score over
all their candidates. Scoring: 2024-06 and 2024-12, at the cutoff and as of about six weeks
before it (the window's remaining days simulated, item (a)), never used to calibrate. The
outcome is the official membership just after the effective date, as in validate_csi.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Probabilities of the review outcome"
CHAIN = ["csi300", "csi500", "csi1000"]
CALIBRATE = ["2022-12", "2023-06", "2023-12"]
SCORE = {"2024-06": dt.date(2024, 3, 15), "2024-12": dt.date(2024, 9, 13)}  # review -> an as-of day before its cutoff
SIGMAS = [0.0, 0.02, 0.05, 0.1, 0.15, 0.2]
EPSILONS = [0.0, 0.01, 0.02, 0.05, 0.08, 0.12]
BINS = [0.0, 0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.98, 1.0001]


def _csi() -> Any:
    spec = importlib.util.spec_from_file_location("validate_csi", ROOT / "scripts" / "validate_csi.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def outcome(store: Any, res: Any) -> set[str]:
    csi = _csi()
    code = res.methodology.index_code
    return csi.members(store, code, csi.first_snapshot_after(store, code, res.dates.effective))


def raw_probabilities(store: Any, name: str, review: str, sigma: float, as_of: dt.date | None = None) -> tuple[Any, Any]:
    from indexrecon.analysis.forecast import forecast_review
    from indexrecon.engine import run_review

    res = run_review(name, store, review, incumbents="official", data_until=as_of)
    return res, forecast_review(res, sigma_residual=sigma, epsilon=0.0)


def _shrink(p: np.ndarray, eps: float) -> np.ndarray:
    return eps + (1 - 2 * eps) * p


def calibrate(store: Any) -> tuple[float, float, list[tuple[float, float, float]]]:
    """(sigma, epsilon, grid rows (sigma, epsilon, Brier)) minimising the pooled Brier score."""
    grid = []
    for sigma in SIGMAS:
        ps, ys = [], []
        for review in CALIBRATE:
            for name in CHAIN:
                res, fc = raw_probabilities(store, name, review, sigma)
                actual = outcome(store, res)
                ps += [fc.probability[c] for c in fc.candidate_codes]
                ys += [c in actual for c in fc.candidate_codes]
        p, y = np.array(ps), np.array(ys, dtype=float)
        for eps in EPSILONS:
            grid.append((sigma, eps, float(np.mean((_shrink(p, eps) - y) ** 2))))
    best = min(grid, key=lambda g: (g[2], g[0], g[1]))
    return best[0], best[1], grid


def score(store: Any, sigma: float, eps: float) -> tuple[list[dict[str, Any]], list[tuple[float, bool]]]:
    rows, pooled = [], []
    for review, as_of in SCORE.items():
        for name in CHAIN:
            for when in (None, as_of):
                res, fc = raw_probabilities(store, name, review, sigma, when)
                actual = outcome(store, res)
                cand = fc.candidate_codes
                p = _shrink(np.array([fc.probability[c] for c in cand]), eps)
                y = np.array([c in actual for c in cand], dtype=float)
                plain = np.array([c in set(res.codes) for c in cand], dtype=float)
                rows.append({"index": name, "review": review, "as_of": when or res.dates.cutoff,
                             "remaining": fc.remaining_days, "n": len(cand),
                             "brier": float(np.mean((p - y) ** 2)), "plain": float(np.mean((plain - y) ** 2))})
                if when is None:
                    pooled += list(zip(p.tolist(), y.astype(bool).tolist(), strict=True))
    return rows, pooled


def render(sigma: float, eps: float, grid: list[tuple[float, float, float]], rows: list[dict[str, Any]],
           pooled: list[tuple[float, bool]]) -> str:
    from indexrecon.analysis.forecast import PATHS, SEED, SIGMA_SHARES

    lines = [
        SECTION, "",
        "Written by `python scripts/calibrate_forecast.py`. The probabilities of `rebalance` (each "
        "candidate's chance to be in the index after the review) come from the model in "
        "`src/indexrecon/analysis/forecast.py`: (a) the window's remaining trading days simulated from each "
        "stock's own volatility and turnover, (b) a lognormal share-count error of "
        f"{SIGMA_SHARES:.0%} (assumed, not measured), (c) a residual on the ranking metric and a floor "
        f"epsilon, calibrated here; {PATHS} paths, seed {SEED}. Candidates: every stock ranked within "
        "twice the index size and every current member; outcome: the official list just after the "
        "effective date; plain rule: 1 for a predicted member, 0 otherwise.", "",
        f"Calibrated on {', '.join(CALIBRATE)} (CSI 300 / 500 / 1000, at the cutoff): "
        f"SIGMA_RESIDUAL = {sigma}, EPSILON = {eps}.", "",
        "| sigma_residual | " + " | ".join(f"eps {e}" for e in EPSILONS) + " |",
        "|---|" + "---|" * len(EPSILONS),
    ]
    for s in SIGMAS:
        lines.append(f"| {s} | " + " | ".join(f"{b:.4f}" for g0, _, b in grid if g0 == s) + " |")
    lines += ["", "Scored on reviews not used to calibrate (Brier score, lower is better):", "",
              "| index | review | forecast as of | days simulated | candidates | Brier, probabilities | Brier, plain rule | better |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['index']} | {r['review']} | {r['as_of']} | {r['remaining']} | {r['n']} | "
                     f"{r['brier']:.4f} | {r['plain']:.4f} | {'yes' if r['brier'] < r['plain'] else 'NO'} |")
    better = sum(r["brier"] < r["plain"] for r in rows)
    lines += ["", f"The probabilities score better than the plain rule in {better} of {len(rows)} rows.", "",
              "Calibration over the six scored reviews at their cutoff (all candidates pooled; a bin whose "
              "share in differs from its mean prediction is where the model is off):", "",
              "| predicted probability | candidates | mean predicted | share in the index |", "|---|---|---|---|"]
    p = np.array([x for x, _ in pooled])
    y = np.array([v for _, v in pooled], dtype=float)
    for lo, hi in itertools.pairwise(BINS):
        mask = (p >= lo) & (p < hi)
        if mask.any():
            lines.append(f"| [{lo:.2f}, {min(hi, 1):.2f}{']' if hi > 1 else ')'} | {int(mask.sum())} | "
                         f"{p[mask].mean():.3f} | {y[mask].mean():.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, default=Path("/tmp/indexrecon-real.duckdb"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    csi = _csi()
    store = csi.open_real_store(args.store)
    sigma, eps, grid = calibrate(store)
    from indexrecon.analysis import forecast

    if (sigma, eps) != (forecast.SIGMA_RESIDUAL, forecast.EPSILON):
        print(f"note: the calibration gives SIGMA_RESIDUAL={sigma}, EPSILON={eps}; forecast.py has "
              f"{forecast.SIGMA_RESIDUAL}, {forecast.EPSILON}: update it", file=sys.stderr)
    rows, pooled = score(store, sigma, eps)
    text = render(sigma, eps, grid, rows, pooled)
    print(text)
    if not args.no_write:
        csi.write_sections({SECTION: text.rstrip("\n")})
        print(f"wrote docs/validation.md: {SECTION}", file=sys.stderr)


if __name__ == "__main__":
    main()
