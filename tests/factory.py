"""A tiny, hand-controlled store for rule-level tests: constant prices and turnover per stock,
so every rank and weight in a test follows from numbers written in the test itself."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from indexrecon.data.open import open_store


@dataclass
class S:
    code: str
    cap: float  # total market cap in CNY (price 10 x shares)
    amount: float = 1e8  # daily turnover
    board: str = "chinext"
    list_date: dt.date = dt.date(2015, 1, 5)
    ff_ratio: float | None = None  # free-float shares / total shares
    industry: str = "630000"
    status: list[tuple[dt.date, dt.date | None, str]] = field(default_factory=list)
    gaps: tuple[dt.date, dt.date] | None = None  # no bars in this interval (suspension)
    delist_date: dt.date | None = None


def weekdays(start: dt.date, end: dt.date) -> list[dt.date]:
    days, d = [], start
    while d <= end:
        if d.weekday() < 5:
            days.append(d)
        d += dt.timedelta(days=1)
    return days


def make_store(path: Path, stocks: list[S], start: dt.date = dt.date(2023, 1, 2),
               end: dt.date = dt.date(2025, 12, 31), synthetic: bool = True) -> Path:
    days = weekdays(start, end)
    with open_store(path, read_only=False) as st:
        st.con.execute("DELETE FROM calendar")
        st.con.executemany("INSERT INTO calendar VALUES (?)", [[d] for d in days])
        sec, bars, shares, status, ind = [], [], [], [], []
        for s in stocks:
            ex = "SZ" if s.board in ("chinext", "sz_main") else "SH"
            sec.append((s.code, ex, s.board, f"Test {s.code}", s.list_date, s.delist_date))
            total = s.cap / 10.0
            ff = total * s.ff_ratio if s.ff_ratio is not None else None
            shares.append((s.code, s.list_date, total, ff, ff, "test"))
            for d in days:
                if d < s.list_date or (s.delist_date and d >= s.delist_date):
                    continue
                if s.gaps and s.gaps[0] <= d <= s.gaps[1]:
                    continue
                bars.append((s.code, d, 10.0, 10.0, 10.0, 10.0, s.amount, int(s.amount / 10)))
            for a, b, kind in s.status:
                status.append((s.code, a, b, kind))
            ind.append((s.code, dt.date(2000, 1, 1), None, s.industry, f"ind{s.industry}",
                        f"Industry {s.industry}", s.industry[:4] + "00", "l2", None, None))
        con = st.con
        for name, rows, cols in [
            ("securities", sec, 6), ("shares (code, effective_date, total_shares, float_shares, free_float_shares, source)", shares, 6), ("status", status, 4), ("industry", ind, 10),
        ]:
            if rows:
                con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * cols)})", rows)
        df = pd.DataFrame(bars, columns=["code", "date", "open", "high", "low", "close", "amount", "volume"])
        con.register("_bars", df)
        con.execute("INSERT INTO bars SELECT * FROM _bars ORDER BY date, code")
        con.unregister("_bars")
        st.set_meta(synthetic="true" if synthetic else "false", source="test factory")
    return path


def meth(**over: Any) -> dict[str, Any]:
    """A minimal methodology (top 10 ChiNext stocks by cap, cap-weighted) with `over` merged in."""
    from indexrecon.methodology.schema import deep_merge

    base = {
        "name": "t",
        "title": "Test index",
        "universe": {"boards": ["chinext"]},
        "lookback": {"months": 6},
        "selection": {"rank_by": "avg_total_cap", "count": 10},
        "weighting": {"method": "total_cap"},
    }
    return deep_merge(base, over)


def three_industries(path: Path) -> Path:
    """A store of three level-1 industries for industry-balanced selection: A holds 50% of the
    cap in 5 stocks of 10bn (3000xx), B 30% in 3 (3001xx), C 20% in 8, 6, 4 and 2bn (3002xx)."""
    stocks = [S(f"3000{i:02d}", cap=10e9, industry="A00000") for i in range(1, 6)]
    stocks += [S(f"3001{i:02d}", cap=10e9, industry="B00000") for i in range(1, 4)]
    stocks += [S(f"3002{i:02d}", cap=c, industry="C00000") for i, c in enumerate([8e9, 6e9, 4e9, 2e9], 1)]
    return make_store(path, stocks)
