"""The results cache of dependency chains (`depcache`): identical outputs, never stale."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from factory import S, make_store, meth
from indexrecon.cli.main import main
from indexrecon.data.open import open_store
from indexrecon.engine import cache as depcache
from indexrecon.engine import run_review


def _entries(d: Path) -> list[Path]:
    return sorted(d.glob("*.json")) if d.exists() else []


def test_cli_outputs_are_byte_identical_with_and_without_the_cache(cache: Path, demo_store_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    r = CliRunner()
    args = ["rebuild", "csi1000", "--review", "2025-12", "--store", str(demo_store_path), "--format", "json"]
    plain = r.invoke(main, [*args, "--no-cache"])
    assert plain.exit_code == 0, plain.output
    assert _entries(cache) == []  # --no-cache neither reads nor writes
    monkeypatch.setenv("INDEXRECON_NO_CACHE", "0")  # --no-cache switched it off for this process
    hits: list[bool] = []
    real_get = depcache.get

    def counting_get(k: str | None) -> object:
        v = real_get(k)
        hits.append(v is not None)
        return v

    monkeypatch.setattr(depcache, "get", counting_get)
    cold = r.invoke(main, args)
    written = _entries(cache)
    assert written and not all(hits)  # computed and written (csi500 wrote csi300 for csi1000 to read)
    hits.clear()
    # another environment: the command's whole output is not replayed (cli/replay.py keys on
    # it), so the dependencies' entries are what is read
    monkeypatch.setenv("INDEXRECON_TEST_RUN", "warm")
    warm = r.invoke(main, args)
    assert hits and all(hits) and _entries(cache) == written  # read back, nothing new
    hits.clear()
    replayed = r.invoke(main, args)
    assert hits == []  # the same environment again: the output replayed, no review run at all
    for res in (cold, warm, replayed):
        assert res.exit_code == 0
        assert res.stdout == plain.stdout and res.stderr == plain.stderr
    monkeypatch.setenv("INDEXRECON_NO_CACHE", "1")
    assert depcache.key(open_store(demo_store_path), "x") is None


def _chain(tmp_path: Path) -> tuple[Path, dict]:
    dep = meth(name="dep", selection={"rank_by": "avg_total_cap", "count": 2})
    dep_file = tmp_path / "dep.yaml"
    dep_file.write_text(yaml.safe_dump(dep, sort_keys=False), encoding="utf-8")
    return dep_file, meth(name="top", universe={"boards": ["chinext"], "exclude_members_of": [str(dep_file)]},
                          selection={"rank_by": "avg_total_cap", "count": 2})


def test_a_changed_store_invalidates_the_cache(cache: Path, tmp_path: Path) -> None:
    path = make_store(tmp_path / "s.duckdb", [S(f"3000{i:02d}", cap=(10 - i) * 1e9) for i in range(8)])
    _, top = _chain(tmp_path)
    with open_store(path) as st:
        v1 = depcache.data_version(st)
        first = run_review(top, st, "2025-06", incumbents="none")
    assert v1 is not None and _entries(cache)
    assert first.codes == ["300002", "300003"]  # 300000 and 300001 are the dependency's members

    # the dependency's ranking changes in the data: the cached members must not be used
    with open_store(path, read_only=False) as st:
        st.con.execute("UPDATE shares SET total_shares = total_shares * 100 WHERE code = '300005'")
        assert depcache.data_version(st) is None  # a store open for writing is never cached
    with open_store(path) as st:
        assert depcache.data_version(st) != v1
        again = run_review(top, st, "2025-06", incumbents="none")
    depcache.disable()
    with open_store(path) as st:
        fresh = run_review(top, st, "2025-06", incumbents="none")
    assert again.codes == fresh.codes == ["300001", "300002"]  # 300005 joined the dependency


def test_a_changed_dependency_rule_is_another_entry(cache: Path, tmp_path: Path) -> None:
    path = make_store(tmp_path / "s.duckdb", [S(f"3000{i:02d}", cap=(10 - i) * 1e9) for i in range(8)])
    dep_file, top = _chain(tmp_path)
    with open_store(path) as st:
        assert run_review(top, st, "2025-06", incumbents="none").codes == ["300002", "300003"]
    dep_file.write_text(yaml.safe_dump(meth(name="dep", selection={"rank_by": "avg_total_cap", "count": 3}),
                                       sort_keys=False), encoding="utf-8")
    with open_store(path) as st:
        assert run_review(top, st, "2025-06", incumbents="none").codes == ["300003", "300004"]


def test_no_cache_for_an_in_memory_store(cache: Path) -> None:
    import duckdb

    from indexrecon.data.store import Store

    st = Store(path=Path("x.duckdb"), con=duckdb.connect(":memory:"), read_only=True)
    assert depcache.data_version(st) is None and depcache.key(st, "x") is None


def test_the_cache_folder_stays_bounded(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setattr(depcache, "MAX_ENTRIES", 4)
    for i in range(4):
        depcache.put(f"k{i}", [i])
        os.utime(cache / f"k{i}.json", ns=(i * 10**9, i * 10**9))  # k0 the oldest
    assert len(_entries(cache)) == 4
    depcache.put("k4", [4])
    assert [p.stem for p in _entries(cache)] == ["k2", "k3", "k4"] and depcache.get("k4") == [4]


def test_a_value_json_cannot_hold_is_not_cached(cache: Path) -> None:
    import datetime as dt

    depcache.put("bad", {"when": dt.date(2025, 1, 2)})  # would come back as a string: never written
    depcache.put("nan", [float("nan")])
    depcache.put("ok", [1.5])
    assert depcache.get("bad") is None and depcache.get("ok") == [1.5]
    assert sorted(p.stem for p in _entries(cache)) == ["nan", "ok"]


@pytest.mark.parametrize("args", [
    ["rebalance", "chinext"],  # the demo's official list rolled forward through the reviews since
    ["rebuild", "csi1000", "--review", "2025-12", "--incumbents", "simulate"],  # a simulated path
])
def test_incumbents_paths_are_cached_with_identical_outputs(cache: Path, demo_store_path: Path, args: list[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    r = CliRunner()
    full = [*args, "--store", str(demo_store_path), "--format", "json"]
    plain = r.invoke(main, [*full, "--no-cache"])
    assert plain.exit_code == 0, plain.output
    monkeypatch.setenv("INDEXRECON_NO_CACHE", "0")
    runs = _no_pipeline(monkeypatch)
    cold = r.invoke(main, full)
    n_cold = len(runs)
    runs.clear()
    warm = r.invoke(main, full)
    # warm: the incumbents' path, the dependencies and the review asked for all read back
    assert n_cold > 1 and runs == [], (n_cold, runs)
    for res in (cold, warm):
        assert res.exit_code == 0
        assert res.stdout == plain.stdout and res.stderr == plain.stderr


def test_incumbents_from_a_file_are_not_cached(cache: Path, tmp_path: Path) -> None:
    from indexrecon.engine.review import _plan_key
    from indexrecon.plan.review import plan_review

    path = make_store(tmp_path / "s.duckdb", [S(f"3000{i:02d}", cap=(10 - i) * 1e9) for i in range(4)])
    codes = tmp_path / "inc.txt"
    codes.write_text("300001\n", encoding="utf-8")
    m = meth(name="top", selection={"rank_by": "avg_total_cap", "count": 2})
    with open_store(path) as st:
        from indexrecon.engine.context import context

        ctx = context(st)
        assert _plan_key(plan_review(m, st, "2025-06", incumbents=codes), ctx, "previous") is None
        assert _plan_key(plan_review(m, st, "2025-06", incumbents="none"), ctx, "previous") is not None


def test_a_changed_rule_two_dependencies_deep_is_another_entry(cache: Path, tmp_path: Path) -> None:
    path = make_store(tmp_path / "s.duckdb", [S(f"3000{i:02d}", cap=(10 - i) * 1e9) for i in range(8)])
    dep_file, mid = _chain(tmp_path)  # mid excludes dep
    mid_file = tmp_path / "mid.yaml"
    mid_file.write_text(yaml.safe_dump({**mid, "name": "mid"}, sort_keys=False), encoding="utf-8")
    top = meth(name="top", universe={"boards": ["chinext"], "exclude_members_of": [str(mid_file)]},
               selection={"rank_by": "avg_total_cap", "count": 4})
    with open_store(path) as st:  # mid holds 300002, 300003 (dep 300000, 300001 is not excluded by top)
        assert run_review(top, st, "2025-06", incumbents="none").codes == ["300000", "300001", "300004", "300005"]
    # only the innermost file changes: mid's cached members must not be reused
    dep_file.write_text(yaml.safe_dump(meth(name="dep", selection={"rank_by": "avg_total_cap", "count": 3}),
                                       sort_keys=False), encoding="utf-8")
    with open_store(path) as st:
        assert run_review(top, st, "2025-06", incumbents="none").codes == ["300000", "300001", "300002", "300005"]


def _no_pipeline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the pipelines run from here on."""
    from indexrecon.engine import review as engine_review

    runs: list[str] = []
    real = engine_review._pipeline

    def counting(rules, *a, **k):  # type: ignore[no-untyped-def]
        runs.append(rules.name)
        return real(rules, *a, **k)

    monkeypatch.setattr(engine_review, "_pipeline", counting)
    return runs


def test_a_review_table_is_read_back_value_for_value(cache: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_store(tmp_path / "s.duckdb", [S(f"3000{i:02d}", cap=(10 - i) * 1e9) for i in range(8)])
    _, top = _chain(tmp_path)
    with open_store(path) as st:
        cold = run_review(top, st, "2025-06", incumbents="none")
    # top's table; the dependency ran members-only (its members are the dependency entry)
    assert len(list((cache / "tables").glob("*.json.z"))) == 1
    runs = _no_pipeline(monkeypatch)
    with open_store(path) as st:  # a new connection: a new run, as a later process has
        warm = run_review(top, st, "2025-06", incumbents="none")
    assert runs == []
    assert warm.table.columns == cold.table.columns and warm.table.types == cold.table.types
    assert warm.table.rows == cold.table.rows and warm.warnings == cold.warnings
    # the same Python types, not only equal values (a date stays a date, an int an int)
    assert [tuple(map(type, r)) for r in warm.table.rows] == [tuple(map(type, r)) for r in cold.table.rows]
    assert "DATE" in cold.table.types
    assert depcache.key_of(warm.table) is not None and depcache.key_of(warm.view("constituents")) is None


def test_a_corrupt_or_foreign_table_entry_is_recomputed(cache: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_store(tmp_path / "s.duckdb", [S(f"3000{i:02d}", cap=(10 - i) * 1e9) for i in range(4)])
    m = meth(name="top", selection={"rank_by": "avg_total_cap", "count": 2})
    with open_store(path) as st:
        cold = run_review(m, st, "2025-06", incumbents="none")
    (entry,) = (cache / "tables").glob("*.json.z")
    entry.write_bytes(b"not zlib")
    runs = _no_pipeline(monkeypatch)
    with open_store(path) as st:
        again = run_review(m, st, "2025-06", incumbents="none")
    assert runs == ["top"] and again.table.rows == cold.table.rows
    # an entry written under another key (a renamed file) is not read either
    import zlib

    data = zlib.decompress(entry.read_bytes())
    entry.write_bytes(zlib.compress(data.replace(entry.name[:8].encode(), b"00000000", 1)))
    runs.clear()
    with open_store(path) as st:
        run_review(m, st, "2025-06", incumbents="none")
    assert runs == ["top"]


def test_only_plain_column_types_are_kept_and_the_tables_stay_bounded(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt
    import decimal
    import os

    depcache.put_table("d", ("x",), ("DECIMAL(18,3)",), [(decimal.Decimal("1.5"),)], [])
    depcache.put_table("l", ("x",), ("VARCHAR[]",), [(["a"],)], [])
    assert depcache.get_table("d") is None and depcache.get_table("l") is None
    monkeypatch.setattr(depcache, "MAX_TABLES", 2)
    rows = [(1, 0.1, float("nan"), None, "a", True, dt.date(2025, 6, 30))]
    types = ("BIGINT", "DOUBLE", "DOUBLE", "DOUBLE", "VARCHAR", "BOOLEAN", "DATE")
    cols = tuple("abcdefg")
    for i in range(3):
        depcache.put_table(f"t{i}", cols, types, rows, [f"w{i}"])
        os.utime(cache / "tables" / f"t{i}.json.z", ns=(i * 10**9, i * 10**9))
    assert sorted(p.name for p in (cache / "tables").iterdir()) == ["t1.json.z", "t2.json.z"]
    got = depcache.get_table("t2")
    assert got is not None and got[:2] == (cols, types) and got[3] == ["w2"]
    (r,) = got[2]
    assert r[0] == 1 and r[1] == 0.1 and r[2] != r[2] and r[3:] == (None, "a", True, dt.date(2025, 6, 30))


def test_a_rebalance_reads_its_probabilities_back(cache: Path, demo_store_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from indexrecon.analysis import forecast

    r = CliRunner()
    full = ["rebalance", "chinext", "--store", str(demo_store_path), "--format", "json"]
    plain = r.invoke(main, [*full, "--no-cache"])
    assert plain.exit_code == 0, plain.output
    monkeypatch.setenv("INDEXRECON_NO_CACHE", "0")
    sims: list[int] = []
    real = forecast._simulate

    def counting(*a, **k):  # type: ignore[no-untyped-def]
        sims.append(1)
        return real(*a, **k)

    monkeypatch.setattr(forecast, "_simulate", counting)
    outs = [r.invoke(main, full) for _ in range(2)]
    assert len(sims) == 1  # the second run read the probabilities back
    for res in outs:
        assert res.exit_code == 0 and res.stdout == plain.stdout and res.stderr == plain.stderr
    other = r.invoke(main, [*full, "--seed", "1"])
    assert other.exit_code == 0 and len(sims) == 2  # another seed is another simulation


def test_members_only_reviews_give_the_whole_reviews_members_and_warnings(
        demo_store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dependency, a roll-forward step or the previous review of a path fetches only the
    columns its members and warnings come from: the same members and warnings as the whole
    table's, and a later whole request in the run computes the whole table."""
    from indexrecon.engine import context
    from indexrecon.engine import review as engine_review

    monkeypatch.setenv("INDEXRECON_NO_CACHE", "1")
    real = engine_review._pipeline
    narrow: list[tuple[tuple, dict, object, list[str]]] = []

    def recording(*a, members_only=False, **k):
        table = real(*a, members_only=members_only, **k)
        if members_only:
            narrow.append((a, k, table, list(a[-1])))
        return table

    monkeypatch.setattr(engine_review, "_pipeline", recording)
    with open_store(demo_store_path) as st:
        ctx = context(st)
        top = run_review("csi1000", st, "2025-12", incumbents="simulate", _ctx=ctx)
        assert "name" in top.table.columns
        assert len(narrow) >= 4  # csi300 and csi500 as dependencies and as previous reviews
        for a, k, table, warned in narrow:
            assert "name" not in table.columns  # narrowed
            own: list[str] = []
            whole = real(*a[:-1], own, **k)
            pick = [r[whole.col("code")] for r in whole.rows if r[whole.col("selected")]]
            assert sorted(pick) == sorted(r[table.col("code")] for r in table.rows if r[table.col("selected")])
            assert own == warned
        direct = run_review("csi500", st, "2025-12", incumbents="simulate", _ctx=ctx)
    assert "name" in direct.table.columns and direct.codes


@pytest.mark.parametrize("name", ["csi_a500", "sse50"])  # industry-balanced; sse50 draws from sse180
def test_members_only_reviews_change_no_result(name: str, demo_store_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A simulated path (its previous reviews) and a dependency run members-only: the review
    they feed is the one the whole tables give, row for row, with the same warnings."""
    from indexrecon.engine import forget
    from indexrecon.engine import pipeline as engine_pipeline

    monkeypatch.setenv("INDEXRECON_NO_CACHE", "1")
    out = []
    with open_store(demo_store_path) as st:
        for whole in (False, True):
            if whole:
                monkeypatch.setattr(engine_pipeline, "_members_only", lambda m, finish, hidden: finish)
            forget(st)
            r = run_review(name, st, "2025-12", incumbents="simulate")
            out.append((r.codes, r.warnings, r.table.columns, r.table.rows))
        forget(st)
    assert out[0][0] and out[0] == out[1]
