"""Board lots: the share quantities an A-share order may have, by board (one place for them).

Exchange rules (buy orders; a sell may also clear an odd-lot remainder of a holding):

* SSE / SZSE main boards and ChiNext: "买入股票...申报数量应当为100股或其整数倍"
  (Shanghai / Shenzhen Stock Exchange Trading Rules, 3.3.x): multiples of 100 shares.
* STAR: "单笔申报数量应当不小于200股...超过200股的部分，可以1股为单位递增"
  (SSE STAR Market Trading Special Provisions, art. 17): at least 200 shares, then 1-share steps.
* BSE: "申报数量应当不低于100股，每笔申报可以1股为单位递增"
  (Beijing Stock Exchange Trading Rules, 3.3.5): at least 100 shares, then 1-share steps.

Kept apart from the price-limit rules a `market_rules` module may hold; fold it in there
when that module exists.
"""

from __future__ import annotations

import numpy as np

# board -> (minimum order, step above it), in shares
BOARD_LOTS: dict[str, tuple[int, int]] = {
    "sh_main": (100, 100),
    "sz_main": (100, 100),
    "chinext": (100, 100),
    "star": (200, 1),
    "bse": (100, 1),
}


def round_to_lots(shares: np.ndarray, boards: np.ndarray | list[str]) -> np.ndarray:
    """Signed share quantities rounded to the nearest quantity a board accepts: a multiple
    of the step at or above the minimum, else 0 or the minimum, whichever is nearer (half up).

    Unknown boards use the main-board lot of 100."""
    q = np.asarray(shares, dtype=float)
    b = np.asarray(boards, dtype=object)
    mins = np.array([BOARD_LOTS.get(x, (100, 100))[0] for x in b], dtype=float)
    steps = np.array([BOARD_LOTS.get(x, (100, 100))[1] for x in b], dtype=float)
    size = np.abs(q)
    stepped = np.floor(size / steps + 0.5) * steps
    below = np.where(size * 2 >= mins, mins, 0.0)  # under the minimum: 0 or the minimum
    out = np.where(size >= mins, np.maximum(stepped, mins), below)
    return (np.sign(q) * out).astype(np.int64)


def is_whole_lot(shares: int, board: str) -> bool:
    """True when an order of `shares` (signed) is a quantity the board accepts (0 included)."""
    lo, step = BOARD_LOTS.get(board, (100, 100))
    n = abs(int(shares))
    return n == 0 or (n >= lo and (n - lo) % step == 0)
