"""Loading methodologies: built-in names, YAML files or dicts, with errors that point at
the file, the line, the key path and the allowed values."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ..errors import MethodologyError, UnknownMethodologyError
from .paths import builtin_dir, methodology_path
from .schema import Methodology, validate_dict

MAX_FILE_BYTES = 1_000_000
MAX_ALIASES = 100
MAX_NODES = 20_000
MAX_DEPTH = 100


class _Loader(yaml.SafeLoader):
    """Safe YAML (no custom tags) that refuses alias bombs and deep nesting (PyYAML's composer
    recurses per level: 20,000 levels would be a RecursionError), and keeps an impossible
    date (2025-02-30) as its text so that validation names it at its key and line."""

    def __init__(self, stream: str, source: str = "<yaml>") -> None:
        super().__init__(stream)
        self.aliases = 0
        self.depth = 0
        self.source = source

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise MethodologyError(f"{self.source}: more than {MAX_ALIASES} YAML aliases: refused")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise MethodologyError(
                    f"{self.source}:{mark.line + 1}: YAML nested more than {MAX_DEPTH} levels deep: refused"
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:  # type: ignore[override]
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:  # 2010-02-30: the date field's validation says where and why
            return str(node.value)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Node count with aliases expanded (memoised, so a bomb is measured, not built)."""
    key = id(node)
    if key not in memo:
        memo[key] = 1  # guards against recursive aliases
        kids: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            kids = [n for kv in node.value for n in kv]
        elif isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        memo[key] = 1 + sum(_expanded_size(k, memo) for k in kids)
    return memo[key]


def _line_map(node: yaml.Node, source: str = "<yaml>", path: tuple[Any, ...] = (),
              seen: set[int] | None = None) -> dict[tuple[Any, ...], int]:
    """Key path -> 1-based line, from the composed YAML node tree (aliases not re-walked).
    A key given twice in one mapping is refused with both lines (YAML would keep the last)."""
    seen = set() if seen is None else seen
    lines: dict[tuple[Any, ...], int] = {path: node.start_mark.line + 1}
    if id(node) in seen:
        return lines
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for k, v in node.value:
            key = k.value
            line = k.start_mark.line + 1
            if key in first and k.tag != "tag:yaml.org,2002:merge":
                name = ".".join(str(p) for p in (*path, key))
                raise MethodologyError(
                    f"{source}:{line}: {name}: duplicate key (first at line {first[key]}); give each key once"
                )
            first.setdefault(key, line)
            lines[(*path, key)] = line
            for p, ln in _line_map(v, source, (*path, key), seen).items():
                lines.setdefault(p, ln)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            lines.update(_line_map(v, source, (*path, i), seen))
    return lines


def parse_yaml(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    if len(text.encode()) > MAX_FILE_BYTES:
        raise MethodologyError(f"{source}: file larger than {MAX_FILE_BYTES // 1000} kB: refused")
    try:
        loader = _Loader(text, source)
        try:
            node = loader.get_single_node()
            if node is not None and _expanded_size(node, {}) > MAX_NODES:
                raise MethodologyError(f"{source}: YAML expands to more than {MAX_NODES:,} nodes (aliases): refused")
            lines = _line_map(node, source) if node is not None else {}
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        raise MethodologyError(f"{where}: invalid YAML: {e.problem}") from None
    except yaml.YAMLError as e:
        raise MethodologyError(f"{source}: invalid YAML: {str(e).splitlines()[0]}") from None
    return data, lines


_PARSED: dict[tuple[str, str], Methodology] = {}


def load_methodology(spec: str | os.PathLike[str] | dict[str, Any] | Methodology) -> Methodology:
    """Load a methodology from a built-in name ("chinext"), a YAML path, or a dict."""
    if isinstance(spec, Methodology):
        return spec
    if isinstance(spec, dict):
        return validate_dict(spec)
    path = methodology_path(spec)
    if not path.exists():
        raise UnknownMethodologyError(f"methodology file {path} does not exist")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise MethodologyError(f"{path}: file larger than {MAX_FILE_BYTES // 1000} kB: refused")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise MethodologyError(f"{path}: cannot read: {e}") from None
    source = path.name if path.parent == builtin_dir() else str(path)
    # Parsing YAML in Python costs more than a review's SQL: a file is parsed once per text.
    key = (source, text)
    m = _PARSED.get(key)
    if m is None:
        data, lines = parse_yaml(text, source)
        m = validate_dict(data, source, lines)
        if len(_PARSED) >= 64:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[key] = m
    return m.model_copy(deep=True)  # callers may change their copy


_REFERENCE_KEYS = ("members_of", "exclude_members_of")


def check_references(spec: str | os.PathLike[str] | dict[str, Any] | Methodology,
                     _stack: tuple[str, ...] = ()) -> Methodology:
    """Load `spec` and every methodology its `universe.members_of` / `exclude_members_of`
    name (its versions' too), recursively: a missing one, or a cycle, is named at the
    referring file, line and key."""
    m = load_methodology(spec)
    lines: dict[tuple[Any, ...], int] = {}
    source = "<dict>" if isinstance(spec, (dict, Methodology)) else str(spec)
    path = Path(source)
    if path.suffix in {".yaml", ".yml"} and path.is_file():
        _, lines = parse_yaml(path.read_text(encoding="utf-8"), source)
    elif not isinstance(spec, (dict, Methodology)):
        source = f"{m.name}.yaml"
    refs: list[tuple[tuple[Any, ...], str]] = [
        (("universe", key, i), name) for key in _REFERENCE_KEYS for i, name in enumerate(getattr(m.universe, key))
    ]
    for vi, v in enumerate(m.versions):
        u = v.changes.get("universe") or {}
        for key in _REFERENCE_KEYS:
            refs += [(("versions", vi, "changes", "universe", key, i), str(n)) for i, n in enumerate(u.get(key) or [])]
    stack = (*_stack, m.name)
    for loc, name in refs:
        ln = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
        where = f"{source}:{ln}" if ln else source
        key = ".".join(str(p) for p in loc)
        try:
            dep = load_methodology(name)
            if dep.name in stack:
                from ..errors import DependencyCycleError

                raise DependencyCycleError(f"methodologies depend on each other's members in a cycle: "
                                           f"{' -> '.join([*stack, dep.name])}")
            check_references(name, stack)
        except MethodologyError as e:
            if str(e).startswith(f"{where}: "):
                raise
            raise type(e)(f"{where}: {key}: {e}") from None
        except UnknownMethodologyError as e:
            raise MethodologyError(f"{where}: {key}: {e}") from None
    return m
