"""Market and index analytics: breadth, limit closes, N-day moves, comparisons, event windows,
coverage on a date and valuation. Each is SQL over the store, bounded by the dates asked for;
price limits come from `market_rules` (the one place they are written)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from . import market_rules
from .errors import IndexReconError, StoreError
from .store import BOARDS, Store

# Trading days scanned before the day asked for, for streaks of limit closes; a streak that
# reaches the scan's start makes the scan go back further, up to the data's first day.
STREAK_SCAN_DAYS = 30


@dataclass
class MarketResult:
    """A result: the rows, the JSON payload, and what it rests on."""

    payload: dict[str, Any]
    frame: Any  # pandas DataFrame of the table / csv
    warnings: list[str] = field(default_factory=list)
    synthetic: bool = False


def _calendar_bounds(store: Store) -> tuple[dt.date, dt.date]:
    store.require("calendar", "bars", "securities")
    return store.date_range()


def trading_day(store: Store, d: dt.date | None, what: str = "--date") -> dt.date:
    """`d` (default: the store's last day) if it is a trading day of the store, else an error
    naming the nearest trading day before it."""
    first, last = _calendar_bounds(store)
    if d is None:
        return last
    if d < first or d > last:
        raise StoreError(f"{what} {d} is outside the store's data ({first} .. {last})")
    row = store.con.execute("SELECT max(date) FROM calendar WHERE date <= ?", [d]).fetchone()
    prev = row[0] if row else None
    if prev != d:
        raise StoreError(f"{what} {d} is not a trading day in the store (the last one before it: {prev})")
    return d


def _shift(store: Store, d: dt.date, n: int) -> dt.date:
    """The trading day n days before d (or the first day of the data)."""
    row = store.con.execute(
        "SELECT coalesce(min(date), (SELECT min(date) FROM calendar)) FROM "
        "(SELECT date FROM calendar WHERE date <= ? ORDER BY date DESC LIMIT ?)", [d, n + 1]
    ).fetchone()
    assert row is not None
    return row[0]


# ---------------------------------------------------------------------------------------
# Breadth
# ---------------------------------------------------------------------------------------
BREADTH_KEYS = ("traded", "up", "down", "flat", "limit_up", "limit_down", "amount")


def breadth(store: Store, date: dt.date | None = None, *, start: dt.date | None = None,
            end: dt.date | None = None) -> MarketResult:
    """Per board and in total, on `date` (default: the last day) or per day from `start` to
    `end` (default: the last day): stocks that traded, rose, fell, were flat, closed at the
    limit up / down, and the turnover (CNY). A listing day with no previous close counts as
    traded only."""
    if start is None:
        end = start = trading_day(store, date)
    else:
        start = trading_day(store, start, "--start")
        end = trading_day(store, end, "--end")
    if start > end:
        raise IndexReconError(f"--start {start} is after --end {end}")
    sql = f"""
    SELECT date, coalesce(board, 'total') AS board, count(*) AS traded,
           count(*) FILTER (WHERE dir > 0) AS up, count(*) FILTER (WHERE dir < 0) AS down,
           count(*) FILTER (WHERE dir = 0) AS flat, count(*) FILTER (WHERE at_up) AS limit_up,
           count(*) FILTER (WHERE at_down) AS limit_down, sum(amount) AS amount
    FROM ({market_rules.market_days_sql(store)})
    GROUP BY GROUPING SETS ((date, board), (date))
    """
    df = store.con.execute(sql, {"scan_lo": start, "hi": end}).df()
    order = {b: i for i, b in enumerate((*BOARDS, "total"))}
    df["date"] = df["date"].dt.date
    df["_o"] = df["board"].map(order)
    df = df.sort_values(["date", "_o"]).drop(columns="_o").reset_index(drop=True)
    for c in BREADTH_KEYS[:-1]:
        df[c] = df[c].astype(int)

    def block(sub: Any) -> dict[str, Any]:
        rows = sub.to_dict("records")
        boards = [{"board": r["board"], **{k: r[k] for k in BREADTH_KEYS}} for r in rows if r["board"] != "total"]
        total = next(({k: r[k] for k in BREADTH_KEYS} for r in rows if r["board"] == "total"), None)
        return {"boards": boards, "total": total}

    warnings = market_rules.warnings(store)
    if start == end:
        payload: dict[str, Any] = {"date": end.isoformat(), **block(df)}
    else:
        payload = {"start": start.isoformat(), "end": end.isoformat(),
                   "days": [{"date": d.isoformat(), **block(g)} for d, g in df.groupby("date", sort=True)]}
    payload["warnings"] = warnings
    return MarketResult(payload, df, warnings, store.synthetic)


# ---------------------------------------------------------------------------------------
# Limit closes
# ---------------------------------------------------------------------------------------
LIMIT_KEYS = ("code", "name", "board", "close", "change", "limit_pct", "streak")


def limit_closes(store: Store, date: dt.date | None = None) -> MarketResult:
    """The stocks that closed at their limit up or down on `date`, with the limit in force
    (percent) and the streak of consecutive limit closes up to that day."""
    d = trading_day(store, date)
    first = store.date_range()[0]
    scan = STREAK_SCAN_DAYS
    while True:
        lo = _shift(store, d, scan)
        df = store.con.execute(
            f"SELECT * FROM ({market_rules.limit_closes_sql(store)}) ORDER BY code",
            {"scan_lo": lo, "hi": d},
        ).df()
        if lo <= first or not (df["up_open"].any() or df["down_open"].any()):
            break
        scan *= 4  # a streak reaches the scan's start: look further back
    df["limit_pct"] = df["up_pct"].where(df["at_up"], df["down_pct"]).astype(int)
    df["streak"] = df["up_streak"].where(df["at_up"], df["down_streak"]).astype(int)
    df["side"] = ["up" if u else "down" for u in df["at_up"]]
    df = df.sort_values(["side", "streak", "code"], ascending=[False, False, True]).reset_index(drop=True)
    warnings = market_rules.warnings(store)
    open_at_start = df[(df["up_open"] | df["down_open"])]
    if len(open_at_start):
        warnings.append(f"{len(open_at_start)} streak(s) reach the first day of the data ({first}): "
                        "they may be longer")

    def rows(side: str) -> list[dict[str, Any]]:
        sub = df[df["side"] == side]
        return [{k: (None if k == "name" and r[k] is None else r[k]) for k in LIMIT_KEYS}
                for r in sub.to_dict("records")]

    payload = {"date": d.isoformat(), "limit_up": rows("up"), "limit_down": rows("down"), "warnings": warnings}
    frame = df[["side", *LIMIT_KEYS]]
    return MarketResult(payload, frame, warnings, store.synthetic)


def ladder(limits: MarketResult) -> Any:
    """The limit-up stocks grouped by streak, longest first: streak, count, codes."""
    import pandas as pd

    up = limits.frame[limits.frame["side"] == "up"]
    if up.empty:
        return pd.DataFrame({"streak": [], "count": [], "codes": []})
    g = up.groupby("streak", sort=True)["code"].agg(lambda s: ", ".join(sorted(s)))
    n = up.groupby("streak")["code"].size()
    out = pd.DataFrame({"streak": g.index.astype(int), "count": n.loc[g.index].astype(int).to_numpy(),
                        "codes": g.to_numpy()})
    return out.sort_values("streak", ascending=False).reset_index(drop=True)
