"""Capital: change points of total, float and free-float shares, solved so that market
caps on the calibration day hit their targets.
"""

from __future__ import annotations

import numpy as np

from .state import MarketState, d64


class Capital(MarketState):
    """Draws the share capital history."""

    def share_capital(self) -> None:
        """Change points of total/float/free-float shares; solved so caps hit the targets."""
        rng, D, days = self.rng, self.D, self.days
        start64 = days[0]

        def to_day(d: np.datetime64) -> tuple[np.datetime64, int] | None:
            """Snap a date to a session inside the window (index) or a weekday before it."""
            if d < start64:
                weekday = (int(d.astype(np.int64)) + 3) % 7
                return d + np.timedelta64(7 - weekday if weekday >= 5 else 0, "D"), -1
            k = int(np.searchsorted(days, d))
            return (days[k], k) if k < D else None

        bonus_by_stock: dict[int, list[tuple[int, float]]] = {}
        for d, i, f in zip(self.ev_d, self.ev_i, self.ev_f, strict=True):
            if f > 1:
                bonus_by_stock.setdefault(int(i), []).append((int(d), float(f)))
        pl_by_stock: dict[int, list[tuple[int, float]]] = {}
        for i, d, x in zip(self.pl_i, self.pl_d, self.pl_x, strict=True):
            pl_by_stock.setdefault(int(i), []).append((int(d), float(x)))

        recent = d64("2020-01-01")
        rows_i, rows_date, rows_idx, rows_tot, rows_flt, rows_free, rows_src = (
            [] for _ in range(7)
        )
        self.units_a = np.ones(self.N)
        for i in range(self.N):
            ld = self.list_date[i]
            # events: (date, priority, kind, value, pool id); priority orders same-day events
            ev: list[tuple[np.datetime64, int, str, float, int]] = []
            pools: dict[int, list[float]] = {}  # id -> [amount, free fraction]
            fr, phi = self.free_ratio[i], self.float_ratio[i]
            ipo_like = self.list_idx[i] >= 0 or ld >= recent
            if ipo_like:
                f0 = float(np.clip(rng.normal(0.25 if self.is_main[i] else 0.22, 0.04), 0.12, 0.4))
                total, flt, free = 1.0, f0, f0 * float(rng.uniform(0.85, 1.0))
                rest = 1.0 - f0 - 0.30
                ff = float(np.clip((fr - free - 0.288) / rest, 0.0, 1.0))
                for k, (amount, frac, after) in enumerate(
                    ((0.18, 1.0, 182), (0.12, 0.9, 365), (rest, ff, 1096))
                ):
                    pools[k] = [amount, frac]
                    ev.append((ld + np.timedelta64(after, "D"), 1, "unlock", 0.0, k))
                src0 = "ipo" if self.list_idx[i] >= 0 else "listing"
            else:
                total, flt, free = 1.0, phi, fr
                if rng.uniform() < 0.1 and phi > 0.3:
                    # Restricted shares from an earlier placement that unlock in the window.
                    amt = float(rng.uniform(0.05, 0.2))
                    flt, free = phi - amt, min(fr, phi - amt)
                    pools[0] = [amt, float(rng.uniform(0.5, 1.0))]
                    when = days[int(rng.integers(5, min(D, 400)))]
                    ev.append((when, 1, "unlock", 0.0, 0))
                src0 = "listing"
            for d, f in bonus_by_stock.get(i, []):
                ev.append((days[d], 2, "bonus", f, -1))
            for d, x in pl_by_stock.get(i, []):
                k = len(pools) + 10
                ev.append((days[d], 3, "placement", x, k))
                ev.append((days[d] + np.timedelta64(182, "D"), 1, "unlock", 0.0, k))
            ev.sort(key=lambda e: (e[0], e[1]))
            # Walk the events in date order, writing the state after each day's events.
            points: list[tuple[np.datetime64, int, float, float, float, str]] = []
            snapped = to_day(ld) if self.list_idx[i] < 0 else (ld, int(self.list_idx[i]))
            assert snapped is not None
            points.append((snapped[0], snapped[1], total, flt, free, src0))
            bonus_days = {d for d, _ in bonus_by_stock.get(i, [])}
            for d, _, kind, val, pid in ev:
                where = to_day(d)
                if where is not None and kind != "bonus" and where[1] in bonus_days:
                    # Keep ex-dates pure so their share ratios equal the bonus factor.
                    k = where[1] + 1
                    where = (days[k], k) if k < D else None
                if where is None or where[1] >= self.delist_idx[i]:
                    continue
                if kind == "bonus":
                    total, flt, free = total * val, flt * val, free * val
                    for p in pools.values():
                        p[0] *= val
                    src = "bonus_conversion"
                elif kind == "placement":
                    pools[pid] = [total * val, 0.6]
                    total += total * val
                    src = "placement"
                else:
                    amount, frac = pools.pop(pid, [0.0, 0.0])
                    if amount <= 0:
                        continue
                    flt += amount
                    free += amount * frac
                    src = "lockup_expiry"
                free = min(free, flt)
                if points[-1][0] == where[0]:
                    prev_src = points[-1][5]
                    src = prev_src if prev_src in ("ipo", "listing", "bonus_conversion") else src
                    points[-1] = (where[0], where[1], total, flt, free, src)
                else:
                    points.append((where[0], where[1], total, flt, free, src))
            for d, k, tot, fl, fre, src in points:
                if k <= self.anchor_idx[i]:
                    self.units_a[i] = tot
                rows_i.append(i)
                rows_date.append(d)
                rows_idx.append(k)
                rows_tot.append(tot)
                rows_flt.append(fl)
                rows_free.append(fre)
                rows_src.append(src)
        s0 = self.cap / (self.anchor_close * self.units_a)
        ri = np.array(rows_i)
        self.sh_i = ri
        self.sh_date = np.array(rows_date, dtype="datetime64[D]")
        self.sh_idx = np.array(rows_idx)
        self.sh_total = np.rint(s0[ri] * np.array(rows_tot))
        self.sh_float = np.minimum(np.rint(s0[ri] * np.array(rows_flt)), self.sh_total)
        self.sh_free = np.minimum(np.rint(s0[ri] * np.array(rows_free)), self.sh_float)
        self.sh_src = np.array(rows_src)
