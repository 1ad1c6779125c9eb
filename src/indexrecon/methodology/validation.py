"""Validation messages: a pydantic error turned into one line naming file, line, key and the
allowed values (used by the schema's own validation, so it imports no model)."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel


class RuleError(ValueError):
    """A rule over several keys, broken at `path` (below the model that checks it): the
    loader reports it at that key and its line."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def _allowed_keys(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model at `loc` (the parent of an unknown key)."""
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        model = _model_in(ann)
        if model is None:
            return []
    return list(getattr(model, "model_fields", {}))


def _model_in(ann: Any) -> Any:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for a in getattr(ann, "__args__", ()) or ():
        m = _model_in(a)
        if m is not None:
            return m
    return None


def format_error(err: dict[str, Any], source: str, lines: dict[tuple[Any, ...], int], root: type[BaseModel]) -> str:
    """One pydantic error as `file:line: key: what is wrong` (allowed keys named for an unknown one)."""
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    # pydantic adds the literal/union branch names to loc; keep only real key path parts
    loc = tuple(p for p in loc if isinstance(p, int) or not p.startswith(("literal[", "list[", "int", "float")))
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, RuleError):  # a rule over several keys, reported at the key that breaks it
        loc = (*loc, *cause.path)
    line = None
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            line = lines[loc[:n]]
            break
    where = f"{source}:{line}" if line else source
    key = ".".join(str(p) for p in loc) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(root, loc[:-1])
        bad = str(loc[-1])
        hint = difflib.get_close_matches(bad, allowed, n=1)
        sugg = f" (did you mean '{hint[0]}'?)" if hint else ""
        return f"{where}: {key}: unknown key{sugg}; allowed: {', '.join(allowed)}"
    if kind == "missing":
        return f"{where}: {key}: required key missing"
    msg = err["msg"]
    value = err.get("input")
    if kind in ("int_type", "float_type") and isinstance(value, bool):
        return f"{where}: {key}: {str(value).lower()} is a boolean, not a number"
    if kind.startswith("date") and isinstance(value, str):
        return f"{where}: {key}: '{value}' is not a date (YYYY-MM-DD, a day that exists)"
    if kind == "literal_error":
        ctx = err.get("ctx", {})
        return f"{where}: {key}: {err.get('input')!r} is not allowed; expected {ctx.get('expected', msg)}"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{where}: {key}: {msg}"
