"""Size and drawing time of the HTML report (and the market page) on the demo store.

    python benchmarks/report.py [--reps 3] [--cli]

Rebuilds the ChiNext review 2025-12 on the demo store once, then renders the report `--reps`
times in this process (once without, once with a one-year backtest drawn from a fixed
random levels table and an official series), and the market page of the demo's last day
with the ChiNext methodology. Prints the bytes of each page, the bytes of its
charts (the inline <svg> elements) and the median render time (wall and CPU: on a shared
machine CPU is the steadier figure); with `--cli`, also the wall and CPU time of whole
`indexrecon report chinext` processes (start-up included, run as `python -m` of the CLI
module so that PYTHONPATH picks the tree). Nothing here
is asserted; the figures go into the commit message of a change to the charts.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd


def _charts(html: str) -> tuple[int, int]:
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    return len(svgs), sum(len(s.encode()) for s in svgs)


def _timed(make, reps: int) -> tuple[str, float, float]:
    """The page, and the median wall and CPU seconds of `reps` renders after a warm-up
    (imports, font lists)."""
    html = make()
    walls, cpus = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        html = make()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return html, statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cli", action="store_true", help="also time whole `indexrecon report` processes")
    args = ap.parse_args()

    import indexrecon as ir

    # the layout of the tree being measured: the present/ package, or a tree before the house
    # move (to measure a change against it: PYTHONPATH=that/src); the older names first, as
    # an editable install of the newer tree would answer for present/ in either
    try:
        from indexrecon.html_report import render_report  # type: ignore[import-not-found]
        from indexrecon.market_html import render_market_page  # type: ignore[import-not-found]
    except ImportError:
        from indexrecon.present.html import render_report
        from indexrecon.present.market_html import render_market_page

    store = ir.open_store()
    prev = ir.rebuild("chinext", store, review="2025-06", incumbents="none")
    res = ir.rebuild("chinext", store, review="2025-12", incumbents=prev.codes)
    days = pd.bdate_range("2025-01-02", "2025-12-31").date
    rng = np.random.default_rng(7)
    rebuilt = pd.DataFrame({"date": days, "level": 1000 * np.cumprod(1 + rng.normal(3e-4, 0.012, len(days)))})
    official = pd.DataFrame({"date": days, "level": 2100 * np.cumprod(1 + rng.normal(3e-4, 0.012, len(days)))})
    last = store.date_range()[1]
    pages = [
        ("report", lambda: render_report(res)),
        ("report + backtest", lambda: render_report(res, backtest=rebuilt, official=official)),
        ("market page", lambda: render_market_page(store, last, target="chinext", method="chinext")),
    ]
    print(f"{'page':<20} {'bytes':>9} {'charts':>6} {'chart bytes':>11} {'render s':>9} {'CPU s':>6}")
    for name, make in pages:
        html, wall, cpu = _timed(make, args.reps)
        n, size = _charts(html)
        print(f"{name:<20} {len(html.encode()):>9,} {n:>6} {size:>11,} {wall:>9.2f} {cpu:>6.2f}")
    if args.cli:
        import indexrecon.cli as cli  # a package after the house move, a module before it

        command = [sys.executable, "-m", "indexrecon.cli.main" if hasattr(cli, "__path__") else "indexrecon.cli"]
        with tempfile.TemporaryDirectory() as tmp:
            walls, cpus = [], []
            for _ in range(args.reps):
                t0, c0 = time.perf_counter(), os.times()
                subprocess.run([*command, "report", "chinext", "-o", f"{tmp}/r.html"], check=True,
                               capture_output=True)
                c1 = os.times()
                walls.append(time.perf_counter() - t0)
                cpus.append(c1.children_user - c0.children_user + c1.children_system - c0.children_system)
        print(f"indexrecon report chinext: median {statistics.median(walls):.2f} s wall "
              f"(min {min(walls):.2f}, max {max(walls):.2f}), median {statistics.median(cpus):.2f} s CPU, "
              f"{args.reps} runs")


if __name__ == "__main__":
    main()
