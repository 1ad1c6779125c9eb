"""Timings of the `indexrecon market` commands on a store, after start-up.

    indexrecon ingest files ../shared/realdata --store /tmp/market-real.duckdb
    python benchmarks/market.py --store /tmp/market-real.duckdb [--reps 7]

Each command runs in this process through the click command line (JSON output to a
buffer): once as a warm-up (imports, DuckDB's buffer cache), then `--reps` times; the table
gives the median, min and max wall time and the median CPU time (all threads; on a
shared machine CPU is the steadier figure). `--cli` adds whole processes (start-up included).
The figures go into docs/benchmarks.md ("Market commands"); nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = [
    ("breadth, one day", ["market", "breadth", "--date", "2025-04-08"]),
    ("breadth, 119 days", ["market", "breadth", "--start", "2025-01-02", "--end", "2025-06-30"]),
    ("limits + ladder, one day", ["market", "limits", "--date", "2025-04-08", "--ladder"]),
    ("limits, a 7-day streak", ["market", "limits", "--date", "2026-07-01"]),
    ("moves 399006, 6 days", ["market", "moves", "399006", "--days", "6", "--date", "2024-10-08"]),
    ("compare 3 indices, 2.5 years", ["market", "compare", "399006", "000300", "000852", "--start", "2024-01-02"]),
    ("events spring-festival, 3 indices", ["market", "events", "spring-festival", "399006", "000300", "000852"]),
    ("valuation 000300", ["market", "valuation", "000300", "--date", "2024-03-25"]),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--cli", action="store_true", help="also time whole processes (start-up included)")
    a = p.parse_args(argv)
    from click.testing import CliRunner

    from indexrecon.cli.main import main as cli

    runner = CliRunner()
    print(f"store {a.store}; {a.reps} repetitions after a warm-up; load {os.getloadavg()[0]:.2f}")
    print("| command | median wall | min | max | median CPU | whole process |")
    print("|---|---|---|---|---|---|")
    for label, args in COMMANDS:
        full = [*args, "--format", "json", "--store", str(a.store)]
        r = runner.invoke(cli, full)
        if r.exit_code != 0:
            print(f"| {label} | skipped: {(r.output.strip().splitlines() or ['?'])[-1]} | | | | |")
            continue
        times, cpu = [], []
        for _ in range(a.reps):
            t, c = time.perf_counter(), time.process_time()
            runner.invoke(cli, full)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        whole = ""
        if a.cli:
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "indexrecon.cli.main", *full], capture_output=True, check=False)
            whole = f"{time.perf_counter() - t:.2f} s"
        print(f"| {label} (`indexrecon {' '.join(args)}`) | {statistics.median(times) * 1000:.0f} ms | "
              f"{min(times) * 1000:.0f} ms | {max(times) * 1000:.0f} ms | {statistics.median(cpu) * 1000:.0f} ms | "
              f"{whole} |")
    print(f"load at the end {os.getloadavg()[0]:.2f} (2 cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
