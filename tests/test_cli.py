"""End-to-end command-line tests on the demo store (synthetic, built once per session)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from indexrecon.cli.main import main


def test_methodologies_and_show(run) -> None:
    code, out, _ = run("methodologies")
    assert code == 0 and "chinext" in out and "399006" in out
    code, out, _ = run("show", "chinext")
    assert code == 0
    assert "drop the bottom 10% by avg_amount" in out and "newcomers enter within rank 90" in out


def test_rebuild_json_contract(run) -> None:
    code, out, _ = run("rebuild", "chinext", "--review", "2025-12", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    for key in ("methodology", "index_code", "review", "data_cutoff", "effective_date", "synthetic",
                "constituents", "stats"):
        assert key in doc
    assert doc["synthetic"] is True and doc["index_code"] == "399006"
    assert doc["data_cutoff"] == "2025-10-31" and doc["effective_date"] == "2025-12-15"
    cons = doc["constituents"]
    assert len(cons) == 100
    assert abs(sum(c["weight"] for c in cons) - 1) < 1e-9
    assert [c["rank"] for c in cons] == sorted(c["rank"] for c in cons)
    assert all(c["industry"] for c in cons)
    mix = doc["stats"]["industry_mix"]
    assert sum(x["count"] for x in mix) == 100
    assert 0 < doc["stats"]["coverage"]["share_of_market_cap"] < 1


def test_rebuild_outputs_are_byte_identical(run, tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run("rebuild", "chinext", "--review", "2025-06", "--format", "json", "-o", str(a))[0] == 0
    assert run("rebuild", "chinext", "--review", "2025-06", "--format", "json", "-o", str(b))[0] == 0
    assert a.read_bytes() == b.read_bytes()


def test_rebuild_csv_and_parquet(run, tmp_path: Path) -> None:
    code, out, _ = run("rebuild", "chinext", "--review", "2025-12", "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("rank,code,name")
    assert len(out.splitlines()) == 101
    assert out.splitlines()[0].endswith(",data") and out.splitlines()[1].endswith("SYNTHETIC demo data")
    pq = tmp_path / "c.parquet"
    assert run("rebuild", "chinext", "--review", "2025-12", "--format", "parquet", "-o", str(pq))[0] == 0
    df = pd.read_parquet(pq)
    assert len(df) == 100 and abs(df["weight"].sum() - 1) < 1e-9
    assert (df["data"] == "SYNTHETIC demo data").all()


def test_rebalance_default_is_the_next_review(run) -> None:
    code, out, _ = run("rebalance", "chinext", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["review"] == "2026-06" and doc["synthetic"] is True
    assert doc["data_cutoff"] == "2026-04-30"
    assert len(doc["adds"]) == len(doc["deletes"]) <= 10
    assert doc["retained_count"] + len(doc["adds"]) == 100
    assert all(b["reason"] for b in doc["borderline"])
    # every add and delete says why, with its rank
    assert all("rank" in x["reason"] or "deleted" in x["reason"] for x in doc["adds"] + doc["deletes"])


def test_rebalance_table_says_synthetic(run) -> None:
    code, out, _ = run("rebalance", "chinext")
    assert code == 0 and "SYNTHETIC" in out and "Borderline" in out


def test_table_text_in_brackets_is_printed_as_is(run, tmp_path: Path) -> None:
    """A methodology note in [brackets] is text, not rich markup: it stays in the output."""
    note = "[no major violations / financial-report problems / abnormal trading (CSI expert committee)]"
    code, out, err = run("rebuild", "csi300", "--review", "2025-12")
    assert code == 0 and note in " ".join((out + err).split())  # the warnings are on stderr
    f = tmp_path / "t.txt"
    code, _, _ = run("rebuild", "csi300", "--review", "2025-12", "-o", str(f))
    assert code == 0 and note in " ".join(f.read_text(encoding="utf-8").split())


def test_stats_and_explain(run) -> None:
    code, out, _ = run("stats", "chinext", "--review", "2025-12", "--format", "json")
    assert code == 0
    conc = json.loads(out)["stats"]["concentration"]
    assert 0 < conc["top1"] <= conc["top5"] <= conc["top10"] <= 1
    assert conc["effective_n"] == pytest.approx(1 / conc["hhi"])
    code, out, _ = run("rebuild", "chinext", "--review", "2025-12", "--format", "json")
    first = json.loads(out)["constituents"][0]["code"]
    code, out, _ = run("explain", "chinext", first, "999999", "--review", "2025-12")
    assert code == 0 and f"{first}" in out and "IN" in out and "999999: not a listed stock" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rebuild", "chinxt", "--review", "2025-12"), "unknown methodology 'chinxt' (did you mean 'chinext'?)"),
        (("rebuild", "chinext", "--review", "2019-12"), "store starts"),
        (("rebuild", "chinext", "--review", "2031-06"), "store ends"),
        (("rebuild", "chinext", "--review", "2025-13"), "YYYY-MM"),
        (("rebuild", "chinext"), "--review"),
        (("rebuild", "chinext", "--review", "2025-12", "--incumbents", "simulated"),
         "incumbents file simulated does not exist (or give a mode: auto, official, official-strict, simulate, none)"),
        (("stats", "nosuch"), "unknown methodology 'nosuch'; built-in: chinext"),
        (("rebuild", "chinext", "--review", "2025-12", "--store", "/nonexistent/x.duckdb"), "does not exist"),
        (("compare", "chinext", "--review", "2025-12"), "no official"),
    ],
)
def test_errors_are_one_line_exit_2(run, args: tuple[str, ...], message: str) -> None:
    code, _out, err = run(*args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "parquet"])
def test_output_into_a_missing_folder_is_one_line(run, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / "no_such_folder" / f"out.{fmt}"
    code, _out, err = run("rebuild", "chinext", "--review", "2025-12", "--format", fmt, "-o", str(target))
    assert code == 2
    assert err.startswith("error: ") and "no_such_folder" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not target.parent.exists()


def test_bad_methodology_file(run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntitle: X\nuniverse: {boards: [chinext]}\nlookback: {months: 6}\n"
                   "selection: {rank_by: avg_total_cap, cuont: 5}\nweighting: {method: equal}\n")
    code, _, err = run("validate", str(bad))
    assert code == 2 and "bad.yaml:5" in err and "did you mean 'count'" in err
    code, _, err = run("rebuild", str(bad), "--review", "2025-12")
    assert code == 2 and "selection.cuont" in err


def test_custom_methodology_file_runs(run, tmp_path: Path) -> None:
    f = tmp_path / "eq.yaml"
    f.write_text("name: chinext_eq50\ntitle: Equal-weight ChiNext 50\nuniverse: {boards: [chinext]}\n"
                 "lookback: {months: 6}\nscreens:\n  - {type: drop_bottom_pct, metric: avg_amount, value: 20}\n"
                 "selection: {rank_by: avg_free_float_cap, count: 50}\nweighting: {method: equal}\n")
    code, out, _ = run("validate", str(f))
    assert code == 0 and "OK" in out and "equal weight" in out
    code, out, _ = run("rebuild", str(f), "--review", "2025-12", "--format", "json")
    cons = json.loads(out)["constituents"]
    assert len(cons) == 50 and all(abs(c["weight"] - 0.02) < 1e-12 for c in cons)


def test_schema_and_version(run) -> None:
    code, out, _ = run("schema")
    schema = json.loads(out)
    assert code == 0 and "selection" in schema["properties"]
    code, out, _ = run("--version")
    assert code == 0 and "indexrecon" in out


def test_console_script_runs_as_a_process(demo_store_path: Path) -> None:
    exe = Path(sys.executable).with_name("indexrecon")
    r = subprocess.run([str(exe), "rebuild", "chinext", "--review", "2025-12", "--format", "csv",
                        "--store", str(demo_store_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 101


# -- issue 14, item 8: no command writes its output onto a file it reads ------------------
@pytest.fixture(scope="module")
def victim(demo_store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo store that the guarded commands must leave byte-identical."""
    import shutil

    p = tmp_path_factory.mktemp("victim") / "victim.duckdb"
    shutil.copyfile(demo_store_path, p)
    return p


def _digest(p: Path) -> str:
    import hashlib

    return hashlib.sha256(p.read_bytes()).hexdigest()


def _refused(r: tuple[int, str, str], *words: str) -> None:
    code, _out, err = r
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for w in words:
        assert w in err


@pytest.mark.parametrize(
    "args",
    [
        ("rebuild", "chinext", "--review", "2024-12", "--format", "csv"),
        ("rebuild", "chinext", "--review", "2024-12", "--format", "parquet"),
        ("rebuild", "chinext", "--review", "2024-12"),
        ("rebalance", "chinext", "--format", "json"),
        ("stats", "chinext", "--review", "2024-12", "--format", "csv"),
        ("compare", "chinext", "--review", "2024-12", "--format", "json"),
        ("report", "chinext", "--review", "2024-12"),
        ("backtest", "chinext", "--start", "2025-01-02", "--format", "csv"),
        ("track", "chinext", "--from-official", "2025-01-02", "--end", "2025-03-03"),
    ],
)
def test_output_onto_the_store_is_refused(run, victim: Path, args: tuple[str, ...], reliability_log) -> None:
    before = _digest(victim)
    _refused(run(*args, "--store", str(victim), "-o", str(victim)), "the store this command reads", "refused")
    wal = victim.with_name(victim.name + ".wal")
    _refused(run(*args, "--store", str(victim), "-o", str(wal)), "write-ahead log")
    assert _digest(victim) == before and not wal.exists()
    reliability_log("data destroyed (issue 14)", f"`{' '.join(args)} -o` onto its own store and onto its .wal",
                    "refused: one line, exit 2, store untouched", 2)


def test_output_onto_the_default_store_is_refused(demo_store_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  victim: Path) -> None:
    monkeypatch.delenv("INDEXRECON_STORE", raising=False)
    monkeypatch.setenv("INDEXRECON_DEMO_PATH", str(victim))
    before = _digest(victim)
    r = CliRunner().invoke(main, ["rebuild", "chinext", "--review", "2024-12", "--format", "csv",
                                  "-o", str(victim)])
    _refused((r.exit_code, r.stdout, r.stderr), "the store this command reads")
    assert _digest(victim) == before


def test_output_onto_a_methodology_or_incumbents_file_is_refused(run, tmp_path: Path, reliability_log) -> None:
    from indexrecon.methodology.paths import builtin_dir

    base = tmp_path / "mine.yaml"
    base.write_text((builtin_dir() / "chinext.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    dep = tmp_path / "dep.yaml"
    dep.write_text(f"name: dep\ntitle: Dep\nuniverse: {{boards: [chinext], exclude_members_of: ['{base}']}}\n"
                   "lookback: {months: 6}\nselection: {rank_by: avg_total_cap, count: 20}\n"
                   "weighting: {method: equal}\n", encoding="utf-8")
    inc = tmp_path / "inc.txt"
    inc.write_text("300750\n", encoding="utf-8")
    files = {p: p.read_bytes() for p in (base, dep, inc)}
    _refused(run("rebuild", str(base), "--review", "2024-12", "--format", "csv", "-o", str(base)),
             "a methodology file this command reads")
    _refused(run("rebuild", str(dep), "--review", "2024-12", "-o", str(base)), "a methodology file")
    _refused(run("rebalance", "chinext", "--incumbents", str(inc), "-o", str(inc)), "the incumbents file")
    _refused(run("backtest", "chinext", "--start", "2025-01-02", "--against", str(base), "-o", str(base)),
             "a methodology file")
    assert {p: p.read_bytes() for p in files} == files
    reliability_log("data destroyed (issue 14)", "`-o` onto the methodology read, a dependency's YAML, "
                    "an incumbents file", "refused: one line, exit 2, file untouched", 4)


def test_output_onto_a_built_in_methodology_named_is_refused(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             reliability_log) -> None:
    """METHOD given by name reads the built-in YAML (and csi2000 reads csi300/500/1000's):
    `-o` onto one of those files would overwrite the library itself."""
    import shutil

    from indexrecon.methodology import loader, paths

    lib = tmp_path / "lib"  # a copy, so that a failing guard destroys nothing real
    shutil.copytree(paths.builtin_dir(), lib)
    for module in (loader, paths):
        monkeypatch.setattr(module, "builtin_dir", lambda: lib)
    files = {p: p.read_bytes() for p in lib.glob("*.yaml")}
    _refused(run("rebuild", "chinext", "--review", "2024-12", "--format", "csv", "-o", str(lib / "chinext.yaml")),
             "a methodology file this command reads")
    _refused(run("rebuild", "csi2000", "--review", "2024-12", "-o", str(lib / "csi500.yaml")), "a methodology file")
    assert {p: p.read_bytes() for p in lib.glob("*.yaml")} == files
    code, _, _ = run("rebuild", "chinext", "--review", "2024-12", "--format", "csv", "-o", str(lib / "other.csv"))
    assert code == 0 and (lib / "other.csv").exists()  # the guard names files, not the folder
    reliability_log("data destroyed (issue 14)", "`-o` onto the built-in YAML a METHOD name reads, and a "
                    "built-in dependency's", "refused: one line, exit 2, file untouched", 2)


def test_ingest_store_onto_a_source_file_is_refused(tmp_path: Path, reliability_log) -> None:
    src = tmp_path / "src"
    src.mkdir()
    bars = src / "bars.csv"
    bars.write_text("code,date,open,high,low,close,amount,volume\n300001,2024-01-02,10,10,10,10,1e6,1e5\n")
    before = bars.read_bytes()
    r = CliRunner().invoke(main, ["ingest", "files", str(src), "--store", str(bars)])
    _refused((r.exit_code, r.stdout, r.stderr), "ingest source", "refused")
    assert bars.read_bytes() == before
    reliability_log("data destroyed (issue 14)", "`ingest files DIR --store DIR/bars.csv`",
                    "refused: one line, exit 2, file untouched")


@pytest.mark.parametrize("target", ["/dev/full", "/proc/version"])
@pytest.mark.parametrize("fmt", ["table", "csv", "parquet"])
def test_unwritable_output_names_the_file(run, target: str, fmt: str, reliability_log) -> None:
    if not Path(target).exists():
        pytest.skip(f"{target} does not exist on this system")
    _refused(run("rebuild", "chinext", "--review", "2025-12", "--format", fmt, "-o", target),
             f"cannot write {target}")
    reliability_log("untrue messages (issue 14)", f"`-o {target}` ({fmt})", "one line naming the file, exit 2")


def test_report_into_a_missing_folder_is_refused_like_rebuild(run, tmp_path: Path) -> None:
    target = tmp_path / "no_such_folder" / "r.html"
    _refused(run("report", "chinext", "--review", "2025-12", "-o", str(target)), "no_such_folder")
    assert not target.parent.exists()


@pytest.mark.parametrize("name", ["bars.parquet", "notes.txt"])
def test_store_that_is_not_duckdb_is_named(run, tmp_path: Path, name: str, reliability_log) -> None:
    p = tmp_path / name
    if name.endswith(".parquet"):
        pd.DataFrame({"code": ["300001"], "close": [1.0]}).to_parquet(p)
    else:
        p.write_text("hello\n")
    before = p.read_bytes()
    _refused(run("rebuild", "chinext", "--review", "2025-12", "--store", str(p)), "is not a DuckDB store")
    _refused(run("check-data", "--store", str(p)), "is not a DuckDB store")
    assert p.read_bytes() == before
    reliability_log("untrue messages (issue 14)", f"`--store {name}` (not a DuckDB file)",
                    "one line: is not a DuckDB store, exit 2")


# -- issue 14, items 7 and 10: check-data on missing, empty and future data -----------------
@pytest.fixture()
def small_store(tmp_path: Path) -> Path:
    import datetime as dt

    from factory import S, make_store

    return make_store(tmp_path / "small.duckdb", [S("300001", cap=1e9), S("300002", cap=2e9)],
                      start=dt.date(2024, 1, 1), end=dt.date(2024, 3, 29), synthetic=False)


def _check_data(store: Path, *extra: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, ["check-data", "--store", str(store), *extra])
    return r.exit_code, r.stdout, r.stderr


@pytest.mark.parametrize("table", ["bars", "shares", "calendar", "securities"])
def test_check_data_without_a_core_table_is_one_line(small_store: Path, table: str, reliability_log) -> None:
    import duckdb

    with duckdb.connect(str(small_store)) as con:
        con.execute(f"DROP TABLE {table}")
    _refused(_check_data(small_store), f"has no table {table}", "ingest incomplete")
    reliability_log("missing data (issue 14)", f"`check-data` on a store without `{table}`",
                    "one line naming the table, exit 2")


def test_check_data_on_an_empty_or_partly_loaded_store_is_a_finding(tmp_path: Path, reliability_log) -> None:
    from indexrecon.data.open import open_store

    p, partial = tmp_path / "empty.duckdb", tmp_path / "partial.duckdb"
    open_store(p, read_only=False).close()
    with open_store(partial, read_only=False) as st:  # an ingest interrupted after securities
        st.con.execute("INSERT INTO securities VALUES ('300001', 'SZ', 'chinext', 'x', '2020-01-02', NULL)")
    code, out, err = _check_data(p, "--format", "json")
    findings = {f["check"]: f for f in json.loads(out)["findings"]}
    assert code == 0 and findings["empty_tables"]["count"] == 4
    assert findings["empty_tables"]["examples"] == ["securities", "bars", "shares", "calendar"]
    assert "ingest incomplete" in findings["empty_tables"]["description"] and "ingest incomplete" in err
    assert _check_data(p, "--strict")[0] == 1
    code, out, err = _check_data(partial)
    assert code == 0 and "bars, shares, calendar" in err and "empty_tables" in out
    reliability_log("missing data (issue 14)", "`check-data` on an empty and a partly loaded store",
                    "finding empty_tables naming them, 'ingest incomplete: rerun' on stderr; --strict exits 1", 2)


def test_check_data_finds_bars_after_the_calendar_and_in_the_future(small_store: Path, reliability_log) -> None:
    import duckdb

    with duckdb.connect(str(small_store)) as con:
        con.execute("INSERT INTO bars VALUES ('300001', '2024-04-01', 10, 10, 10, 10, 1e8, 1e7), "
                    "('300002', '2099-01-02', 10, 10, 10, 10, 1e8, 1e7)")
    code, out, _ = _check_data(small_store, "--format", "json", "--strict")
    findings = {f["check"]: f for f in json.loads(out)["findings"]}
    assert code == 1
    assert findings["bars_after_calendar_end"]["examples"] == ["300001 2024-04-01", "300002 2099-01-02"]
    assert findings["future_bars"]["examples"] == ["300002 2099-01-02"]
    assert findings["empty_tables"]["count"] == 0
    reliability_log("missing data (issue 14)", "`check-data` on bars after the calendar's end and after today",
                    "findings bars_after_calendar_end and future_bars (errors)")


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("inc.txt", "300750\n宁德时代\n".encode("gbk"), "not UTF-8 text"),
        ("inc.json", b"{not json", "cannot read"),
        ("inc.parquet", b"PAR1garbage", "cannot read"),
        ("inc.csv", b"ticker,name\n300750,x\n", "is not a 6-digit stock code"),
    ],
)
def test_unreadable_incumbents_file_is_one_line(run, tmp_path: Path, name: str, data: bytes, says: str,
                                                reliability_log) -> None:
    p = tmp_path / name
    p.write_bytes(data)
    _refused(run("rebuild", "chinext", "--review", "2025-12", "--incumbents", str(p)), str(p), says)
    reliability_log("bad input (issue 14)", f"undecodable --incumbents file ({name})", "one line naming the file, exit 2")


def test_validate_names_a_missing_members_of(run, tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text("name: x\ntitle: X\nuniverse:\n  boards: [chinext]\n  members_of: [chinext5O]\n"
                 "lookback: {months: 6}\nselection: {rank_by: avg_total_cap, count: 5}\nweighting: {method: equal}\n")
    _refused(run("validate", str(p)), f"{p}:5: universe.members_of.0: unknown methodology 'chinext5O'")


# -- issue 14, item 11: untrue or empty messages -------------------------------------------
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("rebuild", "chinext", "--as-of", "2025-02-30"), "--as-of 2025-02-30: no such day"),
        (("report", "chinext", "--as-of", "2025-02-30"), "--as-of 2025-02-30: no such day"),
        (("backtest", "chinext", "--start", "2025-04-31"), "--start 2025-04-31: no such day"),
        (("rebuild", "chinext", "--review", "2025-12", "--as-of", "2026-01-15"), "give --review or --as-of, not both"),
        (("stats", "chinext", "--review", "2025-12", "--as-of", "2026-01-15"), "not both"),
        (("report", "chinext", "--review", "2025-12", "--as-of", "2026-01-15"), "not both"),
        (("backtest", "chinext", "--start", "2025-01-02", "--base", "0"), "--base 0: must be above 0"),
        (("backtest", "chinext", "--start", "2025-01-02", "--base", "-1000"), "--base -1000: must be above 0"),
        (("backtest", "chinext", "--start", "2025-01-02", "--rf", "50"), "--rf 50: must be between -0.2 and 0.5"),
        (("rebalance", "chinext", "--margin", "-5"), "--margin -5: must be at least 0"),
        (("report", "chinext", "--margin", "-5"), "--margin -5: must be at least 0"),
    ],
)
def test_untrue_messages_are_now_true(run, args: tuple[str, ...], says: str, reliability_log) -> None:
    _refused(run(*args), says)
    reliability_log("untrue messages (issue 14)", f"`{' '.join(args)}`", f"one line: {says}, exit 2")


# -- issue 14, item 13: the store's tables and columns -------------------------------------
def test_store_schema_prints_tables_and_columns(run, demo_store_path: Path, tmp_path: Path) -> None:
    from indexrecon.data.store import TABLES

    code, out, _ = run("store-schema")
    assert code == 0
    for table in TABLES:
        assert f"\n{table}: " in f"\n{out}"
    assert "  close                DOUBLE NOT NULL" in out
    code, out, _ = run("store-schema", "--store", str(demo_store_path), "--format", "json")
    doc = {t["table"]: t for t in json.loads(out)}
    assert code == 0 and doc["bars"]["rows"] > 0 and [c["name"] for c in doc["calendar"]["columns"]] == ["date"]
    import duckdb

    p = tmp_path / "thin.duckdb"
    from indexrecon.data.open import open_store

    open_store(p, read_only=False).close()
    with duckdb.connect(str(p)) as con:
        con.execute("DROP TABLE dividends")
    code, out, _ = run("store-schema", "--store", str(p))
    assert code == 0 and "dividends (not in this store)" in out
    code, out, _ = run("ingest", "files", "--help")
    assert "indexrecon store-schema" in " ".join(out.split())


def test_rebuild_names_the_rule_with_a_missing_dependency(run, tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text("name: x\ntitle: X\nuniverse:\n  boards: [chinext]\n  exclude_members_of: [chinext5O]\n"
                 "lookback: {months: 6}\nselection: {rank_by: avg_total_cap, count: 5}\nweighting: {method: equal}\n")
    _refused(run("rebuild", str(p), "--review", "2025-12"), "x: universe.exclude_members_of: unknown methodology 'chinext5O'")


def test_ctrl_c_outside_the_command_is_an_interruption_too() -> None:
    """Ctrl-C while the group's context closes (after the command's own work) or while the
    arguments are read: 'interrupted' and exit code 130, as inside a command, not click's
    'Aborted!' with exit code 1."""
    import click
    from click.testing import CliRunner

    from indexrecon.cli.common import ErrorGroup

    def sigint() -> None:
        raise KeyboardInterrupt

    @click.group(cls=ErrorGroup)
    @click.pass_context
    def grp(ctx: click.Context) -> None:
        ctx.call_on_close(sigint)

    @grp.command()
    def done() -> None:
        click.echo("done")

    res = CliRunner().invoke(grp, ["done"])
    assert res.exit_code == 130 and res.stdout == "done\n"
    assert res.stderr.strip() == "interrupted" and "Aborted" not in res.output

    class Slow(click.Option):
        def process_value(self, ctx: click.Context, value: object) -> object:
            raise KeyboardInterrupt

    @click.group(cls=ErrorGroup)
    @click.option("--x", cls=Slow)
    def grp2(x: object) -> None:
        pass

    @grp2.command()
    def done2() -> None:
        pass

    res = CliRunner().invoke(grp2, ["--x", "1", "done2"])
    assert res.exit_code == 130 and res.stderr.strip() == "interrupted"


def test_ctrl_c_while_the_command_line_is_imported(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The console script imports the command line inside a guard: Ctrl-C during that import
    (before click runs) is 'interrupted' and exit code 130, not a traceback."""
    import importlib.abc

    from indexrecon.cli.entry import run

    class Interrupt(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: object, target: object = None) -> None:
            if name == "indexrecon.cli.main":
                raise KeyboardInterrupt

    monkeypatch.delitem(sys.modules, "indexrecon.cli.main")
    monkeypatch.setattr(sys, "meta_path", [Interrupt(), *sys.meta_path])
    with pytest.raises(SystemExit) as e:
        run()
    assert e.value.code == 130 and capsys.readouterr().err == "interrupted\n"
