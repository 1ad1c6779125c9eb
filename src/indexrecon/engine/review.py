"""One review: dependencies first, incumbents resolved, then the compiled pipeline run over the store."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from ..data.store import Store
from ..errors import DependencyCycleError, IndexReconError, StoreError, UnknownMethodologyError
from ..methodology.loader import load_methodology
from ..methodology.schedule import (
    ReviewDates,
    check_in_data,
    daily_review_dates,
    latest_review_in_force,
    next_review_after,
    parse_review,
    review_dates,
    reviews_between,
)
from ..methodology.schema import Methodology
from ..plan.incumbents import official_members
from ..plan.incumbents import read_codes_file as _read_codes_file
from . import cache as depcache
from .context import Context, _map_codes, context, methodology_key
from .pipeline import _pipeline

if TYPE_CHECKING:
    from ..results.review import ReviewResult

IncumbentSpec = str | Path | Iterable[str] | None


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
            def roll(label: str, codes: list[str]) -> list[str]:
                return run_review(base or m, ctx.store, label, incumbents=codes, allow_provisional=True,
                                  _ctx=ctx, _dep_inc=dep_inc).codes

            found = official_incumbents(base or m, ctx, rd, spec, roll)
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


def simulate_review(m: Methodology | str | Path | dict[str, Any], store: Store, review: str | None = None, *,
                    incumbents: IncumbentSpec = "auto") -> ReviewResult:
    """A review against its incumbents; without `review`, the next one after the store's last
    date (provisional if its data cutoff lies beyond the store)."""
    m = load_methodology(m)  # type: ignore[arg-type]
    if review is None:
        cal = context(store).cal
        review = next_review_after(m, cal, cal.last)
    return run_review(m, store, review, incumbents=incumbents, allow_provisional=True)
