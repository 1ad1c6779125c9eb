"""What every command module shares: user errors as one line, and the --store option."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import click

from ..errors import INTERRUPTED, IndexReconError, writing
from ..jsonout import dumps

UNBOUNDED = 100_000  # the width of a pipe's or a file's console: never wrap, never cut
READ_STORE_HELP = "DuckDB store (default: $INDEXRECON_STORE, else the embedded SYNTHETIC demo store)."


class _PipeSafeStdout:
    """Standard output whose reader may leave (`| head`): once the pipe breaks, further
    output is discarded and the command runs on, so the warnings it prints after its output
    still reach stderr and its exit code is its own."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._broken = False

    def _gone(self) -> None:
        self._broken = True
        # what is still buffered goes nowhere, and the interpreter's final flush stays quiet
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def write(self, text: str) -> int:
        if not self._broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self._broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._gone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _reader_may_leave() -> Iterator[None]:
    saved = sys.stdout
    if isinstance(saved, _PipeSafeStdout):
        yield
        return
    sys.stdout = _PipeSafeStdout(saved)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stdout = saved


class _InterruptibleContext(click.Context):
    """The group's context: Ctrl-C while it closes (after the command, before the process
    ends) is an interruption like any other, not click's "Aborted!" with exit code 1."""

    def close(self) -> None:
        try:
            super().close()
        except KeyboardInterrupt:
            click.echo(ErrorGroup.interrupted_message, err=True)
            raise click.exceptions.Exit(130) from None


class ErrorGroup(click.Group):
    """Turns user errors into one line on stderr and exit code 2, never a traceback; Ctrl-C
    (also inside a DuckDB query, while the arguments are read, or while the command's
    context closes) into `interrupted_message` and exit code 130."""

    interrupted_message = INTERRUPTED
    context_class = _InterruptibleContext

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except KeyboardInterrupt:
            click.echo(self.interrupted_message, err=True)
            raise click.exceptions.Exit(130) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with _reader_may_leave():
                return super().invoke(ctx)
        except IndexReconError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo(self.interrupted_message, err=True)
            ctx.exit(130)
        except OSError as e:  # -o in a missing folder, a read-only or full disk, a folder given as a file
            click.echo(f"error: {os_error_message(e)}", err=True)
            ctx.exit(2)
        except Exception as e:
            # Ctrl-C inside a DuckDB query surfaces as DuckDB's interrupt error instead
            if not is_interrupt(e):
                raise
            click.echo(self.interrupted_message, err=True)
            ctx.exit(130)


def parse_day(value: str, opt: str) -> dt.date:
    """A YYYY-MM-DD option value; a day that does not exist (2025-02-30) is named as such."""
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        pass
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value.strip())
    if m:
        try:
            dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError as e:
            raise IndexReconError(f"{opt} {value}: no such day ({e}; dates are YYYY-MM-DD)") from None
    raise IndexReconError(f"{opt}: dates look like YYYY-MM-DD, got '{value}'")


def checked_range(opt: str, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                  hint: str = "") -> Any:
    """A click callback refusing a number outside [lo, hi] (lo excluded with lo_open) in one
    line that gives the range."""
    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return value
        low_bad = lo is not None and (value <= lo if lo_open else value < lo)
        if low_bad or (hi is not None and value > hi):
            if lo is not None and hi is not None:
                rule = f"between {lo:g} and {hi:g}"
            elif lo is not None:
                rule = f"{'above' if lo_open else 'at least'} {lo:g}"
            else:
                rule = f"at most {hi:g}"
            raise IndexReconError(f"{opt} {value:g}: must be {rule}{hint}")
        return value

    return check


def os_error_message(e: OSError) -> str:
    """One line for a file the command could not read or write: the file, then the reason."""
    reason = e.strerror or str(e)
    return f"{e.filename}: {reason}" if e.filename else reason


def is_interrupt(e: BaseException) -> bool:
    duckdb = sys.modules.get("duckdb")
    interrupt = getattr(duckdb, "InterruptException", None)
    if interrupt is not None and isinstance(e, interrupt):
        return True
    return isinstance(e, RuntimeError) and str(e).strip().lower() == "query interrupted"


def store_option(help_text: str = READ_STORE_HELP, *, cache: bool | None = None) -> Any:
    """The --store option (also read from $INDEXRECON_STORE), with --no-cache on the commands
    that read a store (`cache`: default, all but a writing store's)."""
    store = click.option(
        "--store",
        "store_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="INDEXRECON_STORE",
        help=help_text,
    )
    if not (help_text == READ_STORE_HELP if cache is None else cache):
        return store

    def no_cache(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if value:
            from ..engine.cache import disable

            disable()

    flag = click.option("--no-cache", is_flag=True, expose_value=False, callback=no_cache,
                        help="Recompute the indices this one depends on instead of reading (or writing) "
                        "the results cache (also INDEXRECON_NO_CACHE=1).")
    return lambda f: store(flag(f))


def label_synthetic(df: Any, synthetic: bool) -> Any:
    """A table (DataFrame or results Table) from the demo store carries a `data` column
    saying it is synthetic."""
    from ..results.review import Table

    if not synthetic:
        return df
    if isinstance(df, Table):
        return df.with_column("data", "SYNTHETIC demo data")
    return df.assign(data="SYNTHETIC demo data")


def same_file(a: Path, b: Path) -> bool:
    with contextlib.suppress(OSError):
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    return a.expanduser().resolve() == b.expanduser().resolve()


def store_file(store_path: Path | None) -> Path:
    """The file a read command's store is: --store / $INDEXRECON_STORE, else the demo store."""
    if store_path is not None:
        return Path(store_path).expanduser()
    from ..data.open import demo_store_path

    return demo_store_path()


def _methodology_files(specs: Iterable[Any]) -> list[Path]:
    """The YAML files a command reads: each METHOD (a path, or a built-in name: its file in
    the package or the checkout), and the files its `members_of` / `exclude_members_of`
    name, its dated versions' included (transitively)."""
    from ..methodology.loader import load_methodology, methodology_path

    todo = [s for s in specs if s is not None and not isinstance(s, dict)]
    seen: list[Path] = []
    while todo:
        try:
            p = methodology_path(Path(str(todo.pop())).expanduser())
        except IndexReconError:
            continue  # said by the command itself
        if not p.is_file() or any(same_file(p, q) for q in seen):
            continue
        seen.append(p)
        try:
            m = load_methodology(p)
        except IndexReconError:
            continue
        for u in [m.universe.model_dump(), *((v.changes.get("universe") or {}) for v in m.versions)]:
            todo += [*(u.get("members_of") or []), *(u.get("exclude_members_of") or [])]
    return seen


def refuse_overwrite(out: Path | None, *, store_path: Path | None = None, store: bool = True,
                     methods: Iterable[Any] = (), incumbents: str | None = None, opt: str = "-o") -> None:
    """Refuse `-o` (or the option `opt`) onto a file the command reads: its store (or the
    store's .wal), a methodology file, an incumbents file. Checked before anything is written."""
    if out is None:
        return
    out = Path(out)
    guarded: list[tuple[Path, str]] = []
    if store:
        db = store_file(store_path)
        guarded += [(db, "the store this command reads"),
                    (db.with_name(db.name + ".wal"), "the write-ahead log of the store this command reads")]
    guarded += [(p, "a methodology file this command reads") for p in _methodology_files(methods)]
    modes = ("auto", "official", "simulate", "none")
    if incumbents is not None and incumbents not in modes and Path(incumbents).expanduser().is_file():
        guarded.append((Path(incumbents).expanduser(), "the incumbents file this command reads"))
    for path, what in guarded:
        if same_file(out, path):
            raise IndexReconError(f"{opt} {out} is {what}: refused, nothing written")


@contextlib.contextmanager
def output_console(out: Path | None) -> Iterator[Any]:
    """The console a command's tables and lines go to: a terminal (its own width and
    colours; tables fitted to it) or a pipe or FILE (colourless, and so wide that no line is
    wrapped or cut whatever $COLUMNS says: tables print plain at their full width). Text is
    printed as it is, not read as rich markup: a reason or a methodology note in [brackets]
    must stay visible."""
    from rich.console import Console

    if out is None:
        yield Console(markup=False) if sys.stdout.isatty() else Console(width=UNBOUNDED, no_color=True, markup=False)
        return
    with writing(out), out.open("w", encoding="utf-8") as fh:
        yield Console(file=fh, width=UNBOUNDED, no_color=True, markup=False)


@contextlib.contextmanager
def working(message: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr while a long step runs (only when stderr is a terminal); yields a
    function that changes its message."""
    if not sys.stderr.isatty():  # a pipe or a file gets no spinner: don't import rich
        yield lambda _message: None
        return
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda _message: None
        return
    with console.status(message) as status:
        yield lambda msg: status.update(msg)


def write_text(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        with writing(out):
            out.write_text(text, encoding="utf-8")


def frame_table(df: Any, title: str, fmt: dict[str, Any] | None = None) -> Any:
    from ..present.termtable import TextTable

    fmt = fmt or {}
    cols = [str(c) for c in df.columns]
    rows = []
    for row in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, row, strict=True):
            if c in fmt:
                cells.append(fmt[c](v))
            elif v is None or (isinstance(v, float) and math.isnan(v)):
                cells.append("")
            elif isinstance(v, float):
                cells.append(f"{v:,.2f}")
            else:
                cells.append(str(v))
        rows.append(cells)
    import pandas as pd

    # pandas 3 gives text its own dtype (not object): ask whether a column is numeric
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and df[c].dtype != bool for c in df.columns]
    return TextTable(cols, cols, numeric, rows, title=title)


def optional_day(value: str | None, opt: str) -> dt.date | None:
    """A date option that may be left out."""
    return None if value is None else parse_day(value, opt)


FORMATS = click.Choice(["table", "csv", "json", "parquet"])
INCUMBENTS_HELP = (
    "official (the store's official list before the effective date, rolled forward through "
    "the reviews since when it is older than the previous one), official-strict (refuse such "
    "a list instead), simulate (roll the "
    "reviews forward from the first complete window), none (pure rule ranking), a file of "
    "codes, or auto (official if the store has it, else simulate)"
)


_HANDED: list[tuple[Path | None, Any]] = []


def open_store_at(store_path: Path | None) -> Any:
    """The store at --store, else $INDEXRECON_STORE, else the demo store (the one handed
    over for `store_path`, if any: see `hand_over`)."""
    if _HANDED:
        path, store = _HANDED.pop()
        if path == store_path:
            return store
    from ..data.open import open_store

    return open_store(store_path)


def hand_over(store_path: Path | None, store: Any) -> None:
    """The store just opened for `store_path`, for the command's own next open_store_at
    (None: nothing handed over)."""
    _HANDED[:] = [] if store is None else [(store_path, store)]


def complete_method(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of METHOD: the built-in names, else files (a YAML path)."""
    from click.shell_completion import CompletionItem

    from ..methodology.paths import builtin_names

    names = [CompletionItem(n) for n in builtin_names() if n.startswith(incomplete)]
    return names or [CompletionItem(incomplete, type="file")]



def emit(df: Any, fmt: str, out: Path | None,
          payload: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
          render: Any = None, synthetic: bool = False) -> None:
    """Write a result (a results Table or a DataFrame) in the asked format to a file or
    stdout. Tables from the demo store carry a `data` column saying they are synthetic (JSON
    has `synthetic` and `data`)."""
    from ..results.review import Table

    if df is not None and fmt in ("csv", "parquet"):
        df = label_synthetic(df, synthetic)
    if fmt == "json":
        if callable(payload):  # built only when asked for: it is not free
            payload = payload()
        text = dumps(payload) + "\n"
        write_text(text, out)
    elif fmt == "csv":
        write_text(df.to_csv() if isinstance(df, Table) else df.to_csv(index=False, lineterminator="\n"), out)
    elif fmt == "parquet":
        if out is None:
            raise IndexReconError("--format parquet needs -o FILE")
        with writing(out):
            (df.to_pandas() if isinstance(df, Table) else df).to_parquet(out, index=False)
    else:
        with output_console(out) as con:
            render(con)
