"""Baskets: what an index holds over a span of days.

A basket is the holdings of one review (its weights at the data cutoff, applied from the
effective date) or of one official weight snapshot (implied weighting shares); `levels` prices
a chain of them. Codes given under an old code are mapped through `code_changes`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from ..data.store import Store
from ..errors import IndexReconError, StoreError
from .query import _one, _q, _register

if TYPE_CHECKING:
    from ..methodology.schema import Methodology
    from ..results.review import ReviewResult, Table

ShareSeries = Literal["total", "float", "free_float", "bonus"]
SHARE_SERIES = ("total", "float", "free_float", "bonus")


@dataclass
class Basket:
    """The holdings of one review or snapshot.

    `weights` (code, weight) hold at the close of `base_date`; the basket supplies the
    returns of the trading days from `start` (the effective date) through `end`, or up to the
    next basket's start. `shares` says which share count carries the weighting shares between
    base date and end: the methodology's series (`total`, `float`, `free_float`) follows every
    share change point in time, `bonus` only bonus issues and splits (implied shares of an
    official snapshot, equal weights). `scale` is the market value the weights stand for on
    the base date (sum of price x weighting shares), which turns the constants into real
    weighting shares and gives the divisor its units.
    """

    weights: pd.DataFrame
    base_date: dt.date
    start: dt.date
    end: dt.date | None = None
    shares: ShareSeries = "total"
    scale: float = 1.0
    label: str = ""

    def __post_init__(self) -> None:
        if self.shares not in SHARE_SERIES:
            raise IndexReconError(f"shares must be one of {', '.join(SHARE_SERIES)}, got '{self.shares}'")


def share_series(m: Methodology) -> ShareSeries:
    """The share count that carries a methodology's weighting shares between reviews."""
    w = m.weighting
    if w.method == "equal":
        return "bonus"
    if w.method == "free_float_cap" and w.inclusion_factor:
        return "total"  # tiered factors multiply total shares
    return {"total_cap": "total", "float_cap": "float", "free_float_cap": "free_float"}[w.method]  # type: ignore[return-value]


def _constituents(res: ReviewResult, columns: list[str]) -> Table:
    """The named columns of the review's constituents (the rows it selected)."""
    return res.table.where_value("selected", bool).select(columns)


def _selected(res: ReviewResult, columns: list[str]) -> pd.DataFrame:
    """`_constituents` as a DataFrame."""
    return _constituents(res, columns).to_pandas()


_SCALE_SHARES = {"total": "shares_total", "float": "shares_float", "free_float": "shares_ff"}


def _review_scale(res: ReviewResult) -> float:
    """Sum of last close x weighting shares of a review's constituents (uncapped base)."""
    m = res.methodology
    if m.weighting.method == "equal":
        return float(sum(1 for s in res.table.column("selected") if s)) or 1.0
    col = _SCALE_SHARES[share_series(m)]
    sel = _selected(res, ["last_close", col, "inclusion_factor"])
    if sel.empty:
        return 1.0
    base = sel["last_close"].astype(float) * sel[col].astype(float) * sel["inclusion_factor"].fillna(1.0).astype(float)
    total = float(base.sum())
    return total if math.isfinite(total) and total > 0 else 1.0


def basket_from_review(
    res: ReviewResult,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    share_changes: Literal["all", "bonus"] = "all",
) -> Basket:
    """The holdings a review fixes: its weights at the data cutoff (inclusion and cap factors
    included), applied from its effective date. `share_changes="bonus"` freezes the weighting
    shares except for bonus issues and splits."""
    return _basket(res, _selected(res, ["code", "weight"]), start, end, share_changes)


def baskets_from_reviews(results: list[ReviewResult], *, share_changes: Literal["all", "bonus"] = "all") -> list[Basket]:
    """`basket_from_review` of each review, their weights converted to one DataFrame at
    once and sliced (a daily backtest has a basket a day: one conversion, not hundreds)."""
    from ..results.review import Table

    rows: list[tuple[Any, ...]] = []
    bounds = []
    types = None
    for r in results:
        t = _constituents(r, ["code", "weight"])
        if types is not None and t.types != types:  # reviews of different column types: one by one
            return [basket_from_review(x, share_changes=share_changes) for x in results]
        types = t.types
        a = len(rows)
        rows += t.rows
        bounds.append((a, len(rows)))
    if types is None:
        return []
    cons = Table(("code", "weight"), types, rows).to_pandas()
    return [_basket(r, cons.iloc[a:b], None, None, share_changes) for r, (a, b) in zip(results, bounds, strict=True)]


def _basket(res: ReviewResult, cons: pd.DataFrame, start: dt.date | None, end: dt.date | None,
            share_changes: Literal["all", "bonus"]) -> Basket:
    series = share_series(res.methodology) if share_changes == "all" else "bonus"
    return Basket(
        weights=cons.reset_index(drop=True),
        base_date=res.dates.cutoff,
        start=start or res.dates.effective,
        end=end,
        shares=series,
        scale=_review_scale(res),
        label=res.dates.review,
    )


def official_snapshot(store: Store, index_code: str, date: dt.date) -> pd.DataFrame:
    """An official weight snapshot (code, weight), codes mapped through code changes."""
    df = _q(
        store,
        "SELECT code, weight FROM official_weights WHERE index_code = ? AND trade_date = ? ORDER BY code",
        [index_code, date],
    )
    if df.empty:
        dates = store.con.execute(
            "SELECT DISTINCT trade_date FROM official_weights WHERE index_code = ? ORDER BY 1",
            [index_code],
        ).fetchall()
        have = ", ".join(str(r[0]) for r in dates) or "none"
        raise StoreError(f"the store has no official {index_code} weights on {date} (snapshots: {have})")
    return map_codes(store, df)


def map_codes(store: Store, df: pd.DataFrame, keys: list[str] | None = None) -> pd.DataFrame:
    """Codes given under an old code mapped to the code the store keys history by (weights
    of an old and a new code in the same group of `keys` are added up)."""
    if not store.has_table("code_changes"):
        return df
    changes = dict(store.con.execute("SELECT old_code, new_code FROM code_changes").fetchall())
    if not changes:
        return df
    codes = df["code"].astype(str)
    if not codes.isin(list(changes)).any():
        return df
    for _ in range(5):  # follow chains of changes
        mapped = codes.map(lambda c: changes.get(c, c))
        if mapped.equals(codes):
            break
        codes = mapped
    out = df.assign(code=codes)
    group = [*(keys or []), "code"]
    if "weight" in out.columns and out.duplicated(group).any():
        out = out.groupby(group, as_index=False, sort=False)["weight"].sum()
    return out


def index_close(store: Store, index_code: str, date: dt.date) -> float | None:
    row = _one(store, "SELECT close FROM index_bars WHERE index_code = ? AND date = ?", [index_code, date])
    return float(row[0]) if row else None


def basket_from_official(
    store: Store, index_code: str, date: dt.date, *, share_changes: Literal["all", "bonus"] = "bonus"
) -> Basket:
    """Implied weighting shares from an official snapshot: weight x index close / price on the
    snapshot date (the divisor is 1 there), applied from the next trading day."""
    w = official_snapshot(store, index_code, date)
    level = index_close(store, index_code, date)
    nxt = _one(store, "SELECT min(date) FROM calendar WHERE date > ?", [date])
    if not nxt or nxt[0] is None:
        raise StoreError(f"the store has no trading day after the snapshot {date}")
    return Basket(
        weights=w, base_date=date, start=nxt[0], shares="total" if share_changes == "all" else "bonus",
        scale=level or 1.0, label=f"official {index_code} {date}",
    )


def implied_shares(store: Store, index_code: str, date: dt.date) -> pd.DataFrame:
    """Implied weighting shares of an official snapshot: code, weight, close, shares, where
    shares = weight x index close / stock close (sum of shares x close = the index level)."""
    w = official_snapshot(store, index_code, date)
    level = index_close(store, index_code, date) or 1.0
    con = store.con
    _register(store, "_irk_w", w)
    try:
        df = _q(
            store,
            """SELECT w.code, w.weight, b.close, b.price_date
               FROM _irk_w w LEFT JOIN (
                 SELECT code, arg_max(close, date) AS close, max(date) AS price_date FROM bars
                 WHERE date <= $d AND code IN (SELECT code FROM _irk_w) GROUP BY code) b USING (code)
               ORDER BY w.code""",
            {"d": date},
        )
    finally:
        con.unregister("_irk_w")
    df["implied_shares"] = df["weight"] * level / df["close"]
    return df


# ---------------------------------------------------------------------------------------
# The panel
