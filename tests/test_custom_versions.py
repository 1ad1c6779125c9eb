"""A custom design derived with `with_changes` keeps its changes at every dated version of
the base methodology (issue 14, item 1), says so when a version sets the same key, and
`show`/`validate` print the rules in force from each version date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import indexrecon as ir
from indexrecon.cli.main import main

AFTER = dt.date(2025, 6, 16)  # chinext's 2025 revision: a 20% cap and an ESG screen


@pytest.fixture(scope="module")
def cap10() -> ir.Methodology:
    return ir.load_methodology("chinext").with_changes(name="chinext_cap10", weighting={"caps": {"single_pct": 10}})


def test_user_change_wins_over_a_dated_version(cap10) -> None:
    base = ir.load_methodology("chinext")
    assert base.for_date(AFTER).weighting.caps.single_pct == 20  # the version does set 20%
    for day in (dt.date(2024, 12, 16), AFTER, dt.date(2025, 12, 15)):
        assert cap10.for_date(day).weighting.caps.single_pct == 10, day
    # what the user did not change still follows the versions: the ESG screen arrives in 2025-06
    assert "min_grade" not in {s.type for s in cap10.for_date(dt.date(2024, 12, 16)).screens}
    assert "min_grade" in {s.type for s in cap10.for_date(AFTER).screens}


def test_override_warning_only_where_a_version_sets_the_key(cap10) -> None:
    assert cap10.override_warnings(dt.date(2024, 12, 16)) == []
    (w,) = cap10.override_warnings(AFTER)
    assert "2025-06-16" in w and "weighting.caps.single_pct" in w and "20" in w and "(10)" in w
    # a change no version touches warns about nothing
    other = ir.load_methodology("chinext").with_changes(name="c2", selection={"count": 100, "max_changes_pct": 20})
    assert other.override_warnings(AFTER) == []
    # chained changes accumulate
    both = cap10.with_changes(selection={"max_changes_pct": 20})
    assert both.for_date(AFTER).weighting.caps.single_pct == 10
    assert both.for_date(AFTER).selection.max_changes_pct == 20


def test_rebuild_capped_at_every_review_with_a_warning(cap10, demo_store, reliability_log) -> None:
    for review in ("2024-12", "2025-06", "2025-12"):
        res = ir.rebuild(cap10, demo_store, review=review)
        assert res.constituents["weight"].max() <= 0.10 + 1e-9, review
        said = [w for w in res.warnings if "weighting.caps.single_pct" in w]
        assert bool(said) == (review != "2024-12"), (review, res.warnings)
    # the same review of the base is above 10%: the cap is what made the difference
    assert ir.rebuild("chinext", demo_store, review="2025-12").constituents["weight"].max() > 0.10
    reliability_log("silently wrong result (issue 14)", "with_changes cap 10% over chinext's dated 20% cap (2025-06)",
                    "the user's cap holds at every review; a warning names the version it overrides", 3)


def test_show_prints_the_rules_in_force_at_each_version(tmp_path: Path, cap10) -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["show", "chinext"])
    assert r.exit_code == 0
    after = r.stdout.split("From 2025-06-16", 1)[1]
    assert "no stock above 20%" in after and "CNI ESG grade of B" in after
    assert "no stock above 20%" not in r.stdout.split("From 2025-06-16", 1)[0]
    # validate of a custom file with versions prints the same, the user's cap in force after
    data = cap10.to_dict()
    path = tmp_path / "cap10.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    r = runner.invoke(main, ["validate", str(path)])
    assert r.exit_code == 0, r.output
    head, after = r.stdout.split("From 2025-06-16", 1)
    assert "no stock above 10%" in head and "weighting.caps.single_pct = 10" in head
    assert "no stock above 20%" not in after and "your change (10) is used instead" in after


def test_given_versions_apply_over_the_changes() -> None:
    m = ir.load_methodology("chinext").with_changes(
        name="mine", weighting={"caps": {"single_pct": 10}},
        versions=[{"effective_from": "2025-06-16", "note": "mine", "changes": {"weighting": {"caps": {"single_pct": 15}}}}],
    )
    assert m.for_date(dt.date(2024, 12, 16)).weighting.caps.single_pct == 10
    assert m.for_date(AFTER).weighting.caps.single_pct == 15 and m.override_warnings(AFTER) == []
