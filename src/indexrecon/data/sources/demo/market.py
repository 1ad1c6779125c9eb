"""The demo market: its steps in their fixed order, and the writing of the tables.

One random stream feeds every step, so the order of the steps in `build` is part of the data:
the same seed gives the same store only if the draws happen in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np

from .calibration import BOARD_SPECS, DEMO_VERSION, L1, L2
from .capital import Capital
from .events import Events
from .listings import Listings
from .prices import Prices
from .profiles import Profiles


class DemoMarket(Listings, Profiles, Events, Prices, Capital):
    """Draws the whole synthetic market in numpy arrays; `write` puts it into a store."""

    def build(self) -> None:
        self.universe()
        self.delistings()
        self.industries()
        self.sizes()
        self.statuses()
        self.corporate_actions()
        self.prices()
        self.share_capital()

    def write(self, con: duckdb.DuckDBPyConnection) -> None:
        import pyarrow as pa

        days, code = self.days, self.code
        l1c = [r[0] for r in L1]

        def insert(table: str, data: dict[str, pa.Array | np.ndarray | list], order: str) -> None:
            tbl = pa.table(data)
            con.register("_demo_rows", tbl)
            cols = ", ".join(data)
            con.execute(
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _demo_rows ORDER BY {order}"
            )
            con.unregister("_demo_rows")

        def dates(values: Sequence[np.datetime64 | None]) -> pa.Array:
            mask = np.array([v is None for v in values])
            arr = np.array([v if v is not None else days[0] for v in values], dtype="datetime64[D]")
            return pa.array(arr, mask=mask)

        insert("calendar", {"date": pa.array(days)}, "date")
        exch = np.array([s.exchange for s in BOARD_SPECS])[self.board]
        boards = np.array([s.board for s in BOARD_SPECS])[self.board]
        short = np.array([r[3] for r in L1])[self.l1]
        names = [f"演示{s}{k + 1:04d}" for k, s in enumerate(short)]
        delist = [days[d] if d < self.D else None for d in self.delist_idx]
        insert(
            "securities",
            {
                "code": code.tolist(),
                "exchange": exch.tolist(),
                "board": boards.tolist(),
                "name": names,
                "list_date": pa.array(self.list_date),
                "delist_date": dates(delist),
            },
            "code",
        )
        insert(
            "shares",
            {
                "code": code[self.sh_i].tolist(),
                "effective_date": pa.array(self.sh_date),
                "total_shares": self.sh_total,
                "float_shares": self.sh_float,
                "free_float_shares": self.sh_free,
                "source": self.sh_src.tolist(),
            },
            "code, effective_date",
        )
        div = self.ev_cash > 0
        insert(
            "dividends",
            {
                "code": code[self.ev_i[div]].tolist(),
                "ex_date": pa.array(days[self.ev_d[div]]),
                "cash_per_share": self.ev_cash[div],
            },
            "code, ex_date",
        )
        st = self.status_rows
        insert(
            "status",
            {
                "code": [code[i] for i, *_ in st],
                "start_date": dates([s for _, s, _, _ in st]),
                "end_date": dates([e for _, _, e, _ in st]),
                "status": [k for *_, k in st],
            },
            "code, start_date, status",
        )
        ind = self.industry_rows()
        l2i = [k for *_, k in ind]
        # A plausible level-3 code under the level 2 (not a real SW2021 mapping).
        l3 = [L2[k][0][:4] + f"{1 + int(code[i][-1]) % 3:02d}" for i, *_, k in ind]
        l1i = [l1c.index(L2[k][0][:2] + "0000") for k in l2i]
        insert(
            "industry",
            {
                "code": [code[i] for i, *_ in ind],
                "start_date": dates([s for _, s, _, _ in ind]),
                "end_date": dates([e for _, _, e, _ in ind]),
                "sw_l1_code": [L1[j][0] for j in l1i],
                "sw_l1_name": [L1[j][1] for j in l1i],
                "sw_l1_name_en": [L1[j][2] for j in l1i],
                "sw_l2_code": [L2[k][0] for k in l2i],
                "sw_l2_name": [L2[k][1] for k in l2i],
                "sw_l2_name_en": [L2[k][2] for k in l2i],
                "sw_l3_code": l3,
            },
            "code, start_date",
        )
        insert(
            "code_changes",
            {
                "old_code": [o for o, _, _ in self.code_changes],
                "new_code": [n for _, n, _ in self.code_changes],
                "change_date": dates([d for *_, d in self.code_changes]),
            },
            "change_date, old_code",
        )
        for tbl in self.bar_blocks():
            con.register("_demo_bars", tbl)
            # Blocks arrive in (date, code) order; insertion order is the physical order.
            con.execute(
                "INSERT INTO bars SELECT code::VARCHAR, date, open, high, low, close, amount, "
                "volume FROM _demo_bars"
            )
            con.unregister("_demo_bars")
        meta = {
            "synthetic": "true",
            "source": f"indexrecon demo universe (SYNTHETIC, seed {self.seed})",
            "demo_version": DEMO_VERSION,
            "created_by": "indexrecon.data.sources.demo",
            "demo_seed": str(self.seed),
            "demo_scale": repr(float(self.scale)),
            "demo_start": str(days[0]),
            "demo_end": str(days[-1]),
        }
        con.executemany(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [[k, v] for k, v in meta.items()],
        )
