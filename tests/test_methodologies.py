"""The methodology library (CSI, SSE, STAR, ChiNext families, micro-cap) and the rule
vocabulary it added: every built-in loads, describes itself and runs on a small store;
members_of, cycles, per-board listing ages, sample-space screens exempting incumbents,
composite ranks, industry-balanced selection, external-data screens and tilts, data gaps,
the daily micro-cap path."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
import yaml

import indexrecon as ir
from factory import S, make_store, meth, three_industries
from indexrecon.data.store import BOARD_LABELS
from indexrecon.engine import run_review
from indexrecon.errors import DependencyCycleError, MethodologyError
from indexrecon.methodology.paths import builtin_dir
from indexrecon.present.describe import describe_methodology

D = dt.date
BUILTINS = ir.list_methodologies()
EXPECTED = {
    "chinext", "chinext50", "chinext_composite", "csi300", "csi500", "csi1000", "csi2000",
    "csi_a500", "sse180", "sse50", "star50", "microcap400", "sse_composite", "szse_component", "chinext200",
    "chinext_large", "chinext_growth",
}
BOARD_PREFIX = {"sh_main": "600", "sz_main": "000", "chinext": "300", "star": "688", "bse": "920"}


def market() -> list[S]:
    """24 stocks per board (BSE 6), caps falling with the code, turnover cycling, three
    industries; a few recent listings."""
    out = []
    for board, prefix in BOARD_PREFIX.items():
        n = 6 if board == "bse" else 24
        for i in range(1, n + 1):
            out.append(S(f"{prefix}{i:03d}", cap=(60 - i) * 1e9 * (1.3 if board == "sh_main" else 1.0),
                         amount=((i * 7) % 24 + 1) * 1e6, board=board, ff_ratio=0.4,
                         industry=["630000", "270000", "370000"][i % 3]))
    out += [
        S("301901", cap=500e9, board="chinext", list_date=D(2024, 5, 6)),  # < 1 year, > 1 quarter
        S("688901", cap=500e9, board="star", list_date=D(2024, 5, 6)),
        S("600901", cap=400e9, board="sh_main", list_date=D(2024, 9, 2)),  # < 1 quarter, huge
    ]
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Any:
    p = tmp_path_factory.mktemp("meth") / "m.duckdb"
    make_store(p, market())
    st = ir.open_store(p)
    yield st
    st.close()


def write(tmp_path: Path, name: str, **over: Any) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(meth(name=name, **over)))
    return p


def codes(prefix: str, idx: list[int]) -> list[str]:
    return [f"{prefix}{i:03d}" for i in idx]


# ---------------------------------------------------------------------------------------
# Every built-in
# ---------------------------------------------------------------------------------------
def test_the_library_is_shipped() -> None:
    assert set(BUILTINS) >= EXPECTED


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_loads_describes_itself_and_quotes_its_source(name: str) -> None:
    m = ir.load_methodology(name)
    text = describe_methodology(m)
    assert m.title in text and "Selection:" in text
    notes = m.rule_notes()
    assert all(isinstance(n, str) and n for n in notes)
    for v in m.versions:  # every effective-dated version merges into valid rules
        assert m.for_date(v.effective_from).versions == []
    source = (builtin_dir() / f"{name}.yaml").read_text(encoding="utf-8")
    if m.provider != "indexrecon (approximation)":
        # the provider's rule text is quoted next to the keys (as chinext.yaml does)
        assert re.search(r"[\u4e00-\u9fff]", source), f"{name}: no quoted rule text"
        assert m.index_code
    else:
        assert "approximation" in m.title.lower()


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_runs_on_a_small_store(name: str, small: Any) -> None:
    m = ir.load_methodology(name)
    if m.schedule.frequency == "daily":
        res = run_review(m, small, as_of=D(2024, 12, 2), incumbents="none")
    else:
        res = run_review(m, small, "2024-12", incumbents="none")
    cons = res.constituents
    assert len(cons) <= m.selection.count
    if not m.universe.exclude_members_of:  # (CSI 300 takes every SH/SZ stock of this small market)
        assert len(cons) > 0
    if len(cons):
        assert set(cons["board"]) <= {BOARD_LABELS[b] for b in res.methodology.universe.boards}  # rules in force
        assert abs(cons["weight"].dropna().sum() - 1) < 1e-9
    else:
        assert any("only 0 stocks passed" in w for w in res.warnings)
    for dep in m.universe.members_of:  # drawn from the members of the index it depends on
        dres = run_review(dep, small, latest(dep, res), incumbents="none", allow_provisional=True)
        assert set(res.codes) <= set(dres.codes)
    for dep in m.universe.exclude_members_of:
        dres = run_review(dep, small, latest(dep, res), incumbents="none", allow_provisional=True)
        assert not set(res.codes) & set(dres.codes)


def latest(dep: str, res: Any) -> str:
    from indexrecon.engine import context
    from indexrecon.methodology.schedule import latest_review_in_force

    return latest_review_in_force(ir.load_methodology(dep), context(res.store).cal, res.dates.effective)


def test_csi_chain_runs_in_one_call_and_the_indices_are_disjoint(small: Any) -> None:
    from indexrecon.engine import context

    res = run_review("csi1000", small, "2024-12", incumbents="none")
    ctx = context(small)
    names = {v.methodology.name for v in ctx.cache.values()}
    assert {"csi300", "csi500", "csi1000"} <= names  # the dependencies were reviewed first
    c300 = set(run_review("csi300", small, "2024-12", incumbents="none").codes)
    c500 = set(run_review("csi500", small, "2024-12", incumbents="none").codes)
    # 98 eligible SH/SZ stocks (688901 is too young): CSI 300 takes the more liquid half ...
    assert len(c300) == 49
    # ... and every one of them is in the top 300 of the sample space, closed to incumbents too
    assert not c500 and not res.codes
    r500 = run_review("csi500", small, "2024-12", incumbents="none")
    member = sorted(c300)[0]
    assert "member of csi300 at this review" in r500.explain(member)
    other = sorted(set(r500.candidates["code"]) - c300 - {"688901"})[0]
    why = r500.explain(other)
    assert "drop the top 300 by avg_total_cap of the sample space: rank" in why and "newcomers only" not in why
    # incumbents are not exempt ("在样本空间中剔除...前300名的证券" names no exception): all deleted
    inc = sorted(set(r500.candidates["code"]) - c300)[:20]
    r500i = run_review("csi500", small, "2024-12", incumbents=inc)
    assert not r500i.codes and len(r500i.deletes) == 20
    assert "drop the top 300 by avg_total_cap of the sample space: rank" in r500i.explain(inc[0])


def test_csi300_sample_space_listing_ages(small: Any) -> None:
    res = run_review("csi300", small, "2024-12", incumbents="none")  # cutoff 2024-10-31
    # ChiNext needs a year in CSI 300 (CSI's 2021 notice), a quarter in CSI 1000 (listed 2024-05)
    assert "301901" not in res.codes and "needs 12 months on board chinext" in res.explain("301901")
    r1000 = run_review("csi1000", small, "2024-12", incumbents="none")
    assert "listed" not in r1000.explain("301901")
    assert "688901" not in res.codes and "needs 12 months on board star" in res.explain("688901")
    # listed two months before the cutoff, but among the 30 largest since listing: no minimum
    assert "600901" in res.codes
    assert not any(c.startswith("920") for c in res.candidates["code"])  # BSE not in the sample space


def test_sse180_rule_change_is_effective_dated() -> None:
    m = ir.load_methodology("sse180")
    old, new = m.for_date(D(2024, 6, 17)), m.for_date(D(2024, 12, 16))
    assert old.selection.rank_by == "composite_rank" and old.selection.industry_balance is not None
    assert new.selection.rank_by == "avg_total_cap" and new.selection.industry_balance is None
    assert new.weighting.caps.single_pct == 10 and new.weighting.caps.top_k.k == 5  # type: ignore[union-attr]
    assert [s.metric for s in new.screens] == ["quality_flag", "esg_grade_csi", "avg_amount"]


# ---------------------------------------------------------------------------------------
# The vocabulary
# ---------------------------------------------------------------------------------------
def test_members_of_draws_from_another_index(small: Any, tmp_path: Path) -> None:
    a = write(tmp_path, "idx_a", selection={"count": 10})
    b = write(tmp_path, "idx_b", universe={"members_of": [str(a)]},
              selection={"rank_by": "avg_amount", "count": 4})
    res = ir.rebuild(b, small, "2024-12", incumbents="none")
    top10 = ["301901", *codes("300", list(range(1, 10)))]  # 301901 is the largest
    assert set(res.codes) <= set(top10) and len(res.codes) == 4
    assert "not a member of" in res.explain("300015")
    # the four most traded of the ten
    amounts = {s.code: s.amount for s in market() if s.code in top10}
    assert len(amounts) == 10
    assert res.codes == sorted(sorted(amounts, key=lambda c: (-amounts[c], c))[:4])


def test_dependency_cycles_are_refused(small: Any, tmp_path: Path) -> None:
    a = tmp_path / "cyc_a.yaml"
    b = write(tmp_path, "cyc_b", universe={"members_of": [str(a)]})
    a.write_text(yaml.safe_dump(meth(name="cyc_a", universe={"exclude_members_of": [str(b)]})))
    with pytest.raises(DependencyCycleError, match="cyc_b -> cyc_a -> cyc_b"):
        ir.rebuild(b, small, "2024-12", incumbents="none")
    with pytest.raises(MethodologyError, match="own members"):
        ir.load_methodology(meth(name="self", universe={"members_of": ["self"]}))
    with pytest.raises(MethodologyError, match="both in members_of and exclude_members_of"):
        ir.load_methodology(meth(universe={"members_of": ["x"], "exclude_members_of": ["x"]}))


def test_per_board_listing_ages(tmp_path: Path) -> None:
    cut = D(2024, 10, 31)
    stocks = [
        S("600001", cap=10e9, board="sh_main", list_date=D(2024, 6, 3)),  # ~5 months
        S("600002", cap=90e9, board="sh_main", list_date=D(2024, 9, 2)),  # 2 months, the largest
        S("600003", cap=5e9, board="sh_main", list_date=D(2024, 9, 2)),  # 2 months, small
        S("688001", cap=10e9, board="star", list_date=D(2024, 2, 1)),  # 9 months
        S("688002", cap=10e9, board="star", list_date=D(2023, 6, 1)),  # 17 months
        S("300001", cap=10e9, board="chinext", list_date=D(2024, 6, 3)),
    ]
    make_store(tmp_path / "age.duckdb", stocks)
    with ir.open_store(tmp_path / "age.duckdb") as st:
        m = meth(universe={
            "boards": ["sh_main", "star", "chinext"],
            "min_listing_age": {"months": 3},
            "new_listing_exception": {"min_age": {"months": 0}, "top_n": 1, "metric": "avg_total_cap"},
            "listing_age_by_board": {"star": {"min_age": {"months": 12}}},
        })
        res = ir.rebuild(m, st, "2024-12", incumbents="none")
        assert res.dates.cutoff == cut
        assert sorted(res.codes) == ["300001", "600001", "600002", "688002"]
        assert "needs 12 months on board star" in res.explain("688001")
        assert "needs 3 months" in res.explain("600003")
    with pytest.raises(MethodologyError, match=r"not in universe\.boards"):
        ir.load_methodology(meth(universe={"listing_age_by_board": {"star": {"min_age": {"months": 1}}}}))


def test_sample_space_screen_and_incumbent_exemption(small: Any, tmp_path: Path) -> None:
    a = write(tmp_path, "big5", selection={"count": 5})
    screen = {"type": "drop_top_n", "metric": "avg_total_cap", "value": 8, "scope": "sample_space"}
    b = write(tmp_path, "next5", universe={"exclude_members_of": [str(a)]}, screens=[screen],
              selection={"count": 5})
    res = ir.rebuild(b, small, "2024-12", incumbents="none")
    # ChiNext ranks 1-5 are big5's; 6-8 are in the top 8 of the sample space (ranked WITH the
    # big5 members, not after removing them); 301901 (listed 2024-05) is rank 1 overall
    assert res.codes == codes("300", [8, 9, 10, 11, 12])
    assert "of the sample space" in res.explain("300006")
    exempt = write(tmp_path, "next5x", universe={"exclude_members_of": [str(a)]},
                   screens=[{**screen, "applies_to": "newcomers"}], selection={"count": 5})
    res2 = ir.rebuild(exempt, small, "2024-12", incumbents=["300006"])
    assert "300006" in res2.codes  # an incumbent inside the top 8 stays
    assert "300007" not in res2.codes  # a newcomer there does not enter


def test_composite_rank(tmp_path: Path) -> None:
    stocks = [S("300001", cap=30e9, amount=1e6), S("300002", cap=20e9, amount=3e6),
              S("300003", cap=10e9, amount=2e6), S("300004", cap=5e9, amount=9e6)]
    make_store(tmp_path / "c.duckdb", stocks)
    with ir.open_store(tmp_path / "c.duckdb") as st:
        m = meth(selection={"rank_by": "composite_rank", "count": 2,
                            "composite": [{"metric": "avg_total_cap", "weight": 2}, {"metric": "avg_amount"}]})
        res = ir.rebuild(m, st, "2024-12", incumbents="none")
        # cap ranks 1,2,3,4 and amount ranks 4,2,3,1: (2*cap + amount) / 3 = 2, 2, 3, 3
        assert res.codes == ["300001", "300002"]
        assert list(res.candidates.sort_values("code")["composite_rank"]) == pytest.approx([2, 2, 3, 3])
    with pytest.raises(MethodologyError, match="go together"):
        ir.load_methodology(meth(selection={"rank_by": "composite_rank"}))


def test_industry_balanced_selection_with_leaders(tmp_path: Path) -> None:
    # industry A: 50% of the cap in 5 stocks, B: 30% in 3, C: 20% in 4 (one small level-3 leader)
    p = three_industries(tmp_path / "ind.duckdb")
    con = duckdb.connect(str(p))
    con.execute("UPDATE industry SET sw_l3_code = sw_l1_code")
    con.execute("UPDATE industry SET sw_l3_code = 'C3' WHERE code = '300204'")  # its own level-3 industry
    con.close()
    with ir.open_store(p) as st:
        m = meth(selection={"count": 6, "industry_balance": {"level": "sw_l1", "allocate_by": "avg_total_cap"}})
        res = ir.rebuild(m, st, "2024-12", incumbents="none")
        cons = res.constituents
        assert cons.groupby("sw_l1_code").size().to_dict() == {"A00000": 3, "B00000": 2, "C00000": 1}
        led = ir.rebuild(meth(selection={"count": 6, "industry_balance": {
            "level": "sw_l1", "allocate_by": "avg_total_cap", "leaders": "sw_l3"}}), st, "2024-12", incumbents="none")
        assert "300204" in led.codes and "largest of its industry" in led.explain("300204")
        assert led.constituents.groupby("sw_l1_code").size().to_dict() == {"A00000": 3, "B00000": 1, "C00000": 2}


def test_screens_on_missing_provider_data_warn_and_apply_when_present(tmp_path: Path) -> None:
    stocks = [S(f"3000{i:02d}", cap=(20 - i) * 1e9) for i in range(1, 11)]
    p = tmp_path / "ext.duckdb"
    make_store(p, stocks)
    m = meth(screens=[{"type": "min_value", "metric": "stock_connect", "value": 1, "note": "Stock Connect"}])
    with ir.open_store(p) as st:
        res = ir.rebuild(m, st, "2024-12", incumbents="none")
        assert len(res.codes) == 10
        assert any("skipped: the store has no stock_connect data" in w and "Stock Connect" in w
                   for w in res.warnings)
        assert any("no status data" in w for w in res.warnings)  # ST exclusion cannot apply
    con = duckdb.connect(str(p))
    con.execute("CREATE TABLE stock_attributes (code VARCHAR, date DATE, attribute VARCHAR, value DOUBLE)")
    con.execute("INSERT INTO stock_attributes SELECT code, DATE '2024-01-02', 'stock_connect', "
                "CASE WHEN code <= '300005' THEN 1 ELSE 0 END FROM securities")
    con.execute("INSERT INTO stock_attributes VALUES ('300001', DATE '2024-11-01', 'stock_connect', 0)")  # after the cutoff
    con.execute("INSERT INTO status VALUES ('300002', DATE '2024-01-01', NULL, 'ST')")
    con.close()
    with ir.open_store(p) as st:
        res = ir.rebuild(m, st, "2024-12", incumbents="none")
        assert res.codes == ["300001", "300003", "300004", "300005"]
        # ST applied; the delisting-arrangement exclusion still has no data and says so
        assert not any("skipped" in w or ("no status data" in w and "ST / *ST" in w) for w in res.warnings)
        assert any("no status data" in w and "delisting-arrangement" in w for w in res.warnings)


def test_data_gaps_do_not_delete_incumbents(tmp_path: Path) -> None:
    stocks = [S(f"3000{i:02d}", cap=(20 - i) * 1e9) for i in range(1, 11)]
    p = tmp_path / "gap.duckdb"
    make_store(p, stocks)
    con = duckdb.connect(str(p))
    con.execute("DELETE FROM shares WHERE code = '300002'")  # no share capital: no market cap
    con.close()
    with ir.open_store(p) as st:
        res = ir.rebuild(meth(selection={"count": 4}), st, "2024-12", incumbents=["300002", "300099", "300001"])
        assert "300002" in res.codes and "a gap in the store's data" in res.explain("300002")
        assert "300099" in res.codes  # unknown to the store: kept
        assert len(res.codes) == 4 and res.codes == ["300001", "300002", "300003", "300099"]
        assert any("have no avg_total_cap data" in w for w in res.warnings)
        assert any("unknown to the store" in w for w in res.warnings)
        assert any("cannot be weighted" in w for w in res.warnings)
        assert abs(res.constituents["weight"].sum() - 1) < 1e-9
        # a newcomer without the data cannot enter
        res2 = ir.rebuild(meth(selection={"count": 4}), st, "2024-12", incumbents="none")
        assert "300002" not in res2.codes


def test_official_incumbents_fall_back_for_dependencies_without_official_data(small: Any, tmp_path: Path) -> None:
    p = tmp_path / "off.duckdb"
    make_store(p, market())
    con = duckdb.connect(str(p))
    con.execute("INSERT INTO index_membership SELECT '000016', code, DATE '2024-06-17', NULL FROM securities "
                "WHERE code LIKE '600%' AND code < '600011'")
    con.close()
    with ir.open_store(p) as st:
        res = run_review("sse50", st, "2024-12", incumbents="official")
        assert res.incumbents_source.startswith("official")
        assert any(w.startswith("sse180: the store has no official 000010 membership") for w in res.warnings)


# ---------------------------------------------------------------------------------------
# Daily methodologies
# ---------------------------------------------------------------------------------------
def test_microcap_daily_path(tmp_path: Path) -> None:
    stocks = [S(f"600{i:03d}", cap=i * 1e9, board="sh_main") for i in range(1, 31)]
    p = tmp_path / "micro.duckdb"
    make_store(p, stocks)
    con = duckdb.connect(str(p))
    # 600030 (the largest) collapses from 2024-12-03: the smallest from the next day on
    con.execute("UPDATE bars SET close = 0.01 WHERE code = '600030' AND date >= DATE '2024-12-03'")
    con.close()
    m = ir.load_methodology("microcap400").with_changes(selection={"count": 10})
    with ir.open_store(p) as st:
        t = time.perf_counter()
        days = [D(2024, 12, d) for d in (2, 3, 4, 5, 6)]
        results = [run_review(m, st, as_of=d) for d in days]
        elapsed = time.perf_counter() - t
        assert elapsed < 20  # five days, each with its previous day, on a small store
        first, before, after = results[0], results[1], results[2]
        assert first.codes == [f"600{i:03d}" for i in range(1, 11)]
        assert np.allclose(first.constituents["weight"], 0.1)
        assert before.codes == first.codes and len(before.adds) == 0  # uses the close of 12-02
        assert "600030" in after.codes and list(after.adds["code"]) == ["600030"]
        assert list(after.deletes["code"]) == ["600010"]
        assert after.incumbents_source.startswith("simulated: previous day 2024-12-03")
        assert after.dates.cutoff == D(2024, 12, 3) and after.dates.effective == D(2024, 12, 4)
        nxt = ir.simulate_review(m, st)  # `rebalance`: the next trading day after the data
        assert nxt.dates.effective == D(2026, 1, 1) and nxt.dates.cutoff == D(2025, 12, 31)
        assert run_review(m, st, "2024-12", incumbents="none").dates.effective == D(2024, 12, 2)


def test_chinext_composite_holds_every_eligible_stock(tmp_path: Path) -> None:
    stocks = [S(f"3000{i:02d}", cap=(20 - i) * 1e9) for i in range(1, 11)]
    stocks[0].status = [(D(2024, 1, 1), None, "ST")]
    stocks.append(S("301500", cap=50e9, list_date=D(2024, 11, 18)))  # 10 sessions to 11-29
    p = tmp_path / "comp.duckdb"
    make_store(p, stocks)
    con = duckdb.connect(str(p))
    con.execute("DELETE FROM shares WHERE code = '300003'")  # unrankable, still a constituent
    con.close()
    with ir.open_store(p) as st:
        on_10th = run_review("chinext_composite", st, as_of=D(2024, 11, 29), incumbents="none")
        assert len(on_10th.codes) == 10 and "300001" in on_10th.codes and "300003" in on_10th.codes
        assert "301500" not in on_10th.codes
        on_11th = run_review("chinext_composite", st, as_of=D(2024, 12, 2), incumbents="none")
        assert "301500" in on_11th.codes and len(on_11th.codes) == 11
        assert not any("places filled" in w for w in on_11th.warnings)


def _attributes(p: Path, rows: list[tuple[str, str, str, float]]) -> None:
    con = duckdb.connect(str(p))
    con.execute("CREATE TABLE IF NOT EXISTS stock_attributes (code VARCHAR, date DATE, attribute VARCHAR, value DOUBLE)")
    con.executemany("INSERT INTO stock_attributes VALUES (?, CAST(? AS DATE), ?, ?)", rows)
    con.close()


def test_selection_tilt_warns_without_the_factor_and_tilts_with_it(tmp_path: Path) -> None:
    stocks = [S(f"3000{i:02d}", cap=(20 - i) * 1e9) for i in range(1, 11)]
    p = tmp_path / "tilt.duckdb"
    make_store(p, stocks)
    m = meth(selection={"rank_by": "avg_total_cap", "count": 3, "tilt": {"metric": "growth_tilt", "note": "CNI tilt"}})
    with ir.open_store(p) as st:
        res = ir.rebuild(m, st, "2024-12", incumbents="none")
        assert res.codes == ["300001", "300002", "300003"]  # untilted: the three largest
        assert any("tilt by growth_tilt [CNI tilt] not applied: the store has no growth_tilt data" in w
                   for w in res.warnings)
    # 300009 (cap 11bn) x 3 outranks 300001 (19bn); 300002 x 0.5 falls back; a factor dated
    # after the cutoff is not seen; stocks without a factor rank untilted
    _attributes(p, [("300009", "2024-06-03", "growth_tilt", 3.0), ("300002", "2024-06-03", "growth_tilt", 0.5),
                    ("300010", "2024-11-04", "growth_tilt", 9.0)])
    with ir.open_store(p) as st:
        res = ir.rebuild(m, st, "2024-12", incumbents="none")
        assert res.codes == ["300001", "300003", "300009"]
        ranks = res.candidates.set_index("code")["rank"]
        assert ranks["300009"] == 1 and ranks["300002"] > 3
        # the stocks ranked untilted are named (a factor after the cutoff counts as none)
        gap = [w for w in res.warnings if "lack growth_tilt" in w]
        assert gap == ["8 ranked stocks (e.g. 300001, 300003, 300004) lack growth_tilt at the cutoff: "
                       "ranked untilted (factor 1)"]
        assert not any("tilt by growth_tilt" in w for w in res.warnings)
        cons = res.constituents.set_index("code")
        assert cons.loc["300009", "growth_tilt"] == 3.0  # the factor is shown beside the untilted cap
        assert cons.loc["300009", "avg_total_cap"] < cons.loc["300001", "avg_total_cap"]
        # the rebalance simulation ranks by the same tilted cap: without noise it is the rule
        from indexrecon.analysis.forecast import forecast_review
        fc = forecast_review(res, paths=3, sigma_shares=0, sigma_residual=0, epsilon=0)
        assert fc.simulated and fc.probability == {c: float(c in res.codes) for c in fc.candidate_codes}
    with pytest.raises(MethodologyError, match="tilt"):
        ir.load_methodology(meth(selection={"rank_by": "composite_rank", "composite": [{"metric": "avg_amount"}],
                                            "tilt": {"metric": "growth_tilt"}}))


def test_chinext_growth_and_large_cap_warn_for_the_data_the_store_lacks(tmp_path: Path) -> None:
    stocks = [S(f"300{i:03d}", cap=(200 - i) * 1e9, amount=((i * 7) % 24 + 1) * 1e6, ff_ratio=0.5)
              for i in range(1, 121)]
    p = tmp_path / "cn.duckdb"
    make_store(p, stocks)
    growth = ir.load_methodology("chinext_growth")
    large = ir.load_methodology("chinext_large")
    # the 2024 revision: tilted ranking, no buffer, 10% / top-five 40% caps; before it the
    # growth-and-momentum score ranks
    new = growth.for_date(D(2024, 1, 3))
    assert new.selection.tilt is not None and new.selection.tilt.metric == "growth_tilt"
    assert new.selection.buffer is None and new.weighting.caps.single_pct == 10
    assert growth.selection.composite and growth.selection.composite[0].metric == "growth_momentum_score"
    with ir.open_store(p) as st:
        g = ir.rebuild(growth, st, "2024-12", incumbents="none")
        assert len(g.codes) == 50
        assert any("tilt by growth_tilt" in w and "not applied" in w for w in g.warnings)
        assert any("screen 1" in w and "quality_flag" in w and "skipped" in w for w in g.warnings)
        assert g.constituents["weight"].max() <= 0.10 + 1e-9
        old = ir.rebuild(growth, st, "2023-09", incumbents="none")
        assert any("composite term growth_momentum_score orders no stock" in w for w in old.warnings)
        # without the score the float cap decides, largest first
        assert old.candidates.sort_values("rank")["code"].iloc[0] == "300001"
        lc = ir.rebuild(large, st, "2024-12", incumbents="none")
        assert len(lc.codes) == 50
        for metric in ("pledge_ratio", "goodwill_ratio", "quality_flag"):
            assert any(metric in w and "skipped" in w for w in lc.warnings), metric
    # with the data, the screens and the tilt apply
    _attributes(p, [("300001", "2024-06-03", "pledge_ratio", 90.0), ("300002", "2024-06-03", "goodwill_ratio", 60.0),
                    ("300003", "2024-06-03", "goodwill_ratio", 10.0)])
    with ir.open_store(p) as st:
        lc = ir.rebuild(large, st, "2024-12", incumbents="none")
        assert "300001" not in lc.codes and "300002" not in lc.codes and "300003" in lc.codes
        assert not any("pledge_ratio" in w or "goodwill_ratio" in w for w in lc.warnings)


def test_csi_a500_leaders_and_change_cap_on_the_demo_store(demo_store: Any) -> None:
    """The leaders' rank line keeps exactly the leaders that rank within it; a change cap
    with industry balance keeps every industry's places and lets in at most the cap's newcomers
    beyond the incumbents that left the ranking."""
    a500 = ir.load_methodology("csi_a500")
    plain = a500.with_changes({"selection": {"buffer": None, "max_changes_pct": None,
                                             "industry_balance": {"leaders_within": None}}})

    def leaders(res: Any) -> dict[str, int]:
        c = res.candidates
        c = c[c.selected & c.reason.str.contains("largest of its industry")]
        return dict(zip(c.code, c["rank"], strict=True))

    first = ir.rebuild(plain, demo_store, "2024-12", incumbents="none")
    every = leaders(first)
    lined = leaders(ir.rebuild(plain.with_changes({"selection": {"industry_balance": {"leaders_within": 300}}}),
                               demo_store, "2024-12", incumbents="none"))
    assert lined and len(lined) < len(every)
    assert lined == {c: r for c, r in every.items() if r <= 300}

    inc = first.codes
    free = ir.rebuild(plain, demo_store, "2025-06", incumbents=inc)
    capped = ir.rebuild(plain.with_changes({"selection": {"max_changes_pct": 2}}), demo_store, "2025-06",
                        incumbents=inc)
    c = capped.candidates
    adds = c[c.selected & ~c.incumbent].sort_values("rank")
    assert len(adds) < len(set(free.codes) - set(inc))
    # past the 10 best-ranked newcomers (2% of 500) a newcomer enters only where its industry
    # has no displaced incumbent left to take the place back
    displaced = set(c[c.incumbent & ~c.selected & c["rank"].notna()].sw_l1_code)
    assert len(adds) > 10 and not set(adds.sw_l1_code[10:]) & displaced
    kept = c[c.incumbent & c.selected & c.reason.str.contains("kept: at most 10 changes per review")]
    assert len(kept) > 0 and not set(kept.code) & set(free.codes)  # the cap kept them, not the rank
    assert set(free.codes) & set(inc) <= set(capped.codes)  # the cap only keeps more incumbents
    assert (capped.constituents.groupby("sw_l1_code").size().to_dict()
            == free.constituents.groupby("sw_l1_code").size().to_dict())


def test_a_composite_term_with_partial_data_names_the_stocks_ranked_last_on_it(tmp_path: Path) -> None:
    stocks = [S(f"3000{i:02d}", cap=(20 - i) * 1e9) for i in range(1, 6)]
    p = tmp_path / "comp.duckdb"
    make_store(p, stocks)
    _attributes(p, [("300004", "2024-06-03", "growth_momentum_score", 2.0),
                    ("300005", "2024-06-03", "growth_momentum_score", 1.0)])
    m = meth(selection={"rank_by": "composite_rank", "count": 2,
                        "composite": [{"metric": "growth_momentum_score"}, {"metric": "avg_total_cap", "weight": 0.001}]})
    with ir.open_store(p) as st:
        res = ir.rebuild(m, st, "2024-12", incumbents="none")
    assert res.codes == ["300004", "300005"]  # the scored stocks first
    assert ("3 ranked stocks (e.g. 300001, 300002, 300003) lack growth_momentum_score at the cutoff: "
            "ranked last on the composite term growth_momentum_score") in res.warnings
