"""The engine: compiles a methodology into SQL that DuckDB runs over the store.

One review is a short pipeline of set operations on temp tables, each bounded by the data
cutoff: candidates (the board's listed stocks) -> window metrics (one grouped scan of the
bars, share capital joined ASOF) -> universe exclusions -> screens in order -> ranking ->
buffered selection with a cap on changes -> weights. Every step records, per stock, the
reason it fell out or got in, so any stock near a boundary can say why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

from ..data import pit_shares
from ..data.sources.st_inference import ST_LIMIT_BOARDS, ST_LIMIT_PCT, status_is_inferred
from ..data.store import Store
from ..errors import DependencyCycleError, IndexReconError, StoreError, UnknownMethodologyError
from ..methodology.grades import (
    GRADE_METRICS,
    GRADE_SCALES,
    RATINGS_TABLE,
    off_scale_sql,
    place,
    source_sql,
)
from ..methodology.loader import load_methodology
from ..methodology.schedule import (
    ReviewDates,
    TradingCalendar,
    check_in_data,
    daily_review_dates,
    latest_review_in_force,
    parse_review,
    review_dates,
    reviews_between,
)
from ..methodology.schema import Methodology, Screen
from ..methodology.vocabulary import (
    A_SHARE_METRICS,
    ATTRIBUTES_TABLE,
    EXTERNAL_METRICS,
    METRICS,
    VALUATION_TABLE,
)
from ..results.review import Table
from . import cache as depcache
from .weighting import cap_weights, methodology_caps, weighting_sql

if TYPE_CHECKING:
    from ..results.review import ReviewResult

IncumbentSpec = str | Path | Iterable[str] | None


@dataclass
class Context:
    """Per-store state shared by the reviews of one run (calendar, caches, chain stack)."""

    store: Store
    cal: TradingCalendar
    cache: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    stack: list[str] = field(default_factory=list)
    has_float: bool = False
    has_free_float: bool = False
    has_a_shares: bool = False  # A-share capital observed (CSI/CNI rank on it)
    status_from: dict[str, dt.date] = field(default_factory=dict)  # status kind -> first start_date
    status_inferred_boards: tuple[str, ...] = ()  # boards whose ST rows are inferred (empty: none)
    tables: frozenset[str] = frozenset()
    codes: frozenset[str] | None = None  # securities codes, read when first needed
    code_changes: dict[str, str] | None = None  # old code -> new code, read when first needed
    external: dict[str, str] = field(default_factory=dict)  # metric -> SQL of (code, date, value)
    metric_tables: dict[tuple[dt.date, dt.date, tuple[str, ...]], tuple[str, list[str]]] = field(default_factory=dict)
    metric_seq: int = 0
    own_warnings: dict[int, tuple[list[str], list[str]]] = field(default_factory=dict)
    data_until: dt.date | None = None  # a forecast's data cutoff: no review of this context reads later data

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
        days = [r[0] for r in store.con.execute("SELECT date FROM calendar ORDER BY date").fetchall()]
        row = store.con.execute("SELECT count(float_shares), count(free_float_shares) FROM shares").fetchone()
        ctx = Context(store, TradingCalendar(days), tables=tables)
        ctx.has_float, ctx.has_free_float = bool(row and row[0]), bool(row and row[1])
        ctx.has_a_shares = pit_shares.has_column(store.con, "a_shares")
        pit_shares.ensure(store.con)
        if "status" in tables:
            ctx.status_from = dict(store.con.execute(
                "SELECT status, min(start_date) FROM status GROUP BY status").fetchall())
            if status_is_inferred(store.meta):
                boards = store.meta.get("status_inferred_boards", "")
                ctx.status_inferred_boards = tuple(boards.split(",")) if boards else ST_LIMIT_BOARDS
        ctx.external = _external_sources(store, tables)
        _CONTEXTS[id(store)] = ctx
    return ctx


def _security_codes(ctx: Context) -> frozenset[str]:
    """Every code the store has a securities row for (read once per context)."""
    if ctx.codes is None:
        ctx.codes = frozenset(r[0] for r in ctx.store.con.execute("SELECT code FROM securities").fetchall())
    return ctx.codes


def forget(store: Store) -> None:
    """Drop the reviews and window tables cached for `store`; what it holds (calendar,
    tables, status kinds) stays known. The next review recomputes everything from the bars."""
    ctx = _CONTEXTS.get(id(store))
    if ctx is None or ctx.store is not store:
        return
    for name, _ in ctx.metric_tables.values():
        store.con.execute(f"DROP TABLE IF EXISTS {name}")
    ctx.metric_tables.clear()
    ctx.cache.clear()
    ctx.own_warnings.clear()


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


# ---------------------------------------------------------------------------------------
# Incumbents
# ---------------------------------------------------------------------------------------
def official_members(store: Store, index_code: str | None, before: dt.date) -> list[str] | None:
    """Official members on the last day before `before`: membership intervals first, else
    the latest official weight snapshot before it. None if the store has neither."""
    if not index_code:
        return None
    day = before - dt.timedelta(days=1)
    rows = store.con.execute(
        "SELECT DISTINCT code FROM index_membership WHERE index_code = ? AND start_date <= ? "
        "AND (end_date IS NULL OR end_date >= ?) ORDER BY code",
        [index_code, day, day],
    ).fetchall()
    if rows:
        return [r[0] for r in rows]
    rows = store.con.execute(
        "SELECT code FROM official_weights WHERE index_code = ? AND trade_date = "
        "(SELECT max(trade_date) FROM official_weights WHERE index_code = ? AND trade_date < ?) "
        "ORDER BY code",
        [index_code, index_code, before],
    ).fetchall()
    return [r[0] for r in rows] if rows else None


def members_on(store: Store, index_code: str, day: dt.date) -> set[str]:
    """The official members of `index_code` on `day` (see `official_members`), under the codes
    the store keys their history by; empty if the store has no official list of it."""
    codes = official_members(store, index_code, day + dt.timedelta(days=1)) or []
    return set(_map_codes(context(store), codes))


def _read_codes_file(path: Path) -> list[str]:
    if not path.exists():
        raise IndexReconError(
            f"incumbents file {path} does not exist (or give a mode: auto, official, official-strict, simulate, none)"
        )
    try:
        codes = _codes_in(path)
    except UnicodeDecodeError as e:
        raise IndexReconError(
            f"incumbents file {path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
            "give codes one per line, a CSV with a code column, Parquet or a rebuild JSON"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:  # bad JSON / Parquet, no code column
        what = f"no '{e.args[0]}' column" if isinstance(e, KeyError) else str(e).splitlines()[0]
        raise IndexReconError(f"incumbents file {path}: cannot read: {what}") from None
    codes = [str(c).strip().zfill(6) for c in codes]
    bad = [c for c in codes if not c.isdigit() or len(c) != 6]
    if bad:
        raise IndexReconError(f"incumbents file {path}: '{bad[0]}' is not a 6-digit stock code")
    return sorted(set(codes))


def _codes_in(path: Path) -> list[str]:
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data.get("constituents", data) if isinstance(data, dict) else data
        codes = [x["code"] if isinstance(x, dict) else str(x) for x in items]
    elif path.suffix == ".parquet":
        import pandas as pd

        codes = pd.read_parquet(path)["code"].astype(str).tolist()
    else:
        text = path.read_text(encoding="utf-8").splitlines()
        first = text[0].split(",") if text else []
        if "code" in first:
            col = first.index("code")
            codes = [ln.split(",")[col] for ln in text[1:] if ln.strip()]
        else:
            codes = [ln.split(",")[0] for ln in text if ln.strip()]
    return codes


def first_simulable_review(m: Methodology, ctx: Context) -> str:
    for label in reviews_between(m, ctx.cal.first, ctx.cal.last):
        try:
            if review_dates(m, ctx.cal, label).window_start >= ctx.cal.first:
                return label
        except StoreError:  # its cutoff lies before the store's first day
            continue
    raise StoreError(f"the store's data is too short for any complete {m.name} review window")


def resolve_incumbents(
    m: Methodology, ctx: Context, rd: ReviewDates, spec: IncumbentSpec, dep_inc: str = "auto",
    base: Methodology | None = None, notes: list[str] | None = None, detail: dict[str, Any] | None = None,
) -> tuple[list[str], str]:
    """Incumbent codes and a label saying where they came from. An official list older than
    the previous review is rolled forward through the reviews since (`incumbents` module),
    with the dated rules of `base` (default `m`); what was done goes to `notes` (warnings)
    and `detail` (official_date, rolled_through)."""
    from ..plan.incumbents import STRICT, official_incumbents

    if spec is None or spec == "none":
        return [], "none (pure rule ranking)"
    if isinstance(spec, str) and spec in ("official", "auto", "simulate", STRICT):
        if spec != "simulate":
            found = official_incumbents(base or m, ctx, rd, spec, dep_inc)
            if found is not None:
                if notes is not None:
                    notes.extend(found.warnings)
                if detail is not None:
                    detail.update(official_date=found.list_date.isoformat(), rolled_through=found.rolled_through)
                return found.codes, found.label
            if spec != "auto":
                raise StoreError(
                    f"the store has no official {m.index_code or m.name} membership before "
                    f"{rd.effective}; use incumbents=\"simulate\" or \"auto\" (CLI: --incumbents simulate)"
                )
        return _simulated_incumbents(base or m, ctx, rd, dep_inc)  # each review rolled through under its own dated rules
    if isinstance(spec, (str, Path)):
        codes = _read_codes_file(Path(spec))
        return codes, f"{len(codes)} code{'' if len(codes) == 1 else 's'} from the file {spec}"
    codes = sorted({str(c).zfill(6) for c in spec})
    return codes, f"{len(codes)} code{'' if len(codes) == 1 else 's'} given by the caller"


def _simulated_incumbents(
    m: Methodology, ctx: Context, rd: ReviewDates, dep_inc: str = "auto"
) -> tuple[list[str], str]:
    """Roll reviews forward from the earliest complete window to the one before `rd`.

    Each review's incumbents are the previous review's simulated result (cached), so rolling
    through k reviews costs k runs however often it is asked for; the indices this one
    depends on are resolved at every step with `dep_inc`."""
    if m.schedule.frequency == "daily":
        prev = ctx.cal.on_or_before(rd.effective - dt.timedelta(days=1))
        if prev <= ctx.cal.first:
            return [], "none (first day of the data)"
        res = run_review(m, ctx.store, as_of=prev, incumbents="none", _ctx=ctx)
        return res.codes, f"simulated: previous day {res.dates.review}"
    seed = first_simulable_review(m, ctx)
    labels = [lb for lb in reviews_between(m, ctx.cal.first, rd.effective) if lb < rd.review]
    labels = [lb for lb in labels if lb >= seed]
    if not labels:
        return [], f"none (review {rd.review} is the first with a complete window: seed)"
    prev_label = labels[-1]
    if prev_label == seed:
        res = run_review(m, ctx.store, seed, incumbents=None, allow_provisional=True, _ctx=ctx, _dep_inc=dep_inc)
    else:
        res = run_review(
            m, ctx.store, prev_label, incumbents="simulate", allow_provisional=True, _ctx=ctx, _dep_inc=dep_inc
        )
    return res.codes, f"simulated: seeded {seed} by pure ranking, rolled through {prev_label}"


# ---------------------------------------------------------------------------------------
# The review pipeline
# ---------------------------------------------------------------------------------------
def run_review(
    m: Methodology | str | Path | dict[str, Any],
    store: Store,
    review: str | None = None,
    *,
    as_of: dt.date | None = None,
    incumbents: IncumbentSpec = "auto",
    allow_provisional: bool = False,
    data_until: dt.date | None = None,
    _ctx: Context | None = None,
    _dep_inc: str | None = None,
) -> ReviewResult:
    """Run one review of `m` over `store` and return the full candidate table.

    Indices this one depends on (`universe.exclude_members_of`, `universe.members_of`) are
    reviewed first, in the same run, at the review of theirs in force on this effective
    date; their incumbents follow `incumbents` when it is a mode (official / auto /
    simulate / none; official falls back to auto, with a warning, for an index the store
    has no official membership of), else auto.

    `data_until` (a forecast made before the data cutoff) bounds this review and its
    dependencies to the data up to that day: the window so far, marked provisional."""
    from ..results.review import ReviewResult

    m = load_methodology(m)  # type: ignore[arg-type]
    ctx = _ctx or context(store)
    if data_until is not None and ctx.data_until != data_until:
        # a context of its own: its reviews are cached under the shorter window
        ctx = replace(ctx, cache={}, stack=[], own_warnings={}, metric_tables={},
                      metric_seq=ctx.metric_seq + 100_000, data_until=data_until)
    if m.schedule.frequency == "daily":
        day = as_of or (_daily_day(ctx, review) if review else ctx.cal.last)
        rd = daily_review_dates(m, ctx.cal, day)
    else:
        if review is None:
            if as_of is None:
                raise IndexReconError("give a review (YYYY-MM) or an as-of date")
            review = latest_review_in_force(m, ctx.cal, as_of)
        rd = review_dates(m, ctx.cal, review)
    scheduled_cutoff = rd.cutoff
    if ctx.data_until is not None and ctx.data_until < rd.cutoff:
        rd = replace(rd, cutoff=ctx.cal.on_or_before(ctx.data_until), provisional=True)
    check_in_data(rd, ctx.cal, allow_provisional=allow_provisional or ctx.data_until is not None)
    rules = m.for_date(rd.effective)
    dep_inc = _dep_inc or (incumbents if isinstance(incumbents, str) else "auto")
    if dep_inc not in ("official", "official-strict", "auto", "simulate", "none"):
        dep_inc = "auto"  # a file of this index's incumbents says nothing about the others

    dep_warnings: list[str] = []
    # The stack holds only the chain of dependencies being resolved, so rolling this
    # index's own reviews forward is not mistaken for a cycle.
    ctx.stack.append(m.name)
    try:
        excluded, required = _dependency_members(rules, ctx, rd, dep_inc, dep_warnings)
    finally:
        ctx.stack.pop()
    warnings: list[str] = m.override_warnings(rd.effective)  # a user's change kept over a dated version
    inc_key = incumbents if isinstance(incumbents, str) or incumbents is None else "list:" + ",".join(
        sorted(str(c) for c in incumbents)  # type: ignore[union-attr]
    )
    deps = hashlib.sha256(json.dumps([excluded, required], sort_keys=True).encode()).hexdigest()[:16]
    key = (methodology_key(rules), rd.review, f"{inc_key}|{dep_inc}|{deps}")
    if key in ctx.cache:
        return ctx.cache[key]
    inc_detail: dict[str, Any] = {}
    inc_codes, inc_label = resolve_incumbents(rules, ctx, rd, incumbents, dep_inc, base=m, notes=warnings,
                                              detail=inc_detail)
    inc_codes = _map_codes(ctx, inc_codes)
    try:
        cand = _pipeline(rules, ctx, rd, inc_codes, excluded, required, warnings)
    except duckdb.PermissionException as e:  # e.g. a view over files the store may not read
        raise StoreError(
            f"store {store.path}: {str(e).splitlines()[0]} (a store whose tables are views over files "
            "needs their directories in INDEXRECON_ALLOWED_DIRS)"
        ) from None
    if rd.provisional:
        warnings.insert(
            0,
            f"forecast as of {rd.cutoff}: data up to that day only, before the scheduled data cutoff "
            f"{scheduled_cutoff}; results use the window so far" if rd.cutoff < scheduled_cutoff
            and ctx.data_until is not None else
            f"provisional: the store ends {ctx.cal.last}, before the scheduled data cutoff; "
            "results use the data so far",
        )
    res = ReviewResult(
        methodology=rules,
        dates=rd,
        table=cand,
        incumbents_source=inc_label,
        incumbents=inc_codes,
        incumbents_detail=inc_detail,
        # provisional first, then what the dependencies reported, then this index's own
        warnings=list(dict.fromkeys([*warnings[: int(rd.provisional)], *dep_warnings,
                                     *warnings[int(rd.provisional):]])),
        store_label=store.label,
        synthetic=store.synthetic,
        store=store,
    )
    ctx.cache[key] = res
    ctx.own_warnings[id(res)] = (warnings, dep_warnings)
    return res


def _map_codes(ctx: Context, codes: list[str]) -> list[str]:
    """Codes given under an old code (official lists, files) mapped to the code the store
    keys the history by (table code_changes)."""
    if not codes or "code_changes" not in ctx.tables:
        return codes
    if ctx.code_changes is None:
        ctx.code_changes = dict(ctx.store.con.execute("SELECT old_code, new_code FROM code_changes").fetchall())
    changes = ctx.code_changes
    out = []
    for c in codes:
        for _ in range(5):
            c = changes.get(c, c)
        out.append(c)
    return sorted(set(out))


def _daily_day(ctx: Context, review: str) -> dt.date:
    """The day a review label names for a daily methodology: a date (YYYY-MM-DD), or a month
    (YYYY-MM) - its first trading day, or for a month past the store's data the next
    trading day after it (the next rebalance, e.g. what `rebalance` asks for)."""
    try:
        return dt.date.fromisoformat(review)
    except ValueError:
        pass
    year, month = parse_review(review)
    first = dt.date(year, month, 1)
    if first > ctx.cal.last:
        return ctx.cal.after(ctx.cal.last, 1)
    return ctx.cal.after(first, 0)


def _dependency_members(
    rules: Methodology, ctx: Context, rd: ReviewDates, dep_inc: str, warnings: list[str]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Members of the indices this one excludes / draws from, computed first (in one run)."""
    out: tuple[dict[str, list[str]], dict[str, list[str]]] = ({}, {})
    u = rules.universe
    for kind, names in ((0, u.exclude_members_of), (1, u.members_of)):
        for name in names:
            try:
                dep = load_methodology(name)
            except UnknownMethodologyError as e:  # say which rule names it
                key = ("exclude_members_of", "members_of")[kind]
                raise UnknownMethodologyError(f"{rules.name}: universe.{key}: {e}") from None
            if dep.name in ctx.stack:
                chain = " -> ".join([*ctx.stack, dep.name])
                raise DependencyCycleError(f"methodologies depend on each other's members in a cycle: {chain}")
            inc = dep_inc
            if dep.schedule.frequency == "daily":
                label, when = None, rd.effective
            else:
                label, when = latest_review_in_force(dep, ctx.cal, rd.effective), None
            if inc in ("official", "official-strict"):
                eff = review_dates(dep, ctx.cal, label).effective if label else rd.effective
                if official_members(ctx.store, dep.index_code, eff) is None:
                    warnings.append(
                        f"{dep.name}: the store has no official {dep.index_code or dep.name} membership; "
                        "its incumbents are simulated (auto)"
                    )
                    inc = "auto"
            sub_inc = dep_inc if dep_inc not in ("official", "official-strict") else None
            # a chain's members and warnings, from the side-file cache when the same rules
            # ran over the same data before (depcache: keyed so it cannot be stale)
            ck = depcache.key(ctx.store, "dependency", dep.model_dump(mode="json"), label, when, inc, sub_inc,
                              ctx.data_until)
            hit = depcache.get(ck)
            if hit is not None:
                codes, own, nested = hit
            else:
                res = run_review(dep, ctx.store, label, as_of=when, incumbents=inc, allow_provisional=True,
                                 _ctx=ctx, _dep_inc=sub_inc)
                codes = res.codes
                own, nested = ctx.own_warnings.get(id(res), (res.warnings, []))
                depcache.put(ck, [codes, own, nested])
            out[kind][name] = codes
            warnings.extend(nested)  # already prefixed with the index they come from
            warnings.extend(f"{dep.name}: {w}" for w in own)
    return out


def _metric_sql(ctx: Context) -> str:
    """The window aggregates. Without float (free-float) shares in the store those columns
    fall back to total (float) shares: the aggregates are then written over the same column,
    so DuckDB computes each distinct one once."""
    ff = "float_sh" if not ctx.has_free_float else "ff_sh"
    fl = "total_shares" if not ctx.has_float else "float_sh"
    a = "a_sh" if ctx.has_a_shares else "total_shares"
    out = []
    for m in METRICS.values():
        sql = m.sql.replace("ff_sh", ff if ff != "float_sh" else fl).replace("float_sh", fl).replace("a_sh", a)
        out.append(f"{sql} AS {m.name}")
    return ",\n  ".join(out)


def _candidates_base(ctx: Context, start: dt.date, cutoff: dt.date, boards: tuple[str, ...],
                     skip: int = 0) -> tuple[str, list[str]]:
    """A temp table of the boards' candidates for the window [start, cutoff] and its columns:
    the stocks listed by the cutoff and not delisted by then, with their industry at the
    cutoff, trading days since listing and in the window, and the window metrics from one
    grouped scan of the bars with share capital joined point in time. Built once per window
    and run (CSI 300, 500, 1000 and 2000 of one review share it). `skip`: a stock's first
    trading days since listing left out of its window (CSI: new listings from the 6th)."""
    key = (start, cutoff, boards) if not skip else (start, cutoff, (*boards, f"skip{skip}"))
    hit = ctx.metric_tables.get(key)
    if hit is not None:
        return hit
    while len(ctx.metric_tables) >= 8:  # keep a few windows (daily methodologies move every day)
        old, _ = ctx.metric_tables.pop(next(iter(ctx.metric_tables)))
        ctx.store.con.execute(f"DROP TABLE IF EXISTS {old}")
    ctx.metric_seq += 1
    name = f"_ir_m{ctx.metric_seq}"
    con = ctx.store.con
    # the first day of a stock's window data: its (skip + 1)-th trading day since listing
    first_day = f"""
        first_day AS (
          SELECT sec.code, coalesce(c.date, DATE '9999-12-31') AS d FROM sec
          ASOF LEFT JOIN cal a ON coalesce(sec.list_date, DATE '1900-01-01') > a.date
          LEFT JOIN cal c ON c.pos = coalesce(a.pos, 0) + 1 + {int(skip)}
        ),""" if skip else ""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        WITH cal AS (SELECT date, row_number() OVER (ORDER BY date) AS pos FROM calendar WHERE date <= $cutoff),
        sec AS (
          SELECT code, name, board, exchange, list_date FROM securities
          WHERE board IN ({", ".join(_lit(b) for b in boards)})
            AND (list_date IS NULL OR list_date <= $cutoff)
            AND (delist_date IS NULL OR delist_date > $cutoff)
        ),
        sh AS (
          -- share capital as intervals [effective_date, next change): a plain range join
          -- gives the ASOF rows, several times faster over a year of bars; only the
          -- boards' stocks, and only the intervals that overlap the window
          -- (the point-in-time series of pit_shares: sparse counts carried as ratios)
          SELECT * FROM (
            SELECT code, effective_date AS d0, total_shares, float_shares, free_float_shares, a_shares,
                   lead(effective_date, 1, DATE '9999-12-31') OVER (
                     PARTITION BY code ORDER BY effective_date, total_shares, float_shares, free_float_shares
                   ) AS d1
            FROM {pit_shares.VIEW} WHERE effective_date <= $cutoff AND code IN (SELECT code FROM sec)
          ) WHERE d1 > $start
        ),{first_day}
        w AS (
          SELECT b.code, b.date, b.close, b.amount, b.volume, s.total_shares,
                 coalesce(s.float_shares, s.total_shares) AS float_sh,
                 coalesce(s.free_float_shares, s.float_shares, s.total_shares) AS ff_sh,
                 coalesce(s.a_shares, s.total_shares) AS a_sh
          FROM bars b LEFT JOIN sh s ON b.code = s.code AND b.date >= s.d0 AND b.date < s.d1
          {"JOIN first_day f ON b.code = f.code AND b.date >= f.d" if skip else ""}
          WHERE b.date BETWEEN $start AND $cutoff AND b.code IN (SELECT code FROM sec)
        ),
        agg AS (
          SELECT code,
            {_metric_sql(ctx)},
            arg_max(total_shares, date) AS shares_total,
            arg_max(float_sh, date) AS shares_float,
            arg_max(ff_sh, date) AS shares_ff,
            max(date) AS last_bar
          FROM w GROUP BY code
        ),
        ind AS (
          SELECT code, arg_max(sw_l1_code, start_date) AS sw_l1_code,
                 arg_max(sw_l1_name, start_date) AS sw_l1_name,
                 arg_max(sw_l1_name_en, start_date) AS sw_l1_name_en,
                 arg_max(sw_l2_code, start_date) AS sw_l2_code,
                 arg_max(sw_l2_name, start_date) AS sw_l2_name,
                 arg_max(sw_l3_code, start_date) AS sw_l3_code
          FROM industry WHERE start_date <= $cutoff AND (end_date IS NULL OR end_date >= $cutoff)
            AND code IN (SELECT code FROM sec)
          GROUP BY code
        ),
        -- calendar positions before the listing day and before the window (or listing),
        -- found ASOF rather than by counting days per stock
        pos AS (
          SELECT sec.code, coalesce(a.pos, 0) AS before_list, coalesce(b.pos, 0) AS before_window
          FROM sec {"LEFT JOIN first_day f USING (code)" if skip else ""}
          ASOF LEFT JOIN cal a ON coalesce(sec.list_date, DATE '1900-01-01') > a.date
          ASOF LEFT JOIN cal b ON greatest($start, coalesce({"f.d" if skip else "sec.list_date"}, $start)) > b.date
        )
        SELECT sec.*, ind.sw_l1_code, ind.sw_l1_name, ind.sw_l1_name_en, ind.sw_l2_name,
          ind.sw_l2_code, ind.sw_l3_code,
          (SELECT count(*) FROM cal) - pos.before_list AS listing_days,
          (SELECT count(*) FROM cal) - pos.before_window - coalesce(agg.traded_days, 0) AS suspended_days,
          agg.* EXCLUDE (code),
          -- trading days without a bar since the last one: suspended at the cutoff for that long
          (SELECT count(*) FROM cal) - lb.pos AS suspended_run
        FROM sec JOIN pos USING (code) LEFT JOIN agg USING (code) LEFT JOIN ind USING (code)
          LEFT JOIN cal lb ON lb.date = agg.last_bar
        """,
        {"start": start, "cutoff": cutoff},
    )
    cols = ["code", "name", "board", "exchange", "list_date", "sw_l1_code", "sw_l1_name", "sw_l1_name_en",
            "sw_l2_name", "sw_l2_code", "sw_l3_code", "listing_days", "suspended_days", *METRICS,
            "shares_total", "shares_float", "shares_ff", "last_bar", "suspended_run"]  # the SELECT above, in order
    ctx.metric_tables[key] = (name, cols)
    return name, cols


def _rule_metrics(m: Methodology) -> set[str]:
    """The metric columns the rules of `m` read."""
    u, sel = m.universe, m.selection
    out = {sel.rank_by, *sel.tie_break, *(s.metric for s in m.screens), *(t.metric for t in sel.composite or [])}
    excs = [u.new_listing_exception, *(r.new_listing_exception for r in u.listing_age_by_board.values())]
    out |= {e.metric for e in excs if e is not None}
    return out


class _Plan:
    """A review compiled to one chain of CTEs, each step reading the one before.

    Rules become steps of a single statement instead of one UPDATE each, so DuckDB plans
    the whole sample space and screen sequence at once. Consecutive marks share one step:
    a CASE whose first true condition wins, as the rules read in order."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str]] = []
        self.marks: list[tuple[str, dict[str, str]]] = []

    @property
    def prev(self) -> str:
        self._flush()
        return self.steps[-1][0]

    def add(self, sql: str) -> None:
        """A step; `{prev}` in `sql` names the step before it."""
        self._flush()
        name = f"_s{len(self.steps)}"
        self.steps.append((name, sql.replace("{prev}", self.steps[-1][0]) if self.steps else sql))

    def mark(self, cond: str, values: dict[str, str]) -> None:
        """Set `values` (column -> SQL; always a reason) on the stocks still in (no reason
        yet) that meet `cond`."""
        self.marks.append((cond, values))

    def drop(self, stage: str, cond: str, reason: str) -> None:
        """Rule a stock out: the first rule that fails it gives its stage and reason."""
        self.mark(cond, {"stage": _lit(stage), "reason": reason})

    def _flush(self) -> None:
        marks, self.marks = self.marks, []
        if not marks:
            return
        cols = list(dict.fromkeys(c for _, v in marks for c in v))
        if len(marks) == 1:
            cond, v = marks[0]
            cases = [f"CASE WHEN reason IS NULL AND ({cond}) THEN {v[c]} ELSE {c} END AS {c}" for c in cols]
            self.add(f"SELECT * REPLACE ({', '.join(cases)}) FROM {{prev}}")
            return
        # which rule hits first, once; then each column reads it (each condition is written,
        # parsed and bound once however many columns the rules set)
        hit = " ".join(f"WHEN {cond} THEN {k}" for k, (cond, _) in enumerate(marks, start=1))
        self.add(f"SELECT *, CASE WHEN reason IS NOT NULL THEN 0 {hit} ELSE 0 END AS _hit FROM {{prev}}")
        cases = []
        for c in cols:
            whens = " ".join(f"WHEN {k} THEN {v[c]}" for k, (_, v) in enumerate(marks, start=1) if c in v)
            cases.append(f"CASE _hit {whens} ELSE {c} END AS {c}")
        self.add(f"SELECT * EXCLUDE (_hit) REPLACE ({', '.join(cases)}) FROM {{prev}}")

    def sql(self, final: str = "SELECT * FROM {prev}") -> str:
        """The statement: every step, then `final` over the last."""
        prev = self.prev
        body = ",\n".join(f"{n} AS (\n{s}\n)" for n, s in self.steps)
        return f"WITH {body}\n{final.replace('{prev}', prev)}"


KEPT_UNKNOWN = "kept: unknown to the store (no securities row; a gap in the data)"


def _pipeline(
    m: Methodology,
    ctx: Context,
    rd: ReviewDates,
    incumbents: list[str],
    excluded: dict[str, list[str]],
    required: dict[str, list[str]],
    warnings: list[str],
) -> Table:
    con = ctx.store.con
    u, sel = m.universe, m.selection
    base, base_cols = _candidates_base(ctx, rd.window_start, rd.cutoff, tuple(sorted(u.boards)),
                                       m.lookback.skip_listing_days)
    params: dict[str, Any] = {"cutoff": rd.cutoff, "start": rd.window_start, "inc": incumbents}
    lists = {}
    for i, (name, codes) in enumerate([*required.items(), *excluded.items()]):
        lists[name] = f"$m{i}"
        params[f"m{i}"] = codes

    # External metrics and status at the cutoff, for the methodologies that use them.
    externals = []
    joins = []
    for j, name in enumerate(EXTERNAL_METRICS):
        src = ctx.external.get(name)
        if src is None:
            externals.append(f"CAST(NULL AS DOUBLE) AS {_q(name)}")
            continue
        externals.append(f"CAST(x{j}.value AS DOUBLE) AS {_q(name)}")
        joins.append(f"""LEFT JOIN (SELECT code, arg_max(value, date) AS value FROM ({src})
                           WHERE date <= $cutoff GROUP BY code) x{j} USING (code)""")
    # Each status kind the methodology excludes is applied when the store has data of that
    # kind up to the cutoff, and said not to be otherwise.
    wanted = [(["ST", "*ST"], "ST / *ST", u.exclude_st), (["delisting"], "delisting-arrangement", u.exclude_delisting)]
    st_kinds, missing = [], []
    for kinds, what, on in wanted:
        if not on:
            continue
        if any(k in ctx.status_from and ctx.status_from[k] <= rd.cutoff for k in kinds):
            st_kinds += kinds
        else:
            missing.append(what)
    if missing:
        warnings.append(
            f"the store has no status data up to the cutoff (table status): the exclusion of {' and '.join(missing)} "
            "stocks is not applied"
        )
    if "ST" in st_kinds and ctx.status_inferred_boards:
        off = [b for b in u.boards if b not in ctx.status_inferred_boards]
        warnings.append(
            f"ST status is inferred from the {ST_LIMIT_PCT}% price limits of {', '.join(ctx.status_inferred_boards)} "
            "(meta status_source), not an official list"
            + (f": ST stocks on {', '.join(off)} are not excluded" if off else "")
        )
    use_status = bool(st_kinds)
    # ST is read at the cutoff, or on the last trading day before the effective date
    st_late = u.st_as_of == "effective"
    params["st_day"] = ctx.cal.on_or_before(rd.effective - dt.timedelta(days=1)) if st_late else rd.cutoff
    if use_status:
        day = "(CASE WHEN status IN ('ST', '*ST') THEN $st_day ELSE $cutoff END)" if st_late else "$cutoff"
        joins.append(f"""LEFT JOIN (SELECT code, min(status) AS status FROM status
                           WHERE status IN ({", ".join(_lit(k) for k in st_kinds)})
                             AND start_date <= {day} AND (end_date IS NULL OR end_date >= {day})
                           GROUP BY code) st USING (code)""")
    # The rules run over the columns they read; names, industries and the other metrics
    # join back at the end (carrying every column through each step costs more than the rules).
    keep = ["code", "board", "list_date", "listing_days", "suspended_days", "traded_days",
            *sorted(c for c in _rule_metrics(m) if c in base_cols)]
    plan = _Plan()
    plan.add(
        f"""SELECT {", ".join(f"b.{c}" for c in keep)}, {", ".join(externals)},
              {"b.code IN (SELECT unnest($inc::VARCHAR[]))" if incumbents else "false"} AS incumbent,
              {"st.status" if use_status else "CAST(NULL AS VARCHAR)"} AS _st,
              CAST(NULL AS DOUBLE) AS composite_rank, CAST(NULL AS VARCHAR) AS stage,
              CAST(NULL AS VARCHAR) AS reason, CAST(NULL AS BIGINT) AS rank,
              CAST(NULL AS BOOLEAN) AS selected, CAST(NULL AS VARCHAR) AS status
            FROM {base} b {" ".join(joins)}"""
    )
    # what the chain decides comes from its last step; the rest from the base, so DuckDB drops
    # the columns the rules have read once they are read (windows carry every column they get)
    narrow = {"code", *ctx.external, "incumbent", "_st", "composite_rank", "stage", "reason", "rank",
              "selected", "status"}
    cols = [*base_cols, *EXTERNAL_METRICS, "composite_rank", "stage", "reason", "rank", "incumbent", "selected",
            "status", "_st"]

    # The sample space: universe rules in order, first reason wins.
    if u.exclude_codes:
        plan.drop("universe", f"code IN ({', '.join(_lit(c) for c in u.exclude_codes)})", "'excluded by code list'")
    for name in required:
        plan.drop("universe", f"code NOT IN (SELECT unnest({lists[name]}::VARCHAR[]))",
                  _lit(f"not a member of {name} at this review"))
    if use_status:
        when = (f"CASE WHEN _st IN ('ST', '*ST') THEN ' on {params['st_day']} (the day before the effective date)' "
                "ELSE ' at the data cutoff' END") if st_late else "' at the data cutoff'"
        plan.drop("universe", "_st IS NOT NULL", f"_st || {when}")
    plan.drop("universe", "traded_days IS NULL", "'no trading in the review window'")
    if u.min_listing_age is not None or u.listing_age_by_board:
        _listing_age(m, plan)
    if u.max_suspended_days is not None:
        plan.drop(
            "universe",
            f"suspended_days > {int(u.max_suspended_days)}",
            f"format('suspended {{}} trading days in the window (more than {u.max_suspended_days})', suspended_days)",
        )
    # Members of the indices this one excludes: still part of the sample space (stage
    # 'membership'), so a sample-space screen ranks them ("CSI 300 members and the top 300").
    for name in excluded:
        plan.drop("membership", f"code IN (SELECT unnest({lists[name]}::VARCHAR[]))", _lit(f"member of {name} at this review"))

    for i, s in enumerate(m.screens, start=1):
        _screen(s, i, ctx, plan, warnings, rd.cutoff)

    if sel.rank_by == "composite_rank":
        _composite_rank(m, plan)
    if not sel.all_eligible:  # a composite holds only what it can see
        # An incumbent the store cannot rank (e.g. no share capital, so no market cap) keeps
        # its place: a gap in the data is no evidence that it should leave. Newcomers
        # without the data cannot enter.
        plan.mark(
            f"{_q(sel.rank_by)} IS NULL AND incumbent",
            {"stage": "'selection'", "selected": "true", "status": "'retained'",
             "reason": _lit(f"kept: no {sel.rank_by} data to rank it (a gap in the store's data)")},
        )
        plan.drop("selection", f"{_q(sel.rank_by)} IS NULL", _lit(f"no {sel.rank_by} data to rank by"))
    # Incumbents outside the candidates: unknown to the store (no row in securities: the data
    # lacks them, e.g. a stock missing from a survivorship-biased source) keep their place,
    # counted among the places held; the others (not listed on the index boards) are deleted.
    known = _security_codes(ctx) if incumbents else frozenset()
    unknown = [] if sel.all_eligible else [c for c in incumbents if c not in known]
    src = {c: f"n.{_q(c)}" if c in narrow else f"b.{_q(c)}" for c in cols}
    src.update({c: "CAST(NULL AS DOUBLE)" for c in EXTERNAL_METRICS if c not in ctx.external})
    frm = f"{{prev}} n LEFT JOIN {base} b USING (code)"
    if sel.industry_balance is None:
        # one statement from the sample space to the finished table
        src.update(_select_steps(m, bool(incumbents), plan, len(unknown)))
        sql = plan.sql(_finish_sql(m, src, frm))
        table = Table.fetch(con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql}))
    else:
        # industry places are allocated in Python between two statements
        joined = ", ".join(f"{e} AS {_q(c)}" for c, e in src.items())
        sql = "CREATE OR REPLACE TEMP TABLE _ir_c AS " + plan.sql(f"SELECT {joined} FROM {frm}")
        con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})
        row = con.execute("SELECT count(*) FILTER (WHERE selected) FROM _ir_c").fetchone()
        held = int(row[0]) if row else 0
        _kept_warnings(warnings, held, len(unknown), sel.rank_by)
        n = max(sel.count - held - len(unknown), 0)
        con.execute("CREATE OR REPLACE TEMP TABLE _ir_x AS SELECT unnest($c::VARCHAR[]) AS code", {"c": incumbents})
        _industry_select(m, ctx, _order(m), bool(incumbents), warnings, n)
        try:
            table = Table.fetch(con.execute(_finish_sql(m, {c: f"c.{_q(c)}" for c in cols}, "_ir_c c")))
        finally:
            con.execute("DROP TABLE IF EXISTS _ir_x; DROP TABLE IF EXISTS _ir_c")
    listed = set(table.column("code"))
    gone = [c for c in incumbents if c not in listed and c not in unknown]
    gone_rows = con.execute(
        "SELECT x.code, s.name, s.board FROM (SELECT unnest($c::VARCHAR[]) AS code) x "
        "LEFT JOIN securities s USING (code) ORDER BY x.code", {"c": gone}).fetchall() if gone else []
    if unknown or gone:
        extra = [{"code": c, "stage": "selection", "reason": KEPT_UNKNOWN, "incumbent": True, "selected": True,
                  "status": "retained"} for c in unknown]
        extra += [{"code": r[0], "name": r[1], "board": r[2], "stage": "universe", "incumbent": True,
                   "reason": "deleted: not a listed stock of the index boards at the cutoff",
                   "selected": False, "status": "deleted"} for r in gone_rows]
        rows = table.rows + [tuple(e.get(c) for c in table.columns) for e in extra]
        ri, ci = table.col("rank"), table.col("code")
        rows.sort(key=lambda r: (r[ri] is None, r[ri] or 0, r[ci]))
        table = Table(table.columns, table.types, rows)
    table = _weights(m, ctx, warnings, table)
    rank_a = next((x for x in (sel.rank_by, *(s.metric for s in m.screens)) if x in A_SHARE_METRICS), None)
    if (ctx.has_free_float and m.weighting.method == "free_float_cap") or (ctx.has_a_shares and rank_a):
        codes, ranks, chosen = table.column("code"), table.column("rank"), table.column("selected")
        warnings += pit_shares.review_warnings(
            con, rd.cutoff,
            weighted=[c for c, s in zip(codes, chosen, strict=True) if s],
            ranked=[c for c, r in zip(codes, ranks, strict=True) if r is not None],
            free_float_weights=ctx.has_free_float and m.weighting.method == "free_float_cap",
            a_share_rank=rank_a if ctx.has_a_shares else None)
    return table


def _order(m: Methodology) -> str:
    """The ranking order: the rank metric, then the tie-breaks, then the code."""
    sel = m.selection
    direction = "ASC" if sel.order == "asc" else "DESC"
    return ", ".join(
        [f"{_q(sel.rank_by)} {direction} NULLS LAST", *(f"{_q(t)} {direction} NULLS LAST" for t in sel.tie_break), "code"]
    )


def _listing_age(m: Methodology, plan: _Plan) -> None:
    """Listing ages: the default rule, and each board's own (`listing_age_by_board`)."""
    from ..methodology.schema import BoardListingAge

    u = m.universe
    rules: list[tuple[list[str], BoardListingAge]] = []
    default_boards = [b for b in u.boards if b not in u.listing_age_by_board]
    if u.min_listing_age is not None and default_boards:
        rules.append((default_boards, BoardListingAge(min_age=u.min_listing_age,
                                                      new_listing_exception=u.new_listing_exception)))
    rules += [([b], rule) for b, rule in u.listing_age_by_board.items()]

    def too_young(a: Any) -> str:
        if a.trading_days is not None:
            return f"listing_days < {int(a.trading_days)}"
        return f"list_date > $cutoff - INTERVAL {int(a.months)} MONTH"

    per_board = bool(u.listing_age_by_board)
    for i, (boards, rule) in enumerate(rules):
        age, exc = rule.min_age, rule.new_listing_exception
        cond = too_young(age)
        if exc is not None:
            # Large new listings may enter early: ranked among every candidate with data.
            col = _q(exc.metric)
            plan.add(
                f"""SELECT *, CASE WHEN {col} IS NOT NULL THEN
                      row_number() OVER (PARTITION BY {col} IS NULL ORDER BY {col} DESC, code) END AS _er{i},
                      count(*) OVER (PARTITION BY {col} IS NULL) AS _en{i} FROM {{prev}}"""
            )
            within = f"_er{i} <= {int(exc.top_n)}" if exc.top_n is not None else f"_er{i} <= ceil(_en{i} * {exc.top_pct / 100!r})"
            cond = f"({cond}) AND (({too_young(exc.min_age)}) OR _er{i} IS NULL OR NOT ({within}))"
        where = f"board IN ({', '.join(_lit(b) for b in boards)}) AND ({cond})" if per_board else cond
        on_board = f" on board {boards[0]}" if per_board and len(boards) == 1 else ""
        plan.drop(
            "universe",
            where,
            f"format('listed {{}} trading days (since {{}}); needs {age.describe()}{on_board}', listing_days, list_date)",
        )


def _screen(s: Screen, i: int, ctx: Context, plan: _Plan, warnings: list[str], cutoff: dt.date) -> None:
    col = _q(s.metric)
    stage = f"screen {i}"
    if s.metric in EXTERNAL_METRICS and s.metric not in ctx.external:
        if s.metric in GRADE_METRICS:
            what = f"{GRADE_METRICS[s.metric]} ESG grades (table {RATINGS_TABLE})"
        elif s.metric == "esg_score":
            what = "ESG data (table esg_scores)"
        elif s.metric == "profitable":
            what = f"profitability data (table {VALUATION_TABLE}: PE (TTM) snapshots)"
        else:
            what = f"{s.metric} data (table {ATTRIBUTES_TABLE})"
        note = f" [{s.note}]" if s.note else ""
        warnings.append(f"screen {i} ({s.describe()}{note}) skipped: the store has no {what}")
        return
    if s.type == "min_grade":
        _grade_screen(s, i, ctx, plan, warnings, cutoff)
        return
    exempt = " AND NOT incumbent" if s.applies_to == "newcomers" else ""
    if s.boards:  # the screen holds for these boards only
        exempt += f" AND board IN ({', '.join(_lit(b) for b in s.boards)})"

    def threshold(f: Any) -> str:
        """The screen's cut as SQL: incumbents' own where the screen gives them one."""
        if s.incumbents_value is None:
            return f(s.value)
        return f"CASE WHEN incumbent THEN {f(s.incumbents_value)} ELSE {f(s.value)} END"

    if s.if_missing == "drop":
        plan.drop(stage, f"{col} IS NULL{exempt}", _lit(f"no {s.metric} data (screen {i}: {s.describe()})"))
    if s.type in ("min_value", "max_value"):
        op = "<" if s.type == "min_value" else ">"
        plan.drop(stage, f"{col} {op} {threshold(repr)}{exempt}",
                  f"format('{s.metric} {{}} fails screen {i}: {s.describe()}', round({col}, 4))")
        return
    # Rank-based screens rank the stocks still in, or the sample space: the stocks still in
    # plus the members of the indices this one excludes; ranks count from the top.
    pool = "reason IS NULL" if s.scope == "remaining" else "(reason IS NULL OR stage = 'membership')"
    pool = f"({pool} AND {col} IS NOT NULL)"
    # the count shares the rank's partition (so DuckDB computes both in one window pass);
    # it is read only where the rank is, inside the pool
    plan.add(
        f"""SELECT *, CASE WHEN {pool} THEN row_number() OVER (PARTITION BY {pool} ORDER BY {col} DESC, code) END AS _r{i},
                  count(*) OVER (PARTITION BY {pool}) AS _n{i} FROM {{prev}}"""
    )
    if s.type == "drop_bottom_pct":
        keep = threshold(lambda v: f"_n{i} - floor(_n{i} * {v / 100!r})")
    elif s.type == "keep_top_pct":
        keep = threshold(lambda v: f"ceil(_n{i} * {v / 100!r})")
    else:
        keep = threshold(lambda v: str(int(v)))
    cond = f"_r{i} <= {keep}" if s.type == "drop_top_n" else f"_r{i} > {keep}"
    plan.drop(stage, f"_r{i} IS NOT NULL AND {cond}{exempt}",
              f"format('{s.describe()}: rank {{}} of {{}} (cut at {{}})', _r{i}, _n{i}, CAST({keep} AS BIGINT))")


def _grade_screen(s: Screen, i: int, ctx: Context, plan: _Plan, warnings: list[str], cutoff: dt.date) -> None:
    """A minimum grade: stocks rated worse are out; unrated stocks stay (the rules exclude
    stocks rated below a grade). Grades off the provider's scale are warned about."""
    provider = GRADE_METRICS[s.metric]
    scale = GRADE_SCALES[provider]
    assert s.grade is not None
    col = _q(s.metric)
    plan.drop(f"screen {i}", f"{col} > {place(provider, s.grade)}",
              f"format('{provider} ESG grade {{}} fails screen {i}: {s.describe()}', "
              f"list_extract({_lit(list(scale))}::VARCHAR[], CAST({col} AS INTEGER)))")
    row = ctx.store.con.execute(off_scale_sql(provider), {"cutoff": cutoff}).fetchone()
    if row and row[0]:
        warnings.append(f"screen {i}: {row[0]} {provider} ratings up to the cutoff have a grade not on its scale "
                        f"({', '.join(scale)}): those stocks count as unrated and are kept")


def _composite_rank(m: Methodology, plan: _Plan) -> None:
    """composite_rank = the weighted average of each named metric's rank among the stocks
    still in (1 = best; ties share the lowest rank)."""
    terms = m.selection.composite or []
    total = sum(t.weight for t in terms)
    parts = [
        f"{t.weight!r} * rank() OVER (PARTITION BY reason IS NULL ORDER BY {_q(t.metric)} "
        f"{'ASC' if t.order == 'asc' else 'DESC'} NULLS LAST)"
        for t in terms
    ]
    plan.add(
        f"""SELECT * REPLACE (CASE WHEN reason IS NULL THEN ({' + '.join(parts)}) / {total!r} END
                              AS composite_rank) FROM {{prev}}"""
    )


def _select_steps(m: Methodology, has_inc: bool, plan: _Plan, unknown: int) -> dict[str, str]:
    """The buffered selection as plan steps, and the SQL of the columns it decides (rank,
    selected, stage, status, reason) over the last step `n`: priority tier 0 (newcomers
    within the newcomer line, incumbents within the incumbent line), then fill by rank; at
    most `max_changes_pct` adds, displaced incumbents kept first by rank."""
    sel = m.selection
    count = sel.count
    b = sel.buffer
    ranked = "reason IS NULL"
    held_unknown = int(unknown)  # incumbents unknown to the store, kept
    capped = sel.max_changes_pct is not None and has_inc
    # _n: places left after the incumbents kept without a rank (only incumbents are kept
    # so); _rk: rank among the stocks in; _ninc: incumbents among them. The kept incumbents
    # join the ranking's partition, where they sort last (they have no rank metric), so one
    # window pass gives the rank and both counts.
    part = f"{ranked} OR coalesce(selected, false)" if has_inc else ranked
    held = f"count(*) FILTER (WHERE selected) OVER (PARTITION BY {part}) - {held_unknown}" if has_inc else "0"
    plan.add(
        f"""SELECT *, greatest({count} - {held}, 0) AS _n,
                  {f"count(*) FILTER (WHERE incumbent AND {ranked}) OVER (PARTITION BY {part})" if capped else "0"} AS _ninc,
                  CASE WHEN {ranked} THEN row_number() OVER (PARTITION BY {part} ORDER BY {_order(m)}) END AS _rk
            FROM {{prev}}"""
    )
    lim = f"greatest({int(np.floor(count * sel.max_changes_pct / 100 + 1e-9))}, _n - _ninc)" if capped else "_n"
    b_new = f"least({b.newcomers_within}, _n)" if b else "_n"
    b_inc = str(b.incumbents_within) if b else "_n"
    tier = (f"CASE WHEN _rk IS NULL THEN NULL WHEN incumbent AND _rk <= {b_inc} THEN 0 "
            f"WHEN NOT incumbent AND _rk <= {b_new} THEN 0 ELSE 1 END")
    # Without incumbents or without a buffer the priority tier rises with the rank, so the
    # order (tier, rank) is the rank and the first _n ranks are selected; without a change
    # cap every stock within them stays and none is displaced. The window steps are only
    # written when they can change the outcome.
    if b is not None and has_inc:
        sel_raw = f"row_number() OVER (PARTITION BY _rk IS NOT NULL ORDER BY {tier}, _rk) <= _n"
    else:
        sel_raw = "_rk <= _n"
    plan.add(
        f"""SELECT *, {b_new} AS _b_new, {b_inc} AS _b_inc, CAST({lim} AS BIGINT) AS _lim, {tier} AS _tier,
                  CASE WHEN _rk IS NOT NULL THEN {sel_raw} END AS _sel_raw
            FROM {{prev}}"""
    )
    if capped:
        # One rank within (_sel_raw, incumbent) serves both: the newcomers within the places
        # enter by it up to the change limit, and the incumbents it displaced come back by it
        # into the places the limit left empty.
        plan.add(
            """SELECT *, row_number() OVER (PARTITION BY _sel_raw, incumbent ORDER BY _rk) AS _nr,
                      count(*) FILTER (WHERE _sel_raw AND incumbent) OVER () AS _c_inc,
                      count(*) FILTER (WHERE _sel_raw AND NOT incumbent) OVER () AS _c_new
               FROM {prev}"""
        )
        plan.add(
            """SELECT *, _sel_raw AND (incumbent OR _nr <= _lim) AS _sel1,
                      _sel_raw AND (incumbent OR _nr <= _lim) OR coalesce(
                        CASE WHEN incumbent AND NOT _sel_raw THEN _nr END <= _n - _c_inc - least(_lim, _c_new), false)
                        AS _selected
               FROM {prev}"""
        )
    chosen = "n._selected" if capped else "n._sel_raw"
    buf = b is not None and has_inc
    # (applies, condition, reason) in order, first true wins; the ones that cannot apply to
    # this methodology and incumbent set are left out of the statement
    whens = [
        (capped, f"{chosen} AND n.incumbent AND NOT n._sel1", "'rank {}, kept: at most {} changes per review', n._rk, n._lim"),
        (has_inc, f"{chosen} AND n.incumbent AND n._rk <= n._n", "'rank {}, retained', n._rk"),
        (has_inc, f"{chosen} AND n.incumbent AND n._tier = 0", "'rank {}, kept by incumbent buffer {}', n._rk, n._b_inc"),
        (has_inc, f"{chosen} AND n.incumbent", f"'rank {{}}, kept to fill the {count} places', n._rk"),
        (buf, f"{chosen} AND n._tier = 0", "'rank {}, added (newcomer within {})', n._rk, n._b_new"),
        (has_inc, chosen, f"'rank {{}}, added to fill the {count} places', n._rk"),
        (True, chosen, "'rank {}, selected', n._rk"),
        (has_inc, "n.incumbent AND n._rk > n._b_inc", "'rank {}, deleted: outside incumbent buffer {}', n._rk, n._b_inc"),
        (has_inc, "n.incumbent", "'rank {}, deleted: displaced by higher-priority candidates', n._rk"),
        (capped, "n._sel_raw", "'rank {}, not added: at most {} changes per review', n._rk, n._lim"),
        (buf, "n._rk <= n._n", "'rank {}, not added: newcomers must rank within {}', n._rk, n._b_new"),
    ]
    reason = " ".join(f"WHEN {c} THEN format({f})" for on, c, f in whens if on)
    return {
        "rank": "coalesce(n._rk, n.rank)",
        "selected": f"CASE WHEN n._rk IS NULL THEN n.selected ELSE {chosen} END",
        "stage": "CASE WHEN n._rk IS NULL THEN n.stage ELSE 'selection' END",
        "status": f"""CASE WHEN n._rk IS NULL THEN n.status
               WHEN {chosen} AND n.incumbent THEN 'retained' WHEN {chosen} THEN 'added'
               WHEN n.incumbent THEN 'deleted' ELSE '' END""",
        "reason": f"""CASE WHEN n._rk IS NULL THEN n.reason {reason}
            ELSE format('rank {{}}, outside the {count} places', n._rk) END""",
    }


def _finish_sql(m: Methodology, src: dict[str, str], frm: str) -> str:
    """The finished candidate table, ordered by rank then code, from the column expressions
    `src` over `frm`: incumbents no longer candidates marked deleted, and each constituent's
    weighting base (price x shares x tier factor) in the working columns _wbase, _wfactor.

    Each expression is written once, in an inner select, and the outer one reads its columns:
    DuckDB binds every copy of an expression, and binding is most of the cost of a review's
    few thousand rows."""
    shares, factor = weighting_sql(m.weighting, "_ratio")
    ratio = f", {src['shares_ff']} / nullif({src['shares_total']}, 0) AS _ratio" if factor != "1.0" else ""
    wbase = "1.0" if shares is None else f"last_close * {_q(shares)} * _f"
    inner = []
    for c, e in src.items():
        if c == "_st":
            continue
        if c in ("selected", "incumbent"):
            e = f"coalesce({e}, false)"
        inner.append(e if e.endswith(f".{_q(c)}") else f"{e} AS {_q(c)}")  # a column keeps its name
    # incumbents that are no longer candidates (delisted, moved board, no data) are deleted
    out = ("* EXCLUDE (_gone, _f) REPLACE (CASE WHEN _gone THEN 'deleted' ELSE coalesce(status, '') END AS status, "
           "CASE WHEN _gone THEN 'deleted: ' || reason ELSE reason END AS reason), "
           "CAST(NULL AS DOUBLE) AS weight, CAST(NULL AS DOUBLE) AS inclusion_factor, CAST(NULL AS DOUBLE) AS cap_factor, "
           f"CASE WHEN selected THEN {wbase} END AS _wbase, CASE WHEN selected THEN _f END AS _wfactor")
    return (f"SELECT {out} FROM (SELECT *{' EXCLUDE (_ratio)' if ratio else ''}, "
            f"incumbent AND rank IS NULL AND NOT selected AS _gone, {factor} AS _f "
            f"FROM (SELECT {', '.join(inner)}{ratio} FROM {frm})) ORDER BY rank NULLS LAST, code")


def _weights(m: Methodology, ctx: Context, warnings: list[str], table: Table) -> Table:
    """Weights at the data cutoff: the weighting base of each constituent, then caps; the
    table without its working columns."""
    sel, w = m.selection, m.weighting
    ix = {c: i for i, c in enumerate(table.columns)}
    rows = [(r[ix["code"]], r[ix["_wbase"]], r[ix["_wfactor"]], r[ix["sw_l1_code"]], r[ix["reason"]])
            for r in table.rows if r[ix["selected"]]]
    if sel.industry_balance is None:
        unknown = sum(r[4] == KEPT_UNKNOWN for r in rows)
        kept = sum(r[4] == f"kept: no {sel.rank_by} data to rank it (a gap in the store's data)" for r in rows)
        _kept_warnings(warnings, kept, unknown, sel.rank_by)
    n_sel = len(rows)
    if n_sel < sel.count and not sel.all_eligible:
        warnings.append(f"only {n_sel} stocks passed the rules; the index has {n_sel} of {sel.count} places filled")
    if n_sel > sel.count and sel.all_eligible:
        warnings.append(f"{n_sel} stocks passed the rules, more than the maximum of {sel.count}")
    if w.method != "equal":
        missing = {"float_cap": not ctx.has_float, "free_float_cap": not ctx.has_free_float}
        if missing.get(w.method):
            warnings.append(
                f"the store has no {'free-float' if w.method == 'free_float_cap' else 'float'} share data: "
                f"{w.method} weights use total shares (inclusion factor 100%)"
            )
    weighted: dict[str, tuple[float, float, float]] = {}
    if rows:
        base_all = np.array([r[1] if r[1] is not None else np.nan for r in rows], dtype=float)
        ok = np.isfinite(base_all) & (base_all > 0)
        bad = [r[0] for r, good in zip(rows, ok, strict=True) if not good]
        if bad:
            if not ok.any():
                raise IndexReconError(
                    f"cannot weight any of the {len(rows)} constituents (no price or shares at the cutoff)"
                )
            warnings.append(
                f"{len(bad)} constituent(s) cannot be weighted (no price or shares at the cutoff), e.g. {bad[0]}: "
                "left without a weight; the others' weights sum to 1"
            )
            rows = [r for r, good in zip(rows, ok, strict=True) if good]
        base_v = base_all[ok]
        weights = cap_weights(base_v, **methodology_caps(w.caps, [r[3] for r in rows]))
        cap_f = weights / (base_v / base_v.sum())
        weighted = {r[0]: (float(wt), float(r[2]), float(cf)) for r, wt, cf in zip(rows, weights, cap_f, strict=True)}
    # the weights into their columns (a constituent-sized patch of the fetched rows)
    wi, n = ix["weight"], len(table.columns) - 2
    assert table.columns[wi:wi + 3] == ("weight", "inclusion_factor", "cap_factor") and ix["_wbase"] == n
    out = [(*r[:wi], *weighted[r[0]], *r[wi + 3:n]) if r[0] in weighted else r[:n] for r in table.rows]
    return Table(table.columns[:n], table.types[:n], out)


def _kept_warnings(warnings: list[str], kept: int, unknown: int, rank_by: str) -> None:
    if unknown:
        warnings.append(f"{unknown} incumbent(s) are unknown to the store (no data at all): kept without a rank")
    if kept:
        warnings.append(
            f"{kept} incumbent(s) have no {rank_by} data (e.g. no share capital in the store): kept without a rank"
        )


def _apply_selection(con: Any, select_sql: str) -> None:
    """Record rank, status and reason of every ranked stock. The values are computed by a
    SELECT and the table rebuilt with them: DuckDB updates thousands of distinct strings far
    more slowly in place (an UPDATE ... FROM) than it writes them into a new table."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _ir_u AS {select_sql}")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _ir_c AS SELECT c.* REPLACE (
             coalesce(u.rank, c.rank) AS rank, coalesce(u.inc, c.incumbent) AS incumbent,
             coalesce(u.selected, c.selected) AS selected,
             CASE WHEN u.code IS NULL THEN c.stage ELSE 'selection' END AS stage,
             coalesce(u.status, c.status) AS status, coalesce(u.reason, c.reason) AS reason)
           FROM _ir_c c LEFT JOIN _ir_u u USING (code)"""
    )
    con.execute("DROP TABLE IF EXISTS _ir_u")


def _allocate(n: int, share: dict[str, float], floor_: dict[str, int], avail: dict[str, int]) -> dict[str, int]:
    """Places per group: `n` split in proportion to `share` by largest remainder, at least
    `floor_` (leaders already in) and at most `avail` (stocks there are) per group."""
    groups = sorted(share)
    total = sum(share.values()) or 1.0
    target = {g: n * share[g] / total for g in groups}
    q = {g: min(avail[g], max(floor_.get(g, 0), int(np.floor(target[g])))) for g in groups}
    # hand out or take back places one at a time, by the largest gap to the target
    for _ in range(10 * n + len(groups) + 10):
        diff = n - sum(q.values())
        if diff == 0:
            break
        if diff > 0:
            cands = [g for g in groups if q[g] < avail[g]]
            if not cands:
                break
            g = max(cands, key=lambda x: (target[x] - q[x], share[x], x))
            q[g] += 1
        else:
            cands = [g for g in groups if q[g] > floor_.get(g, 0)]
            if not cands:
                break
            g = max(cands, key=lambda x: (q[x] - target[x], -share[x], x))
            q[g] -= 1
    return q


def _industry_select(m: Methodology, ctx: Context, order: str, has_inc: bool, warnings: list[str], n: int) -> None:
    """Industry-balanced selection of `n` places: places per industry, leaders first,
    buffers scaled to each industry's places, the best-ranked fill the rest."""
    con = ctx.store.con
    sel = m.selection
    ib = sel.industry_balance
    assert ib is not None
    grp = f"coalesce({ib.level}_code, '?')"
    alloc = _q(ib.allocate_by)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ir_s AS
        SELECT code, {grp} AS grp, row_number() OVER (ORDER BY {order}) AS rank,
               row_number() OVER (PARTITION BY {grp} ORDER BY {order}) AS grank,
               {f"row_number() OVER (PARTITION BY coalesce({ib.leaders}_code, code) ORDER BY {order}) = 1"
                if ib.leaders else "false"} AS leader,
               code IN (SELECT code FROM _ir_x) AS inc,
               coalesce({alloc}, 0) AS alloc
        FROM _ir_c WHERE reason IS NULL"""
    )
    rows = con.execute(
        "SELECT grp, sum(alloc), count(*), count(*) FILTER (WHERE leader) FROM _ir_s GROUP BY grp ORDER BY grp"
    ).fetchall()
    if not rows:
        _apply_selection(con, _industry_update_sql(n))
        return
    share = {r[0]: float(r[1] or 0.0) for r in rows}
    avail = {r[0]: int(r[2]) for r in rows}
    leaders = {r[0]: int(r[3]) for r in rows}
    if sum(leaders.values()) > n:
        warnings.append(
            f"{sum(leaders.values())} industry leaders ({ib.leaders}) exceed the {n} places: "
            "the best-ranked leaders are kept"
        )
        leaders = {g: 0 for g in leaders}
        con.execute(
            f"UPDATE _ir_s SET leader = leader AND code IN (SELECT code FROM _ir_s WHERE leader ORDER BY rank LIMIT {n})"
        )
        for g, c in con.execute("SELECT grp, count(*) FROM _ir_s WHERE leader GROUP BY grp").fetchall():
            leaders[g] = int(c)
    quota = _allocate(n, share, leaders, avail)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _ir_q AS SELECT unnest($g::VARCHAR[]) AS grp, unnest($q::BIGINT[]) AS q",
        {"g": list(quota), "q": [quota[g] for g in quota]},
    )
    b = sel.buffer
    bn = f"ceil(q * {b.newcomers_within / sel.count!r})" if b else "q"
    bi = f"ceil(q * {b.incumbents_within / sel.count!r})" if b else "q"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ir_s AS
        WITH t AS (
          SELECT s.*, q.q, {bn} AS b_new, {bi} AS b_inc,
                 CASE WHEN leader THEN 0
                      WHEN inc AND {'TRUE' if (b and has_inc) else 'FALSE'} AND grank <= {bi} THEN 1
                      WHEN NOT inc AND grank <= {bn} THEN 1 ELSE 2 END AS tier
          FROM _ir_s s JOIN _ir_q q USING (grp))
        SELECT *, row_number() OVER (PARTITION BY grp ORDER BY tier, grank) <= q AS selected FROM t"""
    )
    lim = None
    if sel.max_changes_pct is not None and has_inc:
        lim = int(np.floor(sel.count * sel.max_changes_pct / 100 + 1e-9))
        _industry_change_cap(con, lim)
    _apply_selection(con, _industry_update_sql(n, bool(b and has_inc), has_inc, lim))


def _industry_change_cap(con: Any, lim: int) -> None:
    """At most `lim` newcomers enter, the best-ranked first; each place a held-back newcomer
    leaves goes to its own industry's best-ranked displaced incumbent, so the industry keeps
    its places. An industry with no displaced incumbent left keeps its newcomers (the places
    are filled, as the cap yields to the count without industries too)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ir_s AS
        WITH a AS (
          SELECT *, CASE WHEN selected AND NOT inc THEN
                   row_number() OVER (PARTITION BY selected AND NOT inc ORDER BY rank) END > {lim} AS over
          FROM _ir_s),
        g AS (SELECT grp, count(*) FILTER (WHERE over) AS dropped,
                     count(*) FILTER (WHERE inc AND NOT selected) AS spare FROM a GROUP BY grp),
        c AS (
          SELECT a.*, least(g.dropped, g.spare) AS refill, g.dropped,
                 CASE WHEN inc AND NOT selected THEN row_number() OVER (PARTITION BY grp, inc AND NOT selected
                                                                        ORDER BY grank) END AS irank,
                 CASE WHEN over THEN row_number() OVER (PARTITION BY grp, over ORDER BY grank) END AS orank
          FROM a JOIN g USING (grp))
        SELECT * EXCLUDE (over, refill, dropped, irank, orank) REPLACE (
                 CASE WHEN over THEN orank <= dropped - refill
                      WHEN inc AND NOT selected THEN coalesce(irank <= refill, false) ELSE selected END AS selected),
               coalesce(over AND orank > dropped - refill, false) AS capped_out,
               coalesce(inc AND NOT selected AND irank <= refill, false) AS capped_in
        FROM c"""
    )


def _industry_update_sql(n: int, buf: bool = False, has_inc: bool = False, lim: int | None = None) -> str:
    bi = "TRUE" if buf else "FALSE"
    capped = (f"""WHEN s.capped_in THEN format('rank {{}} ({{}} in industry {{}}), kept: at most {lim} changes per review',
                                               s.rank, s.grank, s.grp)
        WHEN s.capped_out THEN format('rank {{}} ({{}} in industry {{}}), not added: at most {lim} changes per review',
                                      s.rank, s.grank, s.grp)""" if lim is not None else "")
    return f"""
    SELECT s.code, s.rank, s.inc, s.selected,
      CASE WHEN s.selected AND s.inc THEN 'retained' WHEN s.selected THEN 'added'
           WHEN s.inc THEN 'deleted' ELSE '' END AS status,
      CASE
        {capped}
        WHEN s.selected AND s.leader THEN format('rank {{}}, selected: the largest of its industry', s.rank)
        WHEN s.selected AND s.inc AND s.grank > s.q AND {bi}
          THEN format('rank {{}} ({{}} in industry {{}}), kept by incumbent buffer {{}} of its {{}} places',
                      s.rank, s.grank, s.grp, s.b_inc, s.q)
        WHEN s.selected THEN format('rank {{}} ({{}} in industry {{}}), within its {{}} places',
                                    s.rank, s.grank, s.grp, s.q)
        WHEN s.inc THEN format('rank {{}} ({{}} in industry {{}}), deleted: outside its {{}} places',
                               s.rank, s.grank, s.grp, s.q)
        ELSE format('rank {{}} ({{}} in industry {{}}), outside its {{}} places', s.rank, s.grank, s.grp, s.q) END
        AS reason
    FROM _ir_s s"""
