"""End-to-end command-line tests on the demo store (synthetic, built once per session)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


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
