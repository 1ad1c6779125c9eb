"""ST / *ST status inferred from the bars, for stores whose source has no status history.

On the Shanghai and Shenzhen main boards a risk-warning (ST / *ST) stock may move at most 5%
from the previous close in a day; every other main-board stock may move 10% (ChiNext and
STAR: 20% for both, BSE 30%, so nothing can be inferred there). The limit price is the
previous close times 1.05 (0.95), rounded half up to the fen. The bars therefore show the
regime:

* a day whose high is above the 5% limit-up price, or whose low is below the 5% limit-down
  price, is a day the stock was *not* under a 5% limit: it **resets** the evidence (so does a
  stock's first bar, which has no previous close);
* a day that closes exactly at a 5% limit price without breaking it is a **limit close**;
* a stock is inferred 'ST' on day d when at least `MIN_LIMIT_CLOSES` limit closes happened
  since its last reset, up to and including d.

Each day's state uses only bars up to that day (point in time): an interval starts on the day
of the third limit close and ends the day before the next reset (open while none follows).
The inferred rows go into the store's `status` table as 'ST' (ST and *ST cannot be told apart;
delisting arrangements are not inferred), and the store's meta records that they are inferred
(`status_source`, `status_inferred_boards`), because the table has no column for the source.

Checked on the shared real data (docs/validation.md): of the stocks flagged at the six
review cutoffs from April 2022 to October 2024, none is in the official CSI 300 / 500 / 1000
lists after the review, nor in the CSI 2000 list of February 2025; the members flagged before
a review were all deleted at it.

Limits: a stock whose ST is lifted stays flagged until its first move beyond 5%, and a quiet
ST stock is found only at its third limit close. The rule depends on the 5% regime for
main-board risk-warning stocks (in force throughout the shared data; the exchanges proposed
10% in June 2025): on data from after such a change the inference finds nothing.
"""

from __future__ import annotations

import duckdb

from ..market_rules import ST_LIMIT_BOARDS, ST_LIMIT_PCT, limit_price_sql, status_is_inferred  # noqa: F401 (re-exported)

# ST_LIMIT_BOARDS, ST_LIMIT_PCT and their rounding are those of market_rules, the one place
# they are written.
# Limit closes since the last break of the 5% limit before a stock counts as ST. Two were
# seen to happen by chance (a volatile stock closing at +5.00% and -5.00% in one week).
MIN_LIMIT_CLOSES = 3
# Prices are in fen: a limit that is fewer ticks from the previous close than this is not
# evidence (for a stock at 0.40 CNY one tick is already 2.5%).
MIN_LIMIT_TICKS = 3
TOLERANCE = 0.005  # half a fen: prices are compared to the limit price in fen

STATUS_SOURCE = (
    f"inferred from the bars: main-board ({', '.join(ST_LIMIT_BOARDS)}) stocks held to the "
    f"{ST_LIMIT_PCT}% risk-warning price limit ({MIN_LIMIT_CLOSES}+ limit closes since the last "
    "move beyond it); not exchange data"
)


def inferred_st_sql(
    bars: str = "bars", securities: str = "securities", min_closes: int = MIN_LIMIT_CLOSES
) -> str:
    """SQL of the inferred intervals (code, start_date, end_date, status = 'ST').

    `bars` needs code, date, high, low, close; `securities` code and board.
    """
    boards = ", ".join(f"'{b}'" for b in ST_LIMIT_BOARDS)
    up = limit_price_sql("prev", ST_LIMIT_PCT, +1)
    dn = limit_price_sql("prev", ST_LIMIT_PCT, -1)
    tol = TOLERANCE
    return f"""
    WITH b AS (
      SELECT b.code, b.date, coalesce(b.high, b.close) AS high, coalesce(b.low, b.close) AS low,
             b.close,
             lag(b.close) OVER (PARTITION BY b.code ORDER BY b.date) AS prev,
             lead(b.date) OVER (PARTITION BY b.code ORDER BY b.date) AS next_date
      FROM {bars} b JOIN {securities} s USING (code)
      WHERE s.board IN ({boards}) AND b.close IS NOT NULL
    ),
    l AS (  -- the exchange's limit prices: previous close x (1 +- 5%), rounded half up
      SELECT *, CAST({up} AS DOUBLE) AS up, CAST({dn} AS DOUBLE) AS dn
      FROM b
    ),
    e AS (
      SELECT code, date, next_date,
        prev IS NULL OR high > up + {tol} OR low < dn - {tol} AS brk,
        prev IS NOT NULL AND NOT (high > up + {tol} OR low < dn - {tol})
          AND up - prev >= {MIN_LIMIT_TICKS / 100 - tol}
          AND (abs(close - up) < {tol} OR abs(close - dn) < {tol}) AS lim
      FROM l
    ),
    s AS (
      SELECT *, sum(CAST(brk AS INTEGER)) OVER (PARTITION BY code ORDER BY date
                                                ROWS UNBOUNDED PRECEDING) AS seg
      FROM e
    ),
    c AS (
      SELECT *, sum(CAST(lim AS INTEGER)) OVER (PARTITION BY code, seg ORDER BY date
                                                ROWS UNBOUNDED PRECEDING) AS n_lim
      FROM s
    )
    -- The count only grows within a segment, so a segment's ST days are its tail: one
    -- interval per segment, from the day of its min_closes-th limit close to the day before
    -- the next segment's first bar (open if the segment reaches the stock's last bar).
    SELECT code, min(date) FILTER (WHERE n_lim >= {int(min_closes)}) AS start_date,
           CASE WHEN bool_or(next_date IS NULL) THEN NULL
                ELSE CAST(max(next_date) - INTERVAL 1 DAY AS DATE) END AS end_date,
           'ST' AS status
    FROM c GROUP BY code, seg HAVING max(n_lim) >= {int(min_closes)}
    """



def clear_inferred(con: duckdb.DuckDBPyConnection) -> int:
    """Delete inferred rows (ST rows of the limit boards; call only when meta says inferred)."""
    boards = ", ".join(f"'{b}'" for b in ST_LIMIT_BOARDS)
    where = f"status = 'ST' AND code IN (SELECT code FROM securities WHERE board IN ({boards}))"
    row = con.execute(f"SELECT count(*) FROM status WHERE {where}").fetchall()
    con.execute(f"DELETE FROM status WHERE {where}")
    return int(row[0][0]) if row else 0


def write_inferred(con: duckdb.DuckDBPyConnection) -> int:
    """Insert the inferred intervals into `status`; the number of rows written."""
    before = con.execute("SELECT count(*) FROM status").fetchall()[0][0]
    con.execute(f"INSERT INTO status SELECT * FROM ({inferred_st_sql()}) ORDER BY code, start_date")
    return int(con.execute("SELECT count(*) FROM status").fetchall()[0][0] - before)
