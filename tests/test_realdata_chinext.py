"""The December 2024 ChiNext Index review rebuilt from ../shared/realdata, against the official
list of 2025-01-27 (the ChiNext section of docs/validation.md, by scripts/validate_chinext.py).

Skipped, with the reason, when the real dataset is absent (the `real_store` fixture)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.realdata

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "validate_chinext.py"

# The overlap the published CNI rules reach on this data with simulated incumbents. Not 95:
# six stocks CNI left out rank inside the newcomer line (90) and six it kept rank beyond the
# incumbent line (110) while the 10-change cap did not bind, so no seed or faithful reading of
# the buffer reaches 95 (docs/validation.md explains each one).
FAITHFUL_OVERLAP = 91

OFFICIAL_SIDE = {"incumbent line", "not a simulated incumbent"}
REBUILT_SIDE = {"newcomer line", "simulated incumbent", "fill"}


@pytest.fixture(scope="module")
def validator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("validate_chinext", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def report(real_store: Any, validator: ModuleType) -> dict[str, Any]:
    return validator.analyse(real_store, variants=False)


def test_overlap_with_the_official_list(report: dict[str, Any]) -> None:
    assert report["official_date"] == "2025-01-27"
    assert report["effective"] == "2024-12-16"
    assert report["official_count"] == 100
    assert report["rebuilt_count"] == 100
    assert report["overlap"] >= FAITHFUL_OVERLAP
    assert report["incumbents_source"].startswith("simulated")


def test_every_miss_and_every_extra_has_a_reason(report: dict[str, Any], validator: ModuleType) -> None:
    gap = report["official_count"] - report["overlap"]
    assert len(report["misses"]) == gap
    assert len(report["extras"]) == report["rebuilt_count"] - report["overlap"]
    for e in report["misses"]:
        assert e["category"] in OFFICIAL_SIDE, e
    for e in report["extras"]:
        assert e["category"] in REBUILT_SIDE, e
    for e in report["misses"] + report["extras"]:
        assert e["category"] in validator.CATEGORIES
        assert e["rank"] is not None, e
        assert e["why"].strip(), e
    # The categories agree with the ranks: the lines are 90 (newcomers) and 110 (incumbents).
    for e in report["extras"]:
        if e["category"] == "newcomer line":
            assert e["rank"] <= 90
    for e in report["misses"]:
        assert (e["rank"] > 110) == (e["category"] == "incumbent line")


def test_the_simulated_path(report: dict[str, Any]) -> None:
    path = report["path"]
    assert path[0]["seed"] and not any(r["seed"] for r in path[1:])
    assert path[-1]["review"] == report["review"]
    for r in path[1:]:
        assert r["incumbents"] == 100
        assert r["adds"] == r["deletes"] <= 10
    assert report["june"]["size"] == 100


def test_weights_are_reported_with_their_caveat(report: dict[str, Any]) -> None:
    # free-float weights from the observations (issue 16's target: at most 6%), no blanket fallback
    assert 0 < report["weight_distance"] <= 0.06
    assert not any("no free-float share data" in w for w in report["warnings"])
    assert any(w.startswith("avg_total_cap ranks on A-share capital") for w in report["warnings"])


def test_the_section_renders(report: dict[str, Any], validator: ModuleType) -> None:
    text = validator.render(report)
    assert text.startswith(validator.SECTION + "\n")
    assert validator.RERUN in text
    assert f"**{report['overlap']} of {report['official_count']}**" in text
    for e in report["misses"] + report["extras"]:
        assert f"| {e['code']} | {e['rank']} |" in text
