"""Parameter sweeps (`ir.sweep`, `indexrecon sweep`): every combination backtested, side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexrecon.analysis.backtest import _worker_context, backtest
from indexrecon.analysis.sweeps import memory_share, parse_set, sweep, variants
from indexrecon.cli.main import main
from indexrecon.errors import IndexReconError, MethodologyError
from indexrecon.methodology.loader import load_methodology

START, END = "2025-01-02", "2025-08-29"
GRID = {"selection.buffer": [None], "selection.count": [50, 100], "weighting.caps.single_pct": [10]}


def test_parse_set_reads_values_as_yaml() -> None:
    grid = parse_set(["selection.count=50, 100,200", "selection.buffer=null", "weighting.caps.single_pct=10.5"])
    assert grid == {"selection.count": [50, 100, 200], "selection.buffer": [None],
                    "weighting.caps.single_pct": [10.5]}
    for bad in ["selection.count", "selection.count=", "=5", "selection.count=50,,100"]:
        with pytest.raises(IndexReconError, match="--set"):
            parse_set([bad])
    with pytest.raises(IndexReconError, match="given twice"):
        parse_set(["selection.count=50", "selection.count=100"])


def test_variants_are_every_combination_and_a_typo_names_the_key() -> None:
    m = load_methodology("chinext")
    vs = variants(m, {"selection.buffer": [None], "selection.count": [50, 100, 200],
                      "weighting.caps.single_pct": [10, 20]})
    assert [(c["selection.count"], c["weighting.caps.single_pct"]) for c, _ in vs] == [
        (50, 10), (50, 20), (100, 10), (100, 20), (200, 10), (200, 20)]
    assert [v.selection.count for _, v in vs] == [50, 50, 100, 100, 200, 200]
    assert all(v.selection.buffer is None for _, v in vs)
    with pytest.raises(MethodologyError) as e:
        variants(m, {"selection.cnt": [50]})
    msg = str(e.value)
    assert msg.startswith("--set selection.cnt: unknown key") and "did you mean 'count'" in msg
    assert "allowed: rank_by, count" in msg and "\n" not in msg
    # a value that is wrong only in a combination is named with the combination
    with pytest.raises(MethodologyError, match=r"sweep variant count=50: .*buffer"):
        variants(m, {"selection.count": [50]})


def test_ir_sweep_is_the_function_once_its_module_is_imported() -> None:
    import importlib

    import indexrecon as ir

    importlib.import_module("indexrecon.analysis.sweeps")  # a submodule named `sweep` would shadow the function
    assert callable(ir.sweep) and ir.sweep is sweep


def test_memory_share_divides_the_limit() -> None:
    assert memory_share("3GB", 2) == "1500MB"
    assert memory_share("1 GiB", 4) == "268MB"
    assert memory_share("150MB", 4) == "100MB"  # a floor: DuckDB needs some room
    with pytest.raises(IndexReconError, match="INDEXRECON_MEMORY_LIMIT"):
        memory_share("lots", 2)


@pytest.fixture(scope="module")
def one_worker(demo_store):
    return sweep("chinext", demo_store, GRID, START, END, workers=1)


def test_sweep_rows_are_the_variants_backtests(one_worker, demo_store) -> None:
    sw = one_worker
    t = sw.table
    assert list(t["variant"]) == ["base", "buffer=null count=50 single_pct=10", "buffer=null count=100 single_pct=10"]
    assert list(t["constituents"]) == [100, 50, 100]
    # the rule values: the base's buffer spelled out (not an empty cell, which reads as none)
    assert list(t["selection.buffer"]) == ["{newcomers_within: 90, incumbents_within: 110}", None, None]
    assert list(t["selection.count"]) == [100, 50, 100]
    assert t.loc[0, "tracking_error_vs_base"] == 0.0 and t.loc[1, "tracking_error_vs_base"] > 0
    # a row is exactly the backtest of that variant
    m = load_methodology("chinext").with_changes({"selection": {"buffer": None, "count": 50},
                                                   "weighting": {"caps": {"single_pct": 10}}})
    bt = backtest(m, demo_store, START, END, against=None)
    for k in ["cumulative_return", "volatility", "sharpe", "max_drawdown", "mean_turnover"]:
        assert t.loc[1, k] == bt.stats[k], k
    assert list(sw.levels.columns) == ["date", *t["variant"]]
    assert sw.levels[t.loc[1, "variant"]].tolist() == bt.levels["level"].tolist()
    # the change wins over the version of 2025-06-16 that sets the single cap to 20%
    assert any("sets weighting.caps.single_pct to 20; your change (10) is used" in w for w in sw.warnings)
    later = [r for r in bt.results if str(r.dates.review) >= "2025-06"]
    assert later and all(float(r.constituents["weight"].max()) <= 0.10 + 1e-9 for r in later)


def test_sweep_results_do_not_depend_on_the_workers(one_worker, demo_store) -> None:
    two = sweep("chinext", demo_store, GRID, START, END, workers=2)
    assert two.workers == 2
    assert two.to_json() == one_worker.to_json()


def test_worker_pools_use_a_fork_server_where_there_is_one(monkeypatch) -> None:
    import multiprocessing

    ctx = _worker_context("indexrecon.analysis.sweeps")
    if "forkserver" in multiprocessing.get_all_start_methods():
        assert ctx.get_start_method() == "forkserver"
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    assert _worker_context("indexrecon.analysis.sweeps").get_start_method() == "spawn"


def test_cli_sweep_json_csv_png_and_errors(demo_store_path: Path, tmp_path: Path) -> None:
    r = CliRunner()
    args = ["sweep", "chinext", "--set", "selection.buffer=null", "--set", "selection.count=50",
            "--start", START, "--end", END, "--store", str(demo_store_path), "--workers", "1"]
    png = tmp_path / "sweep.png"
    res = r.invoke(main, [*args, "--format", "json", "--png", str(png)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [v["variant"] for v in out["variants"]] == ["base", "buffer=null count=50"]
    assert out["synthetic"] is True and out["grid"] == {"selection.buffer": [None], "selection.count": [50]}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = r.invoke(main, [*args, "--format", "csv"])
    assert res.exit_code == 0
    assert res.stdout.splitlines()[0].startswith("variant,selection.buffer,selection.count,cumulative_return")
    # the variant without a buffer says null, as --set spells it, not an empty cell
    assert res.stdout.splitlines()[2].startswith("buffer=null count=50,null,50,")
    assert out["variants"][1]["selection.buffer"] is None  # JSON: null
    res = r.invoke(main, [*args])
    assert res.exit_code == 0 and "buffer=null count=50" in res.stdout and "tracking_error_vs_base" in res.stdout
    row = next(line for line in res.stdout.splitlines() if line.startswith("buffer=null count=50"))
    assert row.split()[-2:] == ["null", "50"]  # the rule columns last: buffer, count

    bad = r.invoke(main, ["sweep", "chinext", "--set", "weighting.caps.single=5", "--start", START,
                          "--store", str(demo_store_path)])
    assert bad.exit_code == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "weighting.caps.single: unknown key" in lines[0] and "single_pct" in lines[0]
    for opt in ("-o", "--png"):
        bad = r.invoke(main, [*args, opt, str(tmp_path / "missing" / "x.png")])
        assert bad.exit_code == 2 and "does not exist" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    # one file for both outputs: refused before the sweep, the file left as it was
    both = tmp_path / "both.out"
    both.write_text("keep me")
    bad = r.invoke(main, [*args, "-o", str(both), "--png", str(both)])
    assert bad.exit_code == 2 and "the same file" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert both.read_text() == "keep me"
    bad = r.invoke(main, [*args, "--png", str(demo_store_path)])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --png ") and "the store this command reads" in bad.stderr


def test_sweep_table_on_an_80_column_terminal_keeps_the_variant(demo_store_path: Path) -> None:
    from rich.cells import cell_len

    from test_presentation import _run_cli

    out = _run_cli(["sweep", "chinext", "--set", "selection.buffer=null", "--set", "selection.count=50,100",
                    "--start", START, "--end", END, "--workers", "1"], demo_store_path, columns=80, tty=True)
    assert all(cell_len(line) <= 80 for line in out.splitlines())
    rows = [line for line in out.splitlines() if line.startswith("│")]
    names = [line.split("│")[1].strip() for line in rows]
    # the base and the variant of the same count are told apart by their names, not dropped
    assert names[0] == "base" and {"buffer=null", "count=50"} <= set(" ".join(names).split())
    assert "variant" not in " ".join(out.split()).partition("left out to fit")[2]
