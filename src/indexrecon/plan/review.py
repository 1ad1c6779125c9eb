"""A review planned before it runs: everything that needs the loader or the calendar.

`plan_review` resolves the rules in force on the review's effective date, its dates (cutoff,
window, effective day; provisional when the data stops short), the indices it depends on
(loaded by name, in order, a cycle refused) with the review of theirs in force and the
incumbents they run with, and where its own incumbents come from: none, a list, an official
list (rolled forward through the reviews it predates) or the simulated path from the first
complete window. The engine executes the plan and never calls the loader or the schedule.

The whole tree is planned before anything runs: the plans of the dependencies, of the
previous review of a simulated path, and of the reviews an official list is rolled through
(their incumbents filled in by the run, `ReviewPlan.given`). Plans are memoised per `Where`
(one per review asked for), so a review the tree names twice is planned once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ..data.store import Store
from ..errors import DependencyCycleError, IndexReconError, StoreError, UnknownMethodologyError
from ..methodology.loader import load_methodology
from ..methodology.schedule import (
    ReviewDates,
    TradingCalendar,
    check_in_data,
    daily_review_dates,
    latest_review_in_force,
    next_review_after,
    parse_review,
    review_dates,
    reviews_between,
)
from ..methodology.schema import Methodology
from .incumbents import STRICT, official_list, official_members, read_codes_file, reviews_since

IncumbentSpec = str | Path | Iterable[str] | None
MODES = ("official", STRICT, "auto", "simulate", "none")


@dataclass(frozen=True)
class Where:
    """What a plan reads besides the methodology: the store, its trading calendar, and the day
    a forecast's data stops (None: all of it)."""

    store: Store
    cal: TradingCalendar
    data_until: dt.date | None = None
    memo: dict[tuple[Any, ...], Any] = field(default_factory=dict, compare=False, hash=False, repr=False)


def calendar_of(store: Store) -> TradingCalendar:
    return TradingCalendar([r[0] for r in store.con.execute("SELECT date FROM calendar ORDER BY date").fetchall()])


def first_simulable_review(m: Methodology, cal: TradingCalendar) -> str:
    """The first review of `m` whose whole window lies inside the data (a simulation's seed)."""
    for label in reviews_between(m, cal.first, cal.last):
        try:
            if review_dates(m, cal, label).window_start >= cal.first:
                return label
        except StoreError:  # its cutoff lies before the store's first day
            continue
    raise StoreError(f"the store's data is too short for any complete {m.name} review window")


@dataclass
class Dependency:
    """An index whose members this review excludes or draws from, reviewed first."""

    kind: Literal["exclude_members_of", "members_of"]
    name: str  # as the rules write it
    methodology: Methodology
    label: str | None  # its review in force on the effective date (None: daily, on `when`)
    when: dt.date | None
    incumbents: str  # the mode it runs with
    sub_incumbents: str | None  # the mode its own dependencies run with (None: their default)
    note: str | None  # said before it runs (e.g. its official list is missing)
    plan: ReviewPlan = field(repr=False)
    stack: tuple[str, ...] = field(repr=False, default=())


@dataclass
class Incumbents:
    """Where a review's incumbents come from.

    kind: "none" (pure ranking), "codes" (a list or file: `codes`), "official" (`codes` of
    `list_date`, rolled through the reviews `between`: one plan each in `steps`, its
    incumbents the previous step's members, `ReviewPlan.given`), "previous" (the
    result of the plan `previous`: a simulated path, or a daily methodology's previous day),
    "seed" (the first complete window: none)."""

    kind: Literal["none", "codes", "official", "previous", "seed"]
    label: str
    codes: list[str] = field(default_factory=list)
    list_date: dt.date | None = None
    between: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    previous: ReviewPlan | None = field(default=None, repr=False)  # kind "previous"
    steps: list[ReviewPlan] = field(default_factory=list, repr=False)  # kind "official": one per review in `between`
    daily_label: bool = False  # the label names the previous plan's own review day

    def detail(self) -> dict[str, Any]:
        if self.kind != "official" or self.list_date is None:
            return {}
        return {"official_date": self.list_date.isoformat(), "rolled_through": list(self.between)}


@dataclass
class ReviewPlan:
    """One review, resolved: run it with `engine.run_plan`."""

    methodology: Methodology  # with its dated versions (rolled reviews use their own date's rules)
    rules: Methodology  # in force on the effective date
    dates: ReviewDates
    scheduled_cutoff: dt.date
    where: Where = field(repr=False)
    dep_incumbents: str = "auto"
    incumbents_key: str | None = None  # how the incumbents were asked for (part of the cache key)
    dependencies: list[Dependency] = field(default_factory=list)
    override_warnings: list[str] = field(default_factory=list)
    incumbents: Incumbents = field(default_factory=lambda: Incumbents("none", "none (pure rule ranking)"))

    def given(self, codes: list[str]) -> ReviewPlan:
        """This plan with `codes` as its incumbents (a review an official list is rolled through)."""
        inc = _given(codes)
        return replace(self, incumbents=inc, incumbents_key="list:" + ",".join(sorted(codes)))


def plan_review(
    m: Methodology | str | Path | dict[str, Any],
    store: Store | Where,
    review: str | None = None,
    *,
    as_of: dt.date | None = None,
    incumbents: IncumbentSpec = "auto",
    allow_provisional: bool = False,
    dep_incumbents: str | None = None,
    _stack: tuple[str, ...] = (),
) -> ReviewPlan:
    """Resolve a review of `m` (a label YYYY-MM, or the one in force on `as_of`) over `store`."""
    m = load_methodology(m)  # type: ignore[arg-type]
    where = store if isinstance(store, Where) else Where(store, calendar_of(store))
    inc_key = str(incumbents) if isinstance(incumbents, (str, Path)) else None if incumbents is None else "list:" + ",".join(
        sorted(str(c) for c in incumbents)  # type: ignore[union-attr]
    )
    dep_inc = dep_incumbents or (incumbents if isinstance(incumbents, str) else "auto")
    if dep_inc not in MODES:
        dep_inc = "auto"  # a file of this index's incumbents says nothing about the others
    # (the chain it is planned from is not part of the key: a cycle is found whichever chain
    # plans it first)
    memo_key = (id(m), review, as_of, inc_key, str(incumbents) if isinstance(incumbents, Path) else None,
                allow_provisional, dep_inc)
    hit = where.memo.get(memo_key)
    if hit is not None and hit.methodology is m:
        return hit
    cal = where.cal
    if m.schedule.frequency == "daily":
        day = as_of or (_daily_day(cal, review) if review else cal.last)
        rd = daily_review_dates(m, cal, day)
    else:
        if review is None:
            if as_of is None:
                raise IndexReconError("give a review (YYYY-MM) or an as-of date")
            review = latest_review_in_force(m, cal, as_of)
        rd = review_dates(m, cal, review)
    scheduled_cutoff = rd.cutoff
    if where.data_until is not None and where.data_until < rd.cutoff:
        rd = replace(rd, cutoff=cal.on_or_before(where.data_until), provisional=True)
    check_in_data(rd, cal, allow_provisional=allow_provisional or where.data_until is not None)
    rules = m.for_date(rd.effective)
    plan = ReviewPlan(
        methodology=m, rules=rules, dates=rd, scheduled_cutoff=scheduled_cutoff, where=where,
        dep_incumbents=dep_inc, incumbents_key=inc_key,
        # the stack holds only the chain of dependencies being resolved, so rolling this
        # index's own reviews forward is not mistaken for a cycle
        dependencies=_dependencies(rules, where, rd, dep_inc, (*_stack, m.name)),
        override_warnings=m.override_warnings(rd.effective),  # a user's change kept over a dated version
        incumbents=_incumbents(m, rules, where, rd, incumbents, dep_inc, _stack),
    )
    where.memo[memo_key] = plan
    return plan


def next_review(m: Methodology | str | Path | dict[str, Any], cal: TradingCalendar) -> str:
    """The first review of `m` after the calendar's last day."""
    return next_review_after(load_methodology(m), cal, cal.last)  # type: ignore[arg-type]


def _daily_day(cal: TradingCalendar, review: str) -> dt.date:
    """The day a review label names for a daily methodology: a date (YYYY-MM-DD), or a month
    (YYYY-MM) - its first trading day, or for a month past the store's data the next
    trading day after it (the next rebalance, e.g. what `rebalance` asks for)."""
    try:
        return dt.date.fromisoformat(review)
    except ValueError:
        pass
    year, month = parse_review(review)
    first = dt.date(year, month, 1)
    if first > cal.last:
        return cal.after(cal.last, 1)
    return cal.after(first, 0)


def _dependencies(rules: Methodology, where: Where, rd: ReviewDates, dep_inc: str,
                  stack: tuple[str, ...]) -> list[Dependency]:
    """The indices this one excludes / draws from, in the order the rules name them."""
    out = []
    u = rules.universe
    for key, names in (("exclude_members_of", u.exclude_members_of), ("members_of", u.members_of)):
        for name in names:
            try:
                dep = where.memo.get(("load", name))  # type: ignore[assignment]
                if dep is None:  # one object per name in a run, so its plans are memoised
                    dep = where.memo[("load", name)] = load_methodology(name)  # type: ignore[assignment]
            except UnknownMethodologyError as e:  # say which rule names it
                raise UnknownMethodologyError(f"{rules.name}: universe.{key}: {e}") from None
            if dep.name in stack:
                chain = " -> ".join([*stack, dep.name])
                raise DependencyCycleError(f"methodologies depend on each other's members in a cycle: {chain}")
            inc, note = dep_inc, None
            if dep.schedule.frequency == "daily":
                label, when = None, rd.effective
            else:
                label, when = latest_review_in_force(dep, where.cal, rd.effective), None
            if inc in ("official", STRICT):
                eff = review_dates(dep, where.cal, label).effective if label else rd.effective
                if official_members(where.store, dep.index_code, eff) is None:
                    note = (f"{dep.name}: the store has no official {dep.index_code or dep.name} membership; "
                            "its incumbents are simulated (auto)")
                    inc = "auto"
            sub_inc = dep_inc if dep_inc not in ("official", STRICT) else None
            plan = plan_review(dep, where, label, as_of=when, incumbents=inc, allow_provisional=True,
                               dep_incumbents=sub_inc, _stack=stack)
            out.append(Dependency(key, name, dep, label, when, inc, sub_inc, note, plan, stack))  # type: ignore[arg-type]
    return out


def _incumbents(m: Methodology, rules: Methodology, where: Where, rd: ReviewDates, spec: IncumbentSpec,
                dep_inc: str, stack: tuple[str, ...]) -> Incumbents:
    """Incumbents and a label saying where they came from. An official list older than the
    previous review is rolled forward through the reviews since, with the dated rules of `m`."""
    if spec is None or spec == "none":
        return Incumbents("none", "none (pure rule ranking)")
    if isinstance(spec, str) and spec in ("official", "auto", "simulate", STRICT):
        if spec != "simulate":
            found = _official(m, where, rd, spec, dep_inc, stack)
            if found is not None:
                return found
            if spec != "auto":
                raise StoreError(
                    f"the store has no official {rules.index_code or rules.name} membership before "
                    f"{rd.effective}; use incumbents=\"simulate\" or \"auto\" (CLI: --incumbents simulate)"
                )
        return _simulated(m, where, rd, dep_inc, stack)  # each review rolled through under its own dated rules
    if isinstance(spec, (str, Path)):
        codes = read_codes_file(Path(spec))
        return Incumbents("codes", f"{len(codes)} code{'' if len(codes) == 1 else 's'} from the file {spec}", codes)
    return _given(spec)


def _given(spec: Iterable[str]) -> Incumbents:
    codes = sorted({str(c).zfill(6) for c in spec})
    return Incumbents("codes", f"{len(codes)} code{'' if len(codes) == 1 else 's'} given by the caller", codes)


def _official(m: Methodology, where: Where, rd: ReviewDates, mode: str, dep_inc: str,
              stack: tuple[str, ...]) -> Incumbents | None:
    """Official incumbents for review `rd` (None if the store has no official list of `m`)."""
    if not m.index_code:
        return None
    # a forecast as of a day knows the members on that day, not later changes
    before = rd.effective if where.data_until is None else min(rd.effective, where.data_until + dt.timedelta(days=1))
    found = official_list(where.store, m.index_code, before)
    if found is None:
        return None
    codes, on = found
    between = [] if m.schedule.frequency == "daily" else reviews_since(m, where.cal, on, rd)
    if not between:
        return Incumbents("official", f"official members before {before} (list of {on})", codes, on)
    if mode == STRICT:
        prev = review_dates(m, where.cal, between[-1]).effective
        raise StoreError(
            f"the newest official {m.index_code} list in the store is of {on}, before the {between[-1]} "
            f"review (effective {prev}); it skips {', '.join(between)}: use --incumbents official to roll "
            "it forward with the methodology's rules, or give a current list as a file"
        )
    warning = (
        f"incumbents: the newest official {m.index_code} list in the store is of {on}; it was rolled "
        f"forward through the review(s) {', '.join(between)} with {m.name}'s own rules (buffers, cap on "
        f"changes), not taken as the members before {rd.effective} (--incumbents {STRICT} refuses instead)"
    )
    # each review rolled through runs under its own date's rules; its incumbents are the
    # previous step's members, given by the run (`ReviewPlan.given`)
    steps = [plan_review(m, where, label, incumbents=[], allow_provisional=True, dep_incumbents=dep_inc,
                         _stack=stack) for label in between]
    return Incumbents("official", f"official {on}, rolled through {', '.join(between)}", codes, on, between,
                      [warning], steps=steps)


def _simulated(m: Methodology, where: Where, rd: ReviewDates, dep_inc: str, stack: tuple[str, ...]) -> Incumbents:
    """The previous review of the path from the earliest complete window to the one before
    `rd`: each review's incumbents are the previous review's simulated result, so rolling
    through k reviews costs k runs however often it is asked for."""
    cal = where.cal
    if m.schedule.frequency == "daily":
        prev = cal.on_or_before(rd.effective - dt.timedelta(days=1))
        if prev <= cal.first:
            return Incumbents("none", "none (first day of the data)")
        # the previous day ranked without incumbents
        return Incumbents("previous", "simulated: previous day", daily_label=True,
                          previous=plan_review(m, where, as_of=prev, incumbents="none", _stack=stack))
    seed = first_simulable_review(m, cal)
    labels = [lb for lb in reviews_between(m, cal.first, rd.effective) if seed <= lb < rd.review]
    if not labels:
        return Incumbents("seed", f"none (review {rd.review} is the first with a complete window: seed)")
    prev_label = labels[-1]
    previous = plan_review(m, where, prev_label, incumbents=None if prev_label == seed else "simulate",
                           allow_provisional=True, dep_incumbents=dep_inc, _stack=stack)
    return Incumbents("previous", f"simulated: seeded {seed} by pure ranking, rolled through {prev_label}",
                      previous=previous)
