"""Official incumbents older than the previous review are rolled forward through the reviews
since, with the methodology's own rules, and say so; `official-strict` refuses (issue 14,
item 2). On a hand-made store whose answers follow from the inputs, and on the real store."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import indexrecon as ir
from factory import S, make_store
from indexrecon.cli.main import main
from indexrecon.errors import StoreError

D = dt.date
# ten stocks, caps 10bn .. 1bn by code: the pure ranking is 300001, 300002, ...
STOCKS = [S(f"300{i:03d}", cap=(11 - i) * 1e9) for i in range(1, 11)]
BOTTOM5 = [f"300{i:03d}" for i in range(6, 11)]
METH: dict[str, Any] = {
    "name": "t_roll",
    "index_code": "T00001",
    "title": "Roll-forward test",
    "universe": {"boards": ["chinext"]},
    "lookback": {"months": 6},
    # one change per review (20% of 5 places), so each review rolled through shows
    "selection": {"rank_by": "avg_total_cap", "count": 5, "max_changes_pct": 20},
    "weighting": {"method": "total_cap"},
    "schedule": {"review_months": [6, 12]},
}


def _store(path: Path, kind: str, on: dt.date) -> Path:
    make_store(path, STOCKS)
    with ir.open_store(path, read_only=False) as st:
        if kind == "weights":
            st.con.executemany("INSERT INTO official_weights VALUES ('T00001', ?, ?, 0.2)",
                               [[on, c] for c in BOTTOM5])
        else:  # CSI-style membership history: intervals that end with the data
            st.con.executemany("INSERT INTO index_membership VALUES ('T00001', ?, DATE '2023-01-02', ?)",
                               [[c, on] for c in BOTTOM5])
    return path


@pytest.fixture(scope="module", params=["weights", "membership"])
def stale(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    p = _store(tmp_path_factory.mktemp("roll") / "s.duckdb", request.param, D(2024, 3, 29))
    st = ir.open_store(p)
    yield st
    st.close()


@pytest.mark.parametrize("mode", ["auto", "official"])
def test_stale_list_is_rolled_through_the_reviews_since(stale, mode: str) -> None:
    res = ir.simulate_review(METH, stale, "2025-06", incumbents=mode)
    # 2024-06 adds 300001 for the weakest incumbent 300010; 2024-12 adds 300002 for 300009
    assert res.incumbents == ["300001", "300002", "300006", "300007", "300008"]
    assert res.incumbents_source == "official 2024-03-29, rolled through 2024-06, 2024-12"
    (w,) = [w for w in res.warnings if w.startswith("incumbents:")]
    assert "2024-03-29" in w and "2024-06, 2024-12" in w and "official-strict" in w
    # this review then makes its own one change
    assert res.adds["code"].tolist() == ["300003"] and res.deletes["code"].tolist() == ["300008"]


def test_strict_mode_refuses_a_stale_list(stale) -> None:
    with pytest.raises(StoreError, match=r"of 2024-03-29, before the 2024-12 review .*skips 2024-06, 2024-12"):
        ir.simulate_review(METH, stale, "2025-06", incumbents="official-strict")


def test_a_current_list_is_taken_as_it_is(tmp_path: Path) -> None:
    # a list taken after the previous review's effective date (2024-12-16) is current
    with ir.open_store(_store(tmp_path / "s.duckdb", "weights", D(2025, 1, 31))) as st:
        for mode in ("official", "official-strict"):
            res = ir.simulate_review(METH, st, "2025-06", incumbents=mode)
            assert res.incumbents == BOTTOM5
            assert res.incumbents_source == "official members before 2025-06-16 (list of 2025-01-31)"
            assert not [w for w in res.warnings if w.startswith("incumbents:")]


def test_cli_says_so_in_every_format(tmp_path: Path) -> None:
    p = _store(tmp_path / "s.duckdb", "weights", D(2024, 3, 29))
    meth = tmp_path / "t_roll.yaml"
    meth.write_text(json.dumps(METH))
    runner = CliRunner()
    args = ["rebalance", str(meth), "--review", "2025-06", "--store", str(p)]
    for fmt in ("table", "json", "csv"):
        r = runner.invoke(main, [*args, "--format", fmt])
        assert r.exit_code == 0, r.output
        assert "rolled forward through the review(s) 2024-06, 2024-12" in r.stderr, fmt
    doc = json.loads(runner.invoke(main, [*args, "--format", "json"]).stdout)
    assert doc["incumbents"] == "official 2024-03-29, rolled through 2024-06, 2024-12"
    assert doc["incumbents_official_date"] == "2024-03-29"
    assert doc["incumbents_rolled_through"] == ["2024-06", "2024-12"]
    r = runner.invoke(main, [*args, "--incumbents", "official-strict"])
    assert r.exit_code == 2 and r.stderr.startswith("error: the newest official T00001 list")


@pytest.mark.parametrize(("name", "list_date"), [("chinext", "2025-04-30"), ("csi300", "2025-05-31")])
def test_real_store_next_review_rolls_the_official_list(real_store, name: str, list_date: str,
                                                       reliability_log) -> None:
    res = ir.simulate_review(name, real_store)  # the next review: 2026-12
    assert res.dates.review == "2026-12"
    assert res.incumbents_source == f"official {list_date}, rolled through 2025-06, 2025-12, 2026-06"
    assert res.header()["incumbents_rolled_through"] == ["2025-06", "2025-12", "2026-06"]
    # the incumbents are the 2026-06 review's result from the rolled list, not the old list
    prev = ir.rebuild(name, real_store, review="2026-06")
    assert res.incumbents == prev.codes
    with pytest.raises(StoreError, match="skips 2025-06, 2025-12, 2026-06"):
        ir.simulate_review(name, real_store, incumbents="official-strict")
    reliability_log("silently wrong result (issue 14)", f"rebalance {name} 2026-12 with an official list of {list_date}",
                    "rolled forward through 2025-06, 2025-12, 2026-06 and said so; official-strict refuses (exit 2)")


def test_simulated_incumbents_roll_each_review_under_its_own_dated_rules(tmp_path: Path) -> None:
    # from 2024-12 the index takes the smallest stocks, at most one change per review: the
    # reviews before it (under the base rules) hold the largest five
    meth = {**METH, "index_code": None, "selection": {"rank_by": "avg_total_cap", "count": 5},
            "versions": [{"effective_from": "2024-12-01", "note": "smallest first",
                          "changes": {"selection": {"order": "asc", "max_changes_pct": 20}}}]}
    with ir.open_store(make_store(tmp_path / "s.duckdb", STOCKS)) as st:
        res = ir.simulate_review(meth, st, "2025-06", incumbents="simulate")
    # 2024-12 swapped one: the smallest (300010) in, the largest (300001) out
    assert res.incumbents == ["300002", "300003", "300004", "300005", "300010"]
