"""The DuckDB store: one database file holding the universe, point in time.

The schema below is the contract between the sources (which write it) and the engine
(which only reads it). Units: prices in CNY (raw, unadjusted), amount in CNY, volume and
shares in shares, weights as fractions summing to 1.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ..errors import StoreError

BOARDS = ("sh_main", "sz_main", "chinext", "star", "bse")
BOARD_LABELS = {
    "sh_main": "SH Main",
    "sz_main": "SZ Main",
    "chinext": "ChiNext",
    "star": "STAR",
    "bse": "BSE",
}
STATUSES = ("ST", "*ST", "delisting", "suspended")

# One entry per table: (DDL body, description for the README / `indexrecon store-schema`).
TABLES: dict[str, tuple[str, str]] = {
    "meta": (
        "key VARCHAR PRIMARY KEY, value VARCHAR",
        "store metadata: synthetic (true/false), source, created_at, schema_version",
    ),
    "securities": (
        "code VARCHAR PRIMARY KEY, exchange VARCHAR NOT NULL, board VARCHAR NOT NULL, "
        "name VARCHAR, list_date DATE, delist_date DATE",
        "one row per stock; exchange SH/SZ/BJ; board sh_main/sz_main/chinext/star/bse",
    ),
    "bars": (
        "code VARCHAR NOT NULL, date DATE NOT NULL, open DOUBLE, high DOUBLE, low DOUBLE, "
        "close DOUBLE NOT NULL, amount DOUBLE, volume BIGINT",
        "raw daily bars; no row on days a stock did not trade; amount CNY, volume shares",
    ),
    "shares": (
        "code VARCHAR NOT NULL, effective_date DATE NOT NULL, total_shares DOUBLE NOT NULL, "
        "float_shares DOUBLE, free_float_shares DOUBLE, source VARCHAR, a_shares DOUBLE",
        "share capital change points and observations; a row holds from effective_date to the "
        "next row; float, free-float and A-share counts may be sparse (NULL where not observed: "
        "the view shares_pit carries the last observed ratios, see pit_shares)",
    ),
    "status": (
        "code VARCHAR NOT NULL, start_date DATE NOT NULL, end_date DATE, status VARCHAR NOT NULL",
        "status intervals (ST, *ST, delisting, suspended); end_date inclusive, NULL = open",
    ),
    "industry": (
        "code VARCHAR NOT NULL, start_date DATE NOT NULL, end_date DATE, "
        "sw_l1_code VARCHAR, sw_l1_name VARCHAR, sw_l1_name_en VARCHAR, "
        "sw_l2_code VARCHAR, sw_l2_name VARCHAR, sw_l2_name_en VARCHAR, sw_l3_code VARCHAR",
        "Shenwan (SW2021) classification intervals; end_date inclusive, NULL = current",
    ),
    "index_bars": (
        "index_code VARCHAR NOT NULL, date DATE NOT NULL, open DOUBLE, high DOUBLE, "
        "low DOUBLE, close DOUBLE NOT NULL, amount DOUBLE, volume BIGINT",
        "official index levels",
    ),
    "official_weights": (
        "index_code VARCHAR NOT NULL, trade_date DATE NOT NULL, code VARCHAR NOT NULL, "
        "weight DOUBLE NOT NULL",
        "official constituent weight snapshots; weight is a fraction (sums to 1 per date)",
    ),
    "index_membership": (
        "index_code VARCHAR NOT NULL, code VARCHAR NOT NULL, start_date DATE NOT NULL, "
        "end_date DATE",
        "official membership intervals; end_date inclusive, NULL = current",
    ),
    "code_changes": (
        "old_code VARCHAR NOT NULL, new_code VARCHAR NOT NULL, change_date DATE NOT NULL",
        "code changes (e.g. 300114 -> 302132); history is keyed by new_code",
    ),
    "dividends": (
        "code VARCHAR NOT NULL, ex_date DATE NOT NULL, cash_per_share DOUBLE NOT NULL",
        "cash dividends per share (CNY, pre-tax) on the ex-date",
    ),
    "valuation": (
        "code VARCHAR NOT NULL, date DATE NOT NULL, pe_ttm DOUBLE, pb DOUBLE",
        "valuation snapshots: PE (TTM) and PB as the provider gives them (NULL where it has none)",
    ),
    "index_valuation": (
        "index_code VARCHAR NOT NULL, date DATE NOT NULL, pe_ttm DOUBLE, pb DOUBLE, "
        "source VARCHAR NOT NULL",
        "an index's own published PE (TTM) and PB by date and provider (NULL where it has none)",
    ),
    "dual_listings": (
        "code VARCHAR NOT NULL, h_code VARCHAR, h_list_date DATE",
        "A-share companies that also have H shares; h_list_date NULL = before the data",
    ),
    "name_history": (
        "code VARCHAR NOT NULL, date DATE NOT NULL, name VARCHAR NOT NULL, is_st BOOLEAN",
        "stock names observed on a date (is_st: the name starts with ST / *ST)",
    ),
    "calendar": ("date DATE PRIMARY KEY", "trading days of the market"),
    "ingest_log": (
        "source VARCHAR NOT NULL, item VARCHAR NOT NULL, rows BIGINT, loaded_at TIMESTAMP",
        "what each ingest wrote, batch by batch; lets a rerun resume where it stopped",
    ),
}

SCHEMA_VERSION = "2"
# Columns added after a table's first version: a store opened for writing gains them (older
# stores opened read-only still work: readers treat a missing column as NULL).
ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {"shares": (("a_shares", "DOUBLE"),)}


def _ddl_columns(ddl: str) -> list[dict[str, object]]:
    """(name, type, not null) of each column of a TABLES DDL body."""
    out: list[dict[str, object]] = []
    for part in ddl.split(","):
        words = part.split()
        if len(words) >= 2 and words[0].isidentifier():
            out.append({"name": words[0], "type": words[1], "not_null": "NOT NULL" in part or "PRIMARY KEY" in part})
    return out


def describe_schema(store: Store | None = None) -> list[dict[str, object]]:
    """The tables and columns of the store schema (`indexrecon store-schema`); with `store`,
    the columns, types and row counts of that store's tables as they are, contract tables it
    lacks marked `missing`, and any extra tables after them."""
    if store is None:
        return [{"table": t, "description": d, "columns": _ddl_columns(ddl)} for t, (ddl, d) in TABLES.items()]
    cols = store.con.execute(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall()
    have: dict[str, list[dict[str, object]]] = {}
    for table, name, typ, nullable in cols:
        have.setdefault(table, []).append({"name": name, "type": typ, "not_null": nullable == "NO"})
    out: list[dict[str, object]] = []
    for t in [*TABLES, *sorted(set(have) - set(TABLES))]:
        desc = TABLES[t][1] if t in TABLES else "not part of the indexrecon schema"
        if t in have:
            out.append({"table": t, "description": desc, "rows": store.row_count(t), "columns": have[t]})
        else:
            out.append({"table": t, "description": desc, "missing": True, "columns": _ddl_columns(TABLES[t][0])})
    return out


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table that does not exist yet (idempotent, in one transaction)."""
    con.execute("BEGIN TRANSACTION")
    for name, (ddl, _) in TABLES.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({ddl})")
    base = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'").fetchall()}
    for name, cols in ADDED_COLUMNS.items():
        for col, typ in cols:
            if name in base:  # a table that is a view over files keeps its own columns
                con.execute(f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS {col} {typ}")
    con.execute(
        "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [SCHEMA_VERSION],
    )
    con.execute("COMMIT")


def _create_atomically(path: Path) -> None:
    """A new store appears whole or not at all: built beside its path, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        con = duckdb.connect(str(tmp))
        create_schema(con)
        con.close()
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)


def default_store_path() -> Path | None:
    """The store named by INDEXRECON_STORE, or None for the embedded demo store."""
    env = os.environ.get("INDEXRECON_STORE")
    return Path(env) if env else None


@dataclass
class Store:
    """An open store. `con` is a DuckDB connection; the engine only reads through it."""

    path: Path
    con: duckdb.DuckDBPyConnection
    read_only: bool = True
    _meta: dict[str, str] = field(default_factory=dict)

    # -- metadata -----------------------------------------------------------------
    @property
    def meta(self) -> dict[str, str]:
        if not self._meta:
            self._meta = dict(self.con.execute("SELECT key, value FROM meta").fetchall())
        return self._meta

    @property
    def synthetic(self) -> bool:
        return self.meta.get("synthetic", "false") == "true"

    @property
    def label(self) -> str:
        kind = "SYNTHETIC demo data" if self.synthetic else "market data"
        return f"{kind} ({self.meta.get('source', self.path.name)})"

    # -- introspection --------------------------------------------------------------
    def has_table(self, name: str) -> bool:
        row = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchone()
        return bool(row and row[0])

    def require(self, *tables: str) -> None:
        missing = [t for t in tables if not self.has_table(t)]
        if missing:
            raise StoreError(f"store {self.path} has no table {', '.join(missing)}")

    def row_count(self, table: str) -> int:
        self.require(table)
        row = self.con.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0

    def date_range(self) -> tuple[dt.date, dt.date]:
        """First and last trading day in the store."""
        row = self.con.execute("SELECT min(date), max(date) FROM calendar").fetchone()
        if not row or row[0] is None:
            row = self.con.execute("SELECT min(date), max(date) FROM bars").fetchone()
        if not row or row[0] is None:
            raise StoreError(f"store {self.path} holds no daily bars; ingest data first")
        return row[0], row[1]

    def trading_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        rows = self.con.execute(
            "SELECT date FROM calendar WHERE date BETWEEN ? AND ? ORDER BY date", [start, end]
        ).fetchall()
        return [r[0] for r in rows]

    # -- writing --------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing write: either every statement inside lands, or none does."""
        if self.read_only:
            raise StoreError(f"store {self.path} is open read-only")
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")
        self._meta = {}

    def set_meta(self, **values: str) -> None:
        for k, v in values.items():
            self.con.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [k, v],
            )
        self._meta = {}

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_config() -> dict[str, str | bool]:
    """Settings of a read-only store connection, which is where methodologies run: no file,
    network or extension access (methodologies are data, never code), bounded memory."""
    return {
        "enable_external_access": False,
        "memory_limit": os.environ.get("INDEXRECON_MEMORY_LIMIT", "3GB"),
    }


def _busy_message(path: Path, msg: str, read_only: bool) -> str:
    """Who holds the lock: readers share it, so a reader is only ever blocked by a writer,
    while a writer is blocked by any open connection, reader or writer."""
    import re

    m = re.search(r"held in (.+?) \(PID (\d+)\)", msg)
    who = f"process {m.group(2)} ({Path(m.group(1)).name})" if m else "another process"
    if read_only:
        return f"store {path} is busy: {who} is writing to it; try again when it finishes"
    return (f"store {path} is busy: {who} has it open (reading or writing); "
            "writing needs it alone: try again when that process ends")


def connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file, translating lock and corruption errors into one-line errors."""
    try:
        if read_only:
            dirs = [d for d in os.environ.get("INDEXRECON_ALLOWED_DIRS", "").split(os.pathsep) if d]
            if dirs:
                # a store whose big tables are views over Parquet (a data lake) may read
                # exactly those directories: allowed_directories has to be set before
                # external access is switched off, and neither can be changed afterwards
                config = {k: v for k, v in read_config().items() if k != "enable_external_access"}
                con = duckdb.connect(str(path), read_only=True, config=config)
                con.execute("SET allowed_directories = $d", {"d": dirs})
                con.execute("SET enable_external_access = false")
            else:
                con = duckdb.connect(str(path), read_only=True, config=read_config())
        else:
            con = duckdb.connect(str(path), read_only=False)
        # DuckDB's own progress bar would interleave with our output (and JSON on stdout)
        con.execute("SET enable_progress_bar = false")
        return con
    except duckdb.IOException as e:
        msg = str(e)
        if "lock" in msg.lower():
            raise StoreError(_busy_message(path, msg, read_only)) from None
        raise StoreError(f"cannot open store {path}: {msg.splitlines()[0]}") from None
    except duckdb.Error as e:
        raise StoreError(f"cannot open store {path}: {str(e).splitlines()[0]}") from None


def is_duckdb_file(path: Path) -> bool:
    """Whether `path` starts like a DuckDB database (its magic bytes follow an 8-byte checksum);
    DuckDB itself would open a Parquet file as a read-only view, or fail with a riddle."""
    try:
        with open(path, "rb") as fh:
            return fh.read(12)[8:12] == b"DUCK"
    except OSError:
        return False


def peek_meta(path: Path) -> dict[str, str]:
    """A store's meta table read without opening it for writing ({} if it has none)."""
    if not path.is_file() or not is_duckdb_file(path):
        return {}
    con = connect(path, read_only=True)
    try:
        return dict(con.execute("SELECT key, value FROM meta").fetchall())
    except duckdb.Error:
        return {}
    finally:
        con.close()


def open_path(path: str | os.PathLike[str], *, read_only: bool = True) -> Store:
    """Open the store file at `path` (`open.open_store` also finds the default store).

    A store opened for writing is created (with the schema) if it does not exist.
    """
    p = Path(path).expanduser()
    if read_only and not p.exists():
        raise StoreError(f"store {p} does not exist (create it with `indexrecon ingest ...`)")
    if p.is_dir():
        raise StoreError(f"store {p} is a folder, not a DuckDB store file")
    if p.exists() and not is_duckdb_file(p):
        raise StoreError(f"{p} is not a DuckDB store (an indexrecon store is a .duckdb file made by `indexrecon ingest`)")
    if not read_only and not p.exists():
        _create_atomically(p)
    con = connect(p, read_only=read_only)
    store = Store(path=p, con=con, read_only=read_only)
    if not read_only:
        create_schema(con)
    elif not store.has_table("meta"):
        con.close()
        raise StoreError(f"{p} is not an indexrecon store (no meta table)")
    return store
