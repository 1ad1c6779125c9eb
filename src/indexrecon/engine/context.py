"""The shared SQL context of a run: the store's calendar, which tables and share columns it holds, caches."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..data import pit_shares
from ..data.market_rules import ST_LIMIT_BOARDS, status_is_inferred
from ..data.store import Store
from ..methodology.grades import (
    GRADE_METRICS,
    RATINGS_TABLE,
    source_sql,
)
from ..methodology.schedule import (
    TradingCalendar,
)
from ..methodology.schema import Methodology
from ..methodology.vocabulary import (
    ATTRIBUTES_TABLE,
    EXTERNAL_METRICS,
    VALUATION_TABLE,
)
from ..plan.review import Where, calendar_of


@dataclass
class Context:
    """Per-store state shared by the reviews of one run (calendar, caches, chain stack)."""

    store: Store
    cal: TradingCalendar
    cache: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    has_float: bool = False
    has_free_float: bool = False
    has_a_shares: bool = False  # A-share capital observed (CSI/CNI rank on it)
    status_from: dict[str, dt.date] = field(default_factory=dict)  # status kind -> first start_date
    status_inferred_boards: tuple[str, ...] = ()  # boards whose ST rows are inferred (empty: none)
    tables: frozenset[str] = frozenset()
    code_changes: dict[str, str] | None = None  # old code -> new code, read when first needed
    external: dict[str, str] = field(default_factory=dict)  # metric -> SQL of (code, date, value)
    # window tables by (window start, cutoff, listing days skipped): (table, columns, boards it holds)
    metric_tables: dict[tuple[dt.date, dt.date, int], tuple[str, list[str], tuple[str, ...]]] = field(
        default_factory=dict)
    # the boards every review of the run over a window reads (the union a shared window table is built for)
    window_boards: dict[tuple[dt.date, dt.date, int], frozenset[str]] = field(default_factory=dict)
    metric_seq: int = 0
    own_warnings: dict[int, tuple[list[str], list[str]]] = field(default_factory=dict)
    # a review's computed table and warnings by what it is a function of (`review._computed`)
    pipelines: dict[tuple[Any, ...], tuple[Any, list[str]]] = field(default_factory=dict)
    data_until: dt.date | None = None  # a forecast's data cutoff: no review of this context reads later data

    @property
    def where(self) -> Where:
        """What a plan reads: the store, its calendar, the forecast's data cutoff. A new one
        for each review asked for, so its plans are memoised within that review's tree only:
        a methodology file changed between two reviews is read again."""
        return Where(self.store, self.cal, self.data_until)

    @property
    def has_esg(self) -> bool:
        return any(m == "esg_score" or m in GRADE_METRICS for m in self.external)


_CONTEXTS: dict[int, Context] = {}


def context(store: Store) -> Context:
    ctx = _CONTEXTS.get(id(store))
    if ctx is None or ctx.store is not store:
        tables = frozenset(r[0] for r in store.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog <> 'temp'").fetchall())
        missing = [t for t in ("securities", "bars", "shares", "calendar") if t not in tables]
        if missing:
            store.require(*missing)  # raises the store's error naming them
        row = store.con.execute("SELECT count(float_shares), count(free_float_shares) FROM shares").fetchone()
        ctx = Context(store, calendar_of(store), tables=tables)
        ctx.has_float, ctx.has_free_float = bool(row and row[0]), bool(row and row[1])
        ctx.has_a_shares = pit_shares.has_column(store.con, "a_shares")
        pit_shares.declare(store.con)  # lazy: a review reads its boards' series only
        if "status" in tables:
            ctx.status_from = dict(store.con.execute(
                "SELECT status, min(start_date) FROM status GROUP BY status").fetchall())
            if status_is_inferred(store.meta):
                boards = store.meta.get("status_inferred_boards", "")
                ctx.status_inferred_boards = tuple(boards.split(",")) if boards else ST_LIMIT_BOARDS
        ctx.external = _external_sources(store, tables)
        _CONTEXTS[id(store)] = ctx
    return ctx


def _security_codes(ctx: Context, among: list[str]) -> frozenset[str]:
    """The codes of `among` the store has a securities row for (a look-up of those only)."""
    return frozenset(r[0] for r in ctx.store.con.execute(
        "SELECT code FROM securities WHERE code IN (SELECT unnest($c::VARCHAR[]))", {"c": among}).fetchall())


def forget(store: Store) -> None:
    """Drop the reviews and window tables cached for `store`; what it holds (calendar,
    tables, status kinds) stays known. The next review recomputes everything from the bars."""
    ctx = _CONTEXTS.get(id(store))
    if ctx is None or ctx.store is not store:
        return
    for name, _, _ in ctx.metric_tables.values():
        store.con.execute(f"DROP TABLE IF EXISTS {name}")
    ctx.metric_tables.clear()
    ctx.window_boards.clear()
    ctx.cache.clear()
    ctx.own_warnings.clear()
    ctx.pipelines.clear()


def _external_sources(store: Store, tables: frozenset[str]) -> dict[str, str]:
    """For each external metric the store has data for, the SQL of its (code, date, value)."""
    attrs: set[str] = set()
    if ATTRIBUTES_TABLE in tables:
        attrs = {r[0] for r in store.con.execute(f"SELECT DISTINCT attribute FROM {ATTRIBUTES_TABLE}").fetchall()}
    esg_rows = 0
    if "esg_scores" in tables:
        r = store.con.execute("SELECT count(*) FROM esg_scores").fetchone()
        esg_rows = int(r[0]) if r else 0
    out: dict[str, str] = {}
    for name, (_, holders) in EXTERNAL_METRICS.items():
        parts = []
        if "esg_scores" in holders and name == "esg_score" and esg_rows:
            parts.append("SELECT code, date, CAST(score AS DOUBLE) AS value FROM esg_scores")
        if ATTRIBUTES_TABLE in holders and name in attrs:
            parts.append(
                f"SELECT code, date, CAST(value AS DOUBLE) AS value FROM {ATTRIBUTES_TABLE} "
                f"WHERE attribute = {_lit(name)}"
            )
        if parts:
            out[name] = " UNION ALL ".join(parts)
    if VALUATION_TABLE in tables and store.con.execute(f"SELECT count(*) FROM {VALUATION_TABLE}").fetchone()[0]:
        out["profitable"] = f"SELECT code, date, CASE WHEN pe_ttm > 0 THEN 1.0 ELSE 0.0 END AS value FROM {VALUATION_TABLE}"
    if RATINGS_TABLE in tables:
        providers = {r[0] for r in store.con.execute(f"SELECT DISTINCT provider FROM {RATINGS_TABLE}").fetchall()}
        out.update({name: source_sql(p) for name, p in GRADE_METRICS.items() if p in providers})
    return out


def methodology_key(m: Methodology) -> str:
    blob = json.dumps(m.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _lit(v: Any) -> str:
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, dt.date):
        return f"DATE '{v.isoformat()}'"
    return repr(v)


def _map_codes(ctx: Context, codes: list[str]) -> list[str]:
    """Codes given under an old code (official lists, files) mapped to the code the store
    keys the history by (table code_changes)."""
    if not codes or "code_changes" not in ctx.tables:
        return codes
    if ctx.code_changes is None:
        ctx.code_changes = dict(ctx.store.con.execute("SELECT old_code, new_code FROM code_changes").fetchall())
    changes = ctx.code_changes
    if changes.keys().isdisjoint(codes):
        return sorted(set(codes))
    out = []
    for c in codes:
        for _ in range(5):  # follow a chain of changes; a code without one stays as it is
            n = changes.get(c)
            if n is None:
                break
            c = n
        out.append(c)
    return sorted(set(out))


