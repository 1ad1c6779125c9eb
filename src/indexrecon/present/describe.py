"""Human-readable output: methodologies in plain words and aligned terminal tables."""

from __future__ import annotations

import calendar
import math
from typing import Any

from ..data.store import BOARD_LABELS
from ..methodology.schema import Methodology, leaf_values
from ..methodology.vocabulary import DERIVED_METRICS, METRICS


def metric_words(name: str) -> str:
    if name in METRICS:
        return METRICS[name].description
    return DERIVED_METRICS.get(name, name)


def index_label(title: str, index_code: str | None, provider: str | None = None) -> str:
    """'ChiNext Index (399006, CNI)'; a custom design without a code or provider is just its
    title, never '(None)' or '(custom, custom)'."""
    parts = [p for p in (index_code, provider) if p and p != "custom"]
    return f"{title} ({', '.join(parts)})" if parts else title


def describe_methodology(m: Methodology) -> str:
    """The methodology in plain words, rule by rule; then, for each dated version, the
    sections of the rules in force from its date that differ from those before it."""
    lines = _describe_rules(m)
    if m.overrides:
        mine = ", ".join(f"{k} = {v}" for k, v in leaf_values(m.overrides).items() if k != "name")
        lines.append(f"Custom changes (they win over every dated version): {mine or 'name only'}")
    prev = _sections(lines)
    for v in m.versions:
        rules = _describe_rules(m.for_date(v.effective_from))
        now = _sections(rules)
        lines.append(f"From {v.effective_from} ({v.note or 'rule changes'}), the rules in force:")
        changed = [sec for head, sec in now.items() if prev.get(head) != sec and head != "title"]
        lines += ["  " + ln for sec in changed for ln in sec] or ["  (no difference in the rules printed above)"]
        lines += [f"  note: {w.split(': ', 1)[1]}" for w in m.override_warnings(v.effective_from)
                  if f"from {v.effective_from} " in w]
        prev = now
    return "\n".join(lines)


def _sections(lines: list[str]) -> dict[str, list[str]]:
    """Description lines grouped by section (a line not indented starts one)."""
    out: dict[str, list[str]] = {}
    head = "title"
    for ln in lines:
        if not ln.startswith(" "):
            head = ln.split(":", 1)[0]
        out.setdefault(head, []).append(ln)
    return out


def _describe_rules(m: Methodology) -> list[str]:
    u, s, w, sch = m.universe, m.selection, m.weighting, m.schedule
    kind = "methodology" if m.index_code else "custom methodology"
    code = "" if m.index_code else " (no official index code)"
    lines = [f"{index_label(m.title, m.index_code, m.provider)} — {kind} '{m.name}'{code}"]
    if m.description:
        lines.append(f"  {m.description}")
    if m.base_date:
        lines.append(f"  Base: {m.base_level:g} on {m.base_date}")
    lines.append("Universe:")
    lines.append(f"  - stocks of: {', '.join(BOARD_LABELS[b] for b in u.boards)}")
    if u.min_listing_age:
        lines.append(f"  - listed at least {u.min_listing_age.describe()} at the data cutoff")
    if u.new_listing_exception:
        e = u.new_listing_exception
        top = f"top {e.top_n}" if e.top_n is not None else f"top {e.top_pct:g}%"
        lines.append(
            f"    (or at least {e.min_age.describe()} if in the sample space's {top} by {metric_words(e.metric)})"
        )
    if u.exclude_st:
        late = {"effective": " (status on the day before the effective date)",
                "monthly": " (removed from the trading day after the second Friday of the month after the"
                           " warning, back the same way once it is lifted)"}.get(u.st_as_of, "")
        lines.append(f"  - no ST / *ST stocks{late}")
    if u.exclude_delisting:
        lines.append("  - nothing under delisting arrangement")
    if u.max_suspended_days is not None:
        lines.append(f"  - suspended at most {u.max_suspended_days} trading days in the window")
    for name in u.exclude_members_of:
        lines.append(f"  - not a member of '{name}' at the same review")
    if u.exclude_codes:
        lines.append(f"  - excluding codes {', '.join(u.exclude_codes)}")
    notes = m.rule_notes()
    if notes:
        lines.append("Further rules:")
        lines += [f"  - {n}" for n in notes]
    lines.append(f"Window: the {m.lookback.describe()} ending at the data cutoff")
    if m.screens:
        lines.append("Screens, in order:")
        for i, sc in enumerate(m.screens, 1):
            note = f"  [{sc.note}]" if sc.note else ""
            lines.append(f"  {i}. {sc.describe()}{note}")
    order = "largest" if s.order == "desc" else "smallest"
    lines.append(f"Selection: the {s.count} {order} by {metric_words(s.rank_by)}")
    if s.buffer:
        lines.append(
            f"  - buffer: newcomers enter within rank {s.buffer.newcomers_within}; "
            f"incumbents stay within rank {s.buffer.incumbents_within}"
        )
    if s.max_changes_pct:
        lines.append(f"  - at most {s.max_changes_pct:g}% of the places change per review")
    if s.reserve:
        lines.append(f"  - a reserve list of the {s.reserve.count} best-ranked stocks not selected (replaces deletions between reviews)")
    larger = " (larger first)" if s.rank_by == "composite_rank" and s.tie_break else ""
    tb = ", ".join([*s.tie_break, "code"]) + larger
    lines.append(f"  - ties broken by {tb}")
    method = {
        "free_float_cap": "free-float market cap",
        "float_cap": "float market cap",
        "total_cap": "total market cap",
        "equal": "equal weight",
    }[w.method]
    lines.append(f"Weighting: {method}")
    if w.inclusion_factor == "exact":
        lines.append("  - inclusion factor: the exact free-float ratio (free-float / total shares, no tiers)")
    elif w.inclusion_factor:
        tiers = ", ".join(
            f"<={t.up_to_pct:g}%: {'rounded up' if t.factor_pct == 'ceil' else f'{t.factor_pct:g}%'}"
            for t in w.inclusion_factor
        )
        lines.append(f"  - tiered free-float inclusion factors: {tiers}")
    c = w.caps
    if c.single_pct:
        lines.append(f"  - no stock above {c.single_pct:g}%")
    if c.top_k:
        lines.append(f"  - the top {c.top_k.k} together at most {c.top_k.pct:g}%")
    if c.industry_pct:
        lines.append(f"  - no Shenwan level-1 industry above {c.industry_pct:g}%")
    if sch.frequency == "daily":
        lines.append("Schedule: rebalanced every trading day on the previous close")
    else:
        months = ", ".join(calendar.month_name[mo] for mo in sch.review_months)
        e = sch.effective
        after = f", then {e.trading_days_after} trading day(s) later" if e.trading_days_after else ""
        lines.append(f"Schedule: reviews in {months}; effective on the {_nth(e.nth)} {e.weekday} of the month{after}")
        lines.append(f"  - data cutoff: end of the month {sch.cutoff_months_before} months before the review")
    return lines


def _nth(n: int) -> str:
    return {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}[n]


PERCENT_COLUMNS = frozenset({"weight", "official_weight", "share_of_companies", "share_of_market_cap",
                             "top1", "top5", "top10"})


def unit(col: str) -> str:
    """The unit a column's values are shown in: '%', '100m CNY' (亿元) or ''."""
    if col in PERCENT_COLUMNS:
        return "%"
    # a count of stocks "without cap" is a count, not an amount
    if (col.endswith("cap") and not col.endswith("_without_cap")) or col == "avg_amount":
        return "100m CNY"
    return ""


def fmt_value(col: str, v: Any) -> str:
    if v is None or type(v).__name__ in ("NAType", "NaTType") or (isinstance(v, float) and math.isnan(v)):
        return ""
    u = unit(col)
    if u == "%":
        return f"{100 * float(v):.2f}%"
    if u == "100m CNY":
        return f"{float(v) / 1e8:,.1f}"
    if col in {"inclusion_factor", "cap_factor", "hhi", "gini"}:
        return f"{float(v):.4f}"
    if isinstance(v, float):
        return f"{v:,.4g}"
    return str(v)


def unweighted_note(conc: dict[str, Any]) -> str:
    """The line beside the concentration figures naming the constituents they leave out."""
    codes = conc.get("unweighted_codes") or []
    shown = ", ".join(codes[:10]) + (f" and {len(codes) - 10} more" if len(codes) > 10 else "")
    return (f"{conc['unweighted_count']} of {conc['count']} constituents have no weight (no price or "
            f"shares at the cutoff) and are left out of the concentration figures" + (f": {shown}" if shown else ""))


def coverage_note(cov: dict[str, Any]) -> str:
    """The line under the coverage figures saying how many board stocks they leave out."""
    n = cov.get("board_stocks_without_cap") or 0
    if not n:
        return ""
    return (f"{n} board stock(s) have no share data at the cutoff (no market cap) and are left out of "
            f"the coverage: board_stocks counts the other {cov['board_stocks']}")


def rich_table(df: Any, title: str | None = None, caption: str | None = None,
               keep: frozenset[str] | set[str] = frozenset()) -> Any:
    """A terminal table of a DataFrame or a results `Table`, numbers right-aligned and
    scaled (see `termtable`: fitted to a terminal, plain when piped); `keep` names columns,
    besides rank, code and weight, that a narrow terminal must not leave out."""
    from ..results.review import NUMERIC_TYPES, Table
    from .termtable import KEEP, TextTable

    if isinstance(df, Table):
        cols, rows = list(df.columns), df.rows
        numeric = [t in NUMERIC_TYPES for t in df.types]
    else:
        import pandas as pd

        cols, rows = list(df.columns), list(df.itertuples(index=False))
        numeric = [pd.api.types.is_numeric_dtype(df[c]) and df[c].dtype != bool for c in cols]
    headers = [c + (f" ({unit(c)})" if unit(c) == "100m CNY" else "") for c in cols]
    cells = [[fmt_value(c, v) for c, v in zip(cols, row, strict=True)] for row in rows]
    return TextTable(cols, headers, numeric, cells, title=title, caption=caption, keep=KEEP | set(keep))
