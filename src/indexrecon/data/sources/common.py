"""What every source shares: the stock universe by code prefix, the ingest summary and log, SQL helpers, unit checks."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ...errors import StoreError
from ..store import TABLES, Store

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


