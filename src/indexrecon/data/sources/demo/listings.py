"""Listings: codes, listing and delisting dates, code changes, industries and their history."""

from __future__ import annotations

import numpy as np

from .calibration import BOARD_SPECS, L1, L2, MAIN_BOARDS, BoardSpec
from .state import MarketState, d64, next_weekday


class Listings(MarketState):
    """Draws the securities: who lists where and when, who leaves, in which industry."""

    def universe(self) -> None:
        rng, days, D = self.rng, self.days, self.D
        start = days[0]
        board, list_date, list_idx, codes = [], [], [], []
        for b, spec in enumerate(BOARD_SPECS):
            n = max(1, round(spec.n * self.scale))
            n_ipo = min(n - 1, round(spec.n_ipo * self.scale))
            n_pre = n - n_ipo
            # Listing dates before the window, denser in recent years.
            first = d64(spec.first_list)
            last = start - np.timedelta64(14, "D")
            span = (last - first).astype(np.int64)
            u = rng.uniform(0, 1, n_pre) ** (1 / spec.list_skew)
            offset = (u * span).astype(np.int64).astype("timedelta64[D]")
            pre = next_weekday(np.minimum(first + offset, last))
            # IPO sessions inside the window: busy 2023 to August, then the slowdown.
            year = days.astype("datetime64[Y]").astype(np.int64) + 1970
            month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
            w = np.select(
                [(year == 2023) & (month <= 8), year == 2023, year == 2024, year == 2025],
                [1.0, 0.45, 0.22, 0.3],
                0.35,
            )
            w[0] = 0.0
            ipo_idx = np.sort(rng.choice(D, size=n_ipo, p=w / w.sum()))
            dates = np.concatenate([np.sort(pre), days[ipo_idx]])
            idx = np.concatenate([np.full(n_pre, -1), ipo_idx])
            # Codes are handed out in listing order from the historical ranges.
            pool = self._code_pool(spec, n)
            picks = np.sort(rng.choice(len(pool), size=n, replace=False))
            codes.extend(f"{c:06d}" for c in pool[picks])
            board.extend([b] * n)
            list_date.append(dates)
            list_idx.append(idx)
        self.code = np.array(codes)
        self.board = np.array(board)
        self.list_date = np.concatenate(list_date)
        self.list_idx = np.concatenate(list_idx)
        self.code_changes: list[tuple[str, str, np.datetime64]] = []
        self._code_changes()
        order = np.argsort(self.code, kind="stable")
        for name in ("code", "board", "list_date", "list_idx"):
            setattr(self, name, getattr(self, name)[order])
        self.N = len(self.code)
        self.pre = self.list_idx < 0
        self.first_idx = np.maximum(self.list_idx, 0)
        self.is_main = np.isin(self.board, MAIN_BOARDS)

    @staticmethod
    def _code_pool(spec: BoardSpec, n: int) -> np.ndarray:
        """The board's real code ranges, plus as much overflow as n stocks need."""
        parts = [np.arange(lo, hi + 1) for lo, hi in spec.code_ranges]
        room = sum(len(p) for p in parts)
        for lo, hi in spec.overflow_ranges:
            if room >= 1.1 * n:
                break
            parts.append(np.arange(lo, hi + 1))
            room += hi - lo + 1
        return np.concatenate(parts)

    def _code_changes(self) -> None:
        """Rename one old ChiNext and one old BSE stock; history stays under the new code."""
        rng = self.rng
        for b, prefix, new_prefix, when in (
            (2, "300", "302", "2025-02-17"),
            (4, "920", "83", "2025-10-09"),
        ):
            cand = np.flatnonzero(
                (self.board == b) & (self.list_idx < 0) & np.char.startswith(self.code, prefix)
            )
            if len(cand) == 0:
                continue
            i = int(rng.choice(cand))
            old = self.code[i]
            if new_prefix == "302":
                new = "302" + old[3:]
            else:
                # BSE: the old 83xxxx code became the 920xxx code the store uses.
                new, old = old, "83" + old[2:]
            d = self.days[min(self.D - 1, int(np.searchsorted(self.days, d64(when))))]
            self.code[i] = new
            self.code_changes.append((old, new, d))
        self.changed_codes = {new for _, new, _ in self.code_changes}

    # -- delistings, industries, sizes ----------------------------------------------------
    def delistings(self) -> None:
        rng, D, N = self.rng, self.D, self.N
        self.delist_idx = np.full(N, D)  # D = still listed at the end
        self.doomed = np.zeros(N, dtype=bool)
        old = self.pre & (self.list_date < self.days[0] - np.timedelta64(365, "D"))
        for b, spec in enumerate(BOARD_SPECS):
            cand = np.flatnonzero(
                (self.board == b) & old & ~np.isin(self.code, list(self.changed_codes))
            )
            k = min(len(cand), round(spec.n_delist * self.scale))
            if k <= 0:
                continue
            pick = rng.choice(cand, size=k, replace=False)
            self.delist_idx[pick] = rng.integers(45, D - 1, size=k)
            self.doomed[pick] = True
        self.alive = (np.arange(D)[:, None] >= self.first_idx[None, :]) & (
            np.arange(D)[:, None] < self.delist_idx[None, :]
        )
        self.alive_a = self.alive[self.a_idx]

    def industries(self) -> None:
        rng, N = self.rng, self.N
        mix = np.array([w for *_, w, _ in L1], dtype=float)  # (31, 5)
        self.l1 = np.empty(N, dtype=np.int64)
        for b in range(len(BOARD_SPECS)):
            sel = np.flatnonzero(self.board == b)
            p = mix[:, b] / mix[:, b].sum()
            self.l1[sel] = rng.choice(len(L1), size=len(sel), p=p)
        self.l2 = np.empty(N, dtype=np.int64)
        for j in range(len(L1)):
            sel = np.flatnonzero(self.l1 == j)
            cand = np.flatnonzero(self.l2_l1 == j)
            w = self.l2_weight[cand]
            self.l2[sel] = rng.choice(cand, size=len(sel), p=w / w.sum())

    def _draw_l2(self, l1: int, exclude: int = -1) -> int:
        cand = np.flatnonzero((self.l2_l1 == l1) & (np.arange(len(L2)) != exclude))
        if len(cand) == 0:
            cand = np.flatnonzero(self.l2_l1 == l1)
        w = self.l2_weight[cand]
        return int(self.rng.choice(cand, p=w / w.sum()))


    # -- industry history -------------------------------------------------------------------
    def industry_rows(self) -> list[tuple[int, np.datetime64, np.datetime64 | None, int]]:
        """Intervals (stock, start, end, l2 index); a handful of stocks are reclassified."""
        rng, D, days = self.rng, self.D, self.days
        rows: list[tuple[int, np.datetime64, np.datetime64 | None, int]] = []
        movers = set(
            rng.choice(
                np.flatnonzero(~self.big & ~self.doomed & self.pre),
                size=max(1, round(30 * self.scale)),
                replace=False,
            ).tolist()
        )
        for i in range(self.N):
            l2 = int(self.l2[i])
            if i in movers:
                k = int(rng.integers(40, D - 40))
                if rng.uniform() < 0.6:
                    new = self._draw_l2(int(self.l2_l1[l2]), exclude=l2)
                else:
                    mix = np.array([w[self.board[i]] for *_, w, _ in L1], dtype=float)
                    mix[self.l2_l1[l2]] = 0
                    new = self._draw_l2(int(rng.choice(len(L1), p=mix / mix.sum())))
                if new != l2:
                    rows.append((i, self.list_date[i], days[k - 1], l2))
                    rows.append((i, days[k], None, new))
                    continue
            rows.append((i, self.list_date[i], None, l2))
        return rows
