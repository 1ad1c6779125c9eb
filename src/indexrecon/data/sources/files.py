"""Load a folder of Parquet/CSV files into the store.

Two layouts are recognised:

* the shared real dataset (``shared/realdata``: ``bars.parquet``, ``industry_sw.parquet``,
  ``csi_membership.parquet``, ... as its README documents), converted to the store's units;
* the store's own layout: files named after the tables (``bars.parquet`` or ``bars.csv``,
  ``securities.csv``, ... any subset) with the columns of ``store.TABLES``.

Without a status file, ST / *ST status is inferred from the bars' 5% price limits on the main
boards (``st_inference``; the real dataset has no status history): on by default for the real
dataset's layout, on request for the store's layout, ``infer_st=False`` turns it off.

Every table is written in its own transaction that replaces the rows of the keys it covers
(so a rerun never duplicates) and records the file's fingerprint in ``ingest_log``; a rerun
skips what is already loaded from unchanged files. All files are validated before anything
is written, and a bad file raises a one-line ``DataError`` naming the file and the column.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ...errors import DataError, IndexReconError, StoreError
from ..store import BOARDS, STATUSES, TABLES, Store
from . import st_inference
from .file_checks import csv_encoding, unrecognised_files, utf8_copy

Progress = Callable[[str, int, int], None]

# (exchange, code prefixes, board): the A-share stock universe by code prefix.
STOCK_PREFIXES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("SZ", ("000", "001", "002", "003"), "sz_main"),
    ("SZ", ("300", "301", "302"), "chinext"),
    ("SH", ("600", "601", "603", "605"), "sh_main"),
    ("SH", ("688", "689"), "star"),
    ("BJ", ("43", "83", "87", "92"), "bse"),
)

# Code changes known in the real dataset; history is keyed by the new code.
# 300114 became 302132 on 2025-02-17 (the SW history lists 302132 from that day).
CODE_CHANGES: dict[str, tuple[str, dt.date]] = {"300114": ("302132", dt.date(2025, 2, 17))}

CSI_INDEX_CODES = {"csi300": "000300", "csi500": "000905", "csi1000": "000852"}

REALDATA_ONLY_FILES = ("industry_sw.parquet", "csi_membership.parquet")
REALDATA_FILES = (
    "bars.parquet",
    "index_bars.parquet",
    "shares.parquet",
    "industry_sw.parquet",
    "official_weights.parquet",
    "csi_membership.parquet",
    # the additions of December 2026 (realdata_more)
    "share_observations.parquet",
    "dual_listings.parquet",
    "daily_basic_snapshots.parquet",
    "dividends.parquet",
    "official_weights_history.parquet",
    "st_snapshots.parquet",
)

# Tables a user's folder may provide, in load order (securities before bars, so bars can
# tell which codes still need a derived securities row). meta and ingest_log are ours.
USER_TABLES = (
    "securities",
    "bars",
    "calendar",
    "shares",
    "status",
    "industry",
    "index_bars",
    "official_weights",
    "index_membership",
    "code_changes",
    "dividends",
)

# Rows a new file replaces: those whose key it covers.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "securities": ("code",),
    "bars": ("code", "date"),
    "calendar": ("date",),
    "shares": ("code", "effective_date"),
    "status": ("code",),
    "industry": ("code",),
    "index_bars": ("index_code", "date"),
    "official_weights": ("index_code", "trade_date"),
    "index_membership": ("index_code",),
    "code_changes": ("old_code", "new_code"),
    "dividends": ("code", "ex_date"),
    "valuation": ("code", "date"),
    "dual_listings": ("code",),
    "name_history": ("code", "date"),
}

CODE_COLUMNS = ("code", "index_code", "old_code", "new_code")
ONE_DAY = dt.timedelta(days=1)


# --------------------------------------------------------------------------------------
# summary


@dataclass
class IngestSummary:
    """What an ingest wrote: rows per table, items skipped, notes, warnings and failures."""

    source: str
    rows: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add_rows(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + int(n)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def __str__(self) -> str:
        lines = [f"{self.source}: {self.total_rows:,} rows written in {self.seconds:.1f} s"]
        lines += [f"  {table:<18}{n:>12,}" for table, n in self.rows.items()]
        if self.skipped:
            lines.append(
                f"  skipped {len(self.skipped)} item(s) already loaded from unchanged input "
                "(force to reload): "
                + ", ".join(self.skipped[:6])
                + (" ..." if len(self.skipped) > 6 else "")
            )
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  FAILED: {f}" for f in self.failures]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# helpers shared with the tdx and akshare sources


def classify_stock(code: str, exchange: str | None = None) -> tuple[str, str] | None:
    """(exchange, board) of an A-share stock code, or None if it is not an A-share stock.

    Without an exchange it is inferred from the code (6 -> SH, 0/3 -> SZ, 4/8/92 -> BJ).
    """
    if len(code) != 6 or not code.isdigit():
        return None
    for exch, prefixes, board in STOCK_PREFIXES:
        if (exchange is None or exchange == exch) and code.startswith(prefixes):
            return exch, board
    return None


def board_sql(code: str = "code", exchange: str | None = "exchange") -> str:
    """SQL CASE giving the board of a stock code (NULL if not an A-share stock)."""
    whens = []
    for exch, prefixes, board in STOCK_PREFIXES:
        pref = " OR ".join(f"starts_with({code}, '{p}')" for p in prefixes)
        cond = f"({pref})" if exchange is None else f"{exchange} = '{exch}' AND ({pref})"
        whens.append(f"WHEN {cond} THEN '{board}'")
    return f"(CASE {' '.join(whens)} END)"


def exchange_sql(code: str = "code") -> str:
    """SQL CASE inferring the exchange of a stock code from its prefix."""
    whens = []
    for exch, prefixes, _ in STOCK_PREFIXES:
        pref = " OR ".join(f"starts_with({code}, '{p}')" for p in prefixes)
        whens.append(f"WHEN {pref} THEN '{exch}'")
    return f"(CASE {' '.join(whens)} END)"


def remap_code_sql(col: str) -> str:
    """SQL mapping old codes to their new codes (CODE_CHANGES)."""
    whens = " ".join(f"WHEN '{old}' THEN '{new}'" for old, (new, _) in CODE_CHANGES.items())
    return f"(CASE {col} {whens} ELSE {col} END)"


def sql_str(value: str | Path) -> str:
    """A SQL string literal (for table functions inside views, which take no parameters)."""
    return "'" + str(value).replace("'", "''") + "'"


def fingerprint(paths: Iterable[Path]) -> str:
    """Size and mtime of the files: cheap, and changes whenever a file is rewritten."""
    parts = []
    for p in sorted(paths):
        st = p.stat()
        parts.append(f"{st.st_size}:{st.st_mtime_ns}")
    return ",".join(parts)


def already_loaded(con: duckdb.DuckDBPyConnection, source: str, item: str) -> bool:
    row = one(con, "SELECT count(*) FROM ingest_log WHERE source = ? AND item = ?", [source, item])
    return bool(row and row[0])


def log_item(con: duckdb.DuckDBPyConnection, source: str, item: str, rows: int) -> None:
    con.execute(
        "INSERT INTO ingest_log VALUES (?, ?, ?, current_localtimestamp())", [source, item, rows]
    )


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    relation: str,
    columns: Iterable[str] | None = None,
    order_by: str | None = None,
) -> int:
    """Delete the rows of `table` whose key `relation` covers, then insert `relation`."""
    keys = TABLE_KEYS[table]
    has_rows = one(con, f"SELECT count(*) > 0 FROM {table}")
    if has_rows and has_rows[0]:
        cond = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        con.execute(f"DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM {relation} s WHERE {cond})")
    cols = ", ".join(columns) if columns else "*"
    order = f" ORDER BY {order_by}" if order_by else ""
    before = _count(con, table)
    con.execute(f"INSERT INTO {table} SELECT {cols} FROM {relation}{order}")
    return _count(con, table) - before


def upsert_securities(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    """Insert or update securities rows; keep known names and the earliest list_date.

    `relation` has columns code, exchange, board, name, list_date, delist_date, unique code.
    """
    n_new = one(con, f"SELECT count(*) FROM {relation}")
    con.execute(
        f"""INSERT INTO securities SELECT code, exchange, board, name, list_date, delist_date
            FROM {relation}
            ON CONFLICT (code) DO UPDATE SET
              exchange = excluded.exchange, board = excluded.board,
              name = COALESCE(excluded.name, securities.name),
              list_date = LEAST(excluded.list_date, securities.list_date),
              delist_date = COALESCE(excluded.delist_date, securities.delist_date)"""
    )
    return int(n_new[0]) if n_new else 0


def insert_calendar(con: duckdb.DuckDBPyConnection, relation: str, column: str = "date") -> int:
    """Add trading days (a union: a calendar day is never removed by a new source)."""
    before = _count(con, "calendar")
    con.execute(
        f"INSERT INTO calendar SELECT DISTINCT {column} FROM {relation} "
        f"WHERE {column} IS NOT NULL ON CONFLICT DO NOTHING"
    )
    return _count(con, "calendar") - before


def record_ingest(store: Store, summary: IngestSummary) -> None:
    """Remember what the last ingest wrote and how long it took (meta last_ingest)."""
    store.set_meta(
        last_ingest=f"{summary.source}: {summary.total_rows:,} rows in {summary.seconds:.1f} s"
    )


def refuse_synthetic(store: Store) -> None:
    """Real data never goes into a SYNTHETIC store: mixed in, it would be labelled market data."""
    if store.meta.get("synthetic") == "true":
        raise StoreError(synthetic_target_message(store.path))


def synthetic_target_message(path: Path) -> str:
    return (f"store {path} holds SYNTHETIC demo data (meta synthetic=true): real data is not "
            "mixed into it; ingest into a new store (--store real.duckdb); store untouched")


def note_source(store: Store, label: str) -> None:
    """Record real (non-synthetic) data and append `label` to meta.source."""
    existing = store.meta.get("source", "")
    source = label if not existing or existing == label else existing
    if existing and label not in existing:
        source = f"{existing}; {label}"
    values = {"synthetic": "false", "source": source}
    if "created_at" not in store.meta:
        values["created_at"] = dt.datetime.now().isoformat(timespec="seconds")
    store.set_meta(**values)


RATIO_SQL = (
    "median(amount / (volume * close)) FILTER (WHERE volume > 0 AND amount > 0 AND close > 0)"
)


_UNIT_SLIPS = (  # (factor on amount / (volume x close), column, what it means)
    ((1e-3, "amount", "amount looks like 1k CNY (千元)"), (1e-4, "amount", "amount looks like 10k CNY (万元)")),
    ((100.0, "volume", "volume looks like lots of 100 (手)"),),
    ((1e-2, "close", "prices look like fen (x100)"),),
)


def amount_unit_problem(ratio: float | None, median_close: float | None = None) -> tuple[str, str] | None:
    """(column, message) if amount / (volume x close), ~1 in CNY and shares, shows a unit slip.

    The ratio alone cannot tell prices in fen from amount in 10k CNY with volume in lots
    (both give 0.01): the price level can, so `median_close` rules fen out below 100 (a
    market's median close in CNY is tens) and in above 2,500 (no A share trades that high
    in CNY); between them it is not used. Of the explanations that fit, the one with the
    fewest slips is named."""
    if ratio is None or ratio <= 0 or 0.5 <= ratio <= 2.0:
        return None
    what = f"amount / (volume x close) is {ratio:.2g}"
    fen = None if median_close is None or 100 <= median_close <= 2500 else median_close > 2500
    fits: list[tuple[int, float, list[tuple[str, str]]]] = []
    for amount in ((1.0, "", ""), *_UNIT_SLIPS[0]):
        for volume in ((1.0, "", ""), *_UNIT_SLIPS[1]):
            for price in ((1.0, "", ""), *_UNIT_SLIPS[2]):
                if fen is not None and (price[0] != 1.0) != fen:
                    continue
                slips = [(c, t) for _, c, t in (amount, volume, price) if c]
                expected = amount[0] * volume[0] * price[0]
                off = abs(math.log10(ratio / expected))
                if slips and off < 0.5:
                    fits.append((len(slips), off, slips))
    if not fits:
        return "amount", f"{what}, expected about 1 (amount in CNY, volume in shares, prices in CNY)"
    _, _, slips = min(fits, key=lambda x: (x[0], x[1]))
    return slips[0][0], f"{what}: {' and '.join(t for _, t in slips)}; the store expects amount in CNY, volume in shares, prices in CNY"


def one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple | None:
    """The first row of a query, with the result drained.

    DuckDB 2 keeps a partly fetched result open on the connection and then refuses
    `register()`, so never leave a fetchone() behind.
    """
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = one(con, f"SELECT count(*) FROM {table}")
    return int(row[0]) if row else 0


def _first(con: duckdb.DuckDBPyConnection, sql: str) -> tuple | None:
    return one(con, sql)


def table_columns(table: str) -> list[tuple[str, str, bool]]:
    """(name, type, required) of a store table, parsed from its DDL."""
    out = []
    for part in TABLES[table][0].split(", "):
        words = part.split()
        required = "NOT NULL" in part or "PRIMARY KEY" in part
        out.append((words[0], words[1], required))
    return out


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


def detect_layout(folder: Path) -> str:
    """'realdata' (the shared dataset) or 'store' (files named after the store's tables)."""
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    if any((folder / n).exists() for n in REALDATA_ONLY_FILES):
        return "realdata"
    if (folder / "bars.parquet").exists() and not _user_files(folder).get("securities"):
        try:
            with duckdb.connect() as con:
                cols = {
                    r[0]
                    for r in con.execute(
                        f"DESCRIBE SELECT * FROM read_parquet({sql_str(folder / 'bars.parquet')})"
                    ).fetchall()
                }
        except duckdb.Error:
            cols = set()
        if "exchange" in cols:
            return "realdata"
    if _user_files(folder):
        return "store"
    names = ", ".join(f"{t}.parquet|csv" for t in USER_TABLES)
    stray = unrecognised_files(folder, USER_TABLES)
    found = f"; found {', '.join(stray)}" if stray else ""
    raise DataError(
        f"{folder} holds no data files this tool knows (expected the shared realdata files "
        f"or store-layout files: {names}){found}"
    )


def _user_files(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for table in USER_TABLES:
        for ext in (".parquet", ".csv"):
            p = folder / f"{table}{ext}"
            if p.exists() and table not in found:
                found[table] = p
    return found


# --------------------------------------------------------------------------------------
# the shared real dataset: one builder per file, each binding its own path


def _parquet(path: Path) -> str:
    return f"read_parquet({sql_str(path)})"


def _realdata_bars(f: _Folder, path: Path) -> list[_Item]:
    reader = _parquet(path)

    def validate() -> None:
        have = f.describe(path, reader)
        f.require_columns(
            path,
            have,
            {
                "code": "text",
                "exchange": "text",
                "date": "date",
                "open": "number",
                "high": "number",
                "low": "number",
                "close": "number",
                "amount": "number",
                "volume": "number",
            },
        )
        # a view, not a copy: DuckDB reads the Parquet file directly for each statement
        rel = f.view(
            "_src_bars",
            "SELECT code, exchange, CAST(date AS DATE) AS date, CAST(open AS DOUBLE) AS open, "
            "CAST(high AS DOUBLE) AS high, CAST(low AS DOUBLE) AS low, "
            "CAST(close AS DOUBLE) AS close, CAST(amount AS DOUBLE) AS amount, "
            f"CAST(volume AS BIGINT) AS volume FROM {reader}",
        )
        _check_bars(f, path, rel)
        bad = _first(
            f.con,
            f"SELECT count(DISTINCT code), any_value(exchange || ':' || code) FROM {rel} "
            f"WHERE {board_sql('code', 'exchange')} IS NULL",
        )
        if bad and bad[0]:
            raise _fail(
                path,
                "code",
                f"{bad[0]} code(s) are not A-share stocks by exchange and prefix (e.g. {bad[1]})",
            )

    def write_bars(con: duckdb.DuckDBPyConnection) -> int:
        cols = ["code", "date", "open", "high", "low", "close", "amount", "volume"]
        # ordered by (date, code) so date-range queries prune row groups
        return replace_rows(con, "bars", "_src_bars", cols, order_by="date, code")

    def write_securities(con: duckdb.DuckDBPyConnection) -> int:
        rel = f.temp_table(
            "_new_securities",
            "SELECT code, any_value(exchange) AS exchange, "
            f"any_value({board_sql('code', 'exchange')}) AS board, NULL::VARCHAR AS name, "
            "min(date) AS list_date, NULL::DATE AS delist_date FROM _src_bars GROUP BY code",
        )
        _note_censored_list_dates(f, con, rel)
        return upsert_securities(con, rel)

    once = _once(f, "bars_valid", validate)
    return [
        _Item("bars", (path,), "bars <- bars.parquet", once, write_bars),
        _Item("securities", (path,), "securities <- bars.parquet", once, write_securities),
        _Item(
            "calendar",
            (path,),
            "calendar <- bars.parquet",
            once,
            lambda con: insert_calendar(con, "_src_bars"),
        ),
    ]


def _note_censored_list_dates(f: _Folder, con: duckdb.DuckDBPyConnection, rel: str) -> None:
    """list_date is the first bar: record that it is only a bound for the data's first day."""
    row = one(
        con,
        f"SELECT min(list_date), count(*) FILTER (WHERE list_date = "
        f"(SELECT min(list_date) FROM {rel})) FROM {rel}",
    )
    if not row or not row[1]:
        return
    first_day, censored = row
    f.summary.warnings.append(
        f"list_date is estimated as the first bar in the data: {censored:,} stocks have their "
        f"first bar on {first_day}, the data's first day, so they listed on or before it "
        "(meta list_date_censored_at)"
    )
    f.store.set_meta(
        list_date_source="first bar in the data (estimate)",
        list_date_censored_at=str(first_day),
    )


def _realdata_index_bars(f: _Folder, path: Path) -> list[_Item]:
    reader = _parquet(path)

    def validate() -> None:
        have = f.describe(path, reader)
        f.require_columns(
            path,
            have,
            {
                "code": "text",
                "date": "date",
                "open": "number",
                "high": "number",
                "low": "number",
                "close": "number",
                "amount": "number",
                "volume": "number",
            },
        )
        rel = f.view(
            "_src_index_bars",
            "SELECT code AS index_code, CAST(date AS DATE) AS date, "
            "CAST(open AS DOUBLE) AS open, CAST(high AS DOUBLE) AS high, "
            "CAST(low AS DOUBLE) AS low, CAST(close AS DOUBLE) AS close, "
            "CAST(amount AS DOUBLE) AS amount, CAST(volume AS BIGINT) AS volume "
            f"FROM {reader}",
        )
        _check_index_bars(f, path, rel, index_col="code")

    def write(con: duckdb.DuckDBPyConnection) -> int:
        return replace_rows(con, "index_bars", "_src_index_bars", order_by="date, index_code")

    return [_Item("index_bars", (path,), "index_bars <- index_bars.parquet", validate, write)]


def _check_index_bars(f: _Folder, path: Path, rel: str, index_col: str = "index_code") -> None:
    _check_codes(f, path, f"(SELECT DISTINCT index_code FROM {rel})", "index_code", index_col)
    row = _first(
        f.con,
        "SELECT count(*) FILTER (WHERE close IS NULL OR close <= 0), "
        f"count(*) FILTER (WHERE date IS NULL) FROM {rel}",
    )
    if row and row[0]:
        raise _fail(path, "close", f"is missing, zero or negative in {row[0]:,} rows")
    if row and row[1]:
        raise _fail(path, "date", f"is missing in {row[1]:,} rows")
    dup = _first(
        f.con, f"SELECT index_code, date FROM {rel} GROUP BY ALL HAVING count(*) > 1 LIMIT 1"
    )
    if dup:
        raise _fail(path, "date", f"duplicate rows for {index_col} {dup[0]} on {dup[1]}")


def _realdata_shares(f: _Folder, path: Path) -> list[_Item]:
    reader = _parquet(path)

    def validate() -> None:
        have = f.describe(path, reader)
        f.require_columns(
            path, have, {"code": "text", "effective_date": "date", "total_shares": "number"}
        )
        source = "source" if "source" in have else "NULL::VARCHAR"
        # A few change points hold a derived event and an observed anchor on the same day;
        # the README's method lets the anchor override the event, so keep the anchor.
        prefer = "(source = 'base_share')" if "source" in have else "false"
        rel = f.view(
            "_src_shares",
            "SELECT code, CAST(effective_date AS DATE) AS effective_date, "
            "CAST(total_shares AS DOUBLE) AS total_shares, NULL::DOUBLE AS float_shares, "
            f"NULL::DOUBLE AS free_float_shares, {source} AS source, NULL::DOUBLE AS a_shares "
            f"FROM read_parquet({sql_str(path)}, file_row_number = true) "
            "QUALIFY row_number() OVER (PARTITION BY code, effective_date "
            f"ORDER BY {prefer} DESC, file_row_number DESC) = 1",
        )
        dropped = _first(f.con, f"SELECT (SELECT count(*) FROM {reader}) - count(*) FROM {rel}")
        if dropped and dropped[0]:
            f.summary.warnings.append(
                f"{path.name}: {dropped[0]} (code, effective_date) pairs had two rows; kept the "
                "observed base_share anchor over the derived event"
            )
        _check_shares(f, path, rel)

    def write(con: duckdb.DuckDBPyConnection) -> int:
        return replace_rows(con, "shares", "_src_shares", order_by="code, effective_date")

    return [_Item("shares", (path,), "shares <- shares.parquet", validate, write)]


def _realdata_industry(
    f: _Folder, path: Path, changes: dict[str, tuple[str, dt.date]]
) -> list[_Item]:
    """Shenwan intervals; an old code's rows move to its new code, clipped at the change.

    Also dates the code changes (in `changes`, in place) by the new code's first interval.
    """
    reader = _parquet(path)

    def validate() -> None:
        have = f.describe(path, reader)
        f.require_columns(
            path,
            have,
            {
                "code": "text",
                "start_date": "date",
                "end_date": "date",
                "sw_l1_code": "text",
                "sw_l1_name": "text",
                "sw_l2_code": "text",
                "sw_l2_name": "text",
                "sw_l3_code": "text",
            },
        )
        for old, (new, default) in CODE_CHANGES.items():
            row = _first(f.con, f"SELECT min(start_date) FROM {reader} WHERE code = '{new}'")
            changes[old] = (new, row[0] if row and row[0] else default)
        clip = " ".join(
            f"WHEN code = '{old}' THEN LEAST(COALESCE(end_date, DATE '{day - ONE_DAY}'), "
            f"DATE '{day - ONE_DAY}')"
            for old, (_new, day) in changes.items()
        )
        drop = " OR ".join(
            f"(code = '{old}' AND start_date >= DATE '{day}')"
            for old, (_new, day) in changes.items()
        )
        l1_en = "sw_l1_name_en" if "sw_l1_name_en" in have else "NULL::VARCHAR"
        rel = f.view(
            "_src_industry",
            f"SELECT {remap_code_sql('code')} AS code, CAST(start_date AS DATE) AS start_date, "
            f"CAST(CASE {clip} ELSE end_date END AS DATE) AS end_date, "
            f"sw_l1_code, sw_l1_name, {l1_en} AS sw_l1_name_en, sw_l2_code, sw_l2_name, "
            f"NULL::VARCHAR AS sw_l2_name_en, sw_l3_code FROM {reader} "
            f"WHERE NOT ({drop or 'false'})",
        )
        _check_codes(f, path, f"(SELECT DISTINCT code FROM {rel})", "code")
        _check_intervals(f, path, rel, "start_date", "end_date")

    def write(con: duckdb.DuckDBPyConnection) -> int:
        return replace_rows(con, "industry", "_src_industry", order_by="code, start_date")

    return [
        _Item(
            "industry",
            (path,),
            "industry <- industry_sw.parquet",
            _once(f, "industry_valid", validate),
            write,
        )
    ]


def _realdata_weights(f: _Folder, path: Path) -> list[_Item]:
    reader = _parquet(path)
    view = f"_src_{path.stem}"

    def validate() -> None:
        have = f.describe(path, reader)
        f.require_columns(
            path,
            have,
            {"index_code": "text", "con_code": "text", "trade_date": "date", "weight": "number"},
        )
        # published in percent; the store holds fractions
        rel = f.view(
            view,
            "SELECT index_code, CAST(trade_date AS DATE) AS trade_date, "
            f"{remap_code_sql('con_code')} AS code, CAST(weight AS DOUBLE) / 100.0 AS weight "
            f"FROM {reader}",
        )
        _check_codes(f, path, f"(SELECT DISTINCT index_code FROM {rel})", "index_code")
        _check_codes(f, path, f"(SELECT DISTINCT code FROM {rel})", "code", "con_code")
        row = _first(
            f.con,
            f"SELECT (SELECT count(*) FROM {rel} WHERE weight IS NULL OR weight < 0), max(s) "
            f"FROM (SELECT sum(weight) * 100 AS s FROM {rel} GROUP BY index_code, trade_date)",
        )
        assert row is not None
        if row[0]:
            raise _fail(path, "weight", f"is missing or negative in {row[0]:,} rows")
        if row[1] is not None and row[1] <= 1.5:
            raise _fail(
                path,
                "weight",
                f"sums to {row[1]:.3g} per date: looks like fractions, but this file is "
                "documented in percent (sums to ~100)",
            )
        if row[1] is not None and row[1] > 101:
            raise _fail(path, "weight", f"sums to {row[1]:.4g}% on some date, above 100")
        dup = _first(
            f.con,
            f"SELECT index_code, trade_date, code FROM {rel} GROUP BY ALL "
            "HAVING count(*) > 1 LIMIT 1",
        )
        if dup:
            raise _fail(path, "con_code", f"{dup[2]} listed twice in {dup[0]} on {dup[1]}")

    def write(con: duckdb.DuckDBPyConnection) -> int:
        return replace_rows(
            con, "official_weights", view, order_by="index_code, trade_date, code"
        )

    return [
        _Item(
            "official_weights",
            (path,),
            f"official_weights <- {path.name}",
            validate,
            write,
        )
    ]


def _realdata_membership(f: _Folder, path: Path) -> list[_Item]:
    reader = _parquet(path)

    def validate() -> None:
        have = f.describe(path, reader)
        f.require_columns(
            path,
            have,
            {"index": "text", "code": "text", "start_date": "date", "end_date": "date"},
        )
        known = ", ".join(sql_str(k) for k in CSI_INDEX_CODES)
        bad = _first(
            f.con,
            f'SELECT count(*), any_value("index") FROM {reader} '
            f'WHERE "index" IS NULL OR "index" NOT IN ({known})',
        )
        if bad and bad[0]:
            raise _fail(
                path,
                "index",
                f"unknown index {bad[1]!r} in {bad[0]:,} rows "
                f"(known: {', '.join(CSI_INDEX_CODES)})",
            )
        whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in CSI_INDEX_CODES.items())
        # The 2005-07 CSI 300 history carries a placeholder code (T00018) for a stock long
        # gone: drop such rows rather than store a code nothing can join on.
        bad = _first(
            f.con,
            f"SELECT count(*), any_value(code) FROM {reader} "
            "WHERE NOT regexp_full_match(code, '[0-9]{6}')",
        )
        if bad and bad[0]:
            f.summary.warnings.append(
                f"{path.name}: dropped {bad[0]} rows whose code is not a 6-digit code (e.g. {bad[1]})"
            )
        rel = f.view(
            "_src_membership",
            f'SELECT CASE "index" {whens} END AS index_code, '
            f"{remap_code_sql('code')} AS code, CAST(start_date AS DATE) AS start_date, "
            f"CAST(end_date AS DATE) AS end_date FROM {reader} "
            "WHERE regexp_full_match(code, '[0-9]{6}')",
        )
        _check_intervals(f, path, rel, "start_date", "end_date")

    def write(con: duckdb.DuckDBPyConnection) -> int:
        n = replace_rows(
            con, "index_membership", "_src_membership", order_by="index_code, code, start_date"
        )
        # Intervals still open when the file was cut end on its last day: not exits.
        edge = _first(con, "SELECT max(end_date) FROM _src_membership")
        if edge and edge[0]:
            f.store.set_meta(index_membership_known_until=str(edge[0]))
            f.summary.warnings.append(
                f"index_membership ends on {edge[0]}, the edge of {path.name}: intervals ending "
                "that day are not exits (meta index_membership_known_until)"
            )
        return n

    return [
        _Item(
            "index_membership",
            (path,),
            "index_membership <- csi_membership.parquet",
            validate,
            write,
        )
    ]


def _realdata_items(f: _Folder) -> list[_Item]:
    folder = f.folder
    bars = folder / "bars.parquet"
    if not bars.exists():
        raise DataError(f"{folder}: bars.parquet is missing; the real dataset needs it")
    changes = dict(CODE_CHANGES)
    items = _realdata_bars(f, bars)
    builders: list[tuple[str, Callable[[_Folder, Path], list[_Item]]]] = [
        ("index_bars.parquet", _realdata_index_bars),
        ("shares.parquet", _realdata_shares),
        ("industry_sw.parquet", lambda f, p: _realdata_industry(f, p, changes)),
        ("official_weights.parquet", _realdata_weights),
        ("csi_membership.parquet", _realdata_membership),
    ]
    from . import realdata_more  # it builds on this module's helpers

    more, has_observations = realdata_more.items(f, _realdata_weights)
    if has_observations:  # the estimates merge with the observations (realdata_more)
        builders = [b for b in builders if b[0] != "shares.parquet"]
    industry_validate: Callable[[], None] = lambda: None  # noqa: E731
    for name, build in builders:
        if (folder / name).exists():
            new = build(f, folder / name)
            if name == "industry_sw.parquet":
                industry_validate = new[0].validate
            items += new
    items += more

    def write_code_changes(con: duckdb.DuckDBPyConnection) -> int:
        rows = ", ".join(f"('{old}', '{new}', DATE '{day}')" for old, (new, day) in changes.items())
        rel = f.temp_table(
            "_new_code_changes",
            f"SELECT * FROM (VALUES {rows}) v(old_code, new_code, change_date)",
        )
        return replace_rows(con, "code_changes", rel)

    industry = folder / "industry_sw.parquet"
    items.append(
        _Item(
            "code_changes",
            (industry,) if industry.exists() else (),
            "code_changes <- README (300114 -> 302132, dated by the SW history)",
            industry_validate,  # dates the change
            write_code_changes,
        )
    )
    return items


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


# --------------------------------------------------------------------------------------
# the store's own layout


def _cast_sql(col: str, typ: str) -> str:
    q = f'"{col}"'
    if typ == "DATE":
        # ISO dates, timestamps, or compact yyyymmdd (as text or integer)
        return (
            f"COALESCE(TRY_CAST({q} AS DATE), "
            f"TRY_CAST(TRY_STRPTIME(CAST({q} AS VARCHAR), '%Y%m%d') AS DATE))"
        )
    if typ == "BIGINT":
        return f"CAST(round(TRY_CAST({q} AS DOUBLE)) AS BIGINT)"
    if typ == "VARCHAR":
        if col in CODE_COLUMNS:
            # a spreadsheet often drops leading zeros: 1 -> 000001
            return (
                f"CASE WHEN regexp_full_match(trim(CAST({q} AS VARCHAR)), '[0-9]{{1,6}}') "
                f"THEN lpad(trim(CAST({q} AS VARCHAR)), 6, '0') ELSE CAST({q} AS VARCHAR) END"
            )
        return f"CAST({q} AS VARCHAR)"
    return f"TRY_CAST({q} AS {typ})"


def _stage_user_file(f: _Folder, table: str, path: Path) -> str:
    """Read a store-layout file into a typed temp table, after checking every column."""
    if path.suffix == ".parquet":
        reader = f"read_parquet({sql_str(path)})"
    else:
        reader = f"read_csv({sql_str(f.utf8(path))}, all_varchar = true, header = true)"
    have = f.describe(path, reader)
    spec = table_columns(table)
    names = [c for c, _, _ in spec]
    extra = [c for c in have if c not in names]
    if extra:
        f.summary.warnings.append(f"{path.name}: ignored column(s) {', '.join(extra)}")
    raw = f.temp_table(f"_raw_{table}", f"SELECT * FROM {reader}")
    selects = []
    for col, typ, required in spec:
        if col not in have:
            if required:
                raise _fail(path, col, f"missing (the file has: {', '.join(have)})")
            f.summary.warnings.append(f"{path.name}: no column {col}; left empty")
            selects.append(f"NULL::{typ} AS {col}")
            continue
        cast = _cast_sql(col, typ)
        bad = _first(
            f.con,
            f'SELECT count(*), any_value(CAST("{col}" AS VARCHAR)) FROM {raw} '
            f'WHERE "{col}" IS NOT NULL AND ({cast}) IS NULL',
        )
        if bad and bad[0]:
            raise _fail(path, col, f"{bad[0]:,} value(s) are not {typ} (e.g. {bad[1]!r})")
        if required:
            nulls = _first(f.con, f'SELECT count(*) FROM {raw} WHERE "{col}" IS NULL')
            if nulls and nulls[0]:
                raise _fail(path, col, f"is empty in {nulls[0]:,} rows (required)")
        selects.append(f"{cast} AS {col}")
    order = " ORDER BY date, code" if table == "bars" else ""
    stg = f.temp_table(f"_stg_{table}", f"SELECT {', '.join(selects)} FROM {raw}{order}")
    for col in CODE_COLUMNS:
        if col in names:
            _check_codes(
                f, path, f"(SELECT DISTINCT {col} FROM {stg} WHERE {col} IS NOT NULL)", col
            )
    _check_user_units(f, table, path, stg)
    return stg


def _dup_check(f: _Folder, path: Path, stg: str, keys: tuple[str, ...], col: str) -> None:
    dup = _first(
        f.con,
        f"SELECT {', '.join(keys)} FROM {stg} GROUP BY ALL HAVING count(*) > 1 LIMIT 1",
    )
    if dup:
        raise _fail(path, col, f"duplicate rows for {' / '.join(str(v) for v in dup)}")


def _check_user_units(f: _Folder, table: str, path: Path, stg: str) -> None:
    """Table-specific value and unit checks of a staged store-layout file."""
    if table == "bars":
        _check_bars(f, path, stg)
    elif table == "index_bars":
        _check_index_bars(f, path, stg)
    elif table == "securities":
        bad = _first(
            f.con,
            f"SELECT count(*), any_value(exchange) FROM {stg} "
            f"WHERE exchange NOT IN ('SH', 'SZ', 'BJ')",
        )
        if bad and bad[0]:
            raise _fail(path, "exchange", f"must be SH, SZ or BJ (found {bad[1]!r})")
        boards = ", ".join(sql_str(b) for b in BOARDS)
        bad = _first(
            f.con, f"SELECT count(*), any_value(board) FROM {stg} WHERE board NOT IN ({boards})"
        )
        if bad and bad[0]:
            raise _fail(path, "board", f"must be one of {', '.join(BOARDS)} (found {bad[1]!r})")
        _dup_check(f, path, stg, ("code",), "code")
    elif table == "shares":
        _check_shares(f, path, stg)
    elif table == "official_weights":
        row = _first(
            f.con,
            f"SELECT (SELECT count(*) FROM {stg} WHERE weight < 0), max(s) "
            f"FROM (SELECT sum(weight) AS s FROM {stg} GROUP BY index_code, trade_date)",
        )
        if row and row[0]:
            raise _fail(path, "weight", f"is negative in {row[0]:,} rows")
        if row and row[1] is not None and row[1] > 1.5:
            raise _fail(
                path,
                "weight",
                f"sums to {row[1]:.4g} on some date: looks like percent; the store expects "
                "fractions summing to 1 per date",
            )
        _dup_check(f, path, stg, ("index_code", "trade_date", "code"), "code")
    elif table == "status":
        kinds = ", ".join(sql_str(s) for s in STATUSES)
        bad = _first(
            f.con, f"SELECT count(*), any_value(status) FROM {stg} WHERE status NOT IN ({kinds})"
        )
        if bad and bad[0]:
            raise _fail(path, "status", f"must be one of {', '.join(STATUSES)} (found {bad[1]!r})")
        _check_intervals(f, path, stg, "start_date", "end_date")
    elif table in ("industry", "index_membership"):
        _check_intervals(f, path, stg, "start_date", "end_date")
    elif table == "dividends":
        row = _first(
            f.con,
            f"SELECT count(*) FILTER (WHERE cash_per_share < 0), median(cash_per_share) FROM {stg}",
        )
        if row and row[0]:
            raise _fail(path, "cash_per_share", f"is negative in {row[0]:,} rows")
        if row and row[1] is not None and row[1] > 3:
            f.summary.warnings.append(
                f"{path.name}: median cash_per_share is {row[1]:.3g} CNY; check it is per share, "
                "not per 10 shares"
            )
        _dup_check(f, path, stg, ("code", "ex_date"), "ex_date")
    elif table == "calendar":
        pass


def _store_items(f: _Folder) -> list[_Item]:
    files = _user_files(f.folder)
    for table in USER_TABLES:
        if (f.folder / f"{table}.parquet").exists() and (f.folder / f"{table}.csv").exists():
            f.summary.warnings.append(
                f"both {table}.parquet and {table}.csv exist; used the Parquet file"
            )
    items: list[_Item] = []
    for table, path in files.items():
        items.append(
            _Item(
                table, (path,), f"{table} <- {path.name}", _stager(f, table, path), _writer(table)
            )
        )
    bars = files.get("bars")
    if bars is not None:
        items += _derived_from_bars(f, bars, files.get("securities"), "calendar" not in files)
    # securities first, then bars and what derives from it, then the rest
    order = {t: i for i, t in enumerate(USER_TABLES)}
    items.sort(key=lambda it: order["bars"] if "derived" in it.label else order[it.table])
    return items


def _stager(f: _Folder, table: str, path: Path) -> Callable[[], None]:
    def stage() -> None:
        f.once(f"stg_{table}", lambda: _stage_user_file(f, table, path))

    return stage


def _writer(table: str) -> Callable[[duckdb.DuckDBPyConnection], int]:
    stg = f"_stg_{table}"
    if table == "securities":
        return lambda con: upsert_securities(con, stg)
    if table == "calendar":
        return lambda con: insert_calendar(con, stg)
    order = {"bars": "date, code", "index_bars": "date, index_code"}.get(table)
    return lambda con: replace_rows(con, table, stg, order_by=order)


def _derived_from_bars(
    f: _Folder, bars: Path, securities: Path | None, calendar: bool
) -> list[_Item]:
    """Securities rows for bar codes no securities row covers; the calendar if none given."""
    stage_bars = _stager(f, "bars", bars)

    def validate() -> None:
        stage_bars()
        known = "SELECT code FROM securities"
        if securities is not None:
            _stager(f, "securities", securities)()
            known += " UNION SELECT code FROM _stg_securities"
        bad = _first(
            f.con,
            f"SELECT count(DISTINCT code), any_value(code) FROM _stg_bars "
            f"WHERE code NOT IN ({known}) AND {board_sql('code', None)} IS NULL",
        )
        if bad and bad[0]:
            raise _fail(
                bars,
                "code",
                f"{bad[0]} code(s) have no securities row and are not A-share stock codes "
                f"(e.g. {bad[1]}); add them to securities.csv",
            )
        cal = None if calendar else _user_files(f.folder).get("calendar")
        if cal is not None:  # bars past the given calendar would be days no review can place
            _stager(f, "calendar", cal)()
            past = _first(f.con, "SELECT count(*), max(date), (SELECT max(date) FROM _stg_calendar) FROM _stg_bars "
                                 "WHERE date > (SELECT max(date) FROM _stg_calendar)")
            if past and past[0]:
                raise _fail(bars, "date", f"{past[0]:,} row(s) dated after the last day of {cal.name} "
                                          f"({past[2]}; latest bar {past[1]})")

    def write(con: duckdb.DuckDBPyConnection) -> int:
        rel = f.temp_table(
            "_derived_securities",
            f"SELECT code, {exchange_sql('code')} AS exchange, {board_sql('code', None)} AS board, "
            "NULL::VARCHAR AS name, min(date) AS list_date, NULL::DATE AS delist_date "
            "FROM _stg_bars WHERE code NOT IN (SELECT code FROM securities) GROUP BY code",
        )
        n = _count(con, rel)
        if not n:
            return 0
        f.summary.warnings.append(
            f"{n:,} securities rows derived from {bars.name} (exchange and board from the code "
            "prefix, list_date = first bar: an estimate)"
        )
        return upsert_securities(con, rel)

    items = [_Item("securities", (bars,), f"securities <- {bars.name} (derived)", validate, write)]
    if calendar:
        items.append(
            _Item(
                "calendar",
                (bars,),
                f"calendar <- {bars.name} (derived)",
                stage_bars,
                lambda con: insert_calendar(con, "_stg_bars"),
            )
        )
    return items


# --------------------------------------------------------------------------------------
# ST status inferred from the bars (the real dataset has no status history)

INFERRED_STATUS_LABEL = (
    f"status <- bars (ST inferred from {st_inference.ST_LIMIT_PCT}% price limits, "
    f"{st_inference.MIN_LIMIT_CLOSES}+ limit closes)"
)


def _inferred_status_item(f: _Folder, bars: Path) -> _Item:
    """Write inferred ST intervals into `status`, unless it holds data from another source.

    Runs after bars and securities are written (it reads them from the store), in SQL.
    """

    def write(con: duckdb.DuckDBPyConnection) -> int:
        existing = _count(con, "status")
        if existing and not st_inference.status_is_inferred(f.store.meta):
            f.summary.notes.append(
                f"status already holds {existing:,} rows from another source: ST status is not "
                "inferred from the price limits"
            )
            return 0
        if existing:
            st_inference.clear_inferred(con)
        n = st_inference.write_inferred(con)
        f.store.set_meta(
            status_source=st_inference.STATUS_SOURCE,
            status_inferred_boards=",".join(st_inference.ST_LIMIT_BOARDS),
        )
        f.summary.warnings.append(
            f"ST status inferred from the {st_inference.ST_LIMIT_PCT}% price limits of main-board "
            f"bars: {n:,} intervals written to status as 'ST' (meta status_source; ChiNext, STAR "
            "and BSE ST stocks and delisting arrangements cannot be inferred)"
        )
        return n

    return _Item("status", (bars,), INFERRED_STATUS_LABEL, lambda: None, write)


def _drop_inferred_status(store: Store, source: str, summary: IngestSummary) -> None:
    """infer_st=False on a store holding inferred rows: remove them (and their log entry)."""
    if not st_inference.status_is_inferred(store.meta):
        return
    with store.transaction() as con:
        n = st_inference.clear_inferred(con)
        con.execute("DELETE FROM meta WHERE key IN ('status_source', 'status_inferred_boards')")
        con.execute(
            "DELETE FROM ingest_log WHERE source = ? AND starts_with(item, ?)",
            [source, INFERRED_STATUS_LABEL],
        )
    summary.notes.append(f"removed {n:,} inferred ST intervals from status (infer_st off)")


# --------------------------------------------------------------------------------------
# entry point


def ingest_files(
    store: Store,
    folder: Path,
    progress: Progress | None = None,
    *,
    force: bool = False,
    infer_st: bool | None = None,
) -> IngestSummary:
    """Load `folder` (the shared real dataset or store-layout files) into `store`.

    Each table is written in one transaction and logged in ingest_log with the input's
    fingerprint; items already loaded from unchanged files are skipped unless `force`.

    `infer_st`: write ST intervals inferred from the main boards' 5% price limits into
    `status` (see `st_inference`). None (default): on for the real dataset's layout, off for
    the store's layout (whose folder may carry a status file); a status file or status rows
    from another source always win. False also removes inferred rows an earlier run wrote.
    """
    t0 = time.perf_counter()
    folder = Path(folder).expanduser()
    layout = detect_layout(folder)
    resolved = folder.resolve()
    label = f"shared/realdata ({resolved})" if layout == "realdata" else f"files ({resolved})"
    summary = IngestSummary(source=label)
    if store.read_only:
        raise StoreError(f"store {store.path} is open read-only")
    refuse_synthetic(store)
    f = _Folder(store, folder, summary)
    source = f"files:{resolved}"
    # DuckDB would draw its own progress bar on stdout for long statements
    store.con.execute("SET enable_progress_bar = false")
    try:
        items = _realdata_items(f) if layout == "realdata" else _store_items(f)
        infer = (layout == "realdata") if infer_st is None else infer_st
        bars_path = (
            folder / "bars.parquet" if layout == "realdata" else _user_files(folder).get("bars")
        )
        if infer and bars_path is not None:
            if layout == "store" and "status" in _user_files(folder):
                summary.notes.append("the folder has a status file: ST status is not inferred")
            else:
                items.append(_inferred_status_item(f, bars_path))
        elif infer_st is False:
            _drop_inferred_status(store, source, summary)
        if layout == "store":
            stray = unrecognised_files(folder, USER_TABLES)
            if stray:
                summary.notes.append(
                    f"not loaded, named after no table: {', '.join(stray)} (expected names: "
                    f"{', '.join(USER_TABLES)}, each .csv or .parquet)"
                )
        if layout == "realdata":
            others = [t for t, pth in _user_files(folder).items() if pth.name not in REALDATA_FILES]
            if others:
                summary.warnings.append(
                    f"ignored files in the realdata folder: {', '.join(others)}"
                )
        todo: list[tuple[_Item, str]] = []
        for it in items:
            key = f"{it.label} [{fingerprint(it.paths) or 'builtin'}]"
            if not force and already_loaded(store.con, source, key):
                summary.skipped.append(it.label)
            else:
                todo.append((it, key))
        # validate everything before writing anything
        for i, (it, _key) in enumerate(todo):
            if progress:
                progress(f"checking {it.label}", i, len(todo) * 2)
            it.validate()
        for i, (it, key) in enumerate(todo):
            if progress:
                progress(f"writing {it.label}", len(todo) + i, len(todo) * 2)
            try:
                with store.transaction() as con:
                    n = it.write(con)
                    log_item(con, source, key, n)
            except IndexReconError:
                raise
            except duckdb.Error as e:
                raise StoreError(
                    f"writing {it.table} from {it.label} failed: {str(e).splitlines()[0]}"
                ) from None
            summary.add_rows(it.table, n)
        if todo:
            note_source(store, label)
            from .. import pit_shares

            pit_shares.forget(store.con)  # shares may have changed: rebuild on the next read
        if progress:
            progress("done", len(todo) * 2, len(todo) * 2)
    finally:
        f.cleanup()
    summary.seconds = time.perf_counter() - t0
    if summary.total_rows:
        record_ingest(store, summary)
    return summary
