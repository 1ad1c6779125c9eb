"""indexrecon: rebuild stock indices from their published rules.

    import indexrecon as ir
    store = ir.open_store()                      # the embedded SYNTHETIC demo store
    m = ir.load_methodology("chinext")           # built-in name, YAML path or dict
    res = ir.rebuild(m, store, review="2025-12")
    res.constituents                             # pandas DataFrame
    sim = ir.simulate_review(m, store, review="2026-06", incumbents="official")
    sim.adds, sim.deletes, sim.borderline()
"""

from __future__ import annotations

import datetime as dt
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .results import hooks as _hooks

if TYPE_CHECKING:
    from .data.open import open_store
    from .data.store import Store
    from .errors import IndexReconError, MethodologyError, StoreError, UnknownMethodologyError
    from .methodology.loader import load_methodology
    from .methodology.schema import Methodology
    from .plan.review import ReviewPlan, plan_review
    from .results.review import ReviewResult

from ._version import __version__ as __version__

# Names resolved on first use, so `import indexrecon` (and the CLI's start-up) stays light.
_LAZY = {
    "IndexReconError": "errors",
    "MethodologyError": "errors",
    "StoreError": "errors",
    "UnknownMethodologyError": "errors",
    "load_methodology": "methodology.loader",
    "ReviewResult": "results.review",
    "Methodology": "methodology.schema",
    "Store": "data.store",
    "open_store": "data.open",
    "backtest": "analysis.backtest",
    "compare_backtests": "analysis.backtest",
    "BacktestResult": "analysis.backtest",
    "sweep": "analysis.sweeps",
    "plan_review": "plan.review",
    "ReviewPlan": "plan.review",
    "SweepResult": "analysis.sweeps",
}

__all__ = [
    "IndexReconError",
    "Methodology",
    "MethodologyError",
    "ReviewPlan",
    "ReviewResult",
    "Store",
    "StoreError",
    "SweepResult",
    "UnknownMethodologyError",
    "backtest",
    "compare_backtests",
    "list_methodologies",
    "load_methodology",
    "open_store",
    "plan_review",
    "rebuild",
    "simulate_review",
    "sweep",
]


# Results are plain data; what they draw and compute above themselves is served from here
# (results.hooks), by name, so importing a result never imports analysis or present.
_hooks.register("review_industry_mix", "indexrecon.analysis.composition:review_industry_mix")
_hooks.register("review_stats", "indexrecon.analysis.composition:review_stats")
_hooks.register("review_plot", "indexrecon.present.charts:PlotAccessor")
_hooks.register("review_to_html", "indexrecon.present.html:write_report")
_hooks.register("review_repr_html", "indexrecon.present.html:repr_html")
_hooks.register("sweep_figure", "indexrecon.present.charts:sweep_figure")
_hooks.register("sweep_plot", "indexrecon.present.charts:sweep_plot")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'indexrecon' has no attribute {name!r}")


def list_methodologies() -> list[str]:
    """Names of the built-in methodologies."""
    from .methodology.paths import builtin_names

    return builtin_names()


def rebuild(
    m: Methodology | str | Path | dict[str, Any],
    store: Store,
    review: str | None = None,
    *,
    as_of: dt.date | str | None = None,
    incumbents: Any = "auto",
) -> ReviewResult:
    """Constituents, ranks and weights of `m` at a review (or the one in force on `as_of`)."""
    from .engine import run_review

    if isinstance(as_of, str):
        as_of = dt.date.fromisoformat(as_of)
    return run_review(m, store, review, as_of=as_of, incumbents=incumbents)


def simulate_review(
    m: Methodology | str | Path | dict[str, Any],
    store: Store,
    review: str | None = None,
    *,
    incumbents: Any = "auto",
) -> ReviewResult:
    """Simulate a review against its incumbents: adds, deletes and the borderline.

    Without `review`, the next review after the store's last date (provisional if its data
    cutoff lies beyond the store)."""
    from .engine import simulate_review as simulate

    return simulate(m, store, review, incumbents=incumbents)
