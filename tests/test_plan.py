"""The plan step: a review resolved before it runs (rules in force, dates, dependencies in
order, where its incumbents come from), and the engine running exactly that plan."""

from __future__ import annotations

from typing import Any

import pytest

from indexrecon.engine import context, run_plan, run_review
from indexrecon.errors import DependencyCycleError, UnknownMethodologyError
from indexrecon.methodology.loader import load_methodology
from indexrecon.plan import plan_review

SCHEDULE = {"review_months": [6, 12], "effective": {"nth": 2, "weekday": "friday", "trading_days_after": 1},
            "cutoff_months_before": 2}


def test_plan_names_dependencies_in_order_with_the_review_in_force(demo_store: Any) -> None:
    plan = plan_review("csi1000", demo_store, "2025-12", incumbents="simulate")
    assert [(d.kind, d.name) for d in plan.dependencies] == [("exclude_members_of", "csi300"),
                                                             ("exclude_members_of", "csi500")]
    for d in plan.dependencies:
        assert d.label == "2025-12"  # the CSI size series review together
        assert d.incumbents == "simulate"
        assert d.plan.dates.effective == plan.dates.effective
    # csi500's own plan excludes csi300 in turn, with the chain it is part of
    csi500 = plan.dependencies[1].plan
    assert [d.name for d in csi500.dependencies] == ["csi300"]
    assert csi500.dependencies[0].stack == ("csi1000", "csi500")


def test_plan_says_where_simulated_incumbents_come_from(demo_store: Any) -> None:
    plan = plan_review("chinext", demo_store, "2025-12", incumbents="simulate")
    inc = plan.incumbents
    assert inc.kind == "previous"
    assert inc.label.startswith("simulated: seeded ") and inc.label.endswith("rolled through 2025-06")
    assert inc.previous is not None and inc.previous.dates.review == "2025-06"
    # the path goes back to the seed, which ranks without incumbents
    p = inc.previous
    while p.incumbents.kind == "previous":
        assert p.incumbents.previous is not None
        p = p.incumbents.previous
    assert p.incumbents_key is None and p.incumbents.kind == "none"


def test_engine_runs_the_plan_it_is_given(demo_store: Any) -> None:
    plan = plan_review("chinext", demo_store, "2025-12", incumbents="simulate")
    ran = run_plan(plan, context(demo_store))
    direct = run_review("chinext", demo_store, "2025-12", incumbents="simulate")
    assert ran.codes == direct.codes and ran.incumbents_source == direct.incumbents_source
    assert ran.dates == plan.dates


def test_rules_in_force_are_planned_per_date(demo_store: Any) -> None:
    m = load_methodology({
        "name": "dated", "title": "Dated", "universe": {"boards": ["chinext"]},
        "lookback": {"months": 6}, "selection": {"rank_by": "avg_total_cap", "count": 20},
        "weighting": {"method": "total_cap"}, "schedule": SCHEDULE,
        "versions": [{"effective_from": "2025-06-01", "changes": {"selection": {"count": 30}}}],
    })
    assert plan_review(m, demo_store, "2024-12", incumbents="none").rules.selection.count == 20
    assert plan_review(m, demo_store, "2025-12", incumbents="none").rules.selection.count == 30


def _m(name: str, **universe: Any) -> dict[str, Any]:
    return {"name": name, "title": name, "universe": {"boards": ["chinext"], **universe},
            "lookback": {"months": 6}, "selection": {"rank_by": "avg_total_cap", "count": 10}, "weighting": {"method": "total_cap"},
            "schedule": SCHEDULE}


def test_a_dependency_cycle_is_refused_at_planning(tmp_path: Any, demo_store: Any) -> None:
    import yaml

    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(yaml.safe_dump(_m("a", exclude_members_of=[str(b)])))
    b.write_text(yaml.safe_dump(_m("b", exclude_members_of=[str(a)])))
    with pytest.raises(DependencyCycleError) as e:
        plan = plan_review(str(a), demo_store, "2025-12", incumbents="none")
        for d in plan.dependencies:
            _ = d.plan
    assert "cycle" in str(e.value)


def test_an_unknown_dependency_names_the_rule(demo_store: Any) -> None:
    with pytest.raises(UnknownMethodologyError, match=r"universe\.exclude_members_of"):
        plan_review(_m("x", exclude_members_of=["no_such_index"]), demo_store, "2025-12")
