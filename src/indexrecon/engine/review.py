"""One review run from its plan: dependencies first, then incumbents, then the compiled pipeline.

`plan.review.plan_review` resolves what a review needs (rules in force, dates, dependencies,
where its incumbents come from); `run_plan` executes it over the store, running the plans it
refers to (dependencies, the previous review of a simulated path, an official list's
roll-forward) in the same run, each once (the run's cache, and the side-file cache of
dependencies).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from ..data.store import Store
from ..errors import StoreError
from ..methodology.schema import Methodology
from ..plan.review import (
    MODES,
    Incumbents,
    IncumbentSpec,
    ReviewPlan,
    next_review,
    plan_review,
)
from ..plan.review import first_simulable_review as _first_simulable
from . import cache as depcache
from .context import Context, _map_codes, context, methodology_key
from .pipeline import _pipeline

if TYPE_CHECKING:
    from ..methodology.schedule import ReviewDates
    from ..results.review import ReviewResult, Table

__all__ = ["IncumbentSpec", "first_simulable_review", "run_plan", "run_review", "simulate_review"]


def first_simulable_review(m: Methodology, ctx: Context) -> str:
    """The first review of `m` whose whole window lies in the store (a simulation's seed)."""
    return _first_simulable(m, ctx.cal)


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
    ctx = _ctx or context(store)
    if data_until is not None and ctx.data_until != data_until:
        # a context of its own: its reviews are cached under the shorter window
        ctx = replace(ctx, cache={}, own_warnings={}, metric_tables={}, window_boards={}, pipelines={},
                      metric_seq=ctx.metric_seq + 100_000, data_until=data_until)
    plan = plan_review(m, ctx.where, review, as_of=as_of, incumbents=incumbents,
                       allow_provisional=allow_provisional, dep_incumbents=_dep_inc)
    return run_plan(plan, ctx)


def simulate_review(m: Methodology | str | Path | dict[str, Any], store: Store, review: str | None = None, *,
                    incumbents: IncumbentSpec = "auto") -> ReviewResult:
    """A review against its incumbents; without `review`, the next one after the store's last
    date (provisional if its data cutoff lies beyond the store)."""
    ctx = context(store)
    plan = plan_review(m, ctx.where, review or next_review(m, ctx.cal), incumbents=incumbents,
                       allow_provisional=True)
    return run_plan(plan, ctx)


def run_plan(plan: ReviewPlan, ctx: Context, *, members_only: bool = False) -> ReviewResult:
    """Execute a planned review over the context's store (see the module docstring).

    `members_only`: the caller reads only the members and the warnings (a dependency, a
    roll-forward step, the previous review of a path), so the table holds only the columns
    they come from; a whole table computed in the run serves such a call too."""
    from ..results.review import ReviewResult

    rules, rd, store = plan.rules, plan.dates, ctx.store
    _share_windows(plan, ctx)
    dep_warnings: list[str] = []
    excluded, required = _dependency_members(plan, ctx, dep_warnings)
    warnings = list(plan.override_warnings)
    deps = hashlib.sha256(json.dumps([excluded, required], sort_keys=True).encode()).hexdigest()[:16]
    rules_key = methodology_key(rules)
    key = (rules_key, rd.review, f"{plan.incumbents_key}|{plan.dep_incumbents}|{deps}")
    if key in ctx.cache:
        return ctx.cache[key]
    if members_only and (*key, "members") in ctx.cache:
        return ctx.cache[(*key, "members")]
    inc = plan.incumbents
    inc_codes, inc_label = _incumbents(inc, ctx)
    warnings.extend(inc.warnings)
    inc_codes = _map_codes(ctx, inc_codes)
    try:
        cand = _computed((rules_key, deps), rules, ctx, rd, inc_codes, excluded, required, warnings,
                         members_only)
    except duckdb.PermissionException as e:  # e.g. a view over files the store may not read
        raise StoreError(
            f"store {store.path}: {str(e).splitlines()[0]} (a store whose tables are views over files "
            "needs their directories in INDEXRECON_ALLOWED_DIRS)"
        ) from None
    if rd.provisional:
        warnings.insert(
            0,
            f"forecast as of {rd.cutoff}: data up to that day only, before the scheduled data cutoff "
            f"{plan.scheduled_cutoff}; results use the window so far" if rd.cutoff < plan.scheduled_cutoff
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
        incumbents_detail=inc.detail(),
        # provisional first, then what the dependencies reported, then this index's own
        warnings=list(dict.fromkeys([*warnings[: int(rd.provisional)], *dep_warnings,
                                     *warnings[int(rd.provisional):]])),
        store_label=store.label,
        synthetic=store.synthetic,
        store=store,
    )
    ctx.cache[(*key, "members") if members_only else key] = res
    ctx.own_warnings[id(res)] = (warnings, dep_warnings)
    return res


def _computed(key: tuple[str, str], rules: Methodology, ctx: Context, rd: ReviewDates, incumbents: list[str],
              excluded: dict[str, list[str]], required: dict[str, list[str]], warnings: list[str],
              members_only: bool = False) -> Table:
    """The review's table, its warnings appended to `warnings`: computed once per run for the
    same rules, dates, incumbents and dependencies' members (`key`: the rules' and the members'
    hashes). A chain reaches one review by several paths that ask for it differently, e.g. CSI
    300's June review as the roll-forward of its official list and as a dependency of CSI
    500's June review with that list as its incumbents: one computation serves both."""
    k = (*key, rd, tuple(incumbents))
    hit = ctx.pipelines.get(k)
    if hit is None and members_only:
        hit = ctx.pipelines.get((*k, "members"))
    if hit is None:
        # the side-file cache: the same rules, dates, incumbents and dependencies' members over
        # the same data (and code) give the same table, so a later process reads it back
        ck = depcache.key(ctx.store, "table", *key, asdict(rd), incumbents, ctx.data_until) \
            if depcache.enabled() else None
        got = depcache.get_table(ck)
        if got is not None:
            from ..results.review import Table

            hit = ctx.pipelines[k] = (Table(*got[:3]), got[3])
        elif members_only:  # not kept in the side file: the callers keep the members there
            own: list[str] = []
            table = _pipeline(rules, ctx, rd, incumbents, excluded, required, own, members_only=True)
            ctx.pipelines[(*k, "members")] = (table, own)
            warnings.extend(own)
            return table
        else:
            own = []
            table = _pipeline(rules, ctx, rd, incumbents, excluded, required, own)
            depcache.put_table(ck, table.columns, table.types, table.rows, own)
            hit = ctx.pipelines[k] = (table, own)
        depcache.remember(hit[0], ck)
    warnings.extend(hit[1])
    return hit[0]


def _incumbents(inc: Incumbents, ctx: Context) -> tuple[list[str], str]:
    """The incumbent codes the plan names, running the reviews they come from.

    A review takes only the member codes of the reviews its incumbents come from (an
    official list's roll-forward, the previous review of a simulated path), so those codes
    are kept in the side-file cache like a dependency's members: a later process asking for
    the same review over the same data reads them instead of rerunning the path."""
    if inc.kind == "official":
        ck = _roll_key(inc, ctx)
        hit = depcache.get(ck)
        if isinstance(hit, list):
            return hit, inc.label
        codes = inc.codes
        for step in inc.steps:  # each review rolled through under its own dated rules
            codes = run_plan(step.given(codes), ctx, members_only=True).codes
        depcache.put(ck, codes)
        return codes, inc.label
    if inc.kind == "previous":
        assert inc.previous is not None
        prev_plan = inc.previous
        ck = _plan_key(prev_plan, ctx, "previous")
        hit = depcache.get(ck)
        if isinstance(hit, list):
            codes = hit
        else:
            codes = run_plan(prev_plan, ctx, members_only=True).codes
            depcache.put(ck, codes)
        return codes, f"{inc.label} {prev_plan.dates.review}" if inc.daily_label else inc.label
    return list(inc.codes), inc.label


def _plan_key(plan: ReviewPlan, ctx: Context, kind: str) -> str | None:
    """The side-file cache key of a plan's member codes: what the plan is a function of
    (the methodology with its dated versions, the review's dates, how its incumbents and
    its dependencies' were asked for, a forecast's data cutoff) besides the store's data
    and the code, which `depcache.key` adds. None for incumbents read from a file (its
    content is not in the key)."""
    ik = plan.incumbents_key
    if not depcache.enabled() or (ik is not None and ik not in MODES and not ik.startswith("list:")):
        return None
    return depcache.key(ctx.store, kind, plan.methodology.model_dump(mode="json"), asdict(plan.dates), ik,
                        plan.dep_incumbents, ctx.data_until, _methodologies(plan))


def _roll_key(inc: Incumbents, ctx: Context) -> str | None:
    """The cache key of an official list rolled through its reviews (their plans' keys, in
    order, from the list's codes)."""
    if not inc.steps or not depcache.enabled():
        return None
    first = inc.steps[0]
    steps = [[asdict(s.dates), s.dep_incumbents] for s in inc.steps]
    return depcache.key(ctx.store, "rolled", first.methodology.model_dump(mode="json"), inc.codes,
                        str(inc.list_date), steps, ctx.data_until, [_methodologies(s) for s in inc.steps])


def _tree(plan: ReviewPlan) -> Iterator[ReviewPlan]:
    """`plan` and every plan its run reads (dependencies, theirs, the reviews its incumbents
    come from), each once, depth first."""
    seen: set[int] = set()
    todo = [plan]
    while todo:
        p = todo.pop()
        if id(p) in seen:
            continue
        seen.add(id(p))
        yield p
        todo.extend(d.plan for d in p.dependencies)
        if p.incumbents.previous is not None:
            todo.append(p.incumbents.previous)
        todo.extend(p.incumbents.steps)


def _methodologies(plan: ReviewPlan) -> list[tuple[str, Any]]:
    """The content of every methodology the plan's tree reads besides its own (dependencies,
    theirs, those of the reviews its incumbents come from), by name: a user's file changed
    under a dependency must make another key, however deep it sits."""
    found: dict[str, Any] = {}
    for p in _tree(plan):
        for d in p.dependencies:
            found.setdefault(d.name, d.methodology.model_dump(mode="json"))
    return sorted(found.items(), key=lambda kv: kv[0])


def _share_windows(plan: ReviewPlan, ctx: Context) -> None:
    """Announce the windows of the plan's tree and the boards read over each, so that the
    reviews of a chain over one window (CSI 300 -> 500 -> 1000 -> 2000 at one cutoff) read
    one window table built over all their boards (`universe._candidates_base`)."""
    for p in _tree(plan):
        k = (p.dates.window_start, p.dates.cutoff, int(p.rules.lookback.skip_listing_days))
        ctx.window_boards[k] = ctx.window_boards.get(k, frozenset()) | frozenset(p.rules.universe.boards)


def _dependency_members(
    plan: ReviewPlan, ctx: Context, warnings: list[str]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Members of the indices this one excludes / draws from, computed first (in one run)."""
    out: tuple[dict[str, list[str]], dict[str, list[str]]] = ({}, {})
    for d in plan.dependencies:
        if d.note:
            warnings.append(d.note)
        # a chain's members and warnings, from the side-file cache when the same rules
        # ran over the same data before (depcache: keyed so it cannot be stale)
        ck = depcache.key(ctx.store, "dependency", d.methodology.model_dump(mode="json"), d.label, d.when,
                          d.incumbents, d.sub_incumbents, ctx.data_until,
                          _methodologies(d.plan)) if depcache.enabled() else None
        hit = depcache.get(ck)
        if hit is not None:
            codes, own, nested = hit
        else:
            res = run_plan(d.plan, ctx, members_only=True)
            codes = res.codes
            own, nested = ctx.own_warnings.get(id(res), (res.warnings, []))
            depcache.put(ck, [codes, own, nested])
        out[0 if d.kind == "exclude_members_of" else 1][d.name] = codes
        warnings.extend(nested)  # already prefixed with the index they come from
        warnings.extend(f"{d.methodology.name}: {w}" for w in own)
    return out
