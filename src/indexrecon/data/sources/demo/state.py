"""The generator's shared state and the calendar and numeric helpers its steps use.

`MarketState` holds one random stream and the window's sessions; each step (a mixin in
`listings`, `profiles`, `events`, `prices`, `capital`) reads what the steps before it drew and
adds its own arrays, listed below in draw order. Stocks are kept in code order and days in
calendar order so that a day's bars come out of the matrices already sorted by (date, code).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from .calibration import ANCHOR, HOLIDAYS, L1, L2


def d64(s: str | dt.date) -> np.datetime64:
    return np.datetime64(s, "D")


def trading_days(start: dt.date, end: dt.date) -> np.ndarray:
    """Weekdays from start to end without the exchange holidays, as datetime64[D]."""
    days = np.arange(d64(start), d64(end) + 1, dtype="datetime64[D]")
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    holidays = np.array(HOLIDAYS, dtype="datetime64[D]")
    return days[(weekday < 5) & ~np.isin(days, holidays)]


def next_weekday(days: np.ndarray) -> np.ndarray:
    """Move Saturdays and Sundays to the following Monday."""
    weekday = (days.astype(np.int64) + 3) % 7
    return days + np.where(weekday >= 5, 7 - weekday, 0).astype("timedelta64[D]")


def norm_ppf(q: np.ndarray) -> np.ndarray:
    nd = NormalDist()
    return np.array([nd.inv_cdf(float(x)) for x in q])


def bridge_path(
    rng: np.random.Generator,
    days: np.ndarray,
    knots: Sequence[tuple[str, float]],
    sd: float,
) -> np.ndarray:
    """A log-level path through the knots with Brownian-bridge noise between them."""
    n = len(days)
    x = days.astype(np.int64)
    kx = np.array([d64(k).astype(np.int64) for k, _ in knots])
    ky = np.array([v for _, v in knots])
    base = np.interp(x, kx, ky)
    walk = np.cumsum(rng.normal(0.0, sd, n))
    kidx = np.unique(np.concatenate([[0, n - 1], np.clip(np.searchsorted(x, kx), 0, n - 1)]))
    walk -= np.interp(np.arange(n), kidx, walk[kidx])
    return base + walk


def rows_before(days: np.ndarray, d: np.datetime64) -> int:
    """Index of the last trading day on or before d (0 if d precedes the window)."""
    return max(0, int(np.searchsorted(days, d, side="right")) - 1)


class MarketState:
    """The arrays the steps draw, per stock (N, code order) and per session (D)."""

    # the window (set here)
    seed: int
    scale: float
    rng: np.random.Generator
    days: np.ndarray
    D: int
    a_idx: int  # the calibration day's session
    l2_codes: np.ndarray
    l2_l1: np.ndarray
    l2_weight: np.ndarray
    # listings: codes, boards, listing and delisting, industries
    N: int
    code: np.ndarray
    board: np.ndarray
    list_date: np.ndarray
    list_idx: np.ndarray  # session of an IPO inside the window, -1 if listed before it
    first_idx: np.ndarray
    pre: np.ndarray
    is_main: np.ndarray
    code_changes: list[tuple[str, str, np.datetime64]]
    changed_codes: set[str]
    delist_idx: np.ndarray  # D = still listed at the end
    doomed: np.ndarray
    alive: np.ndarray  # (D, N)
    alive_a: np.ndarray
    l1: np.ndarray
    l2: np.ndarray
    # profiles: sizes and behaviour
    cap: np.ndarray
    giants: set[int]
    big: np.ndarray
    p0: np.ndarray
    vol: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    turn: np.ndarray
    ipo_jump: np.ndarray
    free_ratio: np.ndarray
    float_ratio: np.ndarray
    # events: status, corporate actions
    status_rows: list[tuple[int, np.datetime64, np.datetime64 | None, str]]
    st: np.ndarray  # (D, N)
    susp: np.ndarray  # (D, N)
    trade: np.ndarray  # (D, N)
    doom_start: np.ndarray
    ev_d: np.ndarray
    ev_i: np.ndarray
    ev_y: np.ndarray
    ev_f: np.ndarray
    ev_cash: np.ndarray  # filled by prices (the cash paid depends on the price)
    pl_i: np.ndarray
    pl_d: np.ndarray
    pl_x: np.ndarray
    # prices: raw OHLC in cents and turnover, (D, N)
    O: np.ndarray  # noqa: E741
    H: np.ndarray
    L: np.ndarray
    C: np.ndarray
    tr: np.ndarray
    close_a: np.ndarray
    anchor_close: np.ndarray
    anchor_idx: np.ndarray
    # capital: share capital change points
    units_a: np.ndarray
    sh_i: np.ndarray
    sh_date: np.ndarray
    sh_idx: np.ndarray
    sh_total: np.ndarray
    sh_float: np.ndarray
    sh_free: np.ndarray
    sh_src: np.ndarray

    def __init__(self, seed: int, scale: float, start: dt.date, end: dt.date) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.seed = seed
        self.scale = scale
        self.rng = np.random.default_rng(seed)
        self.days = trading_days(start, end)
        if len(self.days) < 60:
            raise ValueError("the demo window needs at least 60 trading days")
        self.D = len(self.days)
        anchor = d64(ANCHOR)
        if not (self.days[0] <= anchor <= self.days[-1]):
            anchor = self.days[self.D // 2]
        self.a_idx = rows_before(self.days, anchor)
        self.l2_codes = np.array([r[0] for r in L2])
        self.l2_l1 = np.array([[c for c, *_ in L1].index(r[0][:2] + "0000") for r in L2])
        self.l2_weight = np.array([r[3] for r in L2])

