"""`indexrecon ingest`: load data into a store (files, TDX day files, akshare)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from ..errors import StoreError
from .common import ErrorGroup, parse_day
from .common import store_option as common_store_option

Progress = Callable[[str, int, int], None]


class _Group(ErrorGroup):
    """One line on stderr and exit code 2 for user errors (also when run on its own)."""

    interrupted_message = "interrupted: tables written so far are complete; rerun the same command to resume"


store_option = common_store_option("DuckDB store to write (created if missing; default: $INDEXRECON_STORE).")
force_option = click.option(
    "--force", is_flag=True, help="Reload items already loaded from unchanged input."
)


def _store(store_path: Path | None, source: Path | None = None) -> Any:
    """The store to write, refused before it is opened for writing (so it stays byte for byte
    as it was) when it is the demo store, a SYNTHETIC store or one of the source's files."""
    from ..data.open import demo_store_path, open_store
    from ..data.sources.common import synthetic_target_message
    from ..data.store import is_duckdb_file, peek_meta
    from .common import same_file

    if store_path is None:
        raise StoreError(
            "no store to write: pass --store PATH or set INDEXRECON_STORE "
            "(the embedded demo store is not an ingest target)"
        )
    if source is not None and store_path.exists() and not is_duckdb_file(store_path):
        with contextlib.suppress(OSError, ValueError):
            if store_path.resolve().is_relative_to(source.resolve()):
                raise StoreError(f"--store {store_path} is a file of the ingest source {source}: refused, nothing written")
    if same_file(store_path, demo_store_path()):
        raise StoreError(f"store {store_path} is the embedded demo store: real data is not mixed into it; "
                         "ingest into a new store (--store real.duckdb)")
    if peek_meta(store_path).get("synthetic") == "true":
        raise StoreError(synthetic_target_message(store_path))
    return _NewStoreGuard(open_store, store_path)


class _NewStoreGuard:
    """Opens the store to write; a store this ingest created is removed again if the ingest
    fails before anything was written (no empty store file left behind)."""

    def __init__(self, opener: Any, path: Path) -> None:
        self.path = path.expanduser()
        self.new = not self.path.exists()
        self.store = opener(self.path, read_only=False)

    def __enter__(self) -> Any:
        return self.store

    def __exit__(self, kind: object, *exc: object) -> None:
        wrote = True
        if kind is not None and self.new:
            with contextlib.suppress(Exception):
                wrote = bool(self.store.row_count("ingest_log"))
        self.store.close()
        if not wrote:
            for p in (self.path, self.path.with_name(self.path.name + ".wal")):
                p.unlink(missing_ok=True)


@contextmanager
def _progress() -> Iterator[Progress]:
    """A rich progress bar on stderr, fed by the sources' (label, done, total) callbacks."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def update(label: str, done: int, total: int) -> None:
            bar.update(task, description=label[:40], completed=done, total=max(total, 1))

        yield update


def _report(summary: Any) -> None:
    click.echo(str(summary))
    if summary.failures:
        click.echo(
            f"{len(summary.failures)} item(s) failed; rerun the same command to retry them",
            err=True,
        )


def _date(value: str | None, name: str) -> dt.date | None:
    return None if value is None else parse_day(value, name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def ingest() -> None:
    """Load market data into a store (a DuckDB file).

    \b
    Example:
      indexrecon ingest files ../shared/realdata --store data/real.duckdb
      export INDEXRECON_STORE=data/real.duckdb
      indexrecon rebalance chinext
    """


@ingest.command("files")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@store_option
@force_option
@click.option("--infer-st/--no-infer-st", "infer_st", default=None,
              help="Infer ST status from main-board 5% price limits when no status data is given "
                   "(default: on for the shared real dataset's layout, off for table files).")
def ingest_files_cmd(folder: Path, store_path: Path | None, force: bool, infer_st: bool | None) -> None:
    """Load a folder of Parquet/CSV files.

    FOLDER is either the shared real dataset (bars.parquet, industry_sw.parquet, ...) or
    files named after the store's tables (securities.csv, bars.parquet, shares.csv, ...,
    any subset) with the columns `indexrecon store-schema` prints. Each table is loaded in one
    transaction; a rerun skips files already loaded unless --force.

    \b
    Example:
      indexrecon ingest files ../shared/realdata --store data/real.duckdb
      indexrecon ingest files my_data/ --store data/mine.duckdb --force
    """
    from ..data.sources.files import ingest_files

    with _store(store_path, folder) as store, _progress() as progress:
        summary = ingest_files(store, folder, progress, force=force, infer_st=infer_st)
    _report(summary)


@ingest.command("tdx")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@store_option
@force_option
@click.option("--skip-bad", is_flag=True,
              help="Leave out bad .day files (empty, truncated, impossible dates) and list them, "
                   "instead of stopping at the first.")
def ingest_tdx_cmd(folder: Path, store_path: Path | None, force: bool, skip_bad: bool) -> None:
    """Load TDX (通达信) day files: a vipdoc folder or any folder of *.day files.

    Stocks become bars (and securities rows), indices index_bars; funds, bonds and B shares
    are skipped and counted.

    \b
    Example:
      indexrecon ingest tdx ~/new_tdx/vipdoc --store data/tdx.duckdb
      indexrecon ingest tdx ../shared/realdata/tdx_samples --store /tmp/sample.duckdb
      indexrecon ingest tdx ~/new_tdx/vipdoc --store data/tdx.duckdb --skip-bad
    """
    from ..data.sources.tdx import ingest_tdx

    with _store(store_path, folder) as store, _progress() as progress:
        summary = ingest_tdx(store, folder, progress, force=force, skip_bad=skip_bad)
    _report(summary)


@ingest.command("akshare")
@click.option("--start", help="First day (YYYY-MM-DD; default: 365 days before --end).")
@click.option("--end", help="Last day (YYYY-MM-DD; default: today).")
@click.option(
    "--boards",
    default="",
    help="Comma-separated boards: sh_main,sz_main,chinext,star,bse (default: all).",
)
@click.option("--codes", default="", help="Comma-separated stock codes (default: the boards).")
@click.option(
    "--datasets",
    default="",
    help="Comma-separated subset of calendar,securities,delisted,bars,shares,valuation,"
    "dividends,industry,names,status,suspensions,weights,index_valuation (default: all).",
)
@click.option(
    "--dividends-by",
    type=click.Choice(["period", "stock"]),
    default=None,
    help="Dividends market-wide per report period (stock_fhps_em; default for boards) or "
    "per stock (stock_fhps_detail_em; default with --codes).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print which akshare functions the run would call, how often and how long it takes "
    "at --min-interval; fetch and write nothing (akshare not needed).",
)
@click.option(
    "--indices",
    default="000300,000905,000852,399006",
    show_default=True,
    help="Indices whose official weights to fetch.",
)
@click.option(
    "--min-interval",
    type=float,
    default=0.5,
    show_default=True,
    help="Seconds between akshare calls.",
)
@click.option("--retries", type=int, default=3, show_default=True, help="Retries per call.")
@click.option(
    "--retry-budget",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="Retries for the whole run; once spent, failures are not retried.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds per request where akshare takes a timeout; a call without one is given "
    "up after 4x this.",
)
@store_option
@force_option
def ingest_akshare_cmd(
    start: str | None,
    end: str | None,
    boards: str,
    codes: str,
    datasets: str,
    indices: str,
    dividends_by: str | None,
    dry_run: bool,
    min_interval: float,
    retries: int,
    retry_budget: int,
    timeout: float,
    store_path: Path | None,
    force: bool,
) -> None:
    """Fetch stocks from akshare (online; needs pip install 'indexrecon[online]').

    Bars are incremental (only days after the store's last bar of each stock) and each
    stock is written and logged on its own, so an interrupted run resumes where it stopped;
    a stock that keeps failing is reported and the others still load, and the run ends by
    naming what failed and how to resume. --dry-run shows the calls a run makes first.

    \b
    Example:
      indexrecon ingest akshare --boards chinext --start 2024-01-01 --store data/ak.duckdb
      indexrecon ingest akshare --codes 300750,600519 --datasets bars --min-interval 1
      indexrecon ingest akshare --start 2024-01-01 --dry-run
    """
    from ..data.sources import akshare_api
    from ..data.sources.akshare_ingest import check_arguments, ingest_akshare
    from ..data.sources.akshare_source import DATASETS

    end_day = _date(end, "--end") or dt.date.today()
    start_day = _date(start, "--start") or end_day - dt.timedelta(days=365)
    picked = [d for d in datasets.split(",") if d] or list(DATASETS)
    board_list = [b for b in boards.split(",") if b] or None
    check_arguments(start_day, end_day, board_list, picked, dividends_by)
    if dry_run:
        _dry_run(store_path, start_day, end_day, board_list, codes, picked, indices,
                 dividends_by, min_interval)
        return
    akshare_api.require_akshare()  # before creating a store it could not fill
    with _store(store_path) as store, _progress() as progress:
        summary = ingest_akshare(
            store,
            start_day,
            end_day,
            board_list,
            progress=progress,
            codes=[c for c in codes.split(",") if c] or None,
            datasets=picked,
            indices=[i for i in indices.split(",") if i],
            dividends_by=dividends_by,
            min_interval=min_interval,
            max_retries=retries,
            retry_budget=retry_budget,
            timeout=timeout,
            force=force,
        )
    _report(summary)
    # the summary on a terminal shows the warnings; redirected, they still reach stderr
    shown = click.get_text_stream("stdout").isatty()
    for line in summary.warnings:
        if line.startswith("resume:") or not shown:
            click.echo(line if line.startswith("resume:") else f"warning: {line}", err=True)


def _dry_run(
    store_path: Path | None,
    start: dt.date,
    end: dt.date,
    boards: list[str] | None,
    codes: str,
    datasets: list[str],
    indices: str,
    dividends_by: str | None,
    min_interval: float,
) -> None:
    """The plan of an akshare run, counted against the store when it exists (read only)."""
    from ..data.open import open_store
    from ..data.sources.akshare_plan import plan_akshare

    args = (
        start,
        end,
        boards,
        [c for c in codes.split(",") if c] or None,
        datasets,
        [i for i in indices.split(",") if i],
        dividends_by,
        min_interval,
    )
    if store_path is not None and store_path.exists():
        with open_store(store_path, read_only=True) as store:
            plan = plan_akshare(store, *args)
    else:
        plan = plan_akshare(None, *args)
    click.echo(f"akshare {start}..{end}: dry run, nothing fetched")
    click.echo(str(plan))
