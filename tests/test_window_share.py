"""The reviews of a chain share their window tables and their computations, with the results
each would have alone (issue 20: sharing, not shortcuts)."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from indexrecon import engine
from indexrecon.engine import run_review
from indexrecon.methodology.loader import load_methodology

REVIEW = "2025-06"


def _context(store: Any) -> Any:
    engine.forget(store)
    return engine.context(store)


@pytest.fixture(autouse=True)
def _no_side_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every dependency computed in the run (the side-file cache would skip the sharing)."""
    monkeypatch.setenv("INDEXRECON_NO_CACHE", "1")


def test_a_chain_builds_one_window_table_over_all_its_boards(demo_store: Any) -> None:
    ctx = _context(demo_store)
    top = run_review("csi2000", demo_store, REVIEW, incumbents="none")
    boards = {b for m in ("csi300", "csi500", "csi1000", "csi2000")
              for b in load_methodology(m).universe.boards}
    assert len(boards) > len(load_methodology("csi300").universe.boards)  # csi2000 adds a board
    windows = {(p.dates.window_start, p.dates.cutoff) for p in ctx.cache.values()}
    assert len(ctx.metric_tables) == len(windows)
    assert {tuple(sorted(boards))} == {held for _, _, held in ctx.metric_tables.values()}
    assert top.codes  # a real review came out of it
    engine.forget(demo_store)


@pytest.mark.parametrize("name", ["csi300", "csi500", "csi1000"])
def test_a_dependency_read_from_the_shared_table_equals_it_alone(demo_store: Any, name: str) -> None:
    ctx = _context(demo_store)
    run_review("csi2000", demo_store, REVIEW, incumbents="none")
    in_chain = [r for r in ctx.cache.values() if r.methodology.name == name and r.dates.review == REVIEW]
    assert len(in_chain) == 1
    ctx = _context(demo_store)
    alone = run_review(name, demo_store, REVIEW, incumbents="none")
    # alone, its window table holds its own boards only
    assert {held for _, _, held in ctx.metric_tables.values()} == {tuple(sorted(alone.methodology.universe.boards))}
    # in the chain it ran members-only: the whole table's columns it keeps, value for value
    chained = in_chain[0].table
    assert "name" in alone.table.columns and "name" not in chained.columns
    assert alone.table.select(list(chained.columns)).rows == chained.rows
    assert alone.warnings == in_chain[0].warnings
    engine.forget(demo_store)


def _calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record what each computed review is a function of."""
    review_mod = sys.modules["indexrecon.engine.review"]
    inner = review_mod._pipeline
    calls: list[str] = []

    def counted(m: Any, ctx: Any, rd: Any, inc: list[str], excluded: Any, required: Any, warnings: list[str],
                members_only: bool = False) -> Any:
        calls.append(json.dumps([m.name, str(rd), inc, excluded, required], sort_keys=True))
        return inner(m, ctx, rd, inc, excluded, required, warnings, members_only=members_only)

    monkeypatch.setattr(review_mod, "_pipeline", counted)
    return calls


def _outcome(res: Any) -> tuple[Any, ...]:
    return res.codes, res.warnings, res.incumbents_source, res.incumbents, res.table.rows


def test_a_review_reached_by_two_paths_is_computed_once(demo_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _calls(monkeypatch)
    ctx = _context(demo_store)
    shared = run_review("csi2000", demo_store, "2025-12", incumbents="simulate")
    assert calls and len(calls) == len(set(calls))  # nothing computed twice
    first = {k: _outcome(r) for k, r in ctx.cache.items()}  # every review the run asked for
    # the same run without the memo of computations: one computation per review asked for
    review_mod = sys.modules["indexrecon.engine.review"]

    def uncached(key: Any, rules: Any, ctx: Any, rd: Any, inc: list[str], excluded: Any, required: Any,
                 warnings: list[str], members_only: bool = False) -> Any:
        return review_mod._pipeline(rules, ctx, rd, inc, excluded, required, warnings, members_only=members_only)

    monkeypatch.setattr(review_mod, "_computed", uncached)
    calls.clear()
    ctx = _context(demo_store)
    alone = run_review("csi2000", demo_store, "2025-12", incumbents="simulate")
    assert len(calls) == len(first) > len(set(calls))  # this chain does reach a review twice
    assert _outcome(alone) == _outcome(shared)
    assert {k: _outcome(r) for k, r in ctx.cache.items()} == first
    engine.forget(demo_store)
