"""An index a review left empty: which rule emptied it (used by the CLI and by backtests)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..methodology.schema import Methodology
    from .review import ReviewResult


def empty_index_message(res: ReviewResult) -> str:
    """Which rule emptied the index: the stage where most candidates fell out, then the rest."""
    t = res.table
    stages: dict[str, int] = {}
    for stage, sel in zip(t.column("stage"), t.column("selected"), strict=True):
        if not sel:
            key = stage or "selection"
            stages[key] = stages.get(key, 0) + 1
    m = res.methodology
    where = f"{m.name} review {res.dates.review} has no constituents"
    if not stages:
        return f"{where}: the store has no listed {', '.join(m.universe.boards)} stocks at the cutoff {res.dates.cutoff}"
    ranked = sorted(stages.items(), key=lambda kv: (-kv[1], kv[0]))
    top, n = ranked[0]
    others = ", ".join(f"{v:,} at {k}" for k, v in ranked[1:])
    return (f"{where}: {n:,} of {sum(stages.values()):,} candidates fell out at {_describe_stage(m, top)}"
            f"{f' (the others: {others})' if others else ''}")


def _describe_stage(m: Methodology, stage: str) -> str:
    match = re.fullmatch(r"screen (\d+)", stage)
    if match and 0 < int(match.group(1)) <= len(m.screens):
        return f"{stage} ({m.screens[int(match.group(1)) - 1].describe()})"
    return stage
