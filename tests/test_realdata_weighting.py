"""Which capital and which inclusion factor the official weights fit (scripts/validate_share_data.py,
share-data section of docs/validation.md): the evidence behind chinext.yaml's exact free-float
ratio and chinext_composite.yaml's float caps. Skipped without the real dataset."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import indexrecon as ir

pytestmark = pytest.mark.realdata

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
D = dt.date


@pytest.fixture(scope="module")
def validator() -> ModuleType:
    sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location("validate_share_data", SCRIPTS / "validate_share_data.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_official_weights_fit_each_providers_reading(real_store: Any, validator: ModuleType) -> None:
    day = D(2025, 1, 27)
    chinext = validator.factor_fit(real_store, "399006", day)
    composite = validator.factor_fit(real_store, "399102", day)
    csi300 = validator.factor_fit(real_store, "000300", day)
    assert chinext["n"] == 100 and composite["n"] > 1300 and csi300["n"] > 290
    # CSI tiers its factors: the control that the test tells the readings apart
    assert csi300["tiers"] < 0.01 < 0.04 < csi300["exact"]
    # CNI's ChiNext Index: the exact free-float ratio, far closer than the tiers
    assert chinext["exact"] < 0.01 < 0.03 < chinext["tiers"]
    # CNI's ChiNext Composite: circulating (float) shares, not free float
    assert composite["float"] < 0.03 < 0.15 < min(composite["exact"], composite["tiers"], composite["total"])
    assert ir.load_methodology("chinext").weighting.inclusion_factor == "exact"
    assert ir.load_methodology("chinext_composite").weighting.method == "float_cap"
