"""The charts: one matplotlib implementation behind the report's inline SVG, the PNGs and the
notebook figures; the SVG trimmed for inlining (self-contained, unique ids, hover texts)
and byte-stable; matplotlib off the import path of the commands that draw nothing."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from indexrecon.analysis import chart_data
from indexrecon.present import charts as plots

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def res(demo_store):
    import indexrecon as ir

    return ir.rebuild("chinext", demo_store, review="2025-12", incumbents="none")


@pytest.fixture(scope="module")
def page(res) -> str:
    from indexrecon.present.html import render_report

    days = pd.bdate_range("2025-01-02", "2025-03-31").date
    rng = np.random.default_rng(3)
    rebuilt = pd.DataFrame({"date": days, "level": 1000 * np.cumprod(1 + rng.normal(0, 0.01, len(days)))})
    official = pd.DataFrame({"date": days, "level": 2000 * np.cumprod(1 + rng.normal(0, 0.01, len(days)))})
    return render_report(res, backtest=rebuilt, official=official)


def _chart(html: str, kind: str) -> str:
    m = re.search(rf'<svg class="chart" data-chart="{kind}".*?</svg>', html, flags=re.S)
    assert m, f"no {kind} chart"
    return m.group(0)


def _texts(svg: str) -> list[str]:
    return [unescape(t) for t in re.findall(r"<text\b[^>]*>([^<]*)</text>", svg)]


def test_every_chart_is_inline_svg_with_its_title_and_marks(page: str, res) -> None:
    kinds = ["industry_mix", "top_weights", "cumulative_weight", "coverage", "coverage_curve",
             "backtest_level", "backtest_drawdown"]
    assert re.findall(r'data-chart="([^"]+)"', page) == kinds
    for kind in kinds:
        svg = _chart(page, kind)
        assert re.match(r'<svg class="chart" data-chart="\w+" role="img" aria-label="[^"]+" viewBox="0 0 [\d.]+ [\d.]+" '
                        r'width="\d+" height="\d+"><title>[^<]+</title>', svg), svg[:300]
        assert 'class="mark"' in svg, kind  # bars, lines or dots: something drawn
        assert "<text" in svg, kind  # text stays text: the browser draws it with the page's fonts
    # not one file inside another: no prolog, doctype, namespace URLs, metadata, global style
    for needle in ("<?xml", "<!DOCTYPE svg", "xmlns", "<metadata", "<style", "font-family:", "http"):
        assert needle not in "".join(_chart(page, k) for k in kinds), needle


def test_the_charts_show_the_data_they_are_of(page: str, res) -> None:
    mix = chart_data.industry_mix_data(res)
    svg = _chart(page, "industry_mix")
    labels = _texts(svg)
    # one bar per industry, heaviest first, each labelled and with its weight and count
    assert svg.count('class="mark"') == len(mix)
    names = [t for t in labels if t in set(mix["industry"].map(lambda s: plots._short(s, 34)))]
    assert names == [plots._short(s, 34) for s in mix["industry"]]
    first = mix.iloc[0]
    assert f"{plots.pct(first.weight)}  ·  {first['count']} stocks" in labels
    # the hover text names the industry in Chinese too
    assert f"<title>{first.industry} ({first.industry_cn}): {plots.pct(first.weight, 2)}" in svg
    top = chart_data.top_weights_data(res, 20)
    tw = _texts(_chart(page, "top_weights"))
    assert top["label"].iloc[0] in tw and plots.pct(top["weight"].iloc[0], 2) in tw
    assert re.search(r"[\u4e00-\u9fff]", "".join(tw))  # the demo's Chinese names, as text
    cov = res.stats()["coverage"]
    assert any(t.startswith(plots.pct(cov["share_of_market_cap"])) for t in _texts(_chart(page, "coverage")))
    # the backtest: both series named in the legend, a date axis
    level = _texts(_chart(page, "backtest_level"))
    assert "rebuilt" in level and "official 399006" in level
    assert "Feb" in level and "Mar" in level


def test_ids_are_unique_in_the_page_and_every_reference_resolves(page: str) -> None:
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    refs = set(re.findall(r'(?:url\(#|href="#)([^)"]+)', page))
    assert refs and refs <= set(ids), refs - set(ids)


def test_the_report_and_the_notebook_draw_the_same_chart(page: str, res) -> None:
    """One implementation: the figure of `res.plot` has the bars and labels of the report's SVG."""
    fig = res.plot.industry_mix()
    ax = fig.axes[0]
    widths = [round(p.get_width(), 12) for p in ax.patches]
    assert widths == [round(w, 12) for w in chart_data.industry_mix_data(res)["weight"]]
    shown = [t.get_text() for t in ax.get_yticklabels()]
    assert shown and all(s in _texts(_chart(page, "industry_mix")) for s in shown)
    assert "SYNTHETIC" in fig.texts[0].get_text()  # the notebook figure has a title; the report a caption


def test_svg_bytes_are_the_same_in_another_process() -> None:
    """Ids come from a fixed salt and nothing dated is written: a fresh interpreter (another
    hash seed) gives the same bytes."""
    code = ("from indexrecon.present import charts as plots; import sys; sys.stdout.write(plots.chart_svg(plots.hbar_chart, "
            "['a', 'b 演示'], [0.25, 0.5], kind='k', title='t'))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")}
    assert len(outs) == 1 and "b 演示" in outs.pop()


def test_commands_that_draw_nothing_do_not_import_matplotlib(demo_store_path: Path) -> None:
    code = f"""
import sys
from click.testing import CliRunner
from indexrecon.cli.main import main
import indexrecon.present.html, indexrecon.present.market_html  # the page modules, imported but drawing nothing
r = CliRunner().invoke(main, ["stats", "chinext", "--review", "2025-12", "--incumbents", "none",
                              "--store", {str(demo_store_path)!r}, "--format", "json"])
assert r.exit_code == 0, r.output
print(sorted(m for m in sys.modules if m.split(".")[0] == "matplotlib"))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _package_imports(path: Path) -> set[str]:
    """The package modules a file imports (relative imports), type hints aside."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hints = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
             and ast.unparse(node.test) == "TYPE_CHECKING" for n in ast.walk(node)}
    return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0
            and id(n) not in hints}


def test_the_chart_module_imports_no_layer_above_it() -> None:
    """Charts take plain data: present/charts.py imports nothing of the package but its errors
    and analysis (the chart data; the sweep's base name), and the chart data module only the
    errors (type names for hints aside: no results, present or cli)."""
    src = ROOT / "src" / "indexrecon"
    mods = _package_imports(src / "present" / "charts.py")
    assert "analysis.chart_data" in mods and all(m == "errors" or m.startswith("analysis.") for m in mods), mods
    assert _package_imports(src / "analysis" / "chart_data.py") == {"errors"}


def test_a_bar_chart_of_plain_data_without_a_review() -> None:
    svg = plots.chart_svg(plots.hbar_chart, ["up", "down"], [0.6, 0.3], xmax=1.0, tips=["60 of 100", "30 of 100"],
                          kind="plain", title="Plain <data>")
    assert 'aria-label="Plain &lt;data&gt;"' in svg
    assert "<title>60 of 100</title>" in svg and "<title>30 of 100</title>" in svg
    assert "100%" in _texts(svg)  # the axis runs to xmax, labelled by matplotlib's percent formatter


def test_chart_colours_follow_the_page_palette_in_dark_mode(page: str) -> None:
    """Inline charts paint with the page's CSS variables (so they turn dark with the page),
    each with its own colour as the fallback; every variable they use is set in both the
    light and the dark palette."""
    svgs = "".join(re.findall(r"<svg\b.*?</svg>", page, flags=re.S))
    styles = re.findall(r'style="([^"]*)"', svgs)
    assert styles
    literal = [c for s in styles for c in re.findall(r"(?<![(, ])#[0-9a-fA-F]{6}", s)]
    assert literal == [], f"chart colours outside the palette: {sorted(set(literal))}"
    used = {m for s in styles for m in re.findall(r"var\((--[\w-]+), #[0-9a-fA-F]{6}\)", s)}
    assert {"--bg", "--fg", "--c1"} <= used
    css = page[:page.index("</style>")]
    light, dark = css.split("prefers-color-scheme:dark", 1)
    for block in (light, dark):
        assert used <= set(re.findall(r"(--[\w-]+):", block))
