"""Shared by the examples: command-line arguments and a side-by-side comparison of a custom
design with the methodology it derives from (constituents, industry mix, concentration and a
point-in-time backtest of both)."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

import pandas as pd

import indexrecon as ir
from indexrecon.analysis.backtest import backtest, compare_backtests
from indexrecon.analysis.composition import concentration
from indexrecon.engine import context, first_simulable_review
from indexrecon.methodology.schedule import review_dates


def parse_args(doc: str | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    p.add_argument("--store", help="DuckDB store (default: the embedded SYNTHETIC demo store)")
    p.add_argument("--start", help="base day of the backtests (default: the first review with a complete window)")
    p.add_argument("--end", help="last day (default: the store's last day)")
    p.add_argument("--incumbents", default="auto", help="incumbents of the first review (default: auto)")
    return p.parse_args()


def _pct(v: float) -> str:
    return f"{100 * v:6.2f}%"


def compare(original: ir.Methodology, variant: ir.Methodology, args: argparse.Namespace) -> pd.DataFrame:
    """Print the comparison of `variant` with `original` and return the performance table."""
    store = ir.open_store(args.store)
    cal = context(store).cal
    if args.start:
        start = dt.date.fromisoformat(args.start)
    else:
        start = review_dates(original, cal, first_simulable_review(original, context(store))).effective
    end = dt.date.fromisoformat(args.end) if args.end else cal.last
    print(f"data: {'SYNTHETIC demo data' if store.synthetic else store.label}")
    print(f"{variant.name} against {original.name}, backtests {start} .. {end}\n")

    runs = [backtest(m, store, start, end, incumbents=args.incumbents) for m in (original, variant)]
    for w in dict.fromkeys(w for r in runs for w in r.warnings):
        print(f"warning: {w}")
    last = [r.results[-1] for r in runs]
    a, b = (set(r.codes) for r in last)
    print(f"constituents at the last review ({last[0].dates.review}): {len(a)} vs {len(b)}, "
          f"{len(a & b)} in both; only in {variant.name}: {' '.join(sorted(b - a)[:12])}"
          f"{' ...' if len(b - a) > 12 else ''}\n")

    mixes = []
    for m, res in zip((original, variant), last, strict=True):
        mix = res.industry_mix()
        mixes.append(mix.set_index("sw_l1_name_en")["weight"].rename(m.name))
    mix = pd.concat(mixes, axis=1).fillna(0.0).sort_values(original.name, ascending=False)
    print("industry mix at the last review (Shenwan level 1, weight at the cutoff):")
    print(mix.head(10).map(_pct).to_string(), "\n")

    conc = pd.DataFrame(
        {m.name: concentration(res.constituents["weight"].to_numpy()) for m, res in zip((original, variant), last,
                                                                                        strict=True)}
    )
    print("concentration at the last review:")
    print(conc.map(lambda v: f"{v:.4f}").to_string(), "\n")

    perf = compare_backtests(runs)
    cols = ["variant", "cumulative_return", "annualised_return", "total_return_annualised", "volatility",
            "sharpe", "max_drawdown", "mean_turnover", "tracking_error_vs_first", "correlation_vs_first"]
    show = perf[cols].copy()
    for c in cols[1:]:
        fmt: Any = (lambda v: f"{v:.3f}") if c in ("sharpe", "correlation_vs_first") else _pct
        show[c] = show[c].map(lambda v, f=fmt: "" if pd.isna(v) else f(v))
    print("performance (price index unless noted; annualised over 252 trading days):")
    print(show.set_index("variant").T.to_string())
    return perf
