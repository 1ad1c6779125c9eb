"""What a user reads: strict JSON from every command, figures that are never NaN, terminal
tables that never cut a code or a weight, and the smaller presentation fixes of issue 14."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from factory import S, make_store
from indexrecon.cli.main import main


def strict_loads(text: str) -> Any:
    """json.loads that refuses NaN, Infinity and -Infinity (as browsers and jq do)."""

    def refuse(const: str) -> None:
        raise ValueError(f"not strict JSON: bare {const}")

    return json.loads(text, parse_constant=refuse)


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)
    return r.exit_code, r.stdout, r.stderr


MINI = """\
name: mini
title: Mini test index
universe: {boards: [chinext]}
lookback: {months: 6}
selection: {rank_by: avg_total_cap, count: 4}
weighting: {method: total_cap}
schedule: {review_months: [6, 12]}
"""


@pytest.fixture(scope="module")
def gap_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Ten ChiNext stocks; incumbents 300099 (unknown to the store) and 300002 (no shares):
    both are kept in the index without a weight."""
    d = tmp_path_factory.mktemp("gap")
    p = d / "gap.duckdb"
    make_store(p, [S(f"3000{i:02d}", cap=(20 - i) * 1e9) for i in range(1, 11)])
    con = duckdb.connect(str(p))
    con.execute("DELETE FROM shares WHERE code = '300002'")
    con.execute("UPDATE securities SET name = NULL WHERE code = '300001'")  # as in the real data
    con.close()
    inc = d / "incumbents.txt"
    inc.write_text("300002\n300099\n300001\n")
    meth = d / "mini.yaml"
    meth.write_text(MINI)
    return {"store": p, "incumbents": inc, "method": meth}


def _gap_args(g: dict[str, Path], cmd: str, *more: str) -> list[str]:
    return [cmd, str(g["method"]), "--review", "2024-12", "--incumbents", str(g["incumbents"]),
            "--store", str(g["store"]), *more]


# -- 3. NaN figures and invalid JSON --------------------------------------------------------
def test_concentration_is_over_the_weighted_constituents(gap_store: dict[str, Path]) -> None:
    code, out, err = invoke(*_gap_args(gap_store, "stats", "--format", "json"))
    assert code == 0, err
    conc = strict_loads(out)["stats"]["concentration"]
    assert conc["count"] == 4 and conc["weighted_count"] == 2 and conc["unweighted_count"] == 2
    assert conc["unweighted_codes"] == ["300002", "300099"]
    for k in ("top1", "top5", "top10", "hhi", "gini", "effective_n"):
        assert isinstance(conc[k], float) and math.isfinite(conc[k]), k
    # two weighted stocks, caps 19bn and 17bn: the figures follow from them alone
    w = [19 / 36, 17 / 36]
    assert conc["top1"] == pytest.approx(w[0]) and conc["top5"] == pytest.approx(1.0)
    assert conc["hhi"] == pytest.approx(w[0] ** 2 + w[1] ** 2)
    assert conc["effective_n"] == pytest.approx(1 / conc["hhi"])


def test_unweighted_constituents_are_named_beside_the_figures(gap_store: dict[str, Path], tmp_path: Path) -> None:
    code, out, _ = invoke(*_gap_args(gap_store, "stats"))
    assert code == 0
    assert "2 of 4 constituents have no weight" in out and "300002, 300099" in out
    assert "nan" not in out.lower()
    html = tmp_path / "r.html"
    code, _, err = invoke(*_gap_args(gap_store, "report", "-o", str(html)))
    assert code == 0, err
    page = html.read_text()
    assert "nan%" not in page.lower() and ">nan<" not in page.lower()
    assert "2 without a weight" in page and 'id="unweighted"' in page


def test_rebuild_json_with_unweighted_constituents_is_strict(gap_store: dict[str, Path]) -> None:
    for cmd in ("rebuild", "stats", "rebalance"):
        args = _gap_args(gap_store, cmd, "--format", "json")
        code, out, err = invoke(*args)
        assert code == 0, (cmd, err)
        doc = strict_loads(out)
        if cmd == "rebuild":
            weights = {c["code"]: c["weight"] for c in doc["constituents"]}
            assert weights["300099"] is None and weights["300002"] is None


def test_the_json_writer_writes_null_for_nan_and_infinity() -> None:
    import numpy as np
    import pandas as pd

    from indexrecon.jsonout import dumps

    doc = strict_loads(dumps({
        "nan": float("nan"), "inf": float("inf"), "ninf": -np.inf, "np": np.float64("nan"),
        "int": np.int64(3), "na": pd.NA, "nat": pd.NaT, "day": dt.date(2024, 12, 16),
        "nested": [{"x": (1.5, float("nan"))}], "ts": pd.Timestamp("2024-12-16"),
    }))
    assert doc == {"nan": None, "inf": None, "ninf": None, "np": None, "int": 3, "na": None, "nat": None,
                   "day": "2024-12-16", "nested": [{"x": [1.5, None]}], "ts": "2024-12-16T00:00:00"}


@pytest.fixture(scope="module")
def official_demo(demo_store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo store with an official ChiNext list (our own 2024-12 rebuild less
    one stock) and official closes, so compare and track have something to read; one official
    member has no share data, so it stays in the index without a weight."""
    import indexrecon as ir

    p = tmp_path_factory.mktemp("offdemo") / "demo.duckdb"
    shutil.copy(demo_store_path, p)
    with ir.open_store(p) as st:
        res = ir.rebuild("chinext", st, "2024-12", incumbents="none")
        eff = res.dates.effective
        cons = res.constituents[["code", "weight"]].iloc[1:]
    con = duckdb.connect(str(p))
    con.register("_w", cons.assign(weight=cons["weight"] / cons["weight"].sum()))
    con.execute("INSERT INTO official_weights SELECT '399006', ?, code, weight FROM _w", [eff])
    con.execute("INSERT INTO index_bars SELECT '399006', date, NULL, NULL, NULL, 1000 + row_number() OVER (ORDER BY date), "
                "NULL, NULL FROM calendar WHERE date >= ?", [eff])
    con.execute("DELETE FROM shares WHERE code = ?", [cons["code"].iloc[1]])
    con.close()
    return p


def test_every_json_output_is_strict_json(official_demo: Path) -> None:
    """Every command with --format json, on the demo store, parses with a parser that
    refuses NaN and Infinity."""
    import click

    env = {"INDEXRECON_STORE": str(official_demo)}
    commands = {
        ("rebuild",): ["chinext", "--review", "2025-12"],
        ("rebalance",): ["chinext"],
        ("stats",): ["chinext", "--review", "2025-12"],
        ("compare",): ["chinext", "--review", "2024-12", "--incumbents", "none"],
        ("check-data",): [],
        ("store-schema",): [],
        ("track",): ["chinext", "--from-official", "2024-12-16", "--end", "2025-03-31"],
        ("backtest",): ["chinext", "--start", "2024-01-02", "--end", "2024-06-28", "--workers", "1"],
        ("sweep",): ["chinext", "--set", "selection.count=100", "--start", "2024-01-02", "--end", "2024-06-28",
                     "--workers", "1"],
        ("market", "breadth"): [],
        ("market", "limits"): ["--ladder"],
        ("market", "moves"): ["chinext", "--days", "5", "--start", "2025-01-02"],
        ("market", "compare"): ["399006", "chinext", "--start", "2025-01-02"],
        ("market", "events"): ["national-day", "399006", "--days", "5"],
    }
    not_on_demo = {("market", "valuation"): "needs a valuation table, which the demo store has not"}

    def offering_json(group: click.Group, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
        out: set[tuple[str, ...]] = set()
        for name, cmd in group.commands.items():
            if isinstance(cmd, click.Group):
                out |= offering_json(cmd, (*prefix, name))
            elif any(o.name == "fmt" and "json" in getattr(o.type, "choices", ()) for o in cmd.params):
                out.add((*prefix, name))
        return out

    # every command that offers json is tried (or named with the reason it cannot be here)
    assert offering_json(main) == set(commands) | set(not_on_demo)
    for path, args in commands.items():
        code, out, err = invoke(*path, *args, "--format", "json", env=env)
        assert code == 0, (path, err)
        strict_loads(out)
    code, out, _ = invoke("schema")
    assert code == 0 and strict_loads(out)["title"]


# -- 9. Unreadable output -----------------------------------------------------------------
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def _run_cli(args: list[str], store: Path, *, columns: int, tty: bool) -> str:
    """The command as a user runs it: on a pseudo-terminal COLUMNS wide, or piped."""
    env = {**os.environ, "INDEXRECON_STORE": str(store), "COLUMNS": str(columns), "LINES": "50"}
    env.pop("NO_COLOR", None)
    cmd = [sys.executable, "-m", "indexrecon.cli.main", *args]
    if not tty:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=300).stdout
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(cmd, env=env, stdout=slave, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=300) == 0
    finally:
        os.close(master)
    return ANSI.sub("", b"".join(chunks).decode("utf-8").replace("\r\n", "\n"))


@pytest.fixture(scope="module")
def demo_constituents(demo_store_path: Path) -> list[dict[str, Any]]:
    code, out, _ = invoke("rebuild", "chinext", "--review", "2025-12", "--format", "json",
                          env={"INDEXRECON_STORE": str(demo_store_path)})
    assert code == 0
    return strict_loads(out)["constituents"]


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_rebuild_on_a_narrow_terminal_never_cuts_code_or_weight(
        columns: int, demo_store_path: Path, demo_constituents: list[dict[str, Any]]) -> None:
    from rich.cells import cell_len

    out = _run_cli(["rebuild", "chinext", "--review", "2025-12"], demo_store_path, columns=columns, tty=True)
    assert "…" not in out
    assert all(cell_len(line) <= columns for line in out.splitlines())
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^│\s*(\d+) │ (\d{6}) │.*│\s+(\d+\.\d\d%) │$", line)
        if m:
            rows[m.group(2)] = (int(m.group(1)), m.group(3))
    assert rows == {c["code"]: (c["rank"], f"{100 * c['weight']:.2f}%") for c in demo_constituents}
    header = next(line for line in out.splitlines() if "rank" in line and "code" in line)
    shown = {c for c in ("name", "board", "industry") if c in header}
    missing = {"name", "board", "industry"} - shown
    if missing:  # a column that does not fit is left out, and the output says which
        note = re.search(r"\(left out to fit (\d+) columns: ([^;]+);", " ".join(out.split()))
        assert note and int(note.group(1)) == columns
        assert missing <= {c.strip() for c in note.group(2).split(",")}
    if columns >= 120:
        assert shown == {"name", "board", "industry"}  # wide enough: industry wraps, nothing dropped
    assert "name" in shown  # the name gives way after the metrics


@pytest.mark.parametrize("columns", [40, 250])
def test_piped_rebuild_is_a_plain_table_with_every_cell_whole(
        columns: int, demo_store_path: Path, demo_constituents: list[dict[str, Any]]) -> None:
    out = _run_cli(["rebuild", "chinext", "--review", "2025-12"], demo_store_path, columns=columns, tty=False)
    assert "…" not in out and "│" not in out and "┃" not in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["rank", "code"])
    body = lines[header + 2: header + 2 + len(demo_constituents)]
    for line, c in zip(body, demo_constituents, strict=True):
        cells = line.split()
        assert cells[:3] == [str(c["rank"]), c["code"], c["name"]]
        assert cells[-1] == f"{100 * c['weight']:.2f}%"
        assert c["industry"] in line
    # aligned: the weight column ends at the same place on every row (a CJK character is two cells)
    from rich.cells import cell_len

    assert len({cell_len(line) for line in body}) == 1


# -- smaller things a user notices ----------------------------------------------------------
def test_stats_csv_has_all_three_tables(tmp_path: Path, demo_store_path: Path) -> None:
    import pandas as pd

    env = {"INDEXRECON_STORE": str(demo_store_path)}
    args = ["stats", "chinext", "--review", "2025-12", "--format", "csv"]
    code, out, _ = invoke(*args, env=env)
    assert code == 0
    blocks = out.rstrip("\n").split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == ["industry_mix", "concentration", "coverage"]
    frames = {b.splitlines()[0]: pd.read_csv(io.StringIO(b.split("\n", 1)[1]), dtype={"sw_l1_code": str})
              for b in blocks}
    assert frames["industry_mix"]["count"].sum() == 100
    assert frames["concentration"]["count"].tolist() == [100] and "hhi" in frames["concentration"]
    assert "share_of_market_cap" in frames["coverage"] and "board_stocks_without_cap" in frames["coverage"]
    assert all((f["data"] == "SYNTHETIC demo data").all() for f in frames.values())
    # -o DIR: one CSV per table, each readable as it is
    code, _, err = invoke(*args, "-o", f"{tmp_path}/stats/", env=env)
    assert code == 0, err
    for name, frame in frames.items():
        got = pd.read_csv(tmp_path / "stats" / f"{name}.csv", dtype={"sw_l1_code": str})
        pd.testing.assert_frame_equal(got, frame)


def test_compare_shows_both_weights_in_percent_and_explains_the_distance(official_demo: Path) -> None:
    code, out, err = invoke("compare", "chinext", "--review", "2024-12", "--incumbents", "none",
                            env={"INDEXRECON_STORE": str(official_demo)})
    assert code == 0, err
    assert "half the sum of the absolute differences" in out
    lines = out.splitlines()
    start = lines.index("Rebuilt, not official")
    header = lines[start + 1].split()
    assert header[-1] == "weight"
    row = lines[start + 3].split()  # the one stock left out of the official list
    assert re.fullmatch(r"\d+\.\d\d%", row[-1])
    code, out, _ = invoke("compare", "chinext", "--review", "2024-12", "--incumbents", "simulate",
                          env={"INDEXRECON_STORE": str(official_demo)})
    if "In the official list, not rebuilt" in out:
        lines = out.splitlines()
        start = lines.index("In the official list, not rebuilt")
        assert lines[start + 1].split()[-1] == "official_weight"
        assert all(re.search(r"\d+\.\d\d%$", line) for line in lines[start + 3:start + 4])


def test_weight_columns_are_percent_in_every_table() -> None:
    import pandas as pd

    from indexrecon.present.describe import fmt_value, rich_table

    assert fmt_value("official_weight", 0.0123) == fmt_value("weight", 0.0123) == "1.23%"
    t = rich_table(pd.DataFrame({"share_of_market_cap": [0.5], "board_total_cap": [1e12]}))
    assert t.headers == ["share_of_market_cap", "board_total_cap (100m CNY)"]


def test_coverage_counts_board_stocks_without_share_data(gap_store: dict[str, Path], tmp_path: Path) -> None:
    code, out, _ = invoke(*_gap_args(gap_store, "stats", "--format", "json"))
    cov = strict_loads(out)["stats"]["coverage"]
    assert cov["board_stocks_without_cap"] == 1 and cov["board_stocks"] == 9  # 300002 has no shares
    code, out, _ = invoke(*_gap_args(gap_store, "stats"))
    assert code == 0
    assert "share_of_market_cap (100m CNY)" not in out and "share_of_market_cap" in out
    assert "1 board stock(s) have no share data at the cutoff" in out and "other 9" in out
    html = tmp_path / "r.html"
    assert invoke(*_gap_args(gap_store, "report", "-o", str(html)))[0] == 0
    page = html.read_text()
    assert "(1 more without share data)" in page and 'id="coverage-note"' in page


def test_explain_and_headers_print_a_clean_identity(gap_store: dict[str, Path]) -> None:
    code, out, err = invoke(*_gap_args(gap_store, "explain", "300001", "300002", "300010"))
    assert code == 0, err
    lines = out.splitlines()
    # a custom design has no index code and no provider: neither 'None' nor a placeholder
    assert lines[0].startswith("Mini test index review 2024-12:") and "None" not in out
    inc = gap_store["incumbents"]
    assert f"incumbents: 3 codes from the file {inc}" in lines[1]
    assert "300001: IN (weight " in out and " :" not in out  # no name in the store: no gap before ':'
    assert re.search(r"^300001: IN \(weight \d+\.\d\d%\) — rank 1, ", out, re.M)
    assert re.search(r"^300002 Test 300002: IN \(no weight: no price or shares at the cutoff\) — kept: ", out, re.M)
    assert re.search(r"^300010 Test 300010: OUT — rank \d+", out, re.M)
    code, out, _ = invoke("show", str(gap_store["method"]))
    assert out.splitlines()[0] == "Mini test index — custom methodology 'mini' (no official index code)"
    assert "custom, custom" not in out and "None" not in out


def test_methodologies_listing_is_aligned() -> None:
    code, out, _ = invoke("methodologies")
    assert code == 0
    rows = [line for line in out.splitlines()[2:] if line.strip()]
    assert any(r.startswith("chinext_composite ") for r in rows)
    starts = {r.index(r.split()[1], len(r.split()[0])) for r in rows}
    assert len(starts) == 1  # every index code in one column, whatever the name's length


def test_html_tables_fit_and_declare_a_cjk_font_stack(demo_store_path: Path, tmp_path: Path) -> None:
    html = tmp_path / "r.html"
    code, _, err = invoke("report", "chinext", "--review", "2025-12", "-o", str(html),
                          env={"INDEXRECON_STORE": str(demo_store_path)})
    assert code == 0, err
    page = html.read_text()
    body_font = re.search(r"body\{[^}]*font:[^;}]*", page).group(0)
    for family in ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC"):
        assert f'"{family}"' in body_font, family
    # the industry and name cells wrap; numbers (the weight) never do
    assert re.search(r'<td class="wrap">[^<]*Equipment</td>', page)
    assert "td.wrap{white-space:normal" in page and "td.num{white-space:nowrap}" in page
    assert "avg_<wbr>total_<wbr>cap" in page


def test_charts_fall_back_to_an_installed_cjk_font() -> None:
    import warnings

    from matplotlib import font_manager

    from indexrecon.present import charts as plots

    families = plots.font_family()
    installed = {f.name for f in font_manager.fontManager.ttflist}
    assert families[0] == "DejaVu Sans"
    assert families[1:] == [f for f in plots.CJK_FONTS if f in installed]
    if len(families) == 1:
        pytest.skip("no CJK font installed here (apt-get install fonts-noto-cjk)")
    with warnings.catch_warnings(record=True) as caught, plots.chart_fonts():
        warnings.simplefilter("always")
        fig = plots._figure(3, 1)
        fig.suptitle("演示电力 创业板指")
        fig.savefig(io.BytesIO(), format="png")
    assert not [w for w in caught if "missing from" in str(w.message)], [str(w.message) for w in caught]


def test_ci_installs_a_cjk_font_with_chromium() -> None:
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert re.search(r"apt-get install[^\n]*chromium fonts-noto-cjk", ci)


@pytest.mark.parametrize("width", [40, 60, 80, 100, 140, 200])
def test_fitted_table_never_exceeds_the_width_nor_cuts_a_kept_cell(width: int) -> None:
    from rich.cells import cell_len
    from rich.console import Console

    from indexrecon.present.termtable import TextTable

    keys = ["rank", "code", "name", "industry", "avg_total_cap", "weight", "reason"]
    rows = [[str(i), f"300{i:03d}", f"演示电力{i}", "Agriculture, Forestry, Animal Husbandry & Fishery",
             f"{1234.5 * i:,.1f}", f"{10 / i:.2f}%", f"rank {i}, retained (incumbent within 120)"]
            for i in range(1, 30)]
    t = TextTable(keys, keys, [True, False, False, False, True, True, False], rows)
    con = Console(file=io.StringIO(), force_terminal=True, width=width, color_system=None)
    con.print(t)
    out = con.file.getvalue()
    assert all(cell_len(line) <= width for line in out.splitlines())
    for r in rows:  # rank, code and weight of every row whole, on one line
        assert re.search(rf"│\s*{r[0]} │ {r[1]} │(.*│)?\s*{re.escape(r[5])} │", out)
    shown = [k for k in keys if k not in t.dropped]
    # what gives way first: wide text, then numbers, then the name, the reason last
    order = ["industry", "avg_total_cap", "name", "reason"]
    assert set(t.dropped) == set(order[:len(t.dropped)])
    if width >= 140:
        assert shown == keys


def test_counts_of_stocks_without_cap_carry_no_amount_unit() -> None:
    """`board_stocks_without_cap` is a count: no '(100m CNY)' header, no division by 1e8."""
    from indexrecon.present.describe import fmt_value, unit

    assert unit("board_stocks_without_cap") == ""
    assert fmt_value("board_stocks_without_cap", 12) == "12"
    assert unit("board_total_cap") == "100m CNY" and unit("share_of_market_cap") == "%"
