"""The point-in-time share rule (pit_shares) on a hand-made store: sparse observations carried
as ratios onto the total, the earliest ratio before the first observation (said so), the
A-share ranking metric, per-stock free-float fallbacks, and stores older than a_shares."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

import indexrecon as ir
from factory import S, make_store
from indexrecon import engine
from indexrecon.data import pit_shares

D = dt.date
COLS = "code, effective_date, total_shares, float_shares, free_float_shares, source, a_shares"


def meth(**over: Any) -> dict[str, Any]:
    base = {
        "name": "t", "title": "Test index",
        "universe": {"boards": ["chinext"], "exclude_st": False},
        "lookback": {"months": 6},
        "selection": {"rank_by": "avg_total_cap", "count": 3},
        "weighting": {"method": "free_float_cap"},
        "schedule": {"review_months": [6, 12]},
    }
    base.update(over)
    return base


def _stocks() -> list[S]:
    return [
        S("300001", cap=30e9, ff_ratio=0.5),  # an A+H company: a third of its shares are A shares
        S("300002", cap=20e9, ff_ratio=0.5),
        S("300003", cap=15e9, ff_ratio=0.5),
        S("300004", cap=12e9),  # observed once, mid-2024, then a bonus issue
        S("300005", cap=11e9),  # first observed after the 2024-12 review's cutoff
        S("300006", cap=10e9),  # never observed
    ]


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("pit") / "pit.duckdb"
    make_store(p, _stocks())
    rows = [
        ("300001", D(2023, 1, 2), 3e9, 1e9, 0.5e9, "obs", 1e9),
        ("300004", D(2024, 3, 1), 1.2e9, 0.6e9, 0.48e9, "obs", 1.2e9),
        ("300004", D(2024, 6, 3), 2.4e9, None, None, "bonus", None),
        ("300005", D(2025, 6, 2), 1.1e9, 0.55e9, 0.22e9, "obs", 1.1e9),
    ]
    with ir.open_store(p, read_only=False) as st:
        st.con.executemany(f"INSERT INTO shares ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        # the factory's row of the list day: total only for the stocks observed later
        st.con.execute("UPDATE shares SET a_shares = total_shares WHERE code IN ('300002', '300003')")
    return p


def test_view_carries_ratios_onto_the_total(path: Path) -> None:
    with ir.open_store(path) as st:
        pit_shares.ensure(st.con)
        rows = st.con.execute(
            "SELECT effective_date, total_shares, float_shares, free_float_shares, a_shares, ff_from "
            "FROM shares_pit WHERE code = '300004' ORDER BY effective_date").fetchall()
    # before the first observation (the list day): its ratios (0.5, 0.4), dated after the row
    assert rows[0][0] == D(2015, 1, 5) and rows[0][2:5] == (0.6e9, 0.48e9, 1.2e9)
    assert rows[0][5] == D(2024, 3, 1)
    assert rows[1] == (D(2024, 3, 1), 1.2e9, 0.6e9, 0.48e9, 1.2e9, D(2024, 3, 1))
    # a bonus issue doubles the total: the observed ratios follow it
    assert rows[2] == (D(2024, 6, 3), 2.4e9, 1.2e9, 0.96e9, 2.4e9, D(2024, 3, 1))


def test_never_observed_stays_null(path: Path) -> None:
    with ir.open_store(path) as st:
        pit_shares.ensure(st.con)
        row = st.con.execute("SELECT free_float_shares, ff_from, a_shares FROM shares_pit WHERE code = '300006'").fetchall()
    assert row == [(None, None, None)]


def test_ranking_on_a_shares_and_company_total(path: Path) -> None:
    with ir.open_store(path) as st:
        res = ir.rebuild(meth(), st, "2024-12", incumbents="none")
        ranked = res.table.to_pandas().sort_values("rank").dropna(subset=["rank"])
        # 300001's A shares are a third of its 30 bn: 10 bn ranks it below 300002 ... 300005
        # (300004 doubled by its bonus issue of June: 24 bn from then)
        assert list(ranked["code"])[:4] == ["300004", "300002", "300003", "300005"]
        a1 = float(ranked.loc[ranked["code"] == "300001", "avg_total_cap"].iloc[0])
        c1 = float(ranked.loc[ranked["code"] == "300001", "avg_company_cap"].iloc[0])
        assert a1 == pytest.approx(10e9) and c1 == pytest.approx(30e9)
        assert any(w.startswith("avg_total_cap ranks on A-share capital") for w in res.warnings)
        res2 = ir.rebuild(meth(selection={"rank_by": "avg_company_cap", "count": 3}), st, "2024-12", incumbents="none")
        assert list(res2.constituents["code"]) == ["300001", "300004", "300002"]
        assert not any("A-share capital" in w for w in res2.warnings)


def test_free_float_fallback_only_for_stocks_without_it(path: Path) -> None:
    with ir.open_store(path) as st:
        res = ir.rebuild(meth(selection={"rank_by": "avg_company_cap", "count": 6}), st, "2024-12", incumbents="none")
        w = dict(zip(res.constituents["code"], res.constituents["weight"], strict=True))
        cutoff = res.dates.cutoff
        assert cutoff < D(2025, 6, 2)
        text = " | ".join(res.warnings)
        assert "1 constituent (e.g. 300006) have no free-float observation" in text
        assert f"1 constituent (e.g. 300005): free-float ratio from the first observation, dated after the cutoff {cutoff}" in text
        assert "the store has no free-float share data" not in text
        # weights by free float: 300005 at its later ratio 0.2, 300006 at its total
        base = {"300001": 5e9, "300002": 10e9, "300003": 7.5e9, "300004": 12e9 * 0.8, "300005": 11e9 * 0.2, "300006": 10e9}
        tot = sum(base.values())
        for code, b in base.items():
            assert w[code] == pytest.approx(b / tot)


def test_store_without_a_shares_column_still_opens(tmp_path: Path) -> None:
    p = tmp_path / "old.duckdb"
    make_store(p, _stocks()[:3])
    with ir.open_store(p, read_only=False) as st:
        st.con.execute("ALTER TABLE shares DROP COLUMN a_shares")
        st.con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with ir.open_store(p) as st:  # read-only: the view reads a_shares as NULL
        res = ir.rebuild(meth(), st, "2024-12", incumbents="none")
        assert list(res.constituents["code"]) == ["300001", "300002", "300003"]
        assert not any("A-share capital" in w for w in res.warnings)
    with ir.open_store(p, read_only=False) as st:  # writable: upgraded in place
        cols = [r[0] for r in st.con.execute("DESCRIBE shares").fetchall()]
        assert cols[-1] == "a_shares" and st.meta["schema_version"] == "2"


def test_series_rebuilt_after_a_write(tmp_path: Path) -> None:
    """The series is materialised once per connection; a write through the ingest path drops it
    (forget), so the next reader sees the new observation."""
    p = tmp_path / "w.duckdb"
    make_store(p, [S("300001", cap=10e9)])
    with ir.open_store(p, read_only=False) as st:
        pit_shares.ensure(st.con)
        assert st.con.execute("SELECT count(free_float_shares) FROM shares_pit").fetchall() == [(0,)]
        st.con.execute(f"INSERT INTO shares ({COLS}) VALUES ('300001', DATE '2024-03-01', 1e9, 5e8, 4e8, 'obs', 1e9)")
        pit_shares.ensure(st.con)  # still the old series: built once per connection
        assert st.con.execute("SELECT count(free_float_shares) FROM shares_pit").fetchall() == [(0,)]
        pit_shares.forget(st.con)
        pit_shares.ensure(st.con)
        assert st.con.execute("SELECT count(free_float_shares) FROM shares_pit").fetchall() == [(2,)]


def test_float_weights_name_the_stocks_without_a_float_count(path: Path) -> None:
    with ir.open_store(path) as st:
        res = ir.rebuild(meth(selection={"rank_by": "avg_company_cap", "count": 6}, weighting={"method": "float_cap"}),
                         st, "2024-12", incumbents="none")
        text = " | ".join(res.warnings)
        assert "1 constituent (e.g. 300006) have no float observation: weighted by total shares" in text
        assert "1 constituent (e.g. 300005): float ratio from the first observation, dated after the cutoff" in text
        assert "free-float" not in text


def test_series_of_some_stocks_equals_theirs_in_the_whole(path: Path) -> None:
    """`rows` (the lazy rule over some stocks' share rows) gives what the materialised table
    holds for them, and a review reads the same before and after `ensure`."""
    q = "SELECT * FROM {} ORDER BY code, effective_date"
    with ir.open_store(path) as st:
        assert pit_shares.declare(st.con) == "shares_pit"
        lazy = st.con.execute(q.format(pit_shares.rows(st.con, "code IN ('300004', '300005')"))).fetchall()
        before = ir.rebuild(meth(), st, "2024-12", incumbents="none")
        pit_shares.ensure(st.con)
        whole = st.con.execute(q.format("shares_pit")).fetchall()
        engine.forget(st)
        after = ir.rebuild(meth(), st, "2024-12", incumbents="none")
    assert lazy and lazy == [r for r in whole if r[0] in ("300004", "300005")]
    assert {r[0] for r in whole} > {"300004", "300005"}  # the filter left other stocks out
    assert before.table.rows == after.table.rows and before.warnings == after.warnings


def test_coverages_in_one_statement_equal_each_alone(path: Path) -> None:
    codes = ["300006", "300005", "300004", "300001"]
    with ir.open_store(path) as st:
        cut = D(2024, 10, 31)
        both = pit_shares.coverages(st.con, cut, [(codes, "free_float_shares"), (codes[:2], "a_shares"), ([], "float_shares")])
        alone = [pit_shares.coverage(st.con, codes, cut, "free_float_shares"),
                 pit_shares.coverage(st.con, codes[:2], cut, "a_shares"), ([], [])]
    assert both == alone
    assert both[0] == (["300006"], ["300005"])  # never observed; observed only after the cutoff


def test_window_tables_observation_dates_give_the_coverage_of_the_series(path: Path) -> None:
    """A review reads its share-data warnings' observation dates from its window table
    (`pit_shares.OBSERVED` columns) instead of a statement over the series: the two agree at
    cutoffs before, between and after the observations, with every interval of the
    series in the window."""
    from indexrecon.engine.context import context
    from indexrecon.engine.universe import _candidates_base

    codes = [s.code for s in _stocks()]
    with ir.open_store(path) as st:
        ctx = context(st)
        for cut in (D(2023, 6, 30), D(2024, 10, 31), D(2025, 12, 31)):
            cut = ctx.cal.on_or_before(cut)
            base, _ = _candidates_base(ctx, ctx.cal.first, cut, ("chinext",))
            obs_cols = ", ".join(pit_shares.OBSERVED.values())
            rows = st.con.execute(f"SELECT code, {obs_cols} FROM {base} ORDER BY code").fetchall()
            assert [r[0] for r in rows] == codes
            observed = {c: {r[0]: r[1 + i] for r in rows} for i, c in enumerate(pit_shares.OBSERVED)}
            asked = [(codes, c) for c in pit_shares.OBSERVED]
            assert pit_shares.coverages(st.con, cut, asked, observed) == pit_shares.coverages(st.con, cut, asked)
        # the dates given are the ones used: no statement for the codes they hold
        fake = {"a_shares": dict.fromkeys(codes)}
        assert pit_shares.coverages(st.con, cut, [(codes, "a_shares")], fake) == [(codes, [])]
        engine.forget(st)
