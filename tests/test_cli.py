"""End-to-end command-line tests on the demo store (synthetic, built once per session)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from indexrecon.cli import main


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
    code, out, _ = run("rebuild", "csi300", "--review", "2025-12")
    assert code == 0 and note in " ".join(out.split())
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
         "incumbents file simulated does not exist (or give a mode: auto, official, simulate, none)"),
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
    reliability_log("data destroyed (issue 14)", f"`{args[0]} -o` onto its own store and onto its .wal",
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
    from indexrecon.loader import builtin_dir

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
