"""What a command says beside its output: warnings on stderr in every format, grouped, as
plain lines; and an index left with no constituents as an error (exit 3).

Warnings go to stderr whatever the format and wherever the output goes (a file, a pipe),
one plain line each (never wrapped by rich), after the output is written. The warnings of
the indices a methodology depends on are grouped by kind: one line for a kind that several
of them share ("csi300, csi500, csi1000: 3 warnings like: ..."), and the index's own warning
of that kind says which dependencies have it too."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import click

from ..errors import EmptyIndexError
from ..results.outcome import empty_index_message

if TYPE_CHECKING:
    from ..methodology.schema import Methodology
    from ..results.review import ReviewResult

_NUM = re.compile(r"\d[\d,.]*")


def dependency_names(m: Methodology) -> list[str]:
    """The names of every index `m` depends on (members_of / exclude_members_of), nested."""
    from ..methodology.loader import load_methodology

    out: list[str] = []
    todo = [*m.universe.exclude_members_of, *m.universe.members_of]
    while todo:
        dep = load_methodology(todo.pop(0))
        if dep.name not in out and dep.name != m.name:
            out.append(dep.name)
            todo += [*dep.universe.exclude_members_of, *dep.universe.members_of]
    return out


def group_warnings(warnings: list[str], deps: list[str] | tuple[str, ...] = (), name: str = "") -> list[str]:
    """One line per kind of warning: its first words with the numbers and the index's name
    (`name`, or the dependency's that prefixes it) taken out."""
    groups: dict[str, list[tuple[str | None, str]]] = {}
    for w in dict.fromkeys(warnings):
        src, text = None, w
        head, sep, rest = w.partition(": ")
        if sep and head in deps:
            src, text = head, rest
        own = src or name
        kind = " ".join(_NUM.sub("#", text.replace(own, "{}") if own else text).split()[:6])
        groups.setdefault(kind, []).append((src, text))
    out = []
    for items in groups.values():
        own = [t for s, t in items if s is None]
        srcs = list(dict.fromkeys(s for s, _ in items if s is not None))
        if own:
            also = f" (also {', '.join(srcs)})" if srcs else ""
            out += [*own[:-1], own[-1] + also]
        elif len(items) == 1:
            out.append(f"{items[0][0]}: {items[0][1]}")
        else:
            first = next(t for s, t in items if s == srcs[0])
            out.append(f"{', '.join(srcs)}: {len(items)} warnings like: {srcs[0]}: {first}")
    return out


def warning_lines(warnings: list[str], m: Methodology | None = None) -> list[str]:
    deps = dependency_names(m) if m is not None else []
    return [f"warning: {w}" for w in group_warnings(warnings, deps, m.name if m is not None else "")]


def print_warnings(warnings: list[str], m: Methodology | None = None) -> None:
    """The warnings on stderr, grouped, one plain line each."""
    for line in warning_lines(warnings, m):
        click.echo(line, err=True)


def finish_review(res: ReviewResult, *, before_output: bool) -> None:
    """Call before writing a review's output (`before_output=True`): an index with no
    constituents prints its warnings and raises EmptyIndexError (exit 3), so no header-only
    file is written. Call again after writing it: the warnings go to stderr."""
    if before_output:
        if not res.codes:
            print_warnings(res.warnings, res.methodology)
            raise EmptyIndexError(empty_index_message(res))
        return
    print_warnings(res.warnings, res.methodology)


def header_warnings(res: Any, to_file: bool) -> list[str]:
    """Warning lines for a table written to a file (the record keeps them); none on stdout,
    where they would repeat what stderr says."""
    return warning_lines(res.warnings, res.methodology) if to_file else []
