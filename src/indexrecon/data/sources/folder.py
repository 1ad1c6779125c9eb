"""A folder being ingested: its items (validate, then write, each table in its own transaction) and the checks every reader runs."""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ...errors import DataError
from ..store import Store
from .common import RATIO_SQL, IngestSummary, _first, amount_unit_problem
from .file_checks import csv_encoding, utf8_copy

# --------------------------------------------------------------------------------------
# items: one table written from one file


@dataclass
class _Item:
    table: str
    paths: tuple[Path, ...]
    label: str
    validate: Callable[[], None]
    write: Callable[[duckdb.DuckDBPyConnection], int]


def _fail(path: Path, column: str, message: str) -> DataError:
    return DataError(f"{path}: column '{column}': {message}")


class _Folder:
    """Shared state of one folder's ingest: the connection, views and staged tables."""

    def __init__(self, store: Store, folder: Path, summary: IngestSummary) -> None:
        self.store = store
        self.con = store.con
        self.folder = folder
        self.summary = summary
        self._done: dict[str, object] = {}
        self._temp: list[tuple[str, str]] = []  # (kind, name) to drop at the end
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None  # re-encoded copies

    def once(self, key: str, fn: Callable[[], object]) -> object:
        if key not in self._done:
            self._done[key] = fn()
        return self._done[key]

    def view(self, name: str, sql: str) -> str:
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
        self._temp.append(("VIEW", name))
        return name

    def temp_table(self, name: str, sql: str) -> str:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        self._temp.append(("TABLE", name))
        return name

    def cleanup(self) -> None:
        for kind, name in reversed(self._temp):
            with contextlib.suppress(duckdb.Error):
                self.con.execute(f"DROP {kind} IF EXISTS {name}")
        if self._tmpdir is not None:
            self._tmpdir.cleanup()

    def utf8(self, path: Path) -> Path:
        """A CSV as UTF-8: itself, or a re-encoded temp copy of a GBK file (with a note)."""
        encoding = csv_encoding(path)
        if encoding == "utf-8":
            return path
        if self._tmpdir is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="indexrecon-ingest-")
        self.summary.notes.append(f"{path.name}: GBK (GB18030) text, decoded to UTF-8")
        return utf8_copy(path, encoding, Path(self._tmpdir.name))

    def describe(self, path: Path, reader: str) -> dict[str, str]:
        try:
            rows = self.con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
        except duckdb.Error as e:
            kind = "Parquet" if path.suffix == ".parquet" else "CSV"
            raise DataError(f"{path}: cannot read as {kind}: {str(e).splitlines()[0]}") from None
        return {r[0]: r[1] for r in rows}

    def require_columns(self, path: Path, have: dict[str, str], need: dict[str, str]) -> None:
        """Check presence and type family of columns: need maps name -> 'text'|'date'|'number'|'boolean'."""
        for col, family in need.items():
            if col not in have:
                raise _fail(path, col, f"missing (the file has: {', '.join(have)})")
            t = have[col].upper()
            ok = {
                "text": t == "VARCHAR",
                "boolean": t == "BOOLEAN",
                "date": t == "DATE" or t.startswith("TIMESTAMP"),
                "number": t
                in {
                    "DOUBLE",
                    "FLOAT",
                    "BIGINT",
                    "INTEGER",
                    "HUGEINT",
                    "SMALLINT",
                    "TINYINT",
                    "UBIGINT",
                    "UINTEGER",
                    "USMALLINT",
                    "UTINYINT",
                }
                or t.startswith("DECIMAL"),
            }[family]
            if not ok:
                raise _fail(path, col, f"has type {have[col]}, expected {family}")


def _check_codes(
    f: _Folder, path: Path, relation: str, column: str, label: str | None = None
) -> None:
    """All values of `column` are 6-digit codes; `label` names the file's column."""
    row = _first(
        f.con,
        f"SELECT count(*), any_value({column}) FROM {relation} "
        f"WHERE {column} IS NULL OR NOT regexp_full_match({column}, '[0-9]{{6}}')",
    )
    if row and row[0]:
        raise _fail(
            path, label or column, f"{row[0]:,} value(s) are not 6-digit codes (e.g. {row[1]!r})"
        )


def _check_bars(f: _Folder, path: Path, relation: str, code: str = "code") -> None:
    """Shape and unit checks of a bars-like relation (code, date, OHLC, amount, volume)."""
    row = _first(
        f.con,
        f"""SELECT count(*),
              count(*) FILTER (WHERE {code} IS NULL OR length({code}) <> 6),
              count(*) FILTER (WHERE date IS NULL),
              count(*) FILTER (WHERE close IS NULL),
              count(*) FILTER (WHERE open <= 0), count(*) FILTER (WHERE high <= 0),
              count(*) FILTER (WHERE low <= 0), count(*) FILTER (WHERE close <= 0),
              count(*) FILTER (WHERE high < low),
              count(*) FILTER (WHERE volume < 0), count(*) FILTER (WHERE amount < 0),
              {RATIO_SQL}, count(*) FILTER (WHERE date > current_date), max(date), median(close)
            FROM {relation}""",
    )
    assert row is not None
    if not row[0]:  # a header and nothing else: loading it would write 0 rows and say done
        raise DataError(f"{path}: no rows (a header only): nothing to load")
    if row[12]:  # a bar from the future is a wrong date, never data
        raise _fail(path, "date", f"{row[12]:,} row(s) dated after today {dt.date.today()} (latest {row[13]})")
    checks = [
        (row[1], code, "is missing or not a 6-digit code"),
        (row[2], "date", "is missing"),
        (row[3], "close", "is missing"),
        (row[4], "open", "is zero or negative"),
        (row[5], "high", "is zero or negative"),
        (row[6], "low", "is zero or negative"),
        (row[7], "close", "is zero or negative"),
        (row[8], "high", "is below low"),
        (row[9], "volume", "is negative"),
        (row[10], "amount", "is negative"),
    ]
    for n, col, what in checks:
        if n:
            raise _fail(path, col, f"{what} in {n:,} of {row[0]:,} rows")
    problem = amount_unit_problem(row[11], row[14])
    if problem:
        raise _fail(path, *problem)
    _check_codes(f, path, f"(SELECT DISTINCT {code} FROM {relation})", code)
    distinct = _first(f.con, f"SELECT count(*) FROM (SELECT DISTINCT {code}, date FROM {relation})")
    if distinct and distinct[0] != row[0]:
        dup = _first(
            f.con,
            f"SELECT {code}, date FROM {relation} GROUP BY ALL HAVING count(*) > 1 LIMIT 1",
        )
        example = f", e.g. {dup[0]} on {dup[1]}" if dup else ""
        raise _fail(path, "date", f"{row[0] - distinct[0]:,} duplicate (code, date) rows{example}")


def _check_intervals(f: _Folder, path: Path, relation: str, start: str, end: str) -> None:
    row = _first(
        f.con,
        f"SELECT count(*) FILTER (WHERE {start} IS NULL), "
        f"count(*) FILTER (WHERE {end} < {start}) FROM {relation}",
    )
    if row and row[0]:
        raise _fail(path, start, f"is missing in {row[0]:,} rows")
    if row and row[1]:
        raise _fail(path, end, f"is before {start} in {row[1]:,} rows")


# --------------------------------------------------------------------------------------
# layout detection


def _once(f: _Folder, key: str, fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        f.once(key, fn)

    return run


def _check_shares(f: _Folder, path: Path, relation: str) -> None:
    _check_codes(f, path, f"(SELECT DISTINCT code FROM {relation})", "code")
    row = _first(
        f.con,
        f"SELECT count(*) FILTER (WHERE effective_date IS NULL), "
        f"count(*) FILTER (WHERE total_shares IS NULL OR total_shares <= 0), "
        f"median(total_shares) FROM {relation}",
    )
    assert row is not None
    if row[0]:
        raise _fail(path, "effective_date", f"is missing in {row[0]:,} rows")
    if row[1]:
        raise _fail(path, "total_shares", f"is missing, zero or negative in {row[1]:,} rows")
    if row[2] is not None and row[2] < 1e6:
        raise _fail(
            path,
            "total_shares",
            f"median is {row[2]:,.0f}: looks like 10k shares (万股); the store expects shares",
        )
    dup = _first(
        f.con,
        f"SELECT code, effective_date FROM {relation} GROUP BY ALL HAVING count(*) > 1 LIMIT 1",
    )
    if dup:
        raise _fail(path, "effective_date", f"duplicate rows for {dup[0]} on {dup[1]}")


