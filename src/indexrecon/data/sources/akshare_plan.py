"""`ingest akshare --dry-run`: which akshare functions a run calls, how often, how long.

No network and no akshare needed. The number of stocks comes from `codes`, else from the
store's securities when it has them, else from approximate board sizes (said so); the
trading days from the store's calendar when it covers the range, else weekdays. The time
is the floor the rate limit sets (calls x --min-interval); the sites' own answer times
come on top (typically 0.2-1 s a call).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from ..store import BOARDS, Store
from .akshare_more import index_valuation_calls, report_periods
from .akshare_source import EXCHANGE_LISTS, SOURCE
from .common import classify_stock, one

# Listed A-share stocks per board, approximately (2025); used without a store.
BOARD_SIZES = {"sh_main": 1690, "sz_main": 1490, "chinext": 1390, "star": 590, "bse": 270}
# Shanghai and Shenzhen delist about 50 stocks a year (2023-2025).
DELISTED_PER_YEAR = 50


@dataclass
class PlanRow:
    dataset: str
    function: str
    calls: int
    note: str = ""


@dataclass
class Plan:
    rows: list[PlanRow]
    notes: list[str]
    min_interval: float

    @property
    def calls(self) -> int:
        return sum(r.calls for r in self.rows)

    @property
    def seconds(self) -> float:
        return self.calls * self.min_interval

    def __str__(self) -> str:
        width = max((_width(r.function) for r in self.rows), default=10)

        def pad(text: str) -> str:
            return text + " " * (width - _width(text))

        dw = max((len(r.dataset) for r in self.rows), default=12)
        lines = [f"{'dataset':<{dw}} {pad('function')} {'calls':>8}  note"]
        lines += [
            f"{r.dataset:<{dw}} {pad(r.function)} {r.calls:>8,}  {r.note}".rstrip()
            for r in self.rows
        ]
        lines.append(f"{'total':<{dw}} {pad('')} {self.calls:>8,}")
        lines.append(
            f"at least {_duration(self.seconds)} at --min-interval {self.min_interval:g} s "
            "(the rate limit; the sites' answer times come on top)"
        )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _width(text: str) -> int:
    """Terminal columns of `text` (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _trading_days(store: Store | None, start: dt.date, end: dt.date) -> tuple[int, bool]:
    if store is not None and store.has_table("calendar"):
        row = one(
            store.con,
            "SELECT count(*), min(date) <= ? AND max(date) >= ? FROM calendar "
            "WHERE date BETWEEN ? AND ?",
            [start + dt.timedelta(days=7), end - dt.timedelta(days=7), start, end],
        )
        if row and row[0] and row[1]:
            return int(row[0]), True
    weekdays = sum(
        1 for i in range((end - start).days + 1) if (start + dt.timedelta(days=i)).weekday() < 5
    )
    return round(weekdays * 0.96), False  # about ten weekday holidays a year


def plan_akshare(
    store: Store | None,
    start: dt.date,
    end: dt.date,
    boards: Sequence[str] | None,
    codes: Sequence[str] | None,
    datasets: Sequence[str],
    indices: Sequence[str],
    dividends_by: str | None,
    min_interval: float,
    today: dt.date | None = None,
) -> Plan:
    """The calls `ingest_akshare` with these arguments would make (before retries)."""
    today = today or dt.date.today()
    picked = list(boards or BOARDS)
    notes: list[str] = []
    tables = {
        t for t in ("securities", "bars", "ingest_log") if store is not None and store.has_table(t)
    }
    if codes:
        n = len({str(c).zfill(6) for c in codes if classify_stock(str(c).zfill(6))})
        where = "--codes"
    elif "securities" in tables and store is not None and store.row_count("securities"):
        marks = ", ".join("?" for _ in picked)
        row = one(
            store.con,
            f"SELECT count(*) FROM securities WHERE delist_date IS NULL AND board IN ({marks})",
            picked,
        )
        n, where = (int(row[0]) if row else 0), "the store's securities"
    else:
        n, where = sum(BOARD_SIZES[b] for b in picked), "approximate board sizes (2025)"
    notes.append(f"{n:,} stocks, from {where}")
    by = dividends_by or ("stock" if codes else "period")
    years = max((end - start).days / 365.25, 0.0)
    gone = 0
    if "delisted" in datasets and not codes:
        gone = round(
            DELISTED_PER_YEAR
            * years
            * sum(BOARD_SIZES[b] for b in picked if b != "bse")
            / sum(v for k, v in BOARD_SIZES.items() if k != "bse")
        )
        notes.append(
            f"about {gone} stocks delisted since {start} (about {DELISTED_PER_YEAR} a year)"
        )
    stocks = n + gone

    def up_to_date() -> int:
        if store is None or "bars" not in tables:
            return 0
        row = one(
            store.con,
            "SELECT count(*) FROM (SELECT code FROM bars GROUP BY code HAVING max(date) >= ?)",
            [end],
        )
        return int(row[0]) if row else 0

    def loaded(prefix: str) -> int:
        if store is None or "ingest_log" not in tables:
            return 0
        row = one(
            store.con,
            "SELECT count(DISTINCT item) FROM ingest_log WHERE source = ? AND item LIKE ?",
            [SOURCE, prefix],
        )
        return int(row[0]) if row else 0

    rows: list[PlanRow] = []
    add = rows.append
    if "calendar" in datasets:
        add(PlanRow("calendar", "tool_trade_date_hist_sina", 1))
    for _, name, kwargs, *_ in EXCHANGE_LISTS:
        shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        add(PlanRow("securities", f"{name}({shown})", 1, "always: the universe"))
    if "delisted" in datasets:
        add(PlanRow("delisted", "stock_info_sh_delist", 1))
        add(PlanRow("delisted", "stock_info_sz_delist", 1))
    if "bars" in datasets:
        fresh = up_to_date()
        note = f"{fresh:,} already through {end}" if fresh else "one per stock"
        add(PlanRow("bars", "stock_zh_a_hist", max(stocks - fresh, 0), note))
    if "shares" in datasets:
        done = loaded(f"shares % as of {today}")
        add(PlanRow("shares", "stock_zh_a_gbjg_em", max(stocks - done, 0), "one per stock"))
        add(PlanRow("shares", "stock_share_change_cninfo", max(stocks - done, 0), "one per stock"))
    if "valuation" in datasets:
        add(PlanRow("valuation", "stock_value_em", stocks, "one per stock"))
    if "dividends" in datasets:
        if by == "period":
            periods = report_periods(start, end)
            add(
                PlanRow(
                    "dividends",
                    "stock_fhps_em",
                    len(periods),
                    f"report periods {periods[0]}..{periods[-1]}, 500 rows a page",
                )
            )
        else:
            add(PlanRow("dividends", "stock_fhps_detail_em", stocks, "one per stock"))
    if "industry" in datasets:
        add(PlanRow("industry", "stock_industry_clf_hist_sw", 1))
    if "names" in datasets:
        add(PlanRow("names", "stock_info_sz_change_name", 1, "Shenzhen only"))
    if "status" in datasets:
        add(PlanRow("status", "stock_zh_a_st_em", 1, "today's board"))
    if "suspensions" in datasets:
        days, exact = _trading_days(store, start, end)
        days = max(days - loaded("suspensions %"), 0)
        note = "one per trading day" + ("" if exact else " (weekdays less holidays, estimated)")
        add(PlanRow("suspensions", "stock_tfp_em", days, note))
    if "weights" in datasets:
        cni = sum(1 for i in indices if i.startswith("399"))
        if cni:
            add(PlanRow("weights", "index_detail_hist_cni", cni, "whole monthly history"))
        if len(indices) - cni:
            add(
                PlanRow(
                    "weights",
                    "index_stock_cons_weight_csindex",
                    len(indices) - cni,
                    "latest file only",
                )
            )
    if "index_valuation" in datasets:
        per_fn: dict[str, int] = {}
        for index_code in indices:
            for fn in index_valuation_calls(index_code):
                per_fn[fn] = per_fn.get(fn, 0) + 1
        notes_of = {
            "stock_zh_index_value_csindex": "CSI indices, recent days only",
            "stock_index_pe_lg": "12 named indices, daily history",
            "stock_index_pb_lg": "12 named indices, daily history",
        }
        for fn, n in per_fn.items():
            add(PlanRow("index_valuation", fn, n, notes_of[fn]))
    return Plan(rows, notes, min_interval)
