"""Prices: raw daily OHLC within each board's limits, and the bars as Arrow blocks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from .calibration import ACTIVITY_KNOTS, BOARD_SPECS, L1, MARKET_KNOTS, NEW_LISTING_DAYS, ST_LIMIT
from .state import MarketState, bridge_path

# Every command on the demo store imports this package (its path), only the first one builds
# the store: pyarrow is imported where the bars are made.
if TYPE_CHECKING:
    import pyarrow as pa

class Prices(MarketState):
    """Draws the daily prices and turns them into bars."""

    def prices(self) -> None:
        """Simulate raw daily OHLC in cents, day by day, vectorised over stocks."""
        rng, D, N, days = self.rng, self.D, self.N, self.days
        n_l1 = len(L1)
        mkt = np.diff(bridge_path(rng, days, MARKET_KNOTS, 0.009), prepend=0.0)
        ind = rng.normal(0, 0.008, (D, n_l1))
        brd = rng.normal(0, 0.003, (D, len(BOARD_SPECS)))
        act = np.exp(bridge_path(rng, days, ACTIVITY_KNOTS, 0.05)) * (1 + 5 * np.abs(mkt))
        limit = np.array([s.limit for s in BOARD_SPECS])[self.board]
        kappa = 0.004  # mean reversion of the idiosyncratic level: keeps prices in range

        self.O = np.zeros((D, N), dtype=np.int32)
        self.H = np.zeros((D, N), dtype=np.int32)
        self.L = np.zeros((D, N), dtype=np.int32)
        self.C = np.zeros((D, N), dtype=np.int32)
        self.tr = np.zeros((D, N), dtype=np.float32)
        last = np.round(self.p0 * 100)  # cents; for IPOs the issue price
        u = np.zeros(N)
        pending = np.zeros(N)
        ev_start = np.searchsorted(self.ev_d, np.arange(D + 1))
        self.close_a = np.zeros(N)
        sig = self.vol
        for t in range(D):
            trade = self.trade[t]
            ref = last.copy()
            # Ex-dates: the reference price drops by the cash dividend and by the bonus factor.
            e0, e1 = ev_start[t], ev_start[t + 1]
            if e1 > e0:
                ei = self.ev_i[e0:e1]
                cash = np.round(self.ev_y[e0:e1] * ref[ei] / 100, 3)
                cash = np.minimum(cash, np.floor(ref[ei] * 0.1) / 100)
                self.ev_cash[e0:e1] = cash
                ref[ei] = np.round((ref[ei] - cash * 100) / self.ev_f[e0:e1])
            eps = rng.standard_t(4, N) / np.sqrt(2.0)
            du = -kappa * u + sig * eps
            u += du
            r = self.beta * mkt[t] + self.gamma * ind[t, self.l1] + brd[t, self.board] + du
            r -= 0.0004 * self.st[t]
            r -= 0.004 * ((t >= self.doom_start) & (t < self.delist_idx))
            age = t - self.list_idx
            new = (self.list_idx >= 0) & (age >= 0) & (age < NEW_LISTING_DAYS)
            first = self.list_idx == t
            want = r + pending
            want[first] = self.ipo_jump[first]
            want[new & ~first] = np.clip(want[new & ~first] * 1.8, -0.3, 0.45)
            lim = limit.copy()
            lim[self.is_main & self.st[t]] = ST_LIMIT
            # Limit prices round half-up to the fen; the epsilon absorbs binary noise (x.5).
            up = np.floor(ref * (1 + lim) + 0.5 + 1e-7)
            dn = np.maximum(np.floor(ref * (1 - lim) + 0.5 + 1e-7), 1)
            up[new] = np.inf
            dn[new] = 1
            c = np.clip(np.round(ref * np.exp(want)), dn, up)
            real = np.log(c / ref)
            gap = 0.35 * real + 0.4 * sig * rng.standard_normal(N)
            gap[first] = real[first] * rng.uniform(0.3, 1.0, first.sum())
            o = np.clip(np.round(ref * np.exp(gap)), dn, up)
            spread = 0.55 * sig * (1 + 2 * new)
            h = np.clip(
                np.round(np.maximum(o, c) * np.exp(np.abs(rng.standard_normal(N)) * spread)), dn, up
            )
            lo = np.clip(
                np.round(np.minimum(o, c) * np.exp(-np.abs(rng.standard_normal(N)) * spread)),
                dn,
                up,
            )
            h = np.maximum(h, np.maximum(o, c))
            lo = np.minimum(lo, np.minimum(o, c))
            # Turnover as a fraction of float cap: busier on big moves and early sessions.
            tr = (
                self.turn
                * act[t]
                * np.exp(0.4 * rng.standard_normal(N) - 0.08)
                * (1 + 4 * np.abs(real))
            )
            tr[new] = np.array([0.7, 0.45, 0.32, 0.25, 0.2])[age[new]] * rng.uniform(
                0.7, 1.3, new.sum()
            )
            # The clipped part of a move carries over (limit streaks, catch-up after a halt).
            pending = np.where(trade, 0.6 * (want - real), pending + r)
            pending[first] = 0.0
            pending = np.clip(pending, -1.0, 1.0)
            # Whole rows are stored; bar_blocks only reads the cells where `trade` is set.
            self.O[t], self.H[t], self.L[t], self.C[t], self.tr[t] = o, h, lo, c, tr
            last = np.where(trade, c, last)
            if t == self.a_idx:
                self.close_a = last.copy()
        # Close on each stock's anchor day: the calibration day if listed then, else the
        # first session (IPOs after it, stocks delisted before it).
        first_close = self.C[self.first_idx, np.arange(N)].astype(float)
        traded = self.trade[self.first_idx, np.arange(N)] & (first_close > 0)
        first_close = np.where(traded, first_close, np.round(self.p0 * 100))
        self.anchor_close = np.where(self.alive_a, self.close_a, first_close) / 100
        self.anchor_idx = np.where(self.alive_a, self.a_idx, self.first_idx)


    # -- bars --------------------------------------------------------------------------------
    def bar_blocks(self, rows_per_block: int = 2_500_000) -> Iterator[pa.Table]:
        """Arrow tables of the bars in (date, code) order, a block of days at a time."""
        import pyarrow as pa

        D, N = self.D, self.N
        # Float shares per stock as they change through the window: the state before the
        # window, then the in-window change points session by session.
        flt = self._float_on(-1)
        order = np.argsort(self.sh_idx, kind="stable")
        sh_idx, sh_i, sh_float = self.sh_idx[order], self.sh_i[order], self.sh_float[order]
        starts = np.searchsorted(sh_idx, np.arange(D + 1))

        # Per-board scale so that each board's turnover on the anchor day hits its target.
        t = self.a_idx
        on = np.flatnonzero(self.trade[t])
        raw = self.tr[t, on] * self.C[t, on] / 100 * self._float_on(t)[on]
        k = np.ones(len(BOARD_SPECS))
        for b, spec in enumerate(BOARD_SPECS):
            s = raw[self.board[on] == b].sum()
            if s > 0:
                k[b] = spec.amount * self.scale / s
        kb = k[self.board]

        code_dict = pa.array(self.code.tolist(), type=pa.string())
        days_per_block = max(1, rows_per_block // max(1, N))
        for t0 in range(0, D, days_per_block):
            t1 = min(D, t0 + days_per_block)
            fl = np.empty((t1 - t0, N))
            for t in range(t0, t1):
                flt[sh_i[starts[t] : starts[t + 1]]] = sh_float[starts[t] : starts[t + 1]]
                fl[t - t0] = flt
            # Row-major boolean selection yields the rows in (date, code) order.
            flat = np.flatnonzero(self.trade[t0:t1])
            tt, ii = np.divmod(flat, N)

            def cells(
                m: np.ndarray, t0: int = t0, t1: int = t1, flat: np.ndarray = flat
            ) -> np.ndarray:
                return m[t0:t1].reshape(-1).take(flat)

            o, h, lo, c = (cells(m) for m in (self.O, self.H, self.L, self.C))
            vwap = (o + h + lo + c) * 0.0025  # CNY, between low and high
            amount = (kb[ii] * 0.01) * cells(self.tr) * c * fl.reshape(-1).take(flat)
            lots = np.maximum(1, np.rint(amount / vwap * 0.01))
            volume = (lots * 100).astype(np.int64)
            amount = np.rint(lots * vwap * 100)
            yield (
                pa.table(
                    {
                        "code": pa.DictionaryArray.from_arrays(
                            pa.array(ii.astype(np.int32)), code_dict
                        ),
                        "date": pa.array(self.days[t0 + tt]),
                        "open": o / 100,
                        "high": h / 100,
                        "low": lo / 100,
                        "close": c / 100,
                        "amount": amount,
                        "volume": volume,
                    }
                )
            )

    def _float_on(self, t: int) -> np.ndarray:
        """Float shares of every stock in force on session t (-1: before the window)."""
        # Share rows are ordered by (stock, date): the row in force is the last one of its
        # stock with a session index <= t.
        i, k = self.sh_i, self.sh_idx
        nxt_i = np.append(i[1:], -1)
        nxt_k = np.append(k[1:], np.iinfo(np.int64).max)
        last = (k <= t) & ((nxt_i != i) | (nxt_k > t))
        flt = np.zeros(self.N)
        flt[i[last]] = self.sh_float[last]
        return flt
