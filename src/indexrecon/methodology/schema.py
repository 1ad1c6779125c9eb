"""The methodology format: pydantic models that validate a YAML methodology.

Percentages are written as percent (`pct: 10` is 10%). Every model forbids unknown keys, so a
typo is an error that names the key, its line and the allowed keys (see `loader`).

Longer than 600 lines because it is the whole format in one place: the models refer to each
other and their cross-field checks, and `indexrecon schema` writes one JSON Schema from them.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator

from ..errors import MethodologyError
from .validation import RuleError, format_error
from .vocabulary import METRIC_NAMES

Board = Literal["sh_main", "sz_main", "chinext", "star", "bse"]
MetricName = Literal[METRIC_NAMES]  # type: ignore[valid-type]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday"]
# numbers are strict: `count: true` is refused, not read as 1 (YAML booleans are not numbers)
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Pct = Annotated[float, Strict(), Field(gt=0, le=100)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Age(Model):
    """A listing age: calendar months or trading days (exactly one)."""

    months: Int | None = Field(None, ge=0)
    trading_days: Int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one(self) -> Age:
        if (self.months is None) == (self.trading_days is None):
            raise ValueError("give exactly one of months or trading_days")
        return self

    def describe(self) -> str:
        return f"{self.months} months" if self.months is not None else f"{self.trading_days} trading days"


class NewListingException(Model):
    """Large new listings may enter earlier: listed at least `min_age` and ranked within
    `top_n` (or the top `top_pct`) of the board by `metric` (computed since listing)."""

    min_age: Age
    top_n: Int | None = Field(None, gt=0)
    top_pct: Pct | None = None
    metric: MetricName = "avg_total_cap"

    @model_validator(mode="after")
    def _one(self) -> NewListingException:
        if (self.top_n is None) == (self.top_pct is None):
            raise ValueError("give exactly one of top_n or top_pct")
        return self


class BoardListingAge(Model):
    """A board's own listing-age rule (e.g. CSI: STAR and ChiNext stocks need a year)."""

    min_age: Age
    new_listing_exception: NewListingException | None = None

    def describe(self) -> str:
        text = f"listed at least {self.min_age.describe()}"
        e = self.new_listing_exception
        if e is not None:
            top = f"top {e.top_n}" if e.top_n is not None else f"top {e.top_pct:g}%"
            text += f" (or {e.min_age.describe()} if in the sample space's {top} by {e.metric})"
        return text


class StatusDate(Model):
    """When a status exclusion reads the status: at the data cutoff; on the last trading
    day before the review takes effect (CSI deletes members that became ST in between, §7.7);
    or `monthly`: on the last day of the month before the latest monthly adjustment day, the
    trading day after a month's second Friday (SSE / CNI composites: a stock warned in one
    month leaves from the trading day after the second Friday of the next, and returns the
    same way once the warning is lifted)."""

    as_of: Literal["cutoff", "effective", "monthly"] = "cutoff"


class Universe(Model):
    """The sample space: which stocks may be considered at all."""

    boards: list[Board] = Field(min_length=1)
    min_listing_age: Age | None = None
    new_listing_exception: NewListingException | None = None
    listing_age_by_board: dict[Board, BoardListingAge] = Field(
        default_factory=dict,
        description="per-board listing ages overriding min_listing_age / new_listing_exception",
    )
    exclude_st: bool | StatusDate = Field(
        True,
        description="drop ST / *ST stocks; {as_of: effective}: their status the day before the effective date; "
        "{as_of: monthly}: their status at the month-end before the latest monthly adjustment day",
    )
    exclude_delisting: bool = True
    max_suspended_days: Int | None = Field(
        None, ge=0, description="exclude stocks suspended more than this many trading days in the window"
    )
    exclude_members_of: list[str] = Field(
        default_factory=list, description="methodology names whose members at this review are excluded"
    )
    members_of: list[str] = Field(
        default_factory=list,
        description="methodology names whose members at this review form the sample space (all of them)",
    )
    exclude_codes: list[str] = Field(default_factory=list)

    @property
    def st_as_of(self) -> str:
        """'cutoff', 'effective' or 'monthly': the day the ST exclusion reads the status on."""
        return self.exclude_st.as_of if isinstance(self.exclude_st, StatusDate) else "cutoff"

    @model_validator(mode="after")
    def _boards(self) -> Universe:
        extra = sorted(set(self.listing_age_by_board) - set(self.boards))
        if extra:
            raise ValueError(f"listing_age_by_board names boards not in universe.boards: {', '.join(extra)}")
        both = sorted(set(self.members_of) & set(self.exclude_members_of))
        if both:
            raise ValueError(f"{', '.join(both)}: both in members_of and exclude_members_of")
        return self


class Lookback(Model):
    """The window of daily data the metrics average over, ending at the data cutoff."""

    months: Int | None = Field(None, gt=0, le=60)
    trading_days: Int | None = Field(None, gt=0, le=1500)
    skip_listing_days: Int = Field(
        0, ge=0, le=60, description="a new listing's first N trading days are left out of its window averages"
    )

    @model_validator(mode="after")
    def _one(self) -> Lookback:
        if (self.months is None) == (self.trading_days is None):
            raise ValueError("give exactly one of months or trading_days")
        return self

    def describe(self) -> str:
        text = f"{self.months} months" if self.months is not None else f"{self.trading_days} trading days"
        if self.skip_listing_days:
            text += f" (new listings from their trading day {self.skip_listing_days + 1})"
        return text


ScreenType = Literal[
    "drop_bottom_pct", "keep_top_pct", "keep_top_n", "drop_top_n", "min_value", "max_value", "min_grade"
]


class Screen(Model):
    """One screen, applied in order to the stocks still in: e.g. drop the bottom 10% by amount.

    `scope: sample_space` ranks over the sample space (the stocks still in plus the members
    of the indices this one excludes) instead of the stocks still in alone:
    CSI 500's "exclude CSI 300 members and the top 300 of the sample space by cap".
    `applies_to: newcomers` exempts the index's incumbents from the screen (they are still
    counted in its ranking). `incumbents_value` is the incumbents' own threshold in the same
    ranking (CSI 300: newcomers need the top 50% by turnover, incumbents the top 60%)."""

    type: ScreenType
    metric: MetricName
    value: Float | None = Field(None, description="the threshold (every type but min_grade)")
    grade: str | None = Field(
        None, description="min_grade: the worst grade kept, on the scale of the metric's provider (e.g. B)"
    )
    incumbents_value: Float | None = Field(
        None, description="the threshold for the index's incumbents (same ranking, looser or stricter cut)"
    )
    scope: Literal["remaining", "sample_space"] = "remaining"
    applies_to: Literal["all", "newcomers"] = Field(
        "all", description="newcomers: incumbents are exempt (kept by the buffer instead)"
    )
    boards: list[Board] | None = Field(None, description="the screen holds for stocks of these boards only")
    if_missing: Literal["drop", "keep"] = Field(
        "drop", description="a stock without the metric: out (drop) or spared (keep: no data, no evidence)"
    )
    note: str | None = None

    @model_validator(mode="after")
    def _range(self) -> Screen:
        if self.type == "min_grade":
            return self._grade()
        if self.value is None:
            raise ValueError(f"{self.type} needs a value")
        if self.grade is not None:
            raise ValueError("grade goes with type: min_grade")
        for key, v in (("value", self.value), ("incumbents_value", self.incumbents_value)):
            if v is None:
                continue
            if self.type.endswith("_pct") and not 0 < v < 100:
                raise ValueError(f"{self.type} needs 0 < {key} < 100 (a percent), got {v:g}")
            if self.type.endswith("_n") and (v < 1 or v != int(v)):
                raise ValueError(f"{self.type} needs a whole number >= 1 as {key}, got {v:g}")
        if self.incumbents_value is not None and self.applies_to == "newcomers":
            raise ValueError("incumbents_value and applies_to: newcomers contradict (incumbents exempt or held to their own threshold)")
        return self

    def _grade(self) -> Screen:
        from .grades import GRADE_METRICS, GRADE_SCALES

        provider = GRADE_METRICS.get(self.metric)
        if provider is None:
            raise ValueError(f"min_grade needs a grade metric ({', '.join(GRADE_METRICS)}), got {self.metric}")
        scale = GRADE_SCALES[provider]
        if self.grade not in scale:
            raise ValueError(f"grade must be one of {provider}'s grades ({', '.join(scale)}), got {self.grade!r}")
        if self.value is not None or self.incumbents_value is not None:
            raise ValueError("min_grade takes a grade, not value / incumbents_value")
        if self.scope != "remaining":
            raise ValueError("min_grade compares each stock's own grade: scope does not apply")
        return self

    def describe(self) -> str:
        if self.type == "min_grade":
            from .grades import GRADE_METRICS

            text = f"require a {GRADE_METRICS[self.metric]} ESG grade of {self.grade} or better (unrated kept)"
            return text + (" (newcomers only)" if self.applies_to == "newcomers" else "")
        v = f"{self.value:g}"
        text = {
            "drop_bottom_pct": f"drop the bottom {v}% by {self.metric}",
            "keep_top_pct": f"keep the top {v}% by {self.metric}",
            "keep_top_n": f"keep the top {v} by {self.metric}",
            "drop_top_n": f"drop the top {v} by {self.metric}",
            "min_value": f"require {self.metric} >= {v}",
            "max_value": f"require {self.metric} <= {v}",
        }[self.type]
        if self.scope == "sample_space" and self.type not in ("min_value", "max_value"):
            text += " of the sample space"
        if self.applies_to == "newcomers":
            text += " (newcomers only)"
        if self.incumbents_value is not None:
            text += f"; incumbents: {self.incumbents_value:g}{'%' if self.type.endswith('_pct') else ''}"
        if self.boards:
            text += f" (on {', '.join(self.boards)})"
        if self.if_missing == "keep":
            text += " (stocks without data kept)"
        return text


class Buffer(Model):
    """Buffer zone: newcomers enter only within rank `newcomers_within`; incumbents stay
    while within rank `incumbents_within`."""

    newcomers_within: Int = Field(gt=0)
    incumbents_within: Int = Field(gt=0)


class Reserve(Model):
    """The reserve list (备选名单) published with a review: the `count` best-ranked
    candidates not selected, which replace deletions between reviews."""

    count: Int = Field(gt=0)


class CompositeTerm(Model):
    """One metric of a composite ranking: its rank (1 = best in `order`) times `weight`."""

    metric: MetricName
    weight: Float = Field(1.0, gt=0)
    order: Literal["desc", "asc"] = "desc"


IndustryLevel = Literal["sw_l1", "sw_l2", "sw_l3"]


class IndustryBalance(Model):
    """Industry-balanced selection: each industry (`level`) gets places in proportion to its
    share of `allocate_by` over the ranked stocks (largest remainder); within an industry the
    best-ranked stocks fill them. With `leaders`, the best-ranked stock of every industry at
    that (finer) level is taken first and counts against its industry's places; with
    `leaders_within`, only if it also ranks within the top N of the ranking. `allocate_over`
    says whose `allocate_by` gives the shares: the stocks still in after the screens
    (`ranked`) or the whole sample space, screened-out stocks included (`sample_space`)."""

    level: IndustryLevel = "sw_l1"
    allocate_by: MetricName = "avg_free_float_cap"
    allocate_over: Literal["ranked", "sample_space"] = "ranked"
    leaders: IndustryLevel | None = None
    leaders_within: Int | None = Field(None, gt=0, description="a leader must also rank within the top N")
    note: str | None = None

    @model_validator(mode="after")
    def _leaders(self) -> IndustryBalance:
        if self.leaders_within is not None and self.leaders is None:
            raise ValueError("industry_balance.leaders_within needs leaders: a level for the leaders")
        return self


class Tilt(Model):
    """A factor tilt on the ranking: stocks rank by `rank_by` times `metric` (CNI's factor
    indices rank by an "adjusted free-float market cap", the cap times a tilt factor). A stock
    without a value ranks untilted (factor 1); a store without the factor's data ranks every
    stock untilted, with a warning. The outputs show the untilted metric and the factor."""

    metric: MetricName
    note: str | None = None


class Selection(Model):
    rank_by: MetricName
    count: Int = Field(gt=0)
    order: Literal["desc", "asc"] = "desc"
    buffer: Buffer | None = None
    max_changes_pct: Pct | None = None
    tie_break: list[MetricName] = Field(
        default_factory=list,
        description="further metrics before the code, in the rank's order (after a composite rank: larger first)"
    )
    composite: list[CompositeTerm] | None = Field(
        None, description="with rank_by: composite_rank, the weighted ranks it averages"
    )
    industry_balance: IndustryBalance | None = None
    all_eligible: bool = Field(
        False, description="every stock passing the rules is a constituent (composite indices); count is a maximum"
    )
    reserve: Reserve | None = Field(None, description="the reserve list published with each review")
    tilt: Tilt | None = Field(None, description="rank by rank_by times this factor (a provider's tilt)")

    @model_validator(mode="before")
    @classmethod
    def _composite_order(cls, data: Any) -> Any:
        # a composite rank is "lower is better": default the order to ascending
        if isinstance(data, dict) and data.get("rank_by") == "composite_rank" and "order" not in data:
            data = {**data, "order": "asc"}
        return data

    @model_validator(mode="after")
    def _buffer(self) -> Selection:
        if (self.rank_by == "composite_rank") != bool(self.composite):
            raise ValueError("rank_by: composite_rank and composite: [...] go together")
        if self.rank_by == "composite_rank" and self.order != "asc":
            raise ValueError("a composite_rank is lower-is-better: order must be asc")
        if self.tilt is not None and (self.rank_by == "composite_rank" or self.order != "desc"):
            raise ValueError("tilt multiplies a larger-is-better rank_by (order desc), not a composite_rank")
        b = self.buffer
        if b is not None:
            if b.newcomers_within > self.count:
                raise ValueError(
                    f"buffer.newcomers_within ({b.newcomers_within}) must not exceed count ({self.count})"
                )
            if b.incumbents_within < self.count:
                raise ValueError(
                    f"buffer.incumbents_within ({b.incumbents_within}) must be at least count ({self.count})"
                )
        return self


class Tier(Model):
    """Free-float ratio up to `up_to_pct` (inclusive) gets inclusion factor `factor_pct`;
    `factor_pct: ceil` rounds the ratio itself up to a whole percent."""

    up_to_pct: Pct
    factor_pct: Pct | Literal["ceil"]


class TopKCap(Model):
    k: Int = Field(gt=0)
    pct: Pct


class Caps(Model):
    single_pct: Pct | None = None
    top_k: TopKCap | None = None
    industry_pct: Pct | None = None


class Weighting(Model):
    method: Literal["free_float_cap", "float_cap", "total_cap", "equal"]
    inclusion_factor: list[Tier] | Literal["exact"] | None = Field(
        None, description="tiered factors, or exact: the free-float ratio itself (free-float shares / total)"
    )
    caps: Caps = Caps()

    @model_validator(mode="after")
    def _tiers(self) -> Weighting:
        tiers = self.inclusion_factor
        if tiers == "exact" and self.method != "free_float_cap":
            raise ValueError("inclusion_factor: exact only applies to method free_float_cap")
        if isinstance(tiers, list) and tiers:
            bounds = [t.up_to_pct for t in tiers]
            if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
                raise ValueError("inclusion_factor tiers must have increasing up_to_pct")
            if bounds[-1] != 100:
                raise ValueError("the last inclusion_factor tier must reach up_to_pct: 100")
            if self.method != "free_float_cap":
                raise ValueError("inclusion_factor tiers only apply to method free_float_cap")
        c = self.caps
        if c.top_k and c.single_pct and c.top_k.pct < c.single_pct:
            raise RuleError(("caps", "top_k", "pct"), "caps.top_k.pct must be at least caps.single_pct")
        return self


class EffectiveRule(Model):
    """Effective date: the `nth` `weekday` of the review month, then `trading_days_after`."""

    nth: Int = Field(2, ge=1, le=5)
    weekday: Weekday = "friday"
    trading_days_after: Int = Field(1, ge=0, le=20)


class Schedule(Model):
    frequency: Literal["periodic", "daily"] = "periodic"
    review_months: list[Annotated[Int, Field(ge=1, le=12)]] = Field(default_factory=lambda: [6, 12])
    effective: EffectiveRule = EffectiveRule()
    cutoff_months_before: Int = Field(
        2, ge=0, le=12, description="data cutoff: end of the month this many months before the review"
    )

    @model_validator(mode="after")
    def _months(self) -> Schedule:
        if self.frequency == "periodic" and not self.review_months:
            raise ValueError("review_months must list at least one month")
        if sorted(set(self.review_months)) != list(self.review_months):
            raise ValueError("review_months must be increasing and distinct")
        return self


class Version(Model):
    """Rules that changed on a date: `changes` is merged over the base methodology."""

    effective_from: dt.date
    note: str = ""
    changes: dict[str, Any]


class Methodology(Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    index_code: str | None = None
    title: str
    provider: str = "custom"
    description: str = ""
    base_date: dt.date | None = None
    base_level: Float = Field(1000.0, gt=0)
    universe: Universe
    lookback: Lookback
    screens: list[Screen] = Field(default_factory=list)
    selection: Selection
    weighting: Weighting
    schedule: Schedule = Schedule()
    versions: list[Version] = Field(default_factory=list)
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="changes made by with_changes: applied over the rules of every dated version too",
    )

    @model_validator(mode="after")
    def _checks(self) -> Methodology:
        caps = self.weighting.caps
        n = self.selection.count
        if caps.single_pct is not None and caps.single_pct * n < 100 - 1e-9:
            raise RuleError(
                ("weighting", "caps", "single_pct"),
                f"caps cannot sum to 100%: {n} stocks (selection.count) x {caps.single_pct:g}% single cap < 100%",
            )
        if self.name in self.universe.exclude_members_of:
            raise RuleError(("universe", "exclude_members_of"), f"methodology {self.name} cannot exclude its own members")
        if self.name in self.universe.members_of:
            raise RuleError(("universe", "members_of"), f"methodology {self.name} cannot draw from its own members")
        dates = [v.effective_from for v in self.versions]
        if dates != sorted(dates):
            raise RuleError(("versions",), "versions must be in order of effective_from")
        return self

    # -- plain words for the rules added with the index library ---------------------------
    def rule_notes(self) -> list[str]:
        """Plain-language lines for the rules `report.describe_methodology` does not spell
        out itself: per-board listing ages, drawing from another index's members, composite
        ranks, industry-balanced selection, composite (all-eligible) indices."""
        u, s = self.universe, self.selection
        out = []
        for board, rule in u.listing_age_by_board.items():
            out.append(f"{board} stocks: {rule.describe()} at the data cutoff")
        for name in u.members_of:
            out.append(f"only members of '{name}' at the same review (computed first)")
        if s.composite:
            terms = ", ".join(f"{t.weight:g} x rank by {t.metric} ({t.order})" for t in s.composite)
            out.append(f"ranked by a composite of: {terms}")
        ib = s.industry_balance
        if ib is not None:
            over = " over the sample space (screened-out stocks included)" if ib.allocate_over == "sample_space" else ""
            text = (f"industry-balanced: places per {ib.level} industry in proportion to its share of "
                    f"{ib.allocate_by}{over}, filled by rank within the industry")
            if ib.leaders:
                text += f"; the top-ranked stock of every {ib.leaders} industry first"
                if ib.leaders_within:
                    text += f" if it ranks within the top {ib.leaders_within}"
            if ib.note:
                text += f" [{ib.note}]"
            out.append(text)
        if s.tilt is not None:
            note = f" [{s.tilt.note}]" if s.tilt.note else ""
            out.append(f"ranked by {s.rank_by} times the tilt factor {s.tilt.metric} "
                       f"(factor 1 where a stock has none){note}")
        if s.all_eligible:
            out.append(f"every eligible stock is a constituent (at most {s.count})")
        return out

    # -- derived methodologies ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="python", exclude_none=False)

    def with_changes(self, changes: dict[str, Any] | None = None, **kw: Any) -> Methodology:
        """A new methodology with `changes` deep-merged over this one (validated).

        The changes win at every date: they are merged over the base rules and again over
        the rules of every dated version (kept in `overrides`), so a dated version of the
        base never undoes them. A review whose version sets a key the changes also set gets
        a warning (see `override_warnings`). Giving `versions` replaces them, and they then
        apply over the other changes as a YAML file's would."""
        user = {**(changes or {}), **kw}
        merged = deep_merge(self.to_dict(), user)
        if "versions" not in user:  # given versions are the user's own: they apply over the changes
            merged["overrides"] = deep_merge(self.overrides, user)
        return validate_dict(merged, source=f"{self.name}.with_changes")

    def for_date(self, date: dt.date) -> Methodology:
        """The rules in force on `date`: every version effective on or before it, merged in
        order, then the `overrides` of `with_changes` over them."""
        data = self.to_dict()
        versions = data.pop("versions")
        applied = [v for v in versions if v["effective_from"] <= date]
        if not applied:
            return self.model_copy(update={"versions": []})
        for v in applied:
            data = deep_merge(data, v["changes"])
        data = deep_merge(data, self.overrides)
        data["versions"] = []
        return validate_dict(data, source=f"{self.name} (rules from {applied[-1]['effective_from']})")

    def override_warnings(self, date: dt.date) -> list[str]:
        """One line per key that a version in force on `date` sets and `overrides` (the
        changes of `with_changes`) set to another value: the user's value is the one used."""
        if not self.overrides:
            return []
        mine = leaf_values(self.overrides)
        out = []
        for v in self.versions:
            if v.effective_from > date:
                continue
            for path, theirs in leaf_values(v.changes).items():
                if path in mine and mine[path] != theirs:
                    out.append(
                        f"{self.name}: the version effective from {v.effective_from} sets {path} to "
                        f"{_short(theirs)}; your change ({_short(mine[path])}) is used instead"
                    )
        return out


def leaf_values(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted key path -> value for every non-mapping value of a nested mapping."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(leaf_values(v, path + "."))
        else:
            out[path] = v
    return out


def _short(v: Any) -> str:
    if isinstance(v, (list, dict)):
        return f"a {type(v).__name__} of {len(v)}"
    text = f"{v:g}" if isinstance(v, float) else str(v)
    return text if len(text) <= 60 else text[:57] + "..."


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Merge `over` into a copy of `base`: mappings merge, everything else replaces."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def validate_dict(data: Any, source: str = "<dict>", lines: dict[tuple[Any, ...], int] | None = None) -> Methodology:
    """Validate a parsed methodology, raising one clear MethodologyError on failure."""
    if not isinstance(data, dict):
        raise MethodologyError(f"{source}: a methodology must be a mapping of keys, got {type(data).__name__}")
    try:
        m = Methodology.model_validate(data)
    except ValidationError as e:
        # unknown keys and bad values say more than the "missing" errors they cause
        order = {"extra_forbidden": 0, "missing": 2}
        errs = sorted(e.errors(), key=lambda x: order.get(x["type"], 1))
        first = format_error(dict(errs[0]), source, lines or {}, Methodology)
        more = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
        raise MethodologyError(first + more) from None
    # validate every version's merged rules now, so a bad version fails at load time
    for i, v in enumerate(m.versions):
        try:
            m.for_date(v.effective_from)
        except MethodologyError as e:
            ln = (lines or {}).get(("versions", i, "changes"))
            where = f"{source}:{ln}" if ln else source
            detail = str(e).split(": ", 1)[-1]
            raise MethodologyError(f"{where}: versions.{i}.changes: {detail}") from None
    return m
