"""Benchmark workers: each runs one workload in its own process and prints one JSON line.

Run by benchmarks/run.py (``python benchmarks/workloads.py NAME --store PATH ...``); a
process per workload keeps the peak-memory figure (ru_maxrss of the worker) to that workload
alone. Every worker does its warm-up runs first, then the timed repetitions, and reports the
raw times; run.py computes medians and spreads.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REVIEW = "2024-12"  # ChiNext review of December 2024: cutoff 2024-10-31, window from 2024-05-01

# The bare DuckDB aggregation workload 1 is measured against: the same window, the same
# stocks (ChiNext), average amount and average close x total shares per stock, share capital
# ASOF-joined. Written as a DuckDB user would: filter the bars to the window and the board
# first, then join. No screens, ranking, reasons or weights.
BARE_SQL = """
SELECT b.code, avg(b.amount) AS avg_amount, avg(b.close * s.total_shares) AS avg_total_cap
FROM (SELECT code, date, close, amount FROM bars
      WHERE date BETWEEN $start AND $cutoff
        AND code IN (SELECT code FROM securities WHERE board = 'chinext')) b
ASOF LEFT JOIN shares s ON b.code = s.code AND b.date >= s.effective_date
GROUP BY b.code
"""

# The same aggregation with the board filter written after the ASOF join (the shape the
# engine's candidate statement has): DuckDB does not push the semi-join below an ASOF join,
# so every board's window bars go through the join. Reported as a diagnostic.
BARE_SQL_FILTER_AFTER_JOIN = """
SELECT b.code, avg(b.amount) AS avg_amount, avg(b.close * s.total_shares) AS avg_total_cap
FROM bars b ASOF LEFT JOIN shares s ON b.code = s.code AND b.date >= s.effective_date
WHERE b.date BETWEEN $start AND $cutoff
  AND b.code IN (SELECT code FROM securities WHERE board = 'chinext')
GROUP BY b.code
"""


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_engine() -> None:
    """Forget the engine's cached reviews and window tables for every open store, so a
    repetition does the real work again: every metric from the bars, every rule, every
    weight. What a warm store's context knows about the store (its calendar, which tables
    and status kinds it holds) stays, as it does between reviews of a session."""
    from indexrecon import engine

    for ctx in list(getattr(engine, "_CONTEXTS", {}).values()):
        engine.forget(ctx.store)


class Clock:
    """Wall time and process CPU time (all threads) of each timed call. CPU time is the
    steadier figure on a shared machine: other processes stretch the wall time of a run
    but not the CPU it needs."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __call__(self, fn: Callable[[], Any]) -> Any:
        c, t = time.process_time(), time.perf_counter()
        out = fn()
        self.wall.append(time.perf_counter() - t)
        self.cpu.append(time.process_time() - c)
        return out

    def result(self, prefix: str = "") -> dict[str, list[float]]:
        return {f"{prefix}times": self.wall, f"{prefix}cpu_times": self.cpu}


def timed(fn: Callable[[], Any], reps: int, warmup: int) -> tuple[dict[str, list[float]], Any]:
    out = None
    for _ in range(warmup):
        out = fn()
    clock = Clock()
    for _ in range(reps):
        out = clock(fn)
    return clock.result(), out


def open_store(path: str, memory_limit: str | None = None) -> Any:
    from indexrecon.data.open import open_store as _open

    store = _open(path)
    if memory_limit:
        store.con.execute(f"SET memory_limit = '{memory_limit}'")
    return store


# ---------------------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------------------
def w_review(a: argparse.Namespace) -> dict[str, Any]:
    """Workload 1: one ChiNext review rebuild in process on a warm store, and side by side
    (interleaved, same process, same connection) the bare DuckDB aggregation."""
    from indexrecon import engine

    store = open_store(a.store, a.memory_limit)
    res = engine.run_review("chinext", store, REVIEW, incumbents="none")  # warm store + imports
    params = {"start": res.dates.window_start, "cutoff": res.dates.cutoff}
    con = store.con

    def review() -> Any:
        reset_engine()
        return engine.run_review("chinext", store, REVIEW, incumbents="none")

    def bare() -> list[tuple]:
        return con.execute(BARE_SQL, params).fetchall()

    def bare_late() -> list[tuple]:
        return con.execute(BARE_SQL_FILTER_AFTER_JOIN, params).fetchall()

    for _ in range(a.warmup):
        review(), bare(), bare_late()
    c_review, c_bare, c_late = Clock(), Clock(), Clock()
    for _ in range(a.reps):  # interleaved so both see the same machine load
        for fn, clock in ((review, c_review), (bare, c_bare), (bare_late, c_late)):
            clock(fn)
    window_rows = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE code IN "
        "(SELECT code FROM securities WHERE board = 'chinext')) FROM bars "
        "WHERE date BETWEEN $start AND $cutoff",
        params,
    ).fetchone()
    return {
        **c_review.result(),
        **c_bare.result("bare_"),
        **c_late.result("bare_late_"),
        "constituents": len(res.codes),
        "window": f"{params['start']}..{params['cutoff']}",
        "window_rows_all": window_rows[0],
        "window_rows_chinext": window_rows[1],
        "bars_rows": store.row_count("bars"),
    }


class _TimedConnection:
    """Wraps a DuckDB connection and records the time of every execute()."""

    def __init__(self, con: Any) -> None:
        self._con = con
        self.log: list[tuple[float, str]] = []

    def execute(self, sql: str, *args: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        out = self._con.execute(sql, *args, **kw)
        self.log.append((time.perf_counter() - t, " ".join(sql.split())))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def w_profile(a: argparse.Namespace) -> dict[str, Any]:
    """Where workload 1's time goes: each SQL statement the engine runs, timed (median over
    the repetitions), and the time outside SQL (Python, pandas, result objects)."""
    from indexrecon import engine

    store = open_store(a.store, a.memory_limit)
    engine.run_review("chinext", store, REVIEW, incumbents="none")
    wrapped = _TimedConnection(store.con)
    store.con = wrapped
    per: dict[str, list[tuple[float, str]]] = {}
    totals, sql_totals = [], []
    for _ in range(a.reps):
        reset_engine()
        wrapped.log.clear()
        t = time.perf_counter()
        engine.run_review("chinext", store, REVIEW, incumbents="none")
        totals.append(time.perf_counter() - t)
        sql_totals.append(sum(x for x, _ in wrapped.log))
        # by statement, not position: the first repetition after a reset also rebuilds the
        # connection's share-capital table, so positions shift between repetitions
        for x, sql in wrapped.log:
            per.setdefault(re.sub(r"_ir_m\d+", "_ir_m", sql), []).append((x, sql))

    # per review: a statement some repetitions skip counts by what it adds on average
    stmts = sorted(((sum(x for x, _ in v) / a.reps, v[0][1]) for v in per.values()), reverse=True)
    return {
        "times": totals,
        "sql_times": sql_totals,
        "statements": len(per),
        "top": [[round(x * 1000, 1), sql[:160]] for x, sql in stmts[:8]],
    }


def w_chain(a: argparse.Namespace) -> dict[str, Any]:
    """Workload 3: CSI 300 -> CSI 500 -> CSI 1000 for one review (CSI 1000 excludes the
    members of the other two, which the engine computes first, in one run)."""
    from indexrecon import engine
    from indexrecon.methodology.loader import builtin_names

    missing = [n for n in ("csi300", "csi500", "csi1000") if n not in builtin_names()]
    if missing:
        return {"pending": f"methodologies {', '.join(missing)} not in methodologies/ yet"}
    store = open_store(a.store, a.memory_limit)

    def run() -> Any:
        reset_engine()
        return engine.run_review("csi1000", store, a.review, incumbents="none")

    times, res = timed(run, a.reps, a.warmup)
    return {**times, "constituents": len(res.codes), "review": a.review}


def find_backtest() -> Callable[..., Any] | None:
    """indexrecon's backtest function, wherever its module is (None while it does not exist)."""
    import importlib

    for name in ("indexrecon.analysis.backtest", "indexrecon.backtest"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        fn = getattr(mod, "backtest", None)
        if callable(fn):
            return fn
    return None


def w_backtest(a: argparse.Namespace) -> dict[str, Any]:
    """Workload 4: a full ChiNext backtest over every review in the data, daily levels: from
    the effective date of the first review whose window the store covers completely (seeded
    by pure ranking) to the store's last day, each later review with the previous one's
    constituents as incumbents."""
    fn = find_backtest()
    if fn is None:
        return {"pending": "backtest module not available (indexrecon.analysis.backtest.backtest)"}
    from indexrecon import engine
    from indexrecon.methodology.loader import load_methodology
    from indexrecon.methodology.schedule import review_dates

    store = open_store(a.store, a.memory_limit)
    m = load_methodology("chinext")
    ctx = engine.context(store)
    cal = ctx.cal
    first = review_dates(m, cal, engine.first_simulable_review(m, ctx)).effective
    last = cal.last

    def run() -> Any:
        reset_engine()
        return fn(m, store, start=first, end=last, incumbents="none")

    times, res = timed(run, a.reps, a.warmup)
    info: dict[str, Any] = {**times, "span": f"{first}..{last}"}
    levels = getattr(res, "levels", None)
    reviews = getattr(res, "reviews", None)
    if levels is not None:
        info["days"] = len(levels)
    if reviews is not None:
        info["reviews"] = len(reviews)
    t = getattr(res, "timings", None) or {}
    if "reviews_s" in t:
        info["reviews_s"], info["levels_s"] = t["reviews_s"], t.get("levels_s")
    return info


def w_ingest(a: argparse.Namespace) -> dict[str, Any]:
    """Workload 5: ingest the real dataset into a fresh store (a new file each repetition)."""
    from indexrecon.data.open import open_store as _open
    from indexrecon.data.sources.files import ingest_files

    tmp = Path(tempfile.mkdtemp(prefix="ingest-", dir=a.tmp_dir))
    try:
        def run() -> int:
            path = tmp / "fresh.duckdb"
            for p in tmp.iterdir():
                p.unlink()
            with _open(path, read_only=False) as store:
                ingest_files(store, Path(a.realdata))
            return path.stat().st_size

        times, size = timed(run, a.reps, a.warmup)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {**times, "store_mb": round(size / 2**20, 1)}


def w_build_real(a: argparse.Namespace) -> dict[str, Any]:
    """Build the cached real store (one ingest, timed: it is also a workload 5 sample)."""
    from indexrecon.data.open import open_store as _open
    from indexrecon.data.sources.files import ingest_files

    out = Path(a.store)
    part = out.with_name(out.name + ".part")
    part.unlink(missing_ok=True)
    clock = Clock()

    def build() -> None:
        with _open(part, read_only=False) as store:
            ingest_files(store, Path(a.realdata))

    clock(build)
    part.rename(out)
    return {**clock.result(), "store_mb": round(out.stat().st_size / 2**20, 1)}


def w_build_demo(a: argparse.Namespace) -> dict[str, Any]:
    """Build a cached synthetic store at a scale and span."""
    from indexrecon.data.sources.demo import build_demo_store

    out = Path(a.store)
    part = out.with_name(out.name + ".part")
    part.unlink(missing_ok=True)
    clock = Clock()
    clock(lambda: build_demo_store(part, scale=a.scale, start=dt.date.fromisoformat(a.start)))
    part.rename(out)
    import duckdb

    con = duckdb.connect(str(out), read_only=True)
    row = con.execute(
        "SELECT (SELECT count(*) FROM securities), (SELECT count(*) FROM bars), "
        "(SELECT min(date) FROM calendar), (SELECT max(date) FROM calendar), "
        "(SELECT count(*) FROM calendar)"
    ).fetchone()
    con.close()
    return {
        **clock.result(),
        "store_mb": round(out.stat().st_size / 2**20, 1),
        "securities": row[0],
        "bars_rows": row[1],
        "span": f"{row[2]}..{row[3]}",
        "trading_days": row[4],
    }


def w_pandas(a: argparse.Namespace) -> dict[str, Any]:
    """The pandas reference of workload 1: read the tables, then compute the review."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import pandas_reference as ref

    tables = ref.load_tables(a.store)
    ref.chinext_review(tables, REVIEW)  # warm-up
    load, comp = Clock(), Clock()
    for _ in range(a.reps):
        tables = load(lambda: ref.load_tables(a.store))
        out = comp(lambda: ref.chinext_review(tables, REVIEW))  # noqa: B023
    return {
        "times": [x + y for x, y in zip(load.wall, comp.wall, strict=True)],
        "cpu_times": [x + y for x, y in zip(load.cpu, comp.cpu, strict=True)],
        **load.result("load_"),
        **comp.result("compute_"),
        "constituents": len(out),
    }


def w_cli_inprocess(a: argparse.Namespace) -> dict[str, Any]:
    """Run a CLI command in process and report which heavy modules it imported."""
    from indexrecon.cli.main import main

    before = set(sys.modules)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):
        main(json.loads(a.cli_args), standalone_mode=False)
    loaded = set(sys.modules)
    return {
        "akshare_imported": any(m == "akshare" or m.startswith("akshare.") for m in loaded),
        "new_modules": len(loaded - before),
        "heavy": sorted({m.split(".")[0] for m in loaded} & {"pandas", "pyarrow", "numpy", "duckdb", "rich", "pydantic", "yaml", "akshare", "requests"}),
    }


WORKLOADS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "review": w_review,
    "chain": w_chain,
    "profile": w_profile,
    "backtest": w_backtest,
    "ingest": w_ingest,
    "build-real": w_build_real,
    "build-demo": w_build_demo,
    "pandas": w_pandas,
    "cli-inprocess": w_cli_inprocess,
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("workload", choices=sorted(WORKLOADS))
    p.add_argument("--store")
    p.add_argument("--realdata")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--review", default=REVIEW)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--start", default="2023-01-03")
    p.add_argument("--memory-limit")
    p.add_argument("--tmp-dir", default=tempfile.gettempdir())
    p.add_argument("--cli-args", default="[]", help="cli-inprocess: the CLI arguments, a JSON list")
    a = p.parse_args(argv)
    t = time.perf_counter()
    try:
        out = WORKLOADS[a.workload](a)
    except Exception as e:  # reported in the table, not a traceback in the middle of it
        out = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    out["wall_s"] = time.perf_counter() - t
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    out["loadavg"] = os.getloadavg()[0]
    sys.stdout.write("\n@@RESULT " + json.dumps(out, default=str) + "\n")


if __name__ == "__main__":
    main()
