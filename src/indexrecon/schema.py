"""The methodology format: pydantic models that validate a YAML methodology.

Percentages are written as percent (`pct: 10` is 10%). Every model forbids unknown keys, so a
typo is an error that names the key, its line and the allowed keys (see `loader`).
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .metrics import METRIC_NAMES

Board = Literal["sh_main", "sz_main", "chinext", "star", "bse"]
MetricName = Literal[METRIC_NAMES]  # type: ignore[valid-type]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday"]
Pct = Annotated[float, Field(gt=0, le=100)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Age(Model):
    """A listing age: calendar months or trading days (exactly one)."""

    months: int | None = Field(None, ge=0)
    trading_days: int | None = Field(None, ge=0)

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
    top_n: int | None = Field(None, gt=0)
    top_pct: Pct | None = None
    metric: MetricName = "avg_total_cap"

    @model_validator(mode="after")
    def _one(self) -> NewListingException:
        if (self.top_n is None) == (self.top_pct is None):
            raise ValueError("give exactly one of top_n or top_pct")
        return self


class Universe(Model):
    """The sample space: which stocks may be considered at all."""

    boards: list[Board] = Field(min_length=1)
    min_listing_age: Age | None = None
    new_listing_exception: NewListingException | None = None
    exclude_st: bool = True
    exclude_delisting: bool = True
    max_suspended_days: int | None = Field(
        None, ge=0, description="exclude stocks suspended more than this many trading days in the window"
    )
    exclude_members_of: list[str] = Field(
        default_factory=list, description="methodology names whose members at this review are excluded"
    )
    exclude_codes: list[str] = Field(default_factory=list)


class Lookback(Model):
    """The window of daily data the metrics average over, ending at the data cutoff."""

    months: int | None = Field(None, gt=0, le=60)
    trading_days: int | None = Field(None, gt=0, le=1500)

    @model_validator(mode="after")
    def _one(self) -> Lookback:
        if (self.months is None) == (self.trading_days is None):
            raise ValueError("give exactly one of months or trading_days")
        return self

    def describe(self) -> str:
        return f"{self.months} months" if self.months is not None else f"{self.trading_days} trading days"


ScreenType = Literal[
    "drop_bottom_pct", "keep_top_pct", "keep_top_n", "drop_top_n", "min_value", "max_value"
]


class Screen(Model):
    """One screen, applied in order to the stocks still in: e.g. drop the bottom 10% by amount."""

    type: ScreenType
    metric: MetricName
    value: float
    note: str | None = None

    @model_validator(mode="after")
    def _range(self) -> Screen:
        if self.type.endswith("_pct") and not 0 < self.value < 100:
            raise ValueError(f"{self.type} needs 0 < value < 100 (a percent), got {self.value:g}")
        if self.type.endswith("_n") and (self.value < 1 or self.value != int(self.value)):
            raise ValueError(f"{self.type} needs a whole number >= 1, got {self.value:g}")
        return self

    def describe(self) -> str:
        v = f"{self.value:g}"
        return {
            "drop_bottom_pct": f"drop the bottom {v}% by {self.metric}",
            "keep_top_pct": f"keep the top {v}% by {self.metric}",
            "keep_top_n": f"keep the top {v} by {self.metric}",
            "drop_top_n": f"drop the top {v} by {self.metric}",
            "min_value": f"require {self.metric} >= {v}",
            "max_value": f"require {self.metric} <= {v}",
        }[self.type]


class Buffer(Model):
    """Buffer zone: newcomers enter only within rank `newcomers_within`; incumbents stay
    while within rank `incumbents_within`."""

    newcomers_within: int = Field(gt=0)
    incumbents_within: int = Field(gt=0)


class Selection(Model):
    rank_by: MetricName
    count: int = Field(gt=0)
    order: Literal["desc", "asc"] = "desc"
    buffer: Buffer | None = None
    max_changes_pct: Pct | None = None
    tie_break: list[MetricName] = Field(
        default_factory=list, description="further metrics (same order) before the code"
    )

    @model_validator(mode="after")
    def _buffer(self) -> Selection:
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
    k: int = Field(gt=0)
    pct: Pct


class Caps(Model):
    single_pct: Pct | None = None
    top_k: TopKCap | None = None
    industry_pct: Pct | None = None


class Weighting(Model):
    method: Literal["free_float_cap", "float_cap", "total_cap", "equal"]
    inclusion_factor: list[Tier] | None = None
    caps: Caps = Caps()

    @model_validator(mode="after")
    def _tiers(self) -> Weighting:
        tiers = self.inclusion_factor
        if tiers:
            bounds = [t.up_to_pct for t in tiers]
            if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
                raise ValueError("inclusion_factor tiers must have increasing up_to_pct")
            if bounds[-1] != 100:
                raise ValueError("the last inclusion_factor tier must reach up_to_pct: 100")
            if self.method != "free_float_cap":
                raise ValueError("inclusion_factor tiers only apply to method free_float_cap")
        c = self.caps
        if c.top_k and c.single_pct and c.top_k.pct < c.single_pct:
            raise ValueError("caps.top_k.pct must be at least caps.single_pct")
        return self


class EffectiveRule(Model):
    """Effective date: the `nth` `weekday` of the review month, then `trading_days_after`."""

    nth: int = Field(2, ge=1, le=5)
    weekday: Weekday = "friday"
    trading_days_after: int = Field(1, ge=0, le=20)


class Schedule(Model):
    frequency: Literal["periodic", "daily"] = "periodic"
    review_months: list[Annotated[int, Field(ge=1, le=12)]] = Field(default_factory=lambda: [6, 12])
    effective: EffectiveRule = EffectiveRule()
    cutoff_months_before: int = Field(
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
    base_level: float = Field(1000.0, gt=0)
    universe: Universe
    lookback: Lookback
    screens: list[Screen] = Field(default_factory=list)
    selection: Selection
    weighting: Weighting
    schedule: Schedule = Schedule()
    versions: list[Version] = Field(default_factory=list)

    @model_validator(mode="after")
    def _checks(self) -> Methodology:
        caps = self.weighting.caps
        n = self.selection.count
        if caps.single_pct is not None and caps.single_pct * n < 100 - 1e-9:
            raise ValueError(
                f"caps cannot sum to 100%: {n} stocks x {caps.single_pct:g}% single cap < 100%"
            )
        if self.name in self.universe.exclude_members_of:
            raise ValueError(f"methodology {self.name} cannot exclude its own members")
        dates = [v.effective_from for v in self.versions]
        if dates != sorted(dates):
            raise ValueError("versions must be in order of effective_from")
        return self

    # -- derived methodologies ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="python", exclude_none=False)

    def with_changes(self, changes: dict[str, Any] | None = None, **kw: Any) -> Methodology:
        """A new methodology with `changes` deep-merged over this one (validated)."""
        from .loader import validate_dict

        merged = deep_merge(self.to_dict(), {**(changes or {}), **kw})
        return validate_dict(merged, source=f"{self.name}.with_changes")

    def for_date(self, date: dt.date) -> Methodology:
        """The rules in force on `date`: every version effective on or before it, merged."""
        from .loader import validate_dict

        data = self.to_dict()
        versions = data.pop("versions")
        applied = [v for v in versions if v["effective_from"] <= date]
        if not applied:
            return self.model_copy(update={"versions": []})
        for v in applied:
            data = deep_merge(data, v["changes"])
        data["versions"] = []
        return validate_dict(data, source=f"{self.name} (rules from {applied[-1]['effective_from']})")


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Merge `over` into a copy of `base`: mappings merge, everything else replaces."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out
