"""Profiles: each stock's market cap on the calibration day, price level, volatility,
turnover and free float.
"""

from __future__ import annotations

import numpy as np

from .calibration import BOARD_SPECS, L1
from .state import MarketState, norm_ppf


class Profiles(MarketState):
    """Draws each stock's size and behaviour."""

    def sizes(self) -> None:
        """Market cap targets, price levels, volatilities, turnover and free-float ratios."""
        rng, N = self.rng, self.N
        shift = np.array([s for *_, s in L1])[self.l1]
        days0 = self.days[0]
        cap = np.zeros(N)
        for b, spec in enumerate(BOARD_SPECS):
            on = np.flatnonzero((self.board == b) & self.alive_a & ~self.doomed)
            n = len(on)
            if n:
                # Stratified normal scores keep the distribution's shape stable per seed;
                # older listings tend to get the larger ones.
                age = (days0 - self.list_date[on]).astype(np.float64) / 3650
                rank = np.argsort(np.argsort(-(age + rng.normal(0, 1.0, n))))
                z = norm_ppf(1 - (rank + rng.uniform(0.2, 0.8, n)) / n)
                lc = spec.cap_sigma * z + spec.cap_skew * np.maximum(z, 0) ** 2
                c = np.exp(lc + shift[on] + rng.normal(0, 0.1, n))
                total = spec.cap_total * self.scale
                cap[on] = self._fit_total(c, total, spec.cap_max, force_max=spec.board == "chinext")
                med, sig = np.median(np.log(cap[on])), spec.cap_sigma
            else:
                med, sig = np.log(spec.cap_total / max(1, spec.n)), spec.cap_sigma
            # New listings after the anchor day are drawn smaller than the incumbents.
            off = np.flatnonzero((self.board == b) & ~self.alive_a & ~self.doomed)
            cap[off] = np.exp(med - 0.3 + 0.7 * sig * rng.standard_normal(len(off)))
        doomed = np.flatnonzero(self.doomed)
        cap[doomed] = np.exp(rng.normal(np.log(1.6e9), 0.4, len(doomed)))
        self.cap = cap

        # The ChiNext giant is a battery maker, like the real board's largest stock.
        cx = np.flatnonzero((self.board == 2) & self.alive_a)
        self.giants = set()
        for b in range(len(BOARD_SPECS)):
            on = np.flatnonzero((self.board == b) & self.alive_a)
            self.giants.update(on[np.argsort(-cap[on])[: max(1, len(on) // 20)]].tolist())
        if len(cx):
            g = cx[np.argmax(cap[cx])]
            self.l1[g] = [c for c, *_ in L1].index("630000")
            self.l2[g] = int(np.flatnonzero(self.l2_codes == "630700")[0])
        self.big = np.zeros(N, dtype=bool)
        self.big[list(self.giants)] = True

        spec_price = np.array([s.price for s in BOARD_SPECS])[self.board]
        spec_vol = np.array([s.vol for s in BOARD_SPECS])[self.board]
        spec_beta = np.array([s.beta for s in BOARD_SPECS])[self.board]
        spec_turn = np.array([s.turnover for s in BOARD_SPECS])[self.board]
        ipo_price = np.array([s.ipo_price for s in BOARD_SPECS])[self.board]
        rel = np.log(cap / 5e9)
        logp = np.log(spec_price) + 0.3 * rel + rng.normal(0, 0.45, N)
        p0 = np.clip(np.exp(logp), 2.0, 500.0)
        p0[self.doomed] = rng.uniform(1.3, 3.5, self.doomed.sum())
        issue = np.clip(np.exp(np.log(ipo_price) + 0.2 * rel + rng.normal(0, 0.45, N)), 3, 150)
        self.p0 = np.where(self.pre, p0, issue)
        self.vol = np.clip(spec_vol * np.exp(-0.12 * rel + rng.normal(0, 0.15, N)), 0.008, 0.06)
        self.beta = spec_beta + rng.normal(0, 0.15, N)
        self.gamma = 1 + rng.normal(0, 0.25, N)
        self.turn = spec_turn * np.exp(-0.3 * rel + rng.normal(0, 0.35, N))
        jump = np.array([s.ipo_jump for s in BOARD_SPECS])[self.board]
        self.ipo_jump = np.clip(jump + rng.normal(0, 0.5, N), -0.35, 3.0)
        # Free float as a share of total capital: 15%..100%, lower for big caps (state
        # holders), so that the CSI tiered inclusion factors actually vary.
        q = rng.beta(2.2, 1.8, N)
        fr = np.clip(0.12 + 0.88 * q - 0.05 * np.clip(rel, 0, None), 0.13, 1.0)
        fr[(rng.uniform(0, 1, N) < 0.04) & ~self.big] = 1.0
        self.free_ratio = fr
        # Float ratio >= free ratio; A+H style large caps float only part of their capital.
        phi = np.where(rng.uniform(0, 1, N) < 0.8, 1.0, rng.uniform(0.6, 1.0, N))
        ah = self.big & (rng.uniform(0, 1, N) < 0.3)
        phi[ah] = rng.uniform(0.25, 0.8, ah.sum())
        self.float_ratio = phi
        self.free_ratio = np.minimum(self.free_ratio, phi)

    @staticmethod
    def _fit_total(c: np.ndarray, total: float, cap_max: float, force_max: bool) -> np.ndarray:
        """Scale caps to the board total under the size ceiling (or with a forced largest)."""
        cap_max = min(cap_max, 0.3 * total)
        c = c.copy()
        top = int(np.argmax(c))
        rest = np.ones(len(c), dtype=bool)
        if force_max and len(c) > 1:
            c[top] = cap_max
            rest[top] = False
            ceiling = 0.45 * cap_max
            budget = total - cap_max
        else:
            ceiling = cap_max
            budget = total
        for _ in range(8):
            c[rest] *= budget / c[rest].sum()
            c[rest] = np.minimum(c[rest], ceiling)
        return c
