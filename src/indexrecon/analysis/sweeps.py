"""Parameter sweeps: every combination of a grid of rule changes backtested, side by side.

    sw = ir.sweep("chinext", store, grid={"selection.count": [50, 100, 200],
                                         "weighting.caps.single_pct": [10, 20]},
                  start="2024-01-02", end="2025-12-31", workers=2)
    sw.table        # one row per variant: return, volatility, Sharpe, drawdown, turnover,
                    # tracking error and correlation against the base methodology
    sw.plot("sweep.png")

Each variant is `m.with_changes(...)` (the changes win over every dated version too) and is
backtested exactly as `backtesting.backtest` does, point in time. Variants are independent,
so they run in `workers` processes, each with its own read-only connection to the store, its
share of the memory limit (docs/scaling.md) and of the cores. Every variant's backtest is the
same computation whichever process runs it, so the results do not depend on `workers`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..data.store import Store
from ..errors import IndexReconError, MethodologyError
from ..methodology.loader import load_methodology
from ..methodology.schema import Methodology
from ..results import hooks

BASE = "base"
# the columns of the side-by-side table, after the variant and its grid values
STAT_COLUMNS = [
    "cumulative_return", "annualised_return", "volatility", "sharpe", "max_drawdown",
    "mean_turnover", "annual_turnover", "reviews", "constituents",
    "tracking_error_vs_base", "correlation_vs_base",
]


def parse_set(values: list[str] | tuple[str, ...]) -> dict[str, list[Any]]:
    """`--set key.path=v1,v2,...` options as a grid: each value read as YAML (10 is a number,
    true a boolean, text stays text)."""
    import yaml

    grid: dict[str, list[Any]] = {}
    for raw in values:
        key, eq, rest = raw.partition("=")
        key = key.strip()
        if not eq or not key or not rest.strip():
            raise IndexReconError(f"--set {raw}: give KEY.PATH=V1,V2,... (e.g. selection.count=50,100)")
        if key in grid:
            raise IndexReconError(f"--set {key} is given twice: list all its values in one --set")
        items = [v.strip() for v in rest.split(",")]
        if any(not v for v in items):
            raise IndexReconError(f"--set {raw}: an empty value between commas")
        grid[key] = [yaml.safe_load(v) for v in items]
    return grid


def _nested(path: str, value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(path.split(".")):
        out = {part: out}
    return out


def _changes(combo: dict[str, Any]) -> dict[str, Any]:
    from ..methodology.schema import deep_merge

    out: dict[str, Any] = {}
    for k, v in combo.items():
        out = deep_merge(out, _nested(k, v))
    return out


def variants(m: Methodology, grid: dict[str, list[Any]]) -> list[tuple[dict[str, Any], Methodology]]:
    """Every combination of the grid (in the grid's key order, first key slowest) with its
    methodology. A key path the methodology does not have, or a value its rules refuse, is
    one error naming the key (the loader's message, with the allowed keys)."""
    if not grid:
        raise IndexReconError("a sweep needs at least one key to vary (--set KEY.PATH=V1,V2)")
    for key, vals in grid.items():
        if not isinstance(vals, (list, tuple)) or not vals:
            raise IndexReconError(f"sweep grid {key}: give a non-empty list of values")
        try:  # each key alone first: a typo is named by its own key, not by a combination
            m.with_changes(_nested(key, vals[0]))
        except MethodologyError as e:
            if "unknown key" in str(e):  # a value may be valid only with another key's change
                detail = _detail(e).removeprefix(f"{key}: ")
                raise MethodologyError(f"--set {key}: {detail}") from None
    out = []
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        combo = dict(zip(keys, values, strict=True))
        try:
            out.append((combo, m.with_changes(_changes(combo))))
        except MethodologyError as e:
            hint = (" (vary selection.buffer with it, or drop it: --set selection.buffer=null)"
                    if "buffer." in str(e) else "")
            raise MethodologyError(f"sweep variant {label(combo)}: {_detail(e)}{hint}") from None
    return out


def _detail(e: Exception) -> str:
    """The loader's message without its '<name>.with_changes: ' source prefix."""
    return re.sub(r"^\S+\.with_changes: ", "", str(e))


def label(combo: dict[str, Any]) -> str:
    """A variant's name: its last key parts and values, as --set takes them (null, true)."""
    def text(v: Any) -> str:
        return "null" if v is None else str(v).lower() if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v)

    return " ".join(f"{k.rsplit('.', 1)[-1]}={text(v)}" for k, v in combo.items())


def _base_value(m: Methodology, path: str) -> Any:
    """The base methodology's value at a key path (None where it has none); a structured
    value (a buffer, a list) as one line of YAML, so that it does not read as empty."""
    import yaml

    v: Any = m.to_dict()
    for part in path.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    if isinstance(v, (dict, list)):
        return yaml.safe_dump(v, default_flow_style=True, sort_keys=False, width=10**6).strip()
    return v


# -- one variant's backtest, in this process or a worker's ---------------------------------

@dataclass
class _Run:
    """What a variant's backtest sends back (a connection does not cross processes)."""

    stats: dict[str, Any]
    levels: pd.DataFrame  # date, level, total_return_level
    constituents: int
    warnings: list[str]
    synthetic: bool
    store_label: str


def _run(m: Methodology, store: Store, start: dt.date | str, end: dt.date | str | None,
         kw: dict[str, Any]) -> _Run:
    from .backtest import backtest

    bt = backtest(m, store, start, end, against=None, workers=1, **kw)
    return _Run(
        stats=dict(bt.stats), levels=bt.levels[["date", "level", "total_return_level"]].copy(),
        constituents=len(bt.results[-1].codes) if bt.results else 0, warnings=list(bt.warnings),
        synthetic=bt.synthetic, store_label=bt.store_label,
    )


_WORKER_STORE: Store | None = None


def _init_worker(path: str, memory_limit: str, threads: int) -> None:
    """A worker process: its own read-only connection, its share of memory and cores."""
    global _WORKER_STORE
    from ..data.open import open_store

    os.environ["INDEXRECON_MEMORY_LIMIT"] = memory_limit
    _WORKER_STORE = open_store(path)
    _WORKER_STORE.con.execute(f"SET threads = {int(threads)}")


def _worker_run(m: Methodology, start: dt.date | str, end: dt.date | str | None, kw: dict[str, Any]) -> _Run:
    assert _WORKER_STORE is not None
    return _run(m, _WORKER_STORE, start, end, kw)


_UNITS = {"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def memory_share(limit: str, workers: int) -> str:
    """A DuckDB memory limit ('3GB', '1.5 GiB') divided among `workers`, in MB (at least 100MB)."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([a-zA-Z]*)\s*", limit)
    if not m or m[2].lower() not in _UNITS:
        raise IndexReconError(f"INDEXRECON_MEMORY_LIMIT {limit!r}: give a size like 3GB or 500MB")
    total = float(m[1]) * _UNITS[m[2].lower()]
    return f"{max(100, int(total / workers / 1e6))}MB"


# -- the sweep -------------------------------------------------------------------------------

@dataclass
class SweepResult:
    """A sweep: the side-by-side table (base first), and every variant's daily levels."""

    methodology: Methodology
    grid: dict[str, list[Any]]
    start: dt.date
    end: dt.date
    table: pd.DataFrame  # variant, one column per grid key, STAT_COLUMNS
    levels: pd.DataFrame  # date, then one level column per variant (base first)
    warnings: list[str] = field(default_factory=list)
    synthetic: bool = False
    store_label: str = ""
    workers: int = 1

    def to_dict(self) -> dict[str, Any]:
        from ..results.review import SYNTHETIC_NOTE, _clean

        return {
            "methodology": self.methodology.name,
            "index_code": self.methodology.index_code,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "grid": self.grid,
            "synthetic": self.synthetic,
            "data": SYNTHETIC_NOTE if self.synthetic else self.store_label,
            "warnings": list(self.warnings),
            "variants": [{k: _clean(v) for k, v in r.items()} for r in self.table.to_dict("records")],
            "levels": [{k: _clean(v) for k, v in r.items()} for r in self.levels.to_dict("records")],
        }

    def to_json(self, **kw: Any) -> str:
        from ..jsonout import dumps

        return dumps(self.to_dict(), **kw)

    def figure(self) -> Any:
        """A matplotlib Figure: every variant's level (base in black), and return against
        volatility (present.charts.sweep_figure)."""
        return hooks.call("sweep_figure", self)

    def plot(self, path: str | Path) -> Path:
        """Write the chart as one PNG."""
        return hooks.call("sweep_plot", self, path)


def _warnings(labels: list[str], runs: list[_Run]) -> list[str]:
    """Each warning once: plain when every variant gave it, else naming the variants."""
    seen: dict[str, list[str]] = {}
    for name, r in zip(labels, runs, strict=True):
        for w in r.warnings:
            seen.setdefault(w, []).append(name)
    return [w if len(who) == len(labels) else f"{', '.join(who)}: {w}" for w, who in seen.items()]


def sweep(
    m: Methodology | str | Path | dict[str, Any],
    store: Store,
    grid: dict[str, list[Any]],
    start: dt.date | str,
    end: dt.date | str | None = None,
    *,
    workers: int = 1,
    incumbents: str = "auto",
    base: float = 1000.0,
    rf: float = 0.0,
    share_changes: str = "all",
) -> SweepResult:
    """Backtest the base methodology and every combination of `grid` (dotted key path ->
    values) from `start` to `end`, in `workers` processes (forked from a fork server, or
    spawned where there is none: call it from a script's `if __name__ == "__main__":` block
    when workers > 1). The table has one row per
    variant, base first, with tracking error and correlation against the base."""
    from .backtest import _d, _worker_context
    from .performance import relative_stats

    m = load_methodology(m)  # type: ignore[arg-type]
    combos = variants(m, grid)
    jobs: list[tuple[str, dict[str, Any], Methodology]] = [(BASE, {}, m)]
    jobs += [(label(c), c, v) for c, v in combos]
    kw = {"incumbents": incumbents, "base": base, "rf": rf, "share_changes": share_changes}
    s, e = _d(start), _d(end)
    assert s is not None
    workers = max(1, min(workers, len(jobs)))
    if workers > 1 and not (store.read_only and store.path.is_file()):
        workers = 1  # a worker opens the store file itself
    if workers == 1:
        runs = [_run(v, store, s, e, kw) for _, _, v in jobs]
    else:
        from concurrent.futures import ProcessPoolExecutor

        from ..data.store import read_config

        share = memory_share(str(read_config()["memory_limit"]), workers)
        threads = max(1, (os.cpu_count() or 1) // workers)
        ctx = _worker_context(__name__)
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(str(store.path), share, threads)) as ex:
            futures = [ex.submit(_worker_run, v, s, e, kw) for _, _, v in jobs]
            runs = [f.result() for f in futures]  # in the order of the jobs, whoever finished first

    base_levels = runs[0].levels
    rows = []
    for (name, combo, _), r in zip(jobs, runs, strict=True):
        row: dict[str, Any] = {"variant": name}
        row.update({k: combo[k] if k in combo else _base_value(m, k) for k in grid})
        row.update({k: r.stats.get(k) for k in STAT_COLUMNS[:-4]})
        row["reviews"] = r.stats.get("reviews")
        row["constituents"] = r.constituents
        rel = relative_stats(r.levels, base_levels) if name != BASE else {"tracking_error": 0.0, "correlation": 1.0}
        row["tracking_error_vs_base"] = rel.get("tracking_error")
        row["correlation_vs_base"] = rel.get("correlation")
        rows.append(row)
    table = pd.DataFrame(rows)
    for k in grid:  # the values as given (50, not 50.0 beside an empty cell)
        table[k] = pd.Series([r[k] for r in rows], dtype=object)
    levels = base_levels[["date"]].copy()
    for (name, _, _), r in zip(jobs, runs, strict=True):
        levels = levels.merge(r.levels[["date", "level"]].rename(columns={"level": name}), on="date", how="outer")
    levels = levels.sort_values("date").reset_index(drop=True)
    first = runs[0]
    return SweepResult(
        methodology=m, grid={k: list(v) for k, v in grid.items()},
        start=base_levels["date"].iloc[0], end=base_levels["date"].iloc[-1], table=table, levels=levels,
        warnings=_warnings([j[0] for j in jobs], runs), synthetic=first.synthetic,
        store_label=first.store_label, workers=workers,
    )
