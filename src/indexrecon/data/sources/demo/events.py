"""Events: ST episodes, delisting periods and suspensions; dividends, bonus issues and
placements.
"""

from __future__ import annotations

import numpy as np

from .calibration import (
    BOARD_SPECS,
    BONUS_FACTORS,
    BONUS_WEIGHTS,
    DELISTING_DAYS,
    L1,
    NEW_LISTING_DAYS,
)
from .state import MarketState, d64, next_weekday


class Events(MarketState):
    """Draws the status intervals and the corporate actions."""

    def statuses(self) -> None:
        rng, D, N, days = self.rng, self.D, self.N, self.days
        self.status_rows: list[tuple[int, np.datetime64, np.datetime64 | None, str]] = []
        self.st = np.zeros((D, N), dtype=bool)
        self.susp = np.zeros((D, N), dtype=bool)
        self.doom_start = np.full(N, D)

        def pre_window_date(back_days: int) -> np.datetime64:
            d = days[0] - np.timedelta64(int(back_days), "D")
            return next_weekday(np.array([d]))[0]

        for i in np.flatnonzero(self.doomed):
            last = self.delist_idx[i] - 1
            dl_start = max(0, last - DELISTING_DAYS + 1)
            st_len = int(rng.integers(120, 400))
            st_start = dl_start - st_len
            self.doom_start[i] = max(0, dl_start - 200)
            if dl_start > 0:
                sd = days[st_start] if st_start >= 0 else pre_window_date(rng.integers(30, 400))
                self.status_rows.append((i, sd, days[dl_start - 1], "*ST"))
                self.st[max(0, st_start) : dl_start, i] = True
            self.status_rows.append((i, days[dl_start], days[last], "delisting"))

        # ST / *ST episodes of ordinary stocks, some already running when the window opens.
        st_share = np.array([s.st_share for s in BOARD_SPECS])[self.board]
        cand = ~self.doomed & ~self.big & (self.list_date < days[0] - np.timedelta64(365, "D"))
        chosen = np.flatnonzero(cand & (rng.uniform(0, 1, N) < st_share * 1.6))
        for i in chosen:
            before = rng.uniform() < 0.35
            s = 0 if before else int(rng.integers(0, D - 60))
            e = s + int(rng.integers(100, 450))
            kind = "*ST" if rng.uniform() < 0.55 else "ST"
            sd = pre_window_date(rng.integers(30, 500)) if before else days[s]
            self.st[s : min(e + 1, D), i] = True
            split = kind == "*ST" and not before and rng.uniform() < 0.3
            if split:  # the delisting risk is lifted halfway: *ST becomes ST
                mid = (s + e) // 2
                if mid < D:
                    self.status_rows.append((i, sd, days[mid - 1], "*ST"))
                    sd, kind = days[mid], "ST"
            self.status_rows.append((i, sd, days[e] if e < D else None, kind))

        # Suspensions: short ones are common, a few last longer than three months.
        n_long = max(1, round(12 * self.scale))
        lengths = [int(x) for x in rng.integers(1, 11, size=round(0.1 * N))]
        lengths += [int(x) for x in rng.integers(11, 61, size=round(0.012 * N))]
        lengths += [int(x) for x in rng.integers(70, 200, size=n_long)]
        who = rng.choice(np.flatnonzero(~self.big), size=len(lengths))
        for i, n in zip(who, lengths, strict=True):
            lo = self.first_idx[i] + NEW_LISTING_DAYS + 1
            hi = min(self.delist_idx[i] - DELISTING_DAYS - 2, D - 2) - n
            if hi <= lo:
                continue
            s = int(rng.integers(lo, hi))
            e = s + n - 1
            if self.susp[max(0, s - 2) : e + 3, i].any():
                continue
            self.susp[s : e + 1, i] = True
            self.status_rows.append((i, days[s], days[e], "suspended"))
        self.trade = self.alive & ~self.susp

    # -- corporate actions -----------------------------------------------------------------
    def corporate_actions(self) -> None:
        """Dividends and bonus shares (ex-date events) and placements (share changes)."""
        rng, D, N, days = self.rng, self.D, self.N, self.days
        payer = ~self.doomed & (
            rng.uniform(0, 1, N) < np.array([s.payer_share for s in BOARD_SPECS])[self.board]
        )
        yld = np.exp(rng.normal(np.log(0.012), 0.6, N))
        rich = np.isin(self.l1, [i for i, r in enumerate(L1) if r[0] in ("480000", "740000")])
        yld[rich] *= 3.5
        bonus_p = np.array([s.bonus_prob for s in BOARD_SPECS])[self.board]
        bonus_p = bonus_p * np.where(self.p0 > 40, 2.5, 1.0)
        ev_d, ev_i, ev_y, ev_f = [], [], [], []
        years = range(int(str(days[0])[:4]), int(str(days[-1])[:4]) + 1)
        for y in years:
            for lo, hi, frac, mult in (
                (f"{y}-05-15", f"{y}-07-31", 1.0, 1.0),
                (f"{y}-10-10", f"{y + 1}-01-20", 0.12, 0.5),
            ):
                i0, i1 = np.searchsorted(days, [d64(lo), d64(hi)])
                if i1 - i0 < 5:
                    continue
                who = np.flatnonzero(payer & (rng.uniform(0, 1, N) < frac))
                d = rng.integers(max(i0, 1), i1, size=len(who))
                ok, d = self._valid_ex_dates(who, d)
                who, d = who[ok], d[ok]
                seasoned = self.list_date[who] <= days[d] - np.timedelta64(240, "D")
                who, d = who[seasoned], d[seasoned]
                f = np.ones(len(who))
                if mult == 1.0:
                    gets = rng.uniform(0, 1, len(who)) < bonus_p[who]
                    f[gets] = rng.choice(BONUS_FACTORS, size=gets.sum(), p=BONUS_WEIGHTS)
                y_ = yld[who] * mult * np.exp(rng.normal(0, 0.2, len(who)))
                y_[(f > 1) & (rng.uniform(0, 1, len(who)) < 0.15)] = 0.0  # bonus only
                ev_d.append(d)
                ev_i.append(who)
                ev_y.append(y_)
                ev_f.append(f)
        ev_d_a = np.concatenate(ev_d) if ev_d else np.zeros(0, dtype=np.int64)
        order = np.lexsort((np.concatenate(ev_i), ev_d_a)) if ev_d else np.zeros(0, dtype=int)
        self.ev_d = ev_d_a[order]
        self.ev_i = np.concatenate(ev_i)[order] if ev_d else np.zeros(0, dtype=np.int64)
        self.ev_y = np.concatenate(ev_y)[order] if ev_d else np.zeros(0)
        self.ev_f = np.concatenate(ev_f)[order] if ev_d else np.zeros(0)
        self.ev_cash = np.zeros(len(self.ev_d))

        # Placements: ~8% of stocks issue 5-25% new shares, locked up for six months.
        cand = np.flatnonzero(~self.doomed & (rng.uniform(0, 1, N) < 0.08))
        pd_ = rng.integers(1, D - 1, size=len(cand))
        earliest = np.where(self.pre[cand], 1, self.first_idx[cand] + 250)
        keep = (pd_ >= earliest) & (pd_ < self.delist_idx[cand] - 60)
        self.pl_i, self.pl_d = cand[keep], pd_[keep]
        self.pl_x = rng.uniform(0.05, 0.25, len(self.pl_i))

    def _valid_ex_dates(self, who: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Move each ex-date to the first session (within 10) where the stock trades on it
        and on the session before and is not ST; drop the rest."""
        ok = np.zeros(len(who), dtype=bool)
        out = d.copy()
        for k in range(11):
            dd = np.minimum(d + k, self.D - 1)
            good = (
                ~ok
                & (dd >= 1)
                & self.trade[dd, who]
                & self.trade[np.maximum(dd - 1, 0), who]
                & ~self.st[dd, who]
                & (dd < self.delist_idx[who] - DELISTING_DAYS - 5)
            )
            out[good] = dd[good]
            ok |= good
        return ok, out
