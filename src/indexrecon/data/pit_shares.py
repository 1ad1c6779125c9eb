"""Share capital as a point-in-time series: the one rule every reader of `shares` goes through.

The `shares` table holds change points of total capital (never NULL) and, where a source
observed them, float, free-float and A-share counts (NULL elsewhere: these are sparse
observations, a few dates a year). The view `shares_pit` fills them:

* on a row that observes a count, that count;
* after an observation, the last observed *ratio* (free float / total, float / total,
  A shares / total) times the row's own total, so bonus issues and placements between
  observations still move the counts;
* before a stock's first observation, its earliest observed ratio (the only one there is);
  `ff_from`, `float_from` and `a_from` give the date of the observation each value rests on,
  so a review can say when that date lies after its cutoff;
* a stock never observed keeps NULL (readers fall back to total shares and say so).

Every ratio is carried only along its own stock's rows in date order: nothing later than a
row is used unless nothing earlier exists. The view is a TEMP view of the connection (so a
read-only store, and one written before the A-share column existed, reads it too): `declare`
makes it, lazy; `ensure` materialises it once per connection for readers of the whole market
or of many reviews; `rows` gives a reader the series of some stocks only. The rule runs per
stock, so the series of a set of stocks computed alone equals theirs in the whole.
"""

from __future__ import annotations

import datetime as dt
import weakref
from typing import Any

import duckdb

VIEW = "shares_pit"

# (store column, ratio-date column of the view)
SPARSE = (("float_shares", "float_from"), ("free_float_shares", "ff_from"), ("a_shares", "a_from"))

# the window tables' working column of each sparse count's observation date (at the cutoff)
OBSERVED = {c: f"_{when}" for c, when in SPARSE}

# A share increase is a bonus/split when its source says so ...
BONUS_LABEL = "bonus|split|送|转增"
# ... or, unlabelled and at least this ratio, when the price fell with it.
NOT_BONUS_LABEL = "placement|lockup|lock-up|ipo|listing|issu|rights|增发|配股"
MIN_INFERRED_RATIO = 1.1


def view_sql(columns: set[str], where: str | None = None) -> str:
    """The SELECT of the view over `shares`, given the columns the store's table has;
    `where`: a condition on `code` only (a filter on dates would change the carried ratios)."""
    col = {c: (c if c in columns else "CAST(NULL AS DOUBLE)") for c, _ in SPARSE}
    src = "source" if "source" in columns else "CAST(NULL AS VARCHAR)"
    parts, fills = [], []
    for c, when in SPARSE:
        v = col[c]
        # ratio and date of the last observation up to the row, and of the first one at all
        parts.append(
            f"last_value(CASE WHEN {v} IS NOT NULL THEN {v} / total_shares END IGNORE NULLS) OVER upto AS _r_{c}, "
            f"last_value(CASE WHEN {v} IS NOT NULL THEN effective_date END IGNORE NULLS) OVER upto AS _d_{c}, "
            f"first_value(CASE WHEN {v} IS NOT NULL THEN {v} / total_shares END IGNORE NULLS) OVER every AS _r0_{c}, "
            f"first_value(CASE WHEN {v} IS NOT NULL THEN effective_date END IGNORE NULLS) OVER every AS _d0_{c}"
        )
        fills.append(
            f"CASE WHEN {v} IS NOT NULL THEN {v} ELSE total_shares * coalesce(_r_{c}, _r0_{c}) END AS {c}, "
            f"coalesce(_d_{c}, _d0_{c}) AS {when}"
        )
    return f"""
        SELECT code, effective_date, total_shares, {", ".join(fills)}, source
        FROM (
          SELECT code, effective_date, total_shares, {", ".join(v for v in col.values())}, {src} AS source,
                 {", ".join(parts)}
          FROM shares{f" WHERE {where}" if where else ""}
          WINDOW upto AS (PARTITION BY code ORDER BY effective_date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
                 every AS (PARTITION BY code ORDER BY effective_date ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
        )"""


# per connection, held weakly (a closed or dropped connection leaves them)
_COLUMNS: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, set[str]] = weakref.WeakKeyDictionary()
_KINDS: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, str | None] = weakref.WeakKeyDictionary()


def _columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The columns of the store's `shares` table (read once per connection)."""
    cols = _COLUMNS.get(con)
    if cols is None:
        cols = _COLUMNS[con] = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'shares' "
            "AND table_catalog <> 'temp'").fetchall()}
    return cols


def _kind(con: duckdb.DuckDBPyConnection) -> str | None:
    """'table' once materialised, 'view' while lazy, None before `declare` (kept per
    connection once seen: a catalog query costs more than a small statement)."""
    if con in _KINDS:
        return _KINDS[con]
    row = con.execute(
        "SELECT 'table' FROM duckdb_tables() WHERE temporary AND table_name = $n UNION ALL "
        "SELECT 'view' FROM duckdb_views() WHERE temporary AND view_name = $n", {"n": VIEW}).fetchall()
    kind = row[0][0] if row else None
    _KINDS[con] = kind
    return kind


def _set_kind(con: duckdb.DuckDBPyConnection, kind: str | None) -> None:
    _KINDS[con] = kind


def declare(con: duckdb.DuckDBPyConnection) -> str:
    """The series on `con` as the lazy temp view `shares_pit` (computed by each statement
    that reads it; nothing is built here), unless `ensure` already materialised it. The
    rule itself is the temp view `shares_pit_rule`. Returns the name."""
    kind = _kind(con)
    if kind is None:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {VIEW}_rule AS {view_sql(_columns(con))}")
        con.execute(f"CREATE TEMP VIEW {VIEW} AS SELECT * FROM {VIEW}_rule")
        _set_kind(con, "view")
    return VIEW


def ensure(con: duckdb.DuckDBPyConnection) -> str:
    """The series on `con` materialised, once per connection: `shares_pit` a temp table of
    the rule (readers of the whole market, and a run of many reviews, would otherwise run
    the window functions over the whole table per statement). `forget` drops it after a
    write. Returns the table's name."""
    kind = _kind(con)
    if kind != "table":
        declare(con)
        con.execute(f"DROP VIEW IF EXISTS temp.main.{VIEW}")
        con.execute(f"CREATE TEMP TABLE {VIEW} AS SELECT * FROM {VIEW}_rule ORDER BY code, effective_date")
        _set_kind(con, "table")
    return VIEW


def rows(con: duckdb.DuckDBPyConnection, where: str) -> str:
    """A subquery of the series of the stocks `where` (a condition on `code`) selects: read
    from the materialised table if there is one, else the rule run over those stocks'
    share rows only (a review's boards, not the whole market)."""
    if _kind(con) == "table":
        return f"(SELECT * FROM {VIEW} WHERE {where})"
    return f"({view_sql(_columns(con), where)})"


def forget(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the connection's series (after `shares` changed); the next reader rebuilds it."""
    _COLUMNS.pop(con, None)  # a write may have added a column
    kind = _kind(con)
    if kind == "table":
        con.execute(f"DROP TABLE temp.main.{VIEW}")
    elif kind == "view":
        con.execute(f"DROP VIEW temp.main.{VIEW}")
    con.execute(f"DROP VIEW IF EXISTS temp.main.{VIEW}_rule")
    _set_kind(con, None)
    if kind is not None:
        declare(con)  # readers that found the view keep finding it


def has_column(con: duckdb.DuckDBPyConnection, column: str) -> bool:
    """Whether the store's shares table holds any value of `column` (e.g. a_shares)."""
    if column not in _columns(con):
        return False
    row = con.execute(f"SELECT count({column}) > 0 FROM shares").fetchall()
    return bool(row and row[0][0])


def coverage(con: duckdb.DuckDBPyConnection, codes: list[str], cutoff: dt.date, column: str) -> tuple[list[str], list[str]]:
    """Of `codes`, at `cutoff`: those with no observation of `column` at all (their readers
    fall back to total shares) and those whose value rests on an observation dated after the
    cutoff (none earlier exists). Both sorted."""
    return coverages(con, cutoff, [(codes, column)])[0]


def coverages(con: duckdb.DuckDBPyConnection, cutoff: dt.date, asked: list[tuple[list[str], str]],
              observed: dict[str, dict[str, Any]] | None = None) -> list[tuple[list[str], list[str]]]:
    """`coverage` of several (codes, column) pairs at one cutoff, in one statement; `observed`
    (column: {code: observation date at the cutoff}, e.g. read with a review's window) saves
    the statement for the codes it holds."""
    whens = sorted({dict(SPARSE)[column] for codes, column in asked if codes})
    observed = observed or {}
    every = sorted({c for codes, column in asked for c in codes if c not in observed.get(column, {})})
    found: dict[str, tuple[Any, ...]] = {}
    if whens and every:
        series = rows(con, "code IN (SELECT unnest($c::VARCHAR[]))")
        found = {r[0]: r[1:] for r in con.execute(
            f"""SELECT x.code, {", ".join(f"p.{w}" for w in whens)} FROM (SELECT unnest($c::VARCHAR[]) AS code) x
                LEFT JOIN (SELECT code, {", ".join(f"arg_max({w}, effective_date) AS {w}" for w in whens)}
                           FROM {series} WHERE effective_date <= $cutoff GROUP BY code) p USING (code)""",
            {"c": every, "cutoff": cutoff},
        ).fetchall()}
    out = []
    for codes, column in asked:
        at = whens.index(dict(SPARSE)[column]) if codes else 0
        known = observed.get(column, {})
        dates = [(c, known[c] if c in known else found[c][at]) for c in sorted(codes)]
        out.append(([c for c, d in dates if d is None], [c for c, d in dates if d is not None and d > cutoff]))
    return out


def describe(what: str, codes: list[str]) -> str:
    """'N stocks (e.g. A, B, C)'."""
    eg = ", ".join(codes[:3])
    return f"{len(codes)} {what}{'s' if len(codes) != 1 else ''} (e.g. {eg})"


def review_warnings(
    con: duckdb.DuckDBPyConnection,
    cutoff: dt.date,
    *,
    weighted: list[str],
    ranked: list[str],
    weight_shares: str | None,
    a_share_rank: str | None,
    observed: dict[str, dict[str, Any]] | None = None,
) -> list[str]:
    """What a review's share data rest on, for the stocks it weights and ranks: weights on a
    sparse count (`weight_shares`: free_float_shares or float_shares) of stocks never observed
    (total shares instead) or observed only after the cutoff, and the A-share capital a ranking
    metric uses (`a_share_rank`: its name) likewise."""
    out = []
    asked = ([(weighted, weight_shares)] if weight_shares else []) + ([(ranked, "a_shares")] if a_share_rank else [])
    found = coverages(con, cutoff, asked, observed)
    if weight_shares:
        what = {"free_float_shares": "free-float", "float_shares": "float"}[weight_shares]
        missing, after = found[0]
        if missing:
            out.append(f"{describe('constituent', missing)} have no {what} observation: weighted by "
                       "total shares (inclusion factor 100%)")
        if after:
            out.append(f"{describe('constituent', after)}: {what} ratio from the first observation, dated "
                       f"after the cutoff {cutoff} (none earlier)")
    if a_share_rank:
        out.append(a_share_note(a_share_rank, *found[-1], cutoff))
    return out


def a_share_note(a_share_rank: str, missing: list[str], after: list[str], cutoff: dt.date) -> str:
    """The warning of a ranking on A-share capital: the metric, and the ranked stocks `coverage`
    found without an A-share observation (`missing`) or resting on a later one (`after`)."""
    note = (f"{a_share_rank} ranks on A-share capital (shares.a_shares, point in time; the company total "
            "with H shares is avg_company_cap)")
    if missing:
        note += f"; {describe('ranked stock', missing)} without an A-share observation use the company total"
    if after:
        note += (f"; {describe('ranked stock', after)} use the ratio of their first observation, dated after "
                 f"the cutoff {cutoff} (none earlier)")
    return note
