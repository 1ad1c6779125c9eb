"""Rule families added with the second reading of the published texts (issue 18), on
hand-built stores whose answers follow from the inputs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import indexrecon as ir
from factory import S, make_store
from factory import meth as factory_meth
from indexrecon.errors import IndexReconError
from indexrecon.schema import deep_merge

N_STOCKS = 30


def base_stocks() -> list[S]:
    # caps 30bn .. 1bn by code; amounts cycle so the liquidity order differs from the cap order
    return [
        S(f"300{i:03d}", cap=(N_STOCKS + 1 - i) * 1e9, amount=((i * 7) % N_STOCKS + 1) * 1e6, ff_ratio=0.5)
        for i in range(1, N_STOCKS + 1)
    ]


def by_amount() -> list[str]:
    """Codes from the most to the least liquid."""
    return [s.code for s in sorted(base_stocks(), key=lambda s: (-s.amount, s.code))]


def meth(**over: Any) -> dict[str, Any]:
    return factory_meth(**deep_merge({"selection": {"count": 30}}, over))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    p = tmp_path_factory.mktemp("rules") / "s.duckdb"
    make_store(p, base_stocks())
    st = ir.open_store(p)
    yield st
    st.close()


# -- incumbents_value: an incumbent's own threshold in the same screen --------------------
def test_incumbents_value_looser_liquidity_cut_for_incumbents(store: Any) -> None:
    liquid = by_amount()
    inc_20, inc_27, new_20 = liquid[19], liquid[26], liquid[20]  # amount ranks 20, 27, 21
    screen = {"type": "drop_bottom_pct", "metric": "avg_amount", "value": 50, "incumbents_value": 20}
    res = ir.rebuild(meth(screens=[screen]), store, "2024-12", incumbents=[inc_20, inc_27])
    # newcomers need the top 15 (50%), incumbents the top 24 (80%) of the same ranking of 30
    assert set(res.codes) == {*liquid[:15], inc_20}
    assert new_20 not in res.codes and "cut at 15" in res.explain(new_20)
    assert "cut at 24" in res.explain(inc_27) and inc_27 not in res.codes
    plain = ir.rebuild(meth(screens=[{**screen, "incumbents_value": None}]), store, "2024-12",
                       incumbents=[inc_20, inc_27])
    assert set(plain.codes) == set(liquid[:15])


def test_incumbents_value_for_value_and_count_screens(store: Any) -> None:
    # 300001..300030 have caps 30bn..1bn: newcomers need 26bn, incumbents 20bn
    m = meth(screens=[{"type": "min_value", "metric": "avg_total_cap", "value": 26e9, "incumbents_value": 20e9}])
    res = ir.rebuild(m, store, "2024-12", incumbents=["300008", "300012"])
    assert res.codes == ["300001", "300002", "300003", "300004", "300005", "300008"]
    m = meth(screens=[{"type": "keep_top_n", "metric": "avg_total_cap", "value": 3, "incumbents_value": 10}])
    res = ir.rebuild(m, store, "2024-12", incumbents=["300010", "300011"])
    assert res.codes == ["300001", "300002", "300003", "300010"]


@pytest.mark.parametrize(
    ("screen", "message"),
    [
        ({"type": "drop_bottom_pct", "metric": "avg_amount", "value": 20, "incumbents_value": 100},
         "0 < incumbents_value < 100"),
        ({"type": "keep_top_n", "metric": "avg_amount", "value": 20, "incumbents_value": 2.5},
         "whole number >= 1 as incumbents_value"),
        ({"type": "drop_bottom_pct", "metric": "avg_amount", "value": 20, "incumbents_value": 10,
          "applies_to": "newcomers"}, "contradict"),
    ],
)
def test_incumbents_value_is_validated(screen: dict[str, Any], message: str) -> None:
    with pytest.raises(IndexReconError, match=message):
        ir.load_methodology(meth(screens=[screen]))


def test_incumbents_value_in_plain_words() -> None:
    m = ir.load_methodology("csi300")
    liquidity = next(s for s in m.screens if s.metric == "avg_amount")
    assert liquidity.describe() == "drop the bottom 50% by avg_amount; incumbents: 40%"
    for name in ("csi500", "csi1000"):
        s = next(s for s in ir.load_methodology(name).screens if s.metric == "avg_amount")
        assert (s.value, s.incumbents_value) == (20, 10)




def test_liquidity_cut_over_the_whole_sample_space(store: Any, tmp_path: Any) -> None:
    """CSI 2000 V1.1: the bottom 10% by turnover of the whole sample space, the members of the
    indices it excludes ranked too, before they are excluded."""
    import yaml

    big = tmp_path / "big.yaml"
    big.write_text(yaml.safe_dump(factory_meth(name="big", selection={"count": 5})))
    liquid = by_amount()
    for scope, cut in (("sample_space", 15), ("remaining", 13)):
        m = meth(universe={"exclude_members_of": [str(big)]},
                 screens=[{"type": "drop_bottom_pct", "metric": "avg_amount", "value": 50, "scope": scope}])
        res = ir.rebuild(m, store, "2024-12", incumbents="none")
        members = {f"300{i:03d}" for i in range(1, 6)}
        pool = [c for c in liquid if c not in members] if scope == "remaining" else liquid
        assert set(res.codes) == set(pool[:cut]) - members, scope


def test_csi2000_v11_is_a_dated_version() -> None:
    m = ir.load_methodology("csi2000")
    old, new = m.for_date(dt.date(2023, 6, 12)), m.for_date(dt.date(2024, 12, 16))
    assert [(s.type, s.value) for s in old.screens[1:]] == [("drop_top_n", 1800), ("drop_bottom_pct", 20)]
    assert [(s.type, s.value, s.scope) for s in new.screens[1:]] == [
        ("drop_bottom_pct", 10, "sample_space"), ("drop_top_n", 1500, "sample_space")]
    assert new.universe.listing_age_by_board["bse"].min_age.months == 24
