"""Where a result's analytics, charts and HTML come from.

Results are plain data: their `stats()`, `plot`, `to_html` and `_repr_html_` call functions
of the layers above (analysis, present) that the package façade registers by name when
`indexrecon` is imported, as pandas finds its plotting backend, so nothing here imports them.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ..errors import IndexReconError

_REGISTRY: dict[str, str] = {}  # name -> "module:function"


def register(name: str, target: str) -> None:
    """Serve `name` with `target`, "package.module:function" (imported on first call)."""
    _REGISTRY[name] = target


def call(name: str, *args: Any, **kw: Any) -> Any:
    target = _REGISTRY.get(name)
    if target is None:
        raise IndexReconError(f"{name} is not available: nothing registered it (import indexrecon)")
    module, func = target.split(":")
    return getattr(import_module(module), func)(*args, **kw)
