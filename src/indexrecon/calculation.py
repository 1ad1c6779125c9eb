"""Index calculation between reviews: weights drifted from a review to any later date."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from .results import ReviewResult
from .store import Store


def weights_on(res: ReviewResult, date: dt.date, store: Store | None = None) -> pd.DataFrame:
    """Weights of a review's constituents on `date`, drifted from the data cutoff.

    The review fixes each stock's weighting shares; afterwards a weight moves with the
    stock's total market cap (price x total shares), so price moves drift it and a bonus
    issue (price down, shares up) leaves it unchanged. Stocks without a price on or before
    `date` (delisted) drop out and the rest are renormalised.
    """
    store = store or res.store
    assert store is not None
    cons = res.constituents[["code", "weight"]]
    con = store.con
    con.register("_ir_cons", cons)
    try:
        df = con.execute(
            """
            WITH px AS (
              SELECT code,
                     arg_max(close, date) FILTER (WHERE date <= $cutoff) AS p0,
                     arg_max(close, date) AS p1
              FROM bars WHERE date <= $d AND code IN (SELECT code FROM _ir_cons)
              GROUP BY code
            ),
            sh AS (
              SELECT code,
                     arg_max(total_shares, effective_date) FILTER (WHERE effective_date <= $cutoff) AS s0,
                     arg_max(total_shares, effective_date) AS s1
              FROM shares WHERE effective_date <= $d AND code IN (SELECT code FROM _ir_cons)
              GROUP BY code
            )
            SELECT c.code, c.weight * (px.p1 * coalesce(sh.s1, 1)) / (px.p0 * coalesce(sh.s0, sh.s1, 1)) AS w
            FROM _ir_cons c JOIN px USING (code) LEFT JOIN sh USING (code)
            WHERE px.p0 IS NOT NULL AND px.p1 IS NOT NULL
            ORDER BY c.code
            """,
            {"cutoff": res.dates.cutoff, "d": date},
        ).df()
    finally:
        con.unregister("_ir_cons")
    df["weight"] = df["w"] / df["w"].sum()
    return df[["code", "weight"]]
