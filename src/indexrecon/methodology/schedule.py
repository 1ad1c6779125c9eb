"""Review calendars: which reviews exist, their data cutoff, window and effective date."""

from __future__ import annotations

import bisect
import calendar as pycal
import datetime as dt
import re
from dataclasses import dataclass

from ..errors import IndexReconError, StoreError
from .schema import Methodology

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]


@dataclass(frozen=True)
class ReviewDates:
    review: str  # "YYYY-MM" (or "YYYY-MM-DD" for daily methodologies)
    cutoff: dt.date  # last trading day whose data may be read
    window_start: dt.date  # first day of the lookback window
    effective: dt.date  # first trading day the new list applies
    provisional: bool = False  # the store ends before the scheduled cutoff
    # the latest monthly adjustment day on or before `effective` and the month-end whose
    # status it applies (`exclude_st: {as_of: monthly}`; see `monthly_adjustment`)
    monthly_adjusted: dt.date | None = None
    monthly_status_day: dt.date | None = None


class TradingCalendar:
    """The store's trading days, extended past its end by weekdays (for future reviews)."""

    def __init__(self, days: list[dt.date]) -> None:
        if not days:
            raise StoreError("the store has no trading calendar (no bars ingested)")
        self.days = days
        self.first, self.last = days[0], days[-1]

    def _weekdays_after(self, d: dt.date, n: int) -> list[dt.date]:
        out: list[dt.date] = []
        while len(out) < n:
            d += dt.timedelta(days=1)
            if d.weekday() < 5:
                out.append(d)
        return out

    def on_or_before(self, d: dt.date) -> dt.date:
        if d > self.last:
            return d if d.weekday() < 5 else d - dt.timedelta(days=d.weekday() - 4)
        i = bisect.bisect_right(self.days, d)
        if i == 0:
            raise StoreError(f"{d} is before the store's first trading day {self.first}")
        return self.days[i - 1]

    def after(self, d: dt.date, n: int = 1) -> dt.date:
        """The n-th trading day strictly after d (n=0: d itself if it trades, else the next)."""
        if n == 0:
            i = bisect.bisect_left(self.days, d)
            if i < len(self.days):
                return self.days[i]
            return d if d.weekday() < 5 else self._weekdays_after(d, 1)[0]
        i = bisect.bisect_right(self.days, d)
        if i + n - 1 < len(self.days):
            return self.days[i + n - 1]
        start = max(d, self.last)
        return self._weekdays_after(start, n - max(0, len(self.days) - i))[-1]

    def back(self, d: dt.date, n: int) -> dt.date:
        """The trading day n-1 trading days before d (a window of n days ending at d)."""
        i = bisect.bisect_right(self.days, d) - 1
        j = i - (n - 1)
        if j < 0:
            raise StoreError(f"a {n}-trading-day window ending {d} starts before the store's data")
        return self.days[j]


def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, pycal.monthrange(year, month)[1])


def add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    k = year * 12 + (month - 1) + delta
    return k // 12, k % 12 + 1


def nth_weekday(year: int, month: int, nth: int, weekday: str) -> dt.date:
    wd = WEEKDAYS.index(weekday)
    first = dt.date(year, month, 1)
    d = first + dt.timedelta(days=(wd - first.weekday()) % 7 + 7 * (nth - 1))
    if d.month != month:
        raise IndexReconError(f"{year}-{month:02d} has no {nth}th {weekday}")
    return d


_REVIEW = re.compile(r"^(\d{4})-(\d{1,2})$")


def parse_review(text: str) -> tuple[int, int]:
    m = _REVIEW.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise IndexReconError(f"review must look like YYYY-MM (e.g. 2024-12), got '{text}'")
    return int(m.group(1)), int(m.group(2))


def review_dates(m: Methodology, cal: TradingCalendar, review: str) -> ReviewDates:
    """Cutoff, window and effective date of one scheduled review."""
    year, month = parse_review(review)
    sch = m.schedule
    if sch.frequency == "periodic" and month not in sch.review_months:
        months = ", ".join(f"{x:02d}" for x in sch.review_months)
        raise IndexReconError(f"{m.name} reviews in months {months}; {review} is not a review")
    cy, cm = add_months(year, month, -sch.cutoff_months_before)
    scheduled_cutoff = month_end(cy, cm)
    e = sch.effective
    effective = cal.after(nth_weekday(year, month, e.nth, e.weekday), e.trading_days_after)
    return _window(m, cal, f"{year:04d}-{month:02d}", scheduled_cutoff, effective)


def monthly_adjustment(cal: TradingCalendar, day: dt.date) -> tuple[dt.date, dt.date]:
    """The latest monthly adjustment day on or before `day` (the trading day after its
    month's second Friday) and the month-end before it, whose status that adjustment applies."""
    year, month = day.year, day.month
    adj = cal.after(nth_weekday(year, month, 2, "friday"), 1)
    if adj > day:
        year, month = add_months(year, month, -1)
        adj = cal.after(nth_weekday(year, month, 2, "friday"), 1)
    return adj, month_end(*add_months(year, month, -1))


def daily_review_dates(m: Methodology, cal: TradingCalendar, day: dt.date) -> ReviewDates:
    """Daily-rebalanced methodologies: data up to the previous close, effective `day`."""
    effective = cal.after(day, 0)
    cutoff = cal.on_or_before(effective - dt.timedelta(days=1))
    return _window(m, cal, effective.isoformat(), cutoff, effective)


def _window(m: Methodology, cal: TradingCalendar, label: str, scheduled_cutoff: dt.date,
            effective: dt.date) -> ReviewDates:
    provisional = scheduled_cutoff > cal.last
    if scheduled_cutoff < cal.first:
        raise StoreError(
            f"review {label} needs data up to {scheduled_cutoff}; the store starts {cal.first}"
        )
    cutoff = cal.on_or_before(min(scheduled_cutoff, cal.last))
    lb = m.lookback
    if lb.months is not None:
        sy, sm = add_months(scheduled_cutoff.year, scheduled_cutoff.month, -lb.months + 1)
        start = dt.date(sy, sm, 1)
    else:
        start = cal.back(cutoff, lb.trading_days or 1)
    adjusted, status_day = monthly_adjustment(cal, effective)
    return ReviewDates(label, cutoff, start, effective, provisional, adjusted, status_day)


def reviews_between(m: Methodology, start: dt.date, end: dt.date) -> list[str]:
    """Scheduled review labels whose review month lies in [start, end]."""
    out = []
    y, mo = start.year, start.month
    while (y, mo) <= (end.year, end.month):
        if mo in m.schedule.review_months:
            out.append(f"{y:04d}-{mo:02d}")
        y, mo = add_months(y, mo, 1)
    return out


def check_in_data(rd: ReviewDates, cal: TradingCalendar, *, allow_provisional: bool) -> None:
    """Refuse a review whose window lies outside the store's data."""
    if rd.window_start < cal.first:
        raise StoreError(
            f"review {rd.review} needs data from {rd.window_start}; the store starts {cal.first}"
        )
    if rd.window_start > cal.last:
        raise StoreError(
            f"review {rd.review} needs data from {rd.window_start}; the store ends {cal.last}"
        )
    if rd.provisional and not allow_provisional:
        raise StoreError(
            f"review {rd.review} needs data up to its cutoff; the store ends {cal.last} "
            "(use `indexrecon rebalance` for a provisional forecast)"
        )


def latest_review_in_force(m: Methodology, cal: TradingCalendar, as_of: dt.date) -> str:
    """The last scheduled review whose effective date is on or before `as_of`."""
    y, mo = as_of.year, as_of.month
    for _ in range(12 * 30):
        if mo in m.schedule.review_months:
            label = f"{y:04d}-{mo:02d}"
            if review_dates(m, cal, label).effective <= as_of:
                return label
        y, mo = add_months(y, mo, -1)
    raise IndexReconError(f"no {m.name} review is in force on {as_of}")


def next_review_after(m: Methodology, cal: TradingCalendar, day: dt.date) -> str:
    """The first scheduled review effective after `day`."""
    y, mo = day.year, day.month
    for _ in range(24):
        if mo in m.schedule.review_months:
            label = f"{y:04d}-{mo:02d}"
            if review_dates(m, cal, label).effective > day:
                return label
        y, mo = add_months(y, mo, 1)
    raise IndexReconError(f"{m.name} has no review in the two years after {day}")
