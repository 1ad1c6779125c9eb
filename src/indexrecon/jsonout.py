"""The one JSON writer of every command and result: strict JSON that any parser reads.

Python's `json` writes NaN and Infinity as bare `NaN`/`Infinity`, which strict parsers (a
browser's `JSON.parse`, jq, Go, Java) reject. Every missing or non-finite number becomes
`null` here, numpy and pandas scalars become plain Python, dates ISO strings; the dump then
runs with `allow_nan=False`, so a value this walk missed is an error, never invalid JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def json_safe(v: Any) -> Any:
    """`v` with every container walked: non-finite floats and NA -> None, numpy/pandas
    scalars -> Python, dates and times -> ISO strings, tuples and sets -> lists."""
    if v is None or isinstance(v, (str, bool, int)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, Mapping):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return [json_safe(x) for x in sorted(v, key=str)]
    if type(v).__name__ in ("NAType", "NaTType"):
        return None
    if hasattr(v, "tolist") and not hasattr(v, "isoformat"):  # numpy scalars and arrays
        return json_safe(v.tolist())
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if hasattr(v, "item"):
        return json_safe(v.item())
    if hasattr(v, "__float__"):  # Decimal and friends
        return json_safe(float(v))
    return str(v)


def dumps(obj: Any, indent: int | None = 2, **kw: Any) -> str:
    """Strict JSON text of `obj` (no trailing newline), non-ASCII kept as is; `kw` go to
    `json.dumps` (e.g. sort_keys)."""
    import json

    return json.dumps(json_safe(obj), ensure_ascii=False, indent=indent, allow_nan=False, **kw)
