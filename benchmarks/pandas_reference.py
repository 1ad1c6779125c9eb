"""A plain pandas implementation of one ChiNext Index review (pure ranking, no incumbents).

This is the "what you would write without indexrecon" reference for the benchmark (workload
1) and an independent check of the engine (tests/test_pandas_reference.py): it reads the
store's tables into pandas DataFrames and applies the ChiNext rules with ordinary pandas
operations (boolean masks, merge_asof, groupby, sort_values). It shares no code with the
engine: the review calendar, the metrics and every rule are written again here from the
published rules (see methodologies/chinext.yaml):

* universe: ChiNext stocks listed by the data cutoff and not delisted by then; no ST, *ST or
  delisting-arrangement status at the cutoff; at least one bar in the window; listed more
  than 6 months at the cutoff, or more than 3 months and in the top 1% of the board by
  average daily total market cap; at most 60 suspended trading days in the window;
* screen: drop the bottom 10% by average daily turnover (amount);
* selection: the top 100 by average daily total market cap (ties: average amount, then code).

Buffers and the cap on changes only act with incumbents, so with no incumbents the result is
the pure ranking; the weights are not compared.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

COUNT = 100
DROP_BOTTOM_AMOUNT_PCT = 10
MIN_AGE_MONTHS = 6
NEW_LISTING_MIN_AGE_MONTHS = 3
NEW_LISTING_TOP_PCT = 1
MAX_SUSPENDED_DAYS = 60
LOOKBACK_MONTHS = 6
CUTOFF_MONTHS_BEFORE = 2


@dataclass
class Tables:
    bars: pd.DataFrame
    shares: pd.DataFrame
    securities: pd.DataFrame
    status: pd.DataFrame
    calendar: pd.DatetimeIndex


def load_tables(store_path: str | Path) -> Tables:
    """Read the whole tables into pandas (the straightforward way: no pushdown)."""
    # the same connection settings as indexrecon's read-only stores: DuckDB refuses a second
    # connection to one file with different settings (only the reading goes through DuckDB)
    from indexrecon.data.store import read_config

    con = duckdb.connect(str(store_path), read_only=True, config=read_config())
    try:
        bars = con.execute("SELECT code, date, close, amount FROM bars").df()
        cols = {r[0] for r in con.execute("DESCRIBE shares").fetchall()}
        a = "a_shares" if "a_shares" in cols else "NULL::DOUBLE AS a_shares"
        shares = con.execute(f"SELECT code, effective_date, total_shares, {a} FROM shares").df()
        securities = con.execute("SELECT code, board, list_date, delist_date FROM securities").df()
        status = con.execute("SELECT code, start_date, end_date, status FROM status").df()
        days = con.execute("SELECT date FROM calendar ORDER BY date").df()["date"]
    finally:
        con.close()
    for df, cols in (
        (bars, ["date"]),
        (shares, ["effective_date"]),
        (securities, ["list_date", "delist_date"]),
        (status, ["start_date", "end_date"]),
    ):
        for c in cols:
            df[c] = pd.to_datetime(df[c])
    return Tables(bars, shares, securities, status, pd.DatetimeIndex(pd.to_datetime(days)))


def review_window(review: str, days: pd.DatetimeIndex) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(window start, data cutoff): the last trading day of the month two months before the
    review month, and the first day of the six calendar months ending there."""
    year, month = (int(x) for x in review.split("-"))
    k = year * 12 + month - 1 - CUTOFF_MONTHS_BEFORE
    cy, cm = k // 12, k % 12 + 1
    month_end = pd.Timestamp(dt.date(cy, cm, calendar.monthrange(cy, cm)[1]))
    cutoff = days[days <= month_end].max()
    k -= LOOKBACK_MONTHS - 1
    start = pd.Timestamp(dt.date(k // 12, k % 12 + 1, 1))
    return start, cutoff


def chinext_review(t: Tables, review: str) -> pd.DataFrame:
    """The 100 selected stocks, ranked: columns code, rank, avg_total_cap, avg_amount."""
    start, cutoff = review_window(review, t.calendar)

    # Candidates: ChiNext stocks listed by the cutoff and not delisted by then.
    sec = t.securities
    sec = sec[
        (sec["board"] == "chinext")
        & (sec["list_date"].isna() | (sec["list_date"] <= cutoff))
        & (sec["delist_date"].isna() | (sec["delist_date"] > cutoff))
    ].copy()

    # Window bars of the candidates, with the share capital in force on each day.
    bars = t.bars[(t.bars["date"] >= start) & (t.bars["date"] <= cutoff)]
    bars = bars[bars["code"].isin(sec["code"])].sort_values("date")
    # CNI ranks by A-share capital: where observed (a_shares), its ratio to the total is carried
    # forward along the stock's change points (back from the first observation before it)
    # onto each total; never observed: the total.
    shares = t.shares.sort_values(["code", "effective_date"]).copy()
    ratio = (shares["a_shares"] / shares["total_shares"]).groupby(shares["code"]).transform(
        lambda r: r.ffill().bfill())
    shares["a_sh"] = (shares["total_shares"] * ratio).fillna(shares["total_shares"])
    shares.loc[shares["a_shares"].notna(), "a_sh"] = shares["a_shares"]
    shares = shares.sort_values("effective_date")
    w = pd.merge_asof(
        bars, shares, left_on="date", right_on="effective_date", by="code", direction="backward"
    )
    w["total_cap"] = w["close"] * w["a_sh"]
    m = w.groupby("code").agg(
        avg_amount=("amount", "mean"),
        avg_total_cap=("total_cap", "mean"),
        traded_days=("date", "count"),
    )
    sec = sec.merge(m, left_on="code", right_index=True, how="left")

    # Universe exclusions.
    st = t.status[
        t.status["status"].isin(["ST", "*ST", "delisting"])
        & (t.status["start_date"] <= cutoff)
        & (t.status["end_date"].isna() | (t.status["end_date"] >= cutoff))
    ]
    out = sec["code"].isin(st["code"])
    out |= sec["traded_days"].isna()

    too_young = sec["list_date"] > cutoff - pd.DateOffset(months=MIN_AGE_MONTHS)
    young_ok = ~(sec["list_date"] > cutoff - pd.DateOffset(months=NEW_LISTING_MIN_AGE_MONTHS))
    has_cap = sec.dropna(subset=["avg_total_cap"]).sort_values(
        ["avg_total_cap", "code"], ascending=[False, True]
    )
    top_n = -(-len(has_cap) * NEW_LISTING_TOP_PCT // 100)  # ceil
    big = sec["code"].isin(has_cap["code"].head(top_n))
    out |= too_young & ~(young_ok & big)

    days = t.calendar[t.calendar <= cutoff]
    first_day = sec["list_date"].fillna(start).clip(lower=start)
    days_listed = pd.Series(
        len(days) - days.searchsorted(first_day.to_numpy(), side="left"), index=sec.index
    )
    out |= (days_listed - sec["traded_days"].fillna(0)) > MAX_SUSPENDED_DAYS
    sec = sec[~out]

    # Screen: drop the bottom 10% by average daily turnover.
    sec = sec[sec["avg_amount"].notna()]
    sec = sec.sort_values(["avg_amount", "code"], ascending=[False, True])
    keep = len(sec) - len(sec) * DROP_BOTTOM_AMOUNT_PCT // 100
    sec = sec.head(keep)

    # Selection: the top 100 by average daily total market cap.
    sec = sec[sec["avg_total_cap"].notna()]
    sec = sec.sort_values(
        ["avg_total_cap", "avg_amount", "code"], ascending=[False, False, True]
    ).head(COUNT)
    sec["rank"] = range(1, len(sec) + 1)
    return sec[["code", "rank", "avg_total_cap", "avg_amount"]].reset_index(drop=True)


def run(store_path: str | Path, review: str) -> pd.DataFrame:
    return chinext_review(load_tables(store_path), review)


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(run(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "2024-12").to_string())
