"""Command line of parameter sweeps: `indexrecon sweep` (see `sweeps.py`)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import click

from ..errors import IndexReconError
from .common import (
    label_synthetic,
    output_console,
    parse_day,
    refuse_overwrite,
    same_file,
    store_option,
    write_text,
)
from .output import print_warnings

_PCT = {"cumulative_return", "annualised_return", "volatility", "max_drawdown", "mean_turnover",
        "annual_turnover", "tracking_error_vs_base"}


def _cell(key: str, v: Any, rule: bool = False) -> str:
    """A table cell; a rule's value None as --set spells it (null: e.g. no buffer), a
    statistic's as empty (none to give)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "null" if rule and v is None else ""
    if key in _PCT:
        return f"{100 * float(v):.2f}%"
    if key in {"sharpe", "correlation_vs_base"}:
        return f"{float(v):.3f}"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


@click.command("sweep")
@click.argument("method")
@click.option("--set", "sets", multiple=True, required=True, metavar="KEY.PATH=V1,V2,...",
              help="A rule to vary and its values (repeatable; every combination is backtested).")
@click.option("--start", required=True, help="Base day (YYYY-MM-DD).")
@click.option("--end", help="Last day (default: the store's last day).")
@click.option("--incumbents", default="auto", show_default=True,
              help="Incumbents of every variant's first review (as for backtest).")
@click.option("--workers", default=0, show_default="all cores, at most 4",
              help="Processes: each backtests whole variants with its own read-only connection.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@click.option("--png", "png", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the chart (levels, return against volatility) as one PNG.")
@store_option()
def sweep_cmd(method: str, sets: tuple[str, ...], start: str, end: str | None, incumbents: str, workers: int,
              fmt: str, output: Path | None, png: Path | None, store_path: Path | None) -> None:
    """Backtest every combination of rule changes side by side with the base methodology.

    Each --set names a key path of the methodology and its values; every combination is a
    variant (the change wins over dated versions too), backtested point in time from START
    to END in parallel processes. The table gives return, volatility, Sharpe, maximum
    drawdown, turnover, and tracking error and correlation against the base.

    \b
    Example:
      indexrecon sweep chinext --set selection.buffer=null --set selection.count=50,100,200 \\
          --set weighting.caps.single_pct=10,20 --start 2024-01-02 --end 2025-12-31 --png sweep.png
    """
    import importlib.util

    from ..analysis.sweeps import parse_set, sweep, variants
    from ..data.open import open_store
    from ..methodology.loader import load_methodology

    refuse_overwrite(output, store_path=store_path, methods=[method], incumbents=incumbents)
    refuse_overwrite(png, store_path=store_path, methods=[method], incumbents=incumbents, opt="--png")
    if output is not None and png is not None and same_file(output, png):
        raise IndexReconError(f"-o {output} and --png {png} are the same file: one would overwrite the other; "
                              "refused, nothing written")
    if png is not None and importlib.util.find_spec("matplotlib") is None:
        raise IndexReconError("--png needs matplotlib: python -m pip install matplotlib")
    for opt, path in (("-o", output), ("--png", png)):  # said before a long sweep, not after it
        if path is not None and not path.expanduser().parent.is_dir():
            raise IndexReconError(f"{opt} {path}: the folder {path.expanduser().parent} does not exist")
    grid = parse_set(sets)
    m = load_methodology(method)
    variants(m, grid)  # a mistyped key is said before the store is opened
    s = parse_day(start, "--start")
    e = parse_day(end, "--end") if end else None
    if workers <= 0:
        workers = min(4, os.cpu_count() or 1)
    store = open_store(store_path)
    sw = sweep(m, store, grid, s, e, workers=workers, incumbents=incumbents)
    if png is not None:
        sw.plot(png)
    if fmt == "json":
        write_text(sw.to_json() + "\n", output)
    elif fmt == "csv":
        # a rule's value None as --set spells it: an empty cell would read as "not given"
        t = sw.table.assign(**{k: sw.table[k].map(lambda v: "null" if v is None else v) for k in sw.grid})
        write_text(label_synthetic(t, sw.synthetic).to_csv(index=False, lineterminator="\n"), output)
    else:
        from ..present.termtable import KEEP, TextTable

        # the rule values after the statistics: on a narrow terminal they give way first
        # (the variant's name says them), and the name itself is never left out
        t = sw.table[["variant", *(c for c in sw.table.columns if c != "variant" and c not in sw.grid),
                      *sw.grid]]
        cols = [str(c) for c in t.columns]
        rows = [[_cell(c, v, c in sw.grid) for c, v in zip(cols, r, strict=True)] for r in t.itertuples(index=False)]
        numeric = [c != "variant" for c in cols]
        with output_console(output) as con:
            tag = "SYNTHETIC demo data" if sw.synthetic else sw.store_label
            con.print(f"{m.title} ({m.index_code or m.name}) sweep {sw.start} .. {sw.end}: "
                      f"{len(t) - 1} variants and the base, {sw.workers} worker(s); data: {tag}", highlight=False)
            for w in sw.warnings if output is not None else []:  # stdout: on stderr instead
                con.print(f"warning: {w}", highlight=False)
            con.print(TextTable(cols, cols, numeric, rows, title="Variants (annualised over 252 trading days)",
                                keep=KEEP | {"variant"}))
    print_warnings(sw.warnings, m)  # on stderr in every format, after the output


COMMANDS = [sweep_cmd]
