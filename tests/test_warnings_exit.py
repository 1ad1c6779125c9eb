"""Warnings reach stderr in every format, grouped and unwrapped; an index a review leaves
empty is exit 3 naming the rule that emptied it, a partly filled one a warning with the
counts (issue 14, item 4 and the csi2000 warnings bullet)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory import S, make_store
from indexrecon.cli.main import main
from indexrecon.cli.output import group_warnings

ESG = "skipped: the store has no CNI ESG grades"


@pytest.fixture()
def run(demo_store_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INDEXRECON_STORE", str(demo_store_path))
    runner = CliRunner()

    def _run(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return _run


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "parquet"])
@pytest.mark.parametrize("to_file", [False, True])
def test_rebuild_warnings_on_stderr_in_every_format(run, tmp_path: Path, fmt: str, to_file: bool,
                                                    reliability_log) -> None:
    if fmt == "parquet" and not to_file:
        pytest.skip("parquet needs -o")
    out = tmp_path / f"c.{fmt}"
    r = run("rebuild", "chinext", "--as-of", "2026-01-15", "--format", fmt, *(["-o", str(out)] if to_file else []))
    assert r.exit_code == 0
    (line,) = [ln for ln in r.stderr.splitlines() if ESG in ln]
    assert line.startswith("warning: screen 3 (require a CNI ESG grade of B or better")
    if fmt == "table" and not to_file:
        assert ESG not in r.stdout  # said once, on stderr
    if fmt == "table" and to_file:
        assert ESG in out.read_text()  # the file keeps the record
    if fmt == "json":
        doc = json.loads(out.read_text() if to_file else r.stdout)
        assert any(ESG in w for w in doc["warnings"])
    reliability_log("silently wrong result (issue 14)", "rebuild --as-of 2026-01-15 (ESG screen skipped) in each "
                    "format, with and without -o", "the warning is on stderr every time")


@pytest.mark.parametrize("cmd", [["backtest", "chinext", "--start", "2025-01-02", "--end", "2025-12-31"]])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_backtest_warnings_on_stderr(run, cmd: list[str], fmt: str) -> None:
    r = run(*cmd, "--format", fmt)
    assert r.exit_code == 0
    assert any(ESG in ln and ln.startswith("warning: ") for ln in r.stderr.splitlines())


def _empty_yaml(tmp_path: Path) -> Path:
    p = tmp_path / "empty_idx.yaml"
    p.write_text(
        "name: empty_idx\ntitle: Empty\nuniverse: {boards: [chinext]}\nlookback: {months: 6}\n"
        "screens:\n  - {type: drop_bottom_pct, metric: avg_amount, value: 10}\n"
        "  - {type: min_value, metric: avg_amount, value: 1.0e+15}\n"
        "selection: {rank_by: avg_total_cap, count: 50}\nweighting: {method: total_cap}\n"
    )
    return p


@pytest.mark.parametrize("cmd", [
    ["rebuild", "--review", "2025-12", "--format", "csv"],
    ["rebuild", "--review", "2025-12", "--format", "json"],
    ["rebalance", "--review", "2025-12"],
    ["stats", "--review", "2025-12", "--format", "json"],
    ["backtest", "--start", "2025-01-02", "--end", "2025-12-31", "--format", "csv"],
])
def test_an_empty_index_is_exit_3_naming_the_rule(run, tmp_path: Path, cmd: list[str], reliability_log) -> None:
    meth = _empty_yaml(tmp_path)
    out = tmp_path / "out.txt"
    r = run(cmd[0], str(meth), *cmd[1:], "-o", str(out))
    assert r.exit_code == 3, r.output
    assert not out.exists()  # no header-only file
    err = r.stderr.strip().splitlines()
    assert err[-1].startswith("error: ") and "has no constituents" in err[-1]
    assert "fell out at screen 2 (require avg_amount >= 1e+15)" in err[-1]
    reliability_log("silently wrong result (issue 14)", f"`{cmd[0]}` of an index every stock fails",
                    "exit 3 naming the screen that emptied it; no header-only file")


def test_explain_of_an_empty_index_still_explains(run, tmp_path: Path) -> None:
    r = run("explain", str(_empty_yaml(tmp_path)), "300750", "--review", "2025-12")
    assert r.exit_code == 0 and "fails screen 2" in r.stdout
    assert "0 of 50 places filled" in r.stderr


def test_a_partly_filled_index_warns_with_the_counts(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.duckdb", [S(f"300{i:03d}", cap=(11 - i) * 1e9) for i in range(1, 11)])
    meth = tmp_path / "small.yaml"
    meth.write_text(json.dumps({
        "name": "small", "title": "Small", "universe": {"boards": ["chinext"]}, "lookback": {"months": 6},
        "selection": {"rank_by": "avg_total_cap", "count": 20}, "weighting": {"method": "total_cap"},
    }))
    r = CliRunner().invoke(main, ["rebuild", str(meth), "--review", "2025-06", "--store", str(store),
                                  "--format", "csv"])
    assert r.exit_code == 0
    assert "warning: only 10 stocks passed the rules; the index has 10 of 20 places filled" in r.stderr
    assert len(r.stdout.splitlines()) == 11  # header and the ten stocks


def test_group_warnings_folds_dependencies_by_kind() -> None:
    ws = [
        "csi300: 2 incumbent(s) are unknown to the store (no data at all): kept without a rank",
        "csi500: 1 incumbent(s) are unknown to the store (no data at all): kept without a rank",
        "csi300: the rules of csi300 skip 3 screens",
        "csi500: the rules of csi500 skip 1 screens",
        "csi1000: one of a kind here",
        "10 incumbent(s) are unknown to the store (no data at all): kept without a rank",
        "screen 1 skipped",
    ]
    assert group_warnings(ws, ["csi300", "csi500", "csi1000"], "csi2000") == [
        "10 incumbent(s) are unknown to the store (no data at all): kept without a rank (also csi300, csi500)",
        "csi300, csi500: 2 warnings like: csi300: the rules of csi300 skip 3 screens",
        "csi1000: one of a kind here",
        "screen 1 skipped",
    ]


def test_csi2000_warnings_grouped_and_unwrapped_when_piped(real_store_path: Path) -> None:
    cmd = [sys.executable, "-m", "indexrecon.cli.main", "rebuild", "csi2000", "--review", "2025-12",
           "--store", str(real_store_path), "--format", "json"]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "60"}, check=False)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert all(ln.startswith("warning: ") for ln in lines)  # plain lines: nothing wrapped
    assert any(len(ln) > 120 for ln in lines)
    everything = json.loads(r.stdout)["warnings"]
    assert len(everything) >= 3 * len(lines) // 2  # the dependencies' warnings are folded
    assert sum("(also csi300, csi500, csi1000)" in ln for ln in lines) >= 4


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_reader_leaving_loses_no_warning(demo_store_path: Path, fmt: str) -> None:
    """`indexrecon ... | head`: the pipe breaks at the first write, yet every warning printed
    after the output still reaches stderr and the exit code is the command's own."""
    exe = Path(sys.executable).with_name("indexrecon")
    args = [str(exe), "rebalance", "chinext", "--format", fmt, "--store", str(demo_store_path)]
    whole = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert whole.returncode == 0, whole.stderr
    assert ESG in whole.stderr  # printed after the output
    r, w = os.pipe()
    os.close(r)  # a reader that left before the first line
    try:
        cut = subprocess.run(args, stdout=w, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)
    assert cut.returncode == 0, cut.stderr
    assert cut.stderr == whole.stderr
