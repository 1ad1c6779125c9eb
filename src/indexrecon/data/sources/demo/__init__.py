"""The embedded demo universe: a deterministic, SYNTHETIC Chinese A-share market.

Nothing here is real market data. The generator draws a whole market from one seed:
about 5,500 stocks on the five boards with realistic codes, IPOs, delistings, ST episodes,
suspensions, cash dividends, bonus shares, placements, lock-up expiries, Shenwan (SW2021)
industries and raw daily bars that obey each board's price limits. It is calibrated so
that on 2024-10-31 the ChiNext board looks like the real one (about 1,350 stocks, about
11.5 trillion CNY total market cap, the top 100 holding about half of it), which makes the
built-in methodologies behave plausibly on it.

Same seed, scale and window give identical table contents: no wall-clock time is stored.

The package reads in the order a market is drawn:

* `calibration`: the numbers the market is calibrated to (boards, industries, holidays, the
  market's path) and where they come from;
* `state`: the generator's shared state (`MarketState`) and its calendar and numeric helpers;
* the steps, one mixin each, in draw order: `listings` (codes, listing and delisting dates,
  code changes, industries), `profiles` (market caps, price levels, volatility, free float),
  `events` (ST episodes, suspensions, dividends, bonus issues, placements), `prices` (daily
  OHLC and the bars), `capital` (share capital change points);
* `market`: `DemoMarket`, the steps in their fixed order (one random stream: the order of the
  draws is the order of the data) and the writing of the tables;
* `store`: where the demo store lives, building it once (locked, atomic) and `build_demo_store`.
"""

from __future__ import annotations

from .calibration import DEMO_END, DEMO_SEED, DEMO_START, DEMO_VERSION
from .store import build_demo_store, demo_store_path, ensure_demo_store

__all__ = [
    "DEMO_END",
    "DEMO_SEED",
    "DEMO_START",
    "DEMO_VERSION",
    "build_demo_store",
    "demo_store_path",
    "ensure_demo_store",
]
