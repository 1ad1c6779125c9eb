"""Read TDX (通达信) ``vipdoc`` day files into the store.

A ``.day`` file is a flat array of 32-byte little-endian records ``<IIIIIfII``: date
(yyyymmdd), open, high, low, close (price x 100), amount (float32, CNY), volume, reserved.
Files are named ``sh600519.day``; a ``vipdoc`` tree keeps them under ``sh/lday``,
``sz/lday`` and ``bj/lday``, but any folder (even a flat one) holding such files works.

Each file is classified by exchange and code prefix: A-share stocks go to ``bars`` (with
derived ``securities`` rows), indices to ``index_bars`` (TDX stores index volume in lots of
100, converted to shares), and funds, bonds, B shares and the rest are skipped and counted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ...errors import DataError, IndexReconError, StoreError
from ..store import Store
from .common import (
    IngestSummary,
    Progress,
    already_loaded,
    amount_unit_problem,
    board_sql,
    classify_stock,
    insert_calendar,
    log_item,
    note_source,
    one,
    record_ingest,
    refuse_synthetic,
    replace_rows,
    upsert_securities,
)

DAY_DTYPE = np.dtype(
    [
        ("date", "<u4"),
        ("open", "<u4"),
        ("high", "<u4"),
        ("low", "<u4"),
        ("close", "<u4"),
        ("amount", "<f4"),
        ("volume", "<u4"),
        ("reserved", "<u4"),
    ]
)
assert DAY_DTYPE.itemsize == 32

FILE_RE = re.compile(r"^(sh|sz|bj)(\d{6})\.day$", re.IGNORECASE)

# Index code prefixes per exchange (SH 000xxx, SZ 399xxx, BJ 899xxx). TDX's own sector
# indices (SH 880xxx) and aliases (999xxx) are not official indices and are skipped.
INDEX_PREFIXES = {"SH": ("000",), "SZ": ("399",), "BJ": ("899",)}
FUND_PREFIXES = {"SH": ("5",), "SZ": ("15", "16", "18"), "BJ": ()}
BOND_PREFIXES = {"SH": ("1", "2"), "SZ": ("10", "11", "12", "13"), "BJ": ("81", "82")}
B_SHARE_PREFIXES = {"SH": ("900",), "SZ": ("20",), "BJ": ()}


def classify(exchange: str, code: str) -> str:
    """'stock', 'index', 'fund', 'bond', 'b_share' or 'other' for a TDX file's security."""
    if classify_stock(code, exchange) is not None:
        return "stock"
    for kind, table in (
        ("index", INDEX_PREFIXES),
        ("fund", FUND_PREFIXES),
        ("b_share", B_SHARE_PREFIXES),
        ("bond", BOND_PREFIXES),
    ):
        if code.startswith(table[exchange]):
            return kind
    return "other"


def read_day_file(path: Path) -> np.ndarray:
    """The records of one .day file as a structured array (validated, no Python loop)."""
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{path}: empty file (0 bytes): not a TDX day file, or a failed download")
    if size % DAY_DTYPE.itemsize:
        raise DataError(
            f"{path}: {size} bytes is not a whole number of 32-byte TDX day records; "
            "not a .day file or truncated"
        )
    rec = np.fromfile(path, dtype=DAY_DTYPE)
    if len(rec):
        dates = rec["date"]
        bad = (dates < 19900101) | (dates > 21001231)
        if bad.any():
            raise DataError(
                f"{path}: column 'date': {int(bad.sum())} record(s) hold no yyyymmdd date "
                f"(e.g. {int(dates[bad][0])}); not a TDX day file?"
            )
    return rec


def yyyymmdd_to_date(values: np.ndarray) -> np.ndarray:
    """uint32 yyyymmdd -> datetime64[D], vectorised; raises ValueError on impossible dates."""
    v = values.astype(np.int64)
    y, m, d = v // 10000, (v // 100) % 100, v % 100
    if ((m < 1) | (m > 12) | (d < 1) | (d > 31)).any():
        raise ValueError("month or day out of range")
    months = (y - 1970) * 12 + (m - 1)
    out = months.astype("datetime64[M]").astype("datetime64[D]") + (d - 1).astype("timedelta64[D]")
    # 20240230 would roll into March: reject rather than shift it
    if (out.astype("datetime64[M]") != months.astype("datetime64[M]")).any():
        raise ValueError("day out of range for its month")
    return out


@dataclass
class _Batch:
    """Records of many files, concatenated once at the end."""

    codes: list[str]
    exchanges: list[str]
    records: list[np.ndarray]

    def add(self, code: str, exchange: str, rec: np.ndarray) -> None:
        self.codes.append(code)
        self.exchanges.append(exchange)
        self.records.append(rec)

    def table(self, volume_factor: int) -> pa.Table:
        rec = np.concatenate(self.records) if self.records else np.empty(0, DAY_DTYPE)
        lengths = [len(r) for r in self.records]
        return pa.table(
            {
                "code": pa.array(np.repeat(np.array(self.codes, dtype="<U6"), lengths)),
                "exchange": pa.array(np.repeat(np.array(self.exchanges, dtype="<U2"), lengths)),
                "date": pa.array(yyyymmdd_to_date(rec["date"])),
                # integer / 100 is correctly rounded: the same double as the decimal price
                "open": pa.array(rec["open"] / 100.0),
                "high": pa.array(rec["high"] / 100.0),
                "low": pa.array(rec["low"] / 100.0),
                "close": pa.array(rec["close"] / 100.0),
                "amount": pa.array(rec["amount"].astype(np.float64)),
                "volume": pa.array(rec["volume"].astype(np.int64) * volume_factor),
            }
        )


def find_day_files(folder: Path) -> list[tuple[Path, str, str]]:
    """(path, exchange, code) of every TDX day file under `folder` (vipdoc tree or flat)."""
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    found = []
    for p in sorted(folder.rglob("*")):
        m = FILE_RE.match(p.name)
        if m and p.is_file():
            found.append((p, m.group(1).upper(), m.group(2)))
    if not found:
        raise DataError(
            f"{folder} holds no TDX day files (sh600519.day, ... flat or under sh/lday, "
            "sz/lday, bj/lday)"
        )
    return found


def _fingerprint(files: list[tuple[Path, str, str]]) -> str:
    h = hashlib.sha1()
    for p, _, _ in files:
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def _checked_records(path: Path) -> np.ndarray:
    """One file's records, dates checked: real days, none after today."""
    rec = read_day_file(path)
    try:
        days = yyyymmdd_to_date(rec["date"])
    except ValueError as e:
        raise DataError(f"{path}: column 'date': {e}") from None
    future = int((days > np.datetime64(dt.date.today(), "D")).sum())
    if future:  # a bar from the future is a wrong date, never data
        raise DataError(f"{path}: column 'date': {future:,} record(s) dated after today ({days.max()})")
    return rec


def read_tdx(
    folder: Path, progress: Progress | None = None, *, skip_bad: bool = False
) -> tuple[pa.Table, pa.Table, Counter[str], list[str]]:
    """Stock bars, index bars (volume in shares), counts per kind, warnings.

    A bad file (empty, truncated, impossible dates) is a DataError naming it; with
    `skip_bad` it is left out and listed in the warnings instead."""
    files = find_day_files(folder)
    bad: list[str] = []
    stocks, indices = _Batch([], [], []), _Batch([], [], [])
    kinds: Counter[str] = Counter()
    warnings: list[str] = []
    zero_volume = duplicates = 0
    for i, (path, exchange, code) in enumerate(files):
        if progress and i % 200 == 0:
            progress(f"reading {path.name}", i, len(files))
        kind = classify(exchange, code)
        kinds[kind] += 1
        if kind not in ("stock", "index"):
            continue
        try:
            rec = _checked_records(path)
        except DataError as e:
            if not skip_bad:
                raise DataError(f"{e}; skip_bad=True (CLI: --skip-bad) leaves bad files out") from None
            bad.append(str(e).removeprefix(f"{path}: "))
            bad[-1] = f"{path.name} ({bad[-1]})"
            continue
        # keep the last record of a repeated date (a re-downloaded day)
        _, last = np.unique(rec["date"][::-1], return_index=True)
        if len(last) != len(rec):
            duplicates += len(rec) - len(last)
            rec = rec[len(rec) - 1 - last]
        rec = rec[np.argsort(rec["date"], kind="stable")]
        if kind == "stock":
            traded = rec["volume"] > 0
            zero_volume += int((~traded).sum())
            stocks.add(code, exchange, rec[traded])
        else:
            indices.add(code, exchange, rec)
    if bad:
        warnings.append(f"skipped {len(bad)} bad file(s) (skip_bad): {'; '.join(bad[:10])}"
                        + (f"; ... {len(bad) - 10} more" if len(bad) > 10 else ""))
    if duplicates:
        warnings.append(f"{duplicates:,} repeated dates in day files; kept the last record")
    if zero_volume:
        warnings.append(f"{zero_volume:,} stock records with zero volume dropped (no trade)")
    skipped = {k: n for k, n in kinds.items() if k not in ("stock", "index")}
    if skipped:
        warnings.append(
            "skipped files: " + ", ".join(f"{n:,} {k}" for k, n in sorted(skipped.items()))
        )
    # TDX stores index volume in lots of 100 shares
    return stocks.table(1), indices.table(100), kinds, warnings


def ingest_tdx(
    store: Store,
    vipdoc_dir: Path,
    progress: Progress | None = None,
    *,
    force: bool = False,
    skip_bad: bool = False,
) -> IngestSummary:
    """Load a TDX vipdoc folder: stocks -> bars (+ securities, calendar), indices -> index_bars.

    Each table is one transaction, logged in ingest_log with the files' fingerprint; a rerun
    over unchanged files skips them unless `force`. A bad file stops the ingest naming it
    unless `skip_bad`, which leaves it out and lists it in the summary's warnings.
    """
    t0 = time.perf_counter()
    folder = Path(vipdoc_dir).expanduser()
    resolved = folder.resolve()
    summary = IngestSummary(source=f"tdx ({resolved})")
    if store.read_only:
        raise StoreError(f"store {store.path} is open read-only")
    refuse_synthetic(store)
    files = find_day_files(folder)
    source = f"tdx:{resolved}"
    fp = _fingerprint(files)
    items = ["bars", "securities", "calendar", "index_bars"]
    todo = [t for t in items if force or not already_loaded(store.con, source, f"{t} [{fp}]")]
    summary.skipped += [f"{t} <- day files" for t in items if t not in todo]
    if not todo:
        summary.seconds = time.perf_counter() - t0
        return summary

    stocks, indices, kinds, warnings = read_tdx(folder, progress, skip_bad=skip_bad)
    summary.warnings += warnings
    summary.notes.append("files read: " + ", ".join(f"{n:,} {k}" for k, n in sorted(kinds.items())))
    con = store.con
    con.execute("SET enable_progress_bar = false")
    con.register("_tdx_stocks", stocks)
    con.register("_tdx_indices", indices)
    try:
        _validate(con, "_tdx_stocks")
        writers = {
            "bars": lambda c: replace_rows(
                c,
                "bars",
                "_tdx_stocks",
                ["code", "date", "open", "high", "low", "close", "amount", "volume"],
                order_by="date, code",
            ),
            "securities": lambda c: _write_securities(c, summary),
            "calendar": lambda c: insert_calendar(c, "_tdx_stocks"),
            "index_bars": lambda c: replace_rows(
                c,
                "index_bars",
                "(SELECT code AS index_code, date, open, high, low, close, amount, volume "
                "FROM _tdx_indices)",
                order_by="date, index_code",
            ),
        }
        for i, table in enumerate(todo):
            if progress:
                progress(f"writing {table}", i, len(todo))
            try:
                with store.transaction() as c:
                    n = writers[table](c)
                    log_item(c, source, f"{table} [{fp}]", n)
            except IndexReconError:
                raise
            except duckdb.Error as e:
                raise StoreError(
                    f"writing {table} from {resolved} failed: {str(e).splitlines()[0]}"
                ) from None
            summary.add_rows(table, n)
        note_source(store, f"tdx ({resolved})")
        if progress:
            progress("done", len(todo), len(todo))
    finally:
        con.unregister("_tdx_stocks")
        con.unregister("_tdx_indices")
    summary.seconds = time.perf_counter() - t0
    record_ingest(store, summary)
    return summary


def _validate(con: duckdb.DuckDBPyConnection, relation: str) -> None:
    """Prices positive and consistent, and units right (a misread file shows up here)."""
    row = one(
        con,
        "SELECT count(*) FILTER (WHERE close <= 0 OR open <= 0 OR low <= 0), "
        "count(*) FILTER (WHERE high < low), any_value(code) FILTER (WHERE close <= 0 OR "
        "high < low), median(amount / (volume * close)) FILTER (WHERE volume > 0 AND "
        f"amount > 0 AND close > 0), median(close) FROM {relation}",
    )
    if not row:
        return
    if row[0]:
        raise DataError(
            f"TDX day files: column 'close': {row[0]:,} records with a zero or "
            f"negative price (e.g. {row[2]})"
        )
    if row[1]:
        raise DataError(
            f"TDX day files: column 'high': {row[1]:,} records with high below low (e.g. {row[2]})"
        )
    problem = amount_unit_problem(row[3], row[4])
    if problem:
        raise DataError(f"TDX day files: column '{problem[0]}': {problem[1]}")


def _write_securities(con: duckdb.DuckDBPyConnection, summary: IngestSummary) -> int:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _tdx_securities AS SELECT code, any_value(exchange) AS "
        f"exchange, any_value({board_sql('code', 'exchange')}) AS board, NULL::VARCHAR AS name, "
        "min(date) AS list_date, NULL::DATE AS delist_date FROM _tdx_stocks GROUP BY code"
    )
    try:
        row = one(
            con,
            "SELECT min(list_date), count(*) FILTER (WHERE list_date = "
            "(SELECT min(list_date) FROM _tdx_securities)), count(*) FROM _tdx_securities",
        )
        # A snapshot that starts after most listings shows many stocks "listing" on its
        # first day: their list_date is only an upper bound.
        if row and row[2] > 1 and row[1] > 1:
            summary.warnings.append(
                f"list_date is the first bar in the files: {row[1]:,} stocks start on "
                f"{row[0]}, the earliest day in the files, so they may have listed earlier"
            )
        return upsert_securities(con, "_tdx_securities")
    finally:
        con.execute("DROP TABLE IF EXISTS _tdx_securities")
