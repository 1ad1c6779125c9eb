"""The engine: compiles a plan's rules to SQL and runs them over the store.

One module per rule family: `universe` (sample space and window metrics), `screens`,
`selection` (ranking, buffers, caps on changes, industry balance), `weighting` (caps and
inclusion factors); `steps` is the chain of CTEs they add to, `pipeline` runs it, `review`
runs one review with its dependencies and incumbents, `context` holds a run's shared state.
"""

from ..plan.incumbents import official_members
from .context import _CONTEXTS, Context, context, forget, methodology_key
from .members import members_on
from .review import (
    IncumbentSpec,
    first_simulable_review,
    run_plan,
    run_review,
    simulate_review,
)

__all__ = [
    "_CONTEXTS",
    "Context",
    "IncumbentSpec",
    "context",
    "first_simulable_review",
    "forget",
    "members_on",
    "methodology_key",
    "official_members",
    "run_plan",
    "run_review",
    "simulate_review",
]
