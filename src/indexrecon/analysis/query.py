"""Small helpers for querying the store from the analysis modules: one thread for a block, the
first row of a query, a DataFrame registered or read with DATE columns as datetime.date."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pandas as pd

from ..data.store import Store


@contextlib.contextmanager
def single_threaded(store: Store) -> Iterator[None]:
    """Run a block with DuckDB on one thread, restoring the setting afterwards (a daily
    chain's many small reviews: parallel operators cost more than they save on one day's
    data). Where the connection refuses the setting the block runs as it is: only speed
    depends on it."""
    rows = store.con.execute("SELECT current_setting('threads')").fetchall()
    before = int(rows[0][0]) if rows else None
    try:
        store.con.execute("SET threads = 1")
    except Exception:  # a setting the connection may not allow; run as is
        before = None
    try:
        yield
    finally:
        if before is not None:
            store.con.execute(f"SET threads = {before}")

def _one(store: Store, sql: str, params: Any = None) -> tuple[Any, ...] | None:
    """The first row of a query, with the result fully consumed (DuckDB 2 refuses other work
    on a connection while a result is pending)."""
    rows = store.con.execute(sql, params).fetchall() if params is not None else store.con.execute(sql).fetchall()
    return rows[0] if rows else None


def _register(store: Store, name: str, df: pd.DataFrame) -> None:
    """con.register, after finishing any pending result on the connection."""
    store.con.execute("SELECT 1").fetchall()
    store.con.register(name, df)


def _q(store: Store, sql: str, params: Any = None) -> pd.DataFrame:
    """A query as a DataFrame with DATE columns as datetime.date (not pandas timestamps)."""
    df = store.con.execute(sql, params).df() if params is not None else store.con.execute(sql).df()
    for col in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[col]):
            df[col] = df[col].dt.date
    return df
