"""`ingest akshare`: what a run fetches, in which order, and how it is written and resumed.

Each stock's bars, shares and dividends (and every market-wide table) are written in their
own transaction and logged in ``ingest_log``, so an interrupted run resumes where it
stopped; a failing item is reported and the others still load.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ...errors import IndexReconError, StoreError
from ..store import BOARDS, Store
from .akshare_more import index_valuation_calls, merge_capital, report_periods
from .akshare_source import DATASETS, DEFAULT_INDICES, SOURCE, AkshareSource
from .akshare_write import (
    ensure_schema,
    first_missing_day,
    update_status,
    write_frame,
    write_name_status,
    write_suspensions,
)
from .common import (
    IngestSummary,
    Progress,
    already_loaded,
    insert_calendar,
    log_item,
    note_source,
    one,
    record_ingest,
    refuse_synthetic,
    upsert_securities,
)


def _note_latest_file(summary: IngestSummary, index_code: str, day: dt.date, end: dt.date) -> None:
    """csindex serves only its latest weights file: say which day it is, and that the month
    asked for is not available when they differ."""
    what = f"index_stock_cons_weight_csindex({index_code})"
    if (day.year, day.month) == (end.year, end.month):
        summary.notes.append(f"{what}: the latest weights file, dated {day}")
    else:
        summary.warnings.append(
            f"{what} serves only the latest weights file, dated {day}: stored as of {day}; "
            f"the weights of {end:%Y-%m} (--end) are not available from akshare"
        )


def _note_calls(summary: IngestSummary, src: AkshareSource) -> None:
    """Calls made, retries and timeouts; which items failed and how to resume."""
    st = src.stats
    summary.notes.append(
        f"{src.calls} akshare calls, {st.retries} retries (budget {src.budget.total}), "
        f"{st.timeouts} timeouts"
    )
    for name, empty in sorted(st.no_rows.items()):
        made = st.calls.get(name, 0)
        # a site that refuses can answer like one without data: many such answers are suspect
        if made >= 20 and empty > made / 2:
            summary.warnings.append(
                f"{name} answered 'no rows' {empty:,} times in {made:,} calls; if that is not "
                "expected, the site may be refusing: rerun later with --force for that dataset"
            )
    if src.budget.exhausted_at:
        summary.warnings.append(
            f"the retry budget of {src.budget.total} was spent at {src.budget.exhausted_at}; "
            "later failures were not retried (the site may be down: rerun later)"
        )
    if summary.failures:
        codes = sorted({f.split(" ")[0] for f in summary.failures if f[:6].isdigit()})
        hint = (
            "resume: rerun the same command; what was loaded is in ingest_log and is not "
            "fetched again, so only the failed and missing items are"
        )
        if codes:
            hint += f" (or only these stocks: --codes {','.join(codes)})"
        summary.warnings.append(hint)


def ingest_akshare(
    store: Store,
    start: dt.date,
    end: dt.date,
    boards: Sequence[str] | None = None,
    api: Any | None = None,
    progress: Progress | None = None,
    *,
    codes: Sequence[str] | None = None,
    datasets: Sequence[str] = DATASETS,
    indices: Sequence[str] = DEFAULT_INDICES,
    dividends_by: str | None = None,
    min_interval: float = 0.5,
    max_retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 30.0,
    retry_budget: int = 200,
    force: bool = False,
    source: AkshareSource | None = None,
    today: dt.date | None = None,
) -> IngestSummary:
    """Fetch [start, end] of the chosen boards (or `codes`) from akshare into `store`.

    Bars are incremental per stock; each stock's items and each market-wide table are
    written in their own transactions and logged, so an interrupted run resumes where it
    stopped. An item that keeps failing is listed in the summary's failures (with how to
    resume); the others still load. `dividends_by` is ``period`` (one market-wide call per
    report period, the default for whole boards) or ``stock`` (one call per stock, the
    default with `codes`).
    """
    t0 = time.perf_counter()
    check_arguments(start, end, boards, datasets, dividends_by)
    if store.read_only:
        raise StoreError(f"store {store.path} is open read-only")
    refuse_synthetic(store)
    today = today or dt.date.today()
    by = dividends_by or ("stock" if codes else "period")
    src = source or AkshareSource(
        api,
        min_interval=min_interval,
        max_retries=max_retries,
        backoff=backoff,
        timeout=timeout,
        retry_budget=retry_budget,
    )
    summary = IngestSummary(source=f"akshare {start}..{end}")
    store.con.execute("SET enable_progress_bar = false")
    if {"shares", "valuation", "index_valuation"} & set(datasets):
        added = ensure_schema(store)
        if added:
            summary.notes.append(f"added to the store's schema: {', '.join(added)}")

    def step(label: str, i: int, n: int) -> None:
        if progress:
            progress(label, i, n)

    def attempt(label: str, fn: Any) -> None:
        attempt_item(summary, label, fn)

    # -- calendar
    if "calendar" in datasets:
        step("trading calendar", 0, 1)
        cal = src.calendar(start, end)
        store.con.register("_ak_cal", cal)
        try:
            with store.transaction() as c:
                n = insert_calendar(c, "(SELECT CAST(date AS DATE) AS date FROM _ak_cal)")
                log_item(c, SOURCE, f"calendar {start}..{end}", n)
        finally:
            store.con.unregister("_ak_cal")
        summary.add_rows("calendar", n)

    # -- universe: today's listed stocks, and the stocks delisted since `start`
    step("stock list", 0, 1)
    universe = _pick(src.securities(summary), boards, codes)
    if "delisted" in datasets:
        step("delisted stocks", 0, 1)
        gone = _pick(src.delisted(summary.warnings.append), boards, codes)
        gone = gone[~gone["code"].isin(set(universe["code"]))]
        _write_securities(store, gone, f"delisted as of {today}", summary)
        # their history matters to reviews with a cutoff before they left
        gone = gone[gone["delist_date"] >= start]
        summary.notes.append(
            f"{len(gone)} stocks delisted since {start} join the per-stock datasets "
            "(stock_info_sh_delist / stock_info_sz_delist; Beijing has no delisting list)"
        )
        universe = pd.concat([universe, gone], ignore_index=True)
    if "securities" in datasets:
        listed = universe[universe["delist_date"].isna()]
        _write_securities(store, listed, f"securities as of {today}", summary)
        if "delisted" not in datasets:
            summary.notes.append(
                "securities are today's listed stocks (the exchanges' lists); stocks delisted "
                "before today are missing (add the delisted dataset)"
            )
    universe_codes = set(universe["code"])
    missing = sorted({str(c).zfill(6) for c in codes or ()} - universe_codes)
    if missing:
        summary.warnings.append(
            f"not among the stocks listed today{' or delisted' if 'delisted' in datasets else ''}"
            f": {', '.join(missing)}"
        )

    # -- per stock
    per_stock = [d for d in ("bars", "shares", "valuation") if d in datasets]
    if "dividends" in datasets and by == "stock":
        per_stock.append("dividends")
    total = len(universe) * max(len(per_stock), 1)
    done = 0
    up_to_date = 0
    checks = ShareCheck()
    for row in universe.itertuples(index=False):
        code, exchange = str(row.code), str(row.exchange)
        listed = row.list_date if isinstance(row.list_date, dt.date) else None
        last = min(end, row.delist_date) if isinstance(row.delist_date, dt.date) else end
        for ds in per_stock:
            step(f"{code} {ds}", done, total)
            done += 1
            try:
                if ds == "bars":
                    if listed is not None and listed > last:
                        continue
                    first = start if force else first_missing_day(store, code, start)
                    if first > last:
                        up_to_date += 1
                        continue
                    frame = src.bars(code, first, last)
                    item = f"bars {code} {first}..{last}"
                    n = write_frame(store, "bars", frame, item, order_by="date, code")
                elif ds == "shares":
                    item = f"shares {code} as of {today}"
                    if not force and already_loaded(store.con, SOURCE, item):
                        continue
                    frame = merge_capital(
                        src.shares(code, exchange), src.share_changes(code, today), code
                    )
                    n = write_frame(store, "shares", frame, item)
                elif ds == "valuation":
                    item = f"valuation {code} {start}..{last}"
                    if not force and already_loaded(store.con, SOURCE, item):
                        continue
                    frame = src.valuation(code, start, last)
                    checks.add(store, code, frame)
                    n = write_frame(store, "valuation", frame, item, keys=("code", "date"))
                else:
                    item = f"dividends {code} as of {today}"
                    if not force and already_loaded(store.con, SOURCE, item):
                        continue
                    n = write_frame(store, "dividends", src.dividends(code), item)
                summary.add_rows(ds, n)
            except IndexReconError as e:
                summary.failures.append(f"{code} {ds}: {e}")
    if up_to_date:
        summary.notes.append(f"{up_to_date} stocks' bars were already up to date through {end}")
    if "shares" in datasets and universe_codes:
        summary.notes.append(FREE_FLOAT_NOTE)
    checks.report(summary)

    # -- market-wide tables
    if "dividends" in datasets and by == "period" and universe_codes:
        periods = report_periods(start, end)
        for i, period in enumerate(periods):
            step(f"dividends {period}", i, len(periods))

            def one_period(period: str = period) -> None:
                item = f"dividends period {period} as of {today}"
                if not force and already_loaded(store.con, SOURCE, item):
                    return
                frame = src.dividends_of_period(period)
                frame = frame[frame["code"].isin(universe_codes)]
                summary.add_rows("dividends", write_frame(store, "dividends", frame, item))

            attempt(f"dividends {period}", one_period)
    if "industry" in datasets and universe_codes:
        step("Shenwan industries", 0, 1)

        def industry() -> None:
            frame = src.industry(universe_codes, summary)
            item = f"industry as of {today}"
            summary.add_rows(
                "industry", write_frame(store, "industry", frame, item, "code, start_date")
            )

        attempt("industry", industry)
    if "names" in datasets and universe_codes:
        step("name changes", 0, 1)

        def names() -> None:
            frame = src.sz_name_status()
            frame = frame[frame["code"].isin(universe_codes)]
            summary.add_rows("status", write_name_status(store, frame, f"names as of {today}"))
            summary.notes.append(NAMES_NOTE)

        attempt("names", names)
    if "status" in datasets and universe_codes:
        step("ST board", 0, 1)

        def board() -> None:
            summary.add_rows(
                "status", update_status(store, src.risk_warning(), universe_codes, today)
            )
            summary.notes.append(
                f"ST status today is the risk-warning board ({today}); earlier periods come "
                "from Shenzhen's name changes (names) and build up run by run"
            )

        attempt("status", board)
    if "suspensions" in datasets and universe_codes:
        _suspensions(store, src, start, end, universe_codes, force, summary, step)
    if "weights" in datasets:
        for i, index_code in enumerate(indices):
            step(f"weights {index_code}", i, len(indices))

            def weights(index_code: str = index_code) -> None:
                frame = src.index_weights(index_code, end)
                days = sorted({d.date() for d in frame["trade_date"]}) if len(frame) else []
                if not index_code.startswith("399") and days:
                    _note_latest_file(summary, index_code, days[-1], end)
                span = f"{days[0]}..{days[-1]}" if len(days) > 1 else f"{days[0] if days else end}"
                item = f"weights {index_code} {span}"
                n = write_frame(
                    store, "official_weights", frame, item, "index_code, trade_date, code"
                )
                summary.add_rows("official_weights", n)

            attempt(f"weights {index_code}", weights)
    if "index_valuation" in datasets:
        _index_valuation(store, src, start, end, indices, force, today, summary, step)

    if summary.total_rows:
        note_source(store, "akshare")
    _note_calls(summary, src)
    step("done", 1, 1)
    summary.seconds = time.perf_counter() - t0
    if summary.total_rows:
        record_ingest(store, summary)
    return summary


def _index_valuation(
    store: Store,
    src: AkshareSource,
    start: dt.date,
    end: dt.date,
    indices: Sequence[str],
    force: bool,
    today: dt.date,
    summary: IngestSummary,
    step: Any,
) -> None:
    """Each index's own PE/PB from csindex (CSI indices, recent days) and legulegu (12 named
    indices, daily history), [start, end], one item per index and provider."""
    for i, index_code in enumerate(indices):
        step(f"index valuation {index_code}", i, len(indices))
        calls = index_valuation_calls(index_code)
        if not calls:
            summary.warnings.append(
                f"index_valuation: no akshare source publishes {index_code}'s PE/PB (csindex "
                "has CSI indices, legulegu 12 named ones); `market valuation` computes it "
                "from per-stock valuation"
            )
            continue
        fetchers = [("csindex", src.index_valuation_csindex)] if calls[0].endswith("csindex") else []
        if "stock_index_pe_lg" in calls:
            fetchers.append(("legulegu", src.index_valuation_legulegu))
        for provider, fetch in fetchers:

            def one_index(index_code: str = index_code, provider: str = provider,
                          fetch: Any = fetch) -> None:
                item = f"index_valuation {index_code} {provider} {start}..{end} as of {today}"
                if not force and already_loaded(store.con, SOURCE, item):
                    return
                frame = fetch(index_code)
                days = frame["date"].dt.date if len(frame) else pd.Series([], dtype=object)
                frame = frame[(days >= start) & (days <= end)] if len(frame) else frame
                if frame.empty:
                    summary.warnings.append(
                        f"index_valuation {index_code} ({provider}): no days in {start}..{end}"
                        + (" (csindex serves recent days only)" if provider == "csindex" else "")
                    )
                n = write_frame(
                    store, "index_valuation", frame, item, keys=("index_code", "date", "source")
                )
                summary.add_rows("index_valuation", n)

            attempt_item(summary, f"index_valuation {index_code} {provider}", one_index)


def attempt_item(summary: IngestSummary, label: str, fn: Any) -> None:
    """Run one item; a failure is listed and the others still load."""
    try:
        fn()
    except IndexReconError as e:
        summary.failures.append(f"{label}: {e}")


FREE_FLOAT_NOTE = (
    "shares: total and listed A shares (float_shares) from stock_zh_a_gbjg_em, the A-share "
    "total (a_shares = listed + restricted A shares; from cninfo, total - B - H, where "
    "eastmoney has none) merged with stock_share_change_cninfo's change points; free float "
    "is not published by either, so free_float_shares stays empty and weights by free float "
    "fall back as the engine reports (listed A shares are its upper bound)"
)
NAMES_NOTE = (
    "ST history before today: Shenzhen's dated short-name changes (stock_info_sz_change_name); "
    "Shanghai and Beijing publish no dated name history through akshare "
    "(stock_info_change_name lists former names without dates), so their ST periods before "
    "the first run are missing"
)


def check_arguments(
    start: dt.date,
    end: dt.date,
    boards: Sequence[str] | None,
    datasets: Sequence[str],
    dividends_by: str | None,
) -> None:
    """One-line errors for a range, board, dataset or dividends mode that cannot be."""
    if start > end:
        raise IndexReconError(f"start {start} is after end {end}")
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise IndexReconError(f"unknown dataset {unknown[0]} (known: {', '.join(DATASETS)})")
    bad_boards = [b for b in boards or () if b not in BOARDS]
    if bad_boards:
        raise IndexReconError(f"unknown board {bad_boards[0]} (known: {', '.join(BOARDS)})")
    if dividends_by not in (None, "period", "stock"):
        raise IndexReconError(f"dividends by {dividends_by!r}: use period or stock")


def _pick(
    frame: pd.DataFrame, boards: Sequence[str] | None, codes: Sequence[str] | None
) -> pd.DataFrame:
    if boards:
        frame = frame[frame["board"].isin(list(boards))]
    if codes:
        frame = frame[frame["code"].isin({str(c).zfill(6) for c in codes})]
    return frame.reset_index(drop=True)


def _write_securities(store: Store, frame: pd.DataFrame, item: str, summary: IngestSummary) -> None:
    if not len(frame):
        return
    store.con.register("_ak_sec", frame)
    try:
        with store.transaction() as c:
            rel = (
                "(SELECT code, exchange, board, name, CAST(list_date AS DATE) AS list_date, "
                "CAST(delist_date AS DATE) AS delist_date FROM _ak_sec)"
            )
            n = upsert_securities(c, rel)
            log_item(c, SOURCE, item, n)
    finally:
        store.con.unregister("_ak_sec")
    summary.add_rows("securities", n)


def _suspensions(
    store: Store,
    src: AkshareSource,
    start: dt.date,
    end: dt.date,
    codes: set[str],
    force: bool,
    summary: IngestSummary,
    step: Any,
) -> None:
    """One stock_tfp_em call per trading day of the store's calendar in [start, end]."""
    days = [
        r[0]
        for r in store.con.execute(
            "SELECT date FROM calendar WHERE date BETWEEN ? AND ? ORDER BY date", [start, end]
        ).fetchall()
    ]
    if not days:
        summary.warnings.append(
            "suspensions: the store has no trading calendar for the range (add the calendar "
            "dataset)"
        )
        return
    halts = 0
    for i, day in enumerate(days):
        step(f"suspensions {day}", i, len(days))
        item = f"suspensions {day}"
        if not force and already_loaded(store.con, SOURCE, item):
            continue
        try:
            suspended, intraday = src.suspended_on(day)
        except IndexReconError as e:
            summary.failures.append(f"suspensions {day}: {e}")
            continue
        halts += intraday
        frame = pd.DataFrame({"code": [c for c in suspended if c in codes], "date": day})
        summary.add_rows("status", write_suspensions(store, frame, item))
    if halts:
        summary.notes.append(f"{halts} intraday halts (停牌期限 in hours) are not suspended days")


class ShareCheck:
    """eastmoney's daily 总股本 (stock_value_em) against the store's share counts."""

    def __init__(self) -> None:
        self.off: list[str] = []
        self.checked = 0

    def add(self, store: Store, code: str, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        last = frame.iloc[-1]
        row = one(
            store.con,
            "SELECT total_shares FROM shares WHERE code = ? AND effective_date <= ? "
            "ORDER BY effective_date DESC LIMIT 1",
            [code, last["date"].date()],
        )
        if not row or row[0] is None or pd.isna(last["total_shares"]):
            return
        self.checked += 1
        gap = abs(float(row[0]) / float(last["total_shares"]) - 1)
        if gap > 0.01:
            self.off.append(
                f"{code} ({float(row[0]):,.0f} vs {float(last['total_shares']):,.0f} on {last['date']:%Y-%m-%d})"
            )

    def report(self, summary: IngestSummary) -> None:
        if self.off:
            summary.warnings.append(
                f"total shares differ by more than 1% from stock_value_em's 总股本 for "
                f"{len(self.off)} of {self.checked} stocks: {', '.join(self.off[:5])}"
                + (" ..." if len(self.off) > 5 else "")
            )
