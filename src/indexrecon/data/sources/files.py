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

import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from ...errors import DataError, IndexReconError, StoreError
from ..store import BOARDS, STATUSES, Store
from . import st_inference
from .common import (
    CODE_COLUMNS,
    REALDATA_FILES,
    REALDATA_ONLY_FILES,
    USER_TABLES,
    IngestSummary,
    Progress,
    _count,
    _first,
    already_loaded,
    board_sql,
    exchange_sql,
    fingerprint,
    insert_calendar,
    log_item,
    note_source,
    record_ingest,
    refuse_synthetic,
    replace_rows,
    sql_str,
    table_columns,
    upsert_securities,
)
from .file_checks import unrecognised_files
from .folder import (
    _check_bars,
    _check_codes,
    _check_intervals,
    _check_shares,
    _fail,
    _Folder,
    _Item,
)
from .realdata import _check_index_bars, _realdata_items


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
