"""Writing akshare's frames into the store: each item in one transaction, logged.

Tables the store's schema may not have yet (``valuation``, ``index_valuation``,
``shares.a_shares``) are added
here when missing, with the definitions store.py gives them once it does.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from ...errors import StoreError
from ..store import TABLES, Store
from .akshare_source import SOURCE
from .common import TABLE_KEYS, log_item, one


def first_missing_day(store: Store, code: str, start: dt.date) -> dt.date:
    """The day to fetch a stock's bars from: after its last bar and after ranges already
    fetched from `start` on (a suspended stock returns no rows, but was still fetched)."""
    first = start
    row = one(store.con, "SELECT max(date) FROM bars WHERE code = ?", [code])
    if row and row[0] is not None:
        first = max(first, row[0] + dt.timedelta(days=1))
    items = store.con.execute(
        "SELECT item FROM ingest_log WHERE source = ? AND item LIKE ?", [SOURCE, f"bars {code} %"]
    ).fetchall()
    for (item,) in items:
        lo, _, hi = item.split(" ")[2].partition("..")
        if dt.date.fromisoformat(lo) <= first:
            first = max(first, dt.date.fromisoformat(hi) + dt.timedelta(days=1))
    return first


def update_status(store: Store, current: dict[str, str], codes: set[str], today: dt.date) -> int:
    """Extend an ST history from today's snapshot: open new intervals, close ended ones."""
    con = store.con
    open_rows = con.execute(
        "SELECT code, status FROM status WHERE end_date IS NULL AND status IN ('ST', '*ST')"
    ).fetchall()
    open_now = {(c, s) for c, s in open_rows if c in codes}
    yesterday = today - dt.timedelta(days=1)
    n = 0
    with store.transaction() as c:
        for code, status in open_now:
            if current.get(code) != status:
                c.execute(
                    "UPDATE status SET end_date = ? WHERE code = ? AND status = ? "
                    "AND end_date IS NULL AND start_date <= ?",
                    [yesterday, code, status, yesterday],
                )
                c.execute(
                    "DELETE FROM status WHERE code = ? AND status = ? AND end_date IS NULL",
                    [code, status],
                )
                n += 1
        for code, status in sorted(current.items()):
            if code in codes and (code, status) not in open_now:
                c.execute("INSERT INTO status VALUES (?, ?, NULL, ?)", [code, today, status])
                n += 1
        log_item(c, SOURCE, f"status snapshot {today}", n)
    return n


# Until store.py defines them (the same names and types, so a merge is a no-op).
VALUATION_DDL = "code VARCHAR NOT NULL, date DATE NOT NULL, pe_ttm DOUBLE, pb DOUBLE"


def ensure_schema(store: Store) -> list[str]:
    """Add the valuation and index_valuation tables and shares.a_shares when the store lacks
    them; what was added."""
    added = []
    try:
        with store.transaction() as c:
            if not store.has_table("valuation"):
                ddl = TABLES["valuation"][0] if "valuation" in TABLES else VALUATION_DDL
                c.execute(f"CREATE TABLE valuation ({ddl})")
                added.append("table valuation")
            if not store.has_table("index_valuation"):
                c.execute(f"CREATE TABLE index_valuation ({TABLES['index_valuation'][0]})")
                added.append("table index_valuation")
            if "a_shares" not in _columns(c, "shares"):
                c.execute("ALTER TABLE shares ADD COLUMN a_shares DOUBLE")
                added.append("column shares.a_shares")
    except duckdb.Error as e:
        # e.g. a store whose shares table is a view over Parquet files
        raise StoreError(
            f"store {store.path}: cannot add valuation / shares.a_shares for the akshare "
            f"datasets shares and valuation: {str(e).splitlines()[0]}"
        ) from None
    return added


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
        "ORDER BY column_index",
        [table],
    ).fetchall()
    return dict(rows)


def write_frame(
    store: Store,
    table: str,
    frame: pd.DataFrame,
    item: str,
    order_by: str | None = None,
    keys: tuple[str, ...] | None = None,
) -> int:
    """Replace the rows of `table` whose `keys` (default: the table's) the frame has, by
    column name (the frame's columns the table has, cast to its types), and log `item`,
    in one transaction."""
    keys = keys or TABLE_KEYS[table]
    con = store.con
    cols = {c: t for c, t in _columns(con, table).items() if c in frame.columns}
    con.register("_ak_frame", frame)
    try:
        with store.transaction() as c:
            n = 0
            if len(frame):
                sel = ", ".join(f"CAST({k} AS {t}) AS {k}" for k, t in cols.items())
                rel = f"(SELECT {sel} FROM _ak_frame)"
                cond = " AND ".join(f"t.{k} = s.{k}" for k in keys)
                c.execute(
                    f"DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM {rel} s WHERE {cond})"
                )
                before = one(c, f"SELECT count(*) FROM {table}")
                names = ", ".join(cols)
                order = order_by or ", ".join(keys)
                c.execute(
                    f"INSERT INTO {table} ({names}) SELECT {names} FROM {rel} ORDER BY {order}"
                )
                after = one(c, f"SELECT count(*) FROM {table}")
                n = int(after[0]) - int(before[0]) if after and before else 0
            log_item(c, SOURCE, item, n)
        return n
    except duckdb.Error as e:
        raise StoreError(f"writing {table} ({item}) failed: {str(e).splitlines()[0]}") from None
    finally:
        con.unregister("_ak_frame")


def write_suspensions(store: Store, days: pd.DataFrame, item: str) -> int:
    """Merge (code, date) suspended days into the status table's `suspended` intervals.

    Days that follow each other in the trading calendar (with the stock's earlier
    intervals) form one interval; the codes' suspended intervals are rewritten whole.
    """
    con = store.con
    if days.empty:
        with store.transaction() as c:
            log_item(c, SOURCE, item, 0)
        return 0
    con.register("_ak_days", days)
    try:
        with store.transaction() as c:
            c.execute(
                """CREATE OR REPLACE TEMP TABLE _ak_susp AS
                WITH cal AS (SELECT date, row_number() OVER (ORDER BY date) AS i FROM calendar),
                codes AS (SELECT DISTINCT CAST(code AS VARCHAR) AS code FROM _ak_days),
                old AS (
                    SELECT s.code, cal.date FROM status s JOIN cal
                      ON cal.date BETWEEN s.start_date AND coalesce(s.end_date, s.start_date)
                    WHERE s.status = 'suspended' AND s.code IN (SELECT code FROM codes)),
                d AS (
                    SELECT DISTINCT x.code, cal.date, cal.i FROM (
                        SELECT CAST(code AS VARCHAR) AS code, CAST(date AS DATE) AS date FROM _ak_days
                        UNION SELECT code, date FROM old) x
                    JOIN cal USING (date))
                SELECT code, min(date) AS start_date, max(date) AS end_date
                FROM (SELECT *, i - row_number() OVER (PARTITION BY code ORDER BY date) AS g FROM d)
                GROUP BY code, g"""
            )
            c.execute(
                "DELETE FROM status WHERE status = 'suspended' "
                "AND code IN (SELECT code FROM _ak_susp)"
            )
            c.execute(
                "INSERT INTO status SELECT code, start_date, end_date, 'suspended' FROM _ak_susp "
                "ORDER BY code, start_date"
            )
            row = one(c, "SELECT count(*) FROM _ak_susp")
            c.execute("DROP TABLE _ak_susp")
            log_item(c, SOURCE, item, int(row[0]) if row else 0)
        return int(row[0]) if row else 0
    finally:
        con.unregister("_ak_days")


def write_name_status(store: Store, frame: pd.DataFrame, item: str) -> int:
    """Replace the ST / *ST / delisting history of the frame's codes by the frame's."""
    con = store.con
    con.register("_ak_ns", frame)
    try:
        with store.transaction() as c:
            c.execute(
                "DELETE FROM status WHERE status IN ('ST', '*ST', 'delisting') "
                "AND code IN (SELECT code FROM _ak_ns)"
            )
            c.execute(
                "INSERT INTO status SELECT code, CAST(start_date AS DATE), CAST(end_date AS DATE), "
                "status FROM _ak_ns ORDER BY code, start_date"
            )
            log_item(c, SOURCE, item, len(frame))
        return len(frame)
    finally:
        con.unregister("_ak_ns")
