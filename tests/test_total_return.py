"""A backtest on a store without dividends says its total return is the price return, and
compares with the official index by default when the store has its levels (issue 14, item 5)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import indexrecon as ir
from factory import S, make_store, weekdays
from indexrecon.cli.main import main

NO_DIV = "the total return is the price return"
METH: dict[str, Any] = {
    "name": "t_tr", "index_code": "T00002", "title": "Total return test",
    "universe": {"boards": ["chinext"]}, "lookback": {"months": 6},
    "selection": {"rank_by": "avg_total_cap", "count": 5}, "weighting": {"method": "total_cap"},
}


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = make_store(tmp_path_factory.mktemp("tr") / "s.duckdb", [S(f"300{i:03d}", cap=(11 - i) * 1e9) for i in range(1, 11)])
    with ir.open_store(p, read_only=False) as st:  # the official index's levels, rising 0.1% a day
        rows = [["T00002", d, 1000 * 1.001**i] for i, d in enumerate(weekdays(dt.date(2024, 1, 2), dt.date(2025, 12, 31)))]
        st.con.executemany("INSERT INTO index_bars (index_code, date, close) VALUES (?, ?, ?)", rows)
    return p


def test_no_dividends_is_said_and_flagged(store_path: Path) -> None:
    with ir.open_store(store_path) as st:
        bt = ir.backtest(METH, st, "2024-07-01", "2025-06-30")
    assert any(NO_DIV in w for w in bt.warnings)
    doc = json.loads(bt.to_json())
    assert doc["total_return_includes_dividends"] is False
    assert doc["stats"]["total_return_cumulative"] == doc["stats"]["cumulative_return"]


def test_dividends_in_the_store_say_nothing(demo_store) -> None:
    bt = ir.backtest("chinext", demo_store, "2025-01-02", "2025-06-30")
    assert not any(NO_DIV in w for w in bt.warnings)
    assert bt.total_return_includes_dividends is True
    assert bt.stats["total_return_cumulative"] > bt.stats["cumulative_return"]
    assert bt.against is None  # the demo store has no official levels: nothing to compare with


def test_official_levels_compared_by_default(store_path: Path) -> None:
    with ir.open_store(store_path) as st:
        bt = ir.backtest(METH, st, "2024-07-01", "2025-06-30")
        assert bt.stats["against"] == "official T00002" and bt.stats["tracking_error"] is not None
        assert ir.backtest(METH, st, "2024-07-01", "2025-06-30", against="none").against is None
        # a methodology without an index code has nothing to default to
        own = ir.backtest({**METH, "index_code": None}, st, "2024-07-01", "2025-06-30")
        assert own.against is None


def test_cli_backtest_on_the_real_store(real_store_path: Path, reliability_log) -> None:
    runner = CliRunner()
    args = ["backtest", "chinext", "--start", "2025-01-02", "--end", "2025-06-30", "--store", str(real_store_path),
            "--format", "json"]
    r = runner.invoke(main, args)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["against"] == "official 399006" and 0.9 < doc["stats"]["correlation"] <= 1
    # the shared dataset's dividends.parquet is ingested (issue 16): total return includes them
    assert doc["total_return_includes_dividends"] is True
    assert not any(NO_DIV in ln for ln in r.stderr.splitlines())
    r = runner.invoke(main, [*args, "--against", "none"])
    assert r.exit_code == 0 and json.loads(r.stdout)["against"] is None
    reliability_log("silently wrong result (issue 14)", "backtest on the real store (with dividends)",
                    "total return includes the dividends, no warning; compared with the official index by default")
