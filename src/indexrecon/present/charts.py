"""Charts of a review, drawn once with matplotlib: the same Figure shows inline in a
notebook, is saved as a PNG (``--png``) and, written as SVG by `svg`, is inlined in the
HTML report and the market page.

The drawing functions take plain data (DataFrames, lists, dicts): `analysis.chart_data`
computes it from a review, the `*_chart` functions here draw it; matplotlib is imported
only when a chart is drawn, so the commands that draw nothing start without it.

    res.plot.industry_mix()        # matplotlib Figure
    res.plot.weights()             # the top weights as bars
    res.plot.cumulative_weight()   # cumulative weight by number of stocks
    res.plot.coverage()            # share of the board's companies vs its market cap
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import math
import re
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..analysis.chart_data import (
    BacktestSeries,
    coverage_data,
    cumulative_weight_data,
    drawdown,
    industry_mix_data,
    top_weights_data,
)
from ..errors import IndexReconError, writing

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..results.review import ReviewResult

__all__ = [
    "Line",
    "PlotAccessor",
    "backtest_chart",
    "backtest_drawdown_chart",
    "backtest_level_chart",
    "chart_svg",
    "coverage_bars_chart",
    "coverage_chart",
    "coverage_curve_chart",
    "cumulative_weight_chart",
    "draw_hbars",
    "draw_lines",
    "hbar_chart",
    "industry_mix_chart",
    "lines_chart",
    "pct",
    "svg",
    "top_weights_chart",
    "write_pngs",
]

# One palette (colour-blind safe: Okabe-Ito based).
BLUE = "#1f6fb4"
ORANGE = "#e08a00"
GREEN = "#2a9d6f"
RED = "#c8443a"
GREY = "#8a94a3"
SERIES_COLOURS = (BLUE, ORANGE, GREEN, RED, "#7b5ea7")
WIDTH = 7.9  # inches: 569 pt in the SVG, drawn 758 px wide in the report


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def pct(v: float, digits: int = 1) -> str:
    """A fraction as a percentage: pct(0.1234) == '12.3%'; a missing value is 'n/a', never
    'nan%'."""
    if v is None or not math.isfinite(v):
        return "n/a"
    v = 0.0 if abs(v) < 0.5 * 10 ** (-digits - 2) else v  # no "-0.0%"
    return f"{100 * v:.{digits}f}%"


def _plural(n: int, word: str = "stock") -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# ---------------------------------------------------------------------------------------
# Fonts, style, figures
# ---------------------------------------------------------------------------------------
# CJK faces matplotlib may find, most common on Linux first; the first installed ones follow
# DejaVu Sans (matplotlib's own, for Latin) in font.family, and matplotlib falls back to
# them glyph by glyph, so a Chinese name is drawn, not boxes.
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
             "WenQuanYi Zen Hei", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "SimHei",
             "Droid Sans Fallback", "Noto Sans CJK JP")

# The look of every chart (the report's colours: muted ticks, light grid, no top/right
# frame), and for SVG: text kept as <text> (the browser draws it with the page's fonts, so
# Chinese names need no font in the file) and ids from a fixed salt (same bytes every run).
STYLE: dict[str, Any] = {
    "font.size": 9,
    "text.color": "#1d2330",
    "axes.edgecolor": "#8a94a3",
    "axes.labelcolor": "#5d6778",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e3e7ee",
    "grid.linewidth": 0.8,
    "xtick.color": "#8a94a3",
    "ytick.color": "#8a94a3",
    "xtick.labelcolor": "#5d6778",
    "ytick.labelcolor": "#5d6778",
    "legend.frameon": False,
    "svg.fonttype": "none",
    "svg.hashsalt": "indexrecon",
}


@functools.cache
def font_family() -> list[str]:
    """matplotlib's font.family for the charts: DejaVu Sans, then the installed CJK fonts of
    `CJK_FONTS` (none installed: DejaVu Sans alone, and Chinese text shows as boxes)."""
    from matplotlib import font_manager

    def installed() -> set[str]:
        return {f.name for f in font_manager.fontManager.ttflist}

    if not any(f in installed() for f in CJK_FONTS):
        # matplotlib's font cache predates a CJK font installed since (e.g. fonts-noto-cjk):
        # add the system's CJK sans files to this process's font list
        for path in font_manager.findSystemFonts():
            name = Path(path).name.lower()
            if any(k in name for k in ("sanscjk", "sourcehansans", "wqy", "droidsansfallback")):
                with contextlib.suppress(Exception):  # an unreadable font file is no font
                    font_manager.fontManager.addfont(path)
    found = installed()
    return ["DejaVu Sans", *(f for f in CJK_FONTS if f in found)]


@contextlib.contextmanager
def chart_fonts() -> Iterator[None]:
    """Draw (and save) inside this: the font fallback list and `STYLE`, for these figures
    only (no global matplotlib state is changed)."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - _figure says how to install it
        yield
        return
    with matplotlib.rc_context({**STYLE, "font.family": font_family()}):
        yield


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise IndexReconError(
            "charts need matplotlib: python -m pip install matplotlib"
        ) from None
    # A bare Figure (no pyplot): no GUI backend, no global state; it renders with Agg when
    # saved and shows inline in Jupyter.
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _suptitle(fig: Figure, title: str) -> None:
    if title:
        fig.suptitle(title, fontsize=10, x=0.01, ha="left")


def _pct_axis(axis: Any) -> None:
    """Tick labels as percentages of 1, with as many decimals as the tick step needs."""
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))


def _date_axis(ax: Any) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    loc = AutoDateLocator(maxticks=9)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(loc))


# Hover texts of the marks (bars, lines), by artist, until the figure is written as SVG:
# there each mark's group gets class="mark" and a <title> (the browser's tooltip).
_TIPS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


_MARKS = itertools.count()


def _mark(artist: Any, tip: str) -> None:
    artist.set_gid(f"mark{next(_MARKS)}")  # unique in a figure; the SVG keeps no mark id
    _TIPS[artist] = tip


# ---------------------------------------------------------------------------------------
# The two kinds of chart, drawn on an Axes from plain data
# ---------------------------------------------------------------------------------------
def draw_hbars(ax: Any, labels: Sequence[str], values: Sequence[float], *,
               texts: Sequence[str] | None = None, tips: Sequence[str] | None = None,
               colour: str = BLUE, xmax: float | None = None, max_label: int = 34) -> None:
    """Horizontal bars, the first on top, each with its text (default: the value in %) at
    its end; `tips` are the hover texts in SVG. Values are fractions (the axis is in %)."""
    vals = [float(v) for v in values]
    texts = list(texts) if texts is not None else [pct(v) for v in vals]
    y = np.arange(len(vals))
    bars = ax.barh(y, vals, color=colour, height=0.72)
    ax.set_yticks(y, [_short(str(lb), max_label) for lb in labels])
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(len(vals) - 0.5, -0.5)  # first label on top
    ax.grid(False, axis="y")
    for i, (b, text) in enumerate(zip(bars, texts, strict=True)):
        ax.annotate(text, (b.get_width(), b.get_y() + b.get_height() / 2), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize=8)
        _mark(b, tips[i] if tips else f"{labels[i]}: {text}")
    top = max([*vals, 0.0])
    ax.set_xlim(0, xmax if xmax is not None else max(top * 1.3, 0.01))
    _pct_axis(ax.xaxis)


@dataclass
class Line:
    """One series of a line chart: x numbers or dates, y values."""

    name: str
    x: Sequence[Any]
    y: Sequence[float]
    colour: str = BLUE
    dashed: bool = False
    area: bool = False  # shade down to 0
    points: bool = False  # dots instead of a line
    width: float = 1.6


def draw_lines(ax: Any, lines: Sequence[Line], *, dates: bool = False, y_pct: bool = False,
               y_fmt: str | None = None, legend: bool | None = None) -> None:
    """Lines (or dots) on one Axes: a date axis with `dates`, y in % with `y_pct`, or y
    tick labels formatted by `y_fmt` (a str.format pattern of x, e.g. "{x:,.0f}")."""
    for ln in lines:
        x = pd.to_datetime(pd.Series(ln.x)) if dates else np.asarray(ln.x, dtype=float)
        y = np.asarray(ln.y, dtype=float)
        if ln.area:
            shade = ax.fill_between(x, y, color=ln.colour, alpha=0.14, linewidth=0)
            _mark(shade, ln.name)
        if ln.points:
            (art,) = ax.plot(x, y, "o", color=ln.colour, markersize=3, label=ln.name)
        else:
            (art,) = ax.plot(x, y, color=ln.colour, linewidth=ln.width, linestyle="--" if ln.dashed else "-",
                             label=ln.name)
        _mark(art, ln.name)
    if dates:
        _date_axis(ax)
    if y_pct:
        _pct_axis(ax.yaxis)
    elif y_fmt:
        from matplotlib.ticker import StrMethodFormatter

        ax.yaxis.set_major_formatter(StrMethodFormatter(y_fmt))
    if legend if legend is not None else len(lines) > 1:
        ax.legend(loc="best", fontsize=8)


def hbar_chart(labels: Sequence[str], values: Sequence[float], *, title: str = "",
               width: float = WIDTH, **kw: Any) -> Figure:
    """A Figure of `draw_hbars` (keywords as there), tall enough for its bars."""
    fig = _figure(width, 0.27 * len(values) + 0.75 + (0.4 if title else 0))
    draw_hbars(fig.add_subplot(), labels, values, **kw)
    _suptitle(fig, title)
    return fig


def lines_chart(lines: Sequence[Line], *, title: str = "", width: float = WIDTH, height: float = 3.4,
                **kw: Any) -> Figure:
    """A Figure of `draw_lines` (keywords as there)."""
    fig = _figure(width, height)
    draw_lines(fig.add_subplot(), lines, **kw)
    _suptitle(fig, title)
    return fig


# ---------------------------------------------------------------------------------------
# The review's charts, from the data of analysis.chart_data
# ---------------------------------------------------------------------------------------
def industry_mix_chart(mix: pd.DataFrame, title: str = "") -> Figure:
    """Weight per Shenwan level-1 industry (from `industry_mix_data`), with the counts."""
    tips = [f"{r.industry} ({r.industry_cn}): {pct(r.weight, 2)} of the weight, {_plural(r.count)}"
            for r in mix.itertuples()]
    texts = [f"{pct(w)}  ·  {_plural(c)}" for w, c in zip(mix["weight"], mix["count"], strict=True)]
    return hbar_chart(list(mix["industry"]), list(mix["weight"]), texts=texts, tips=tips, title=title)


def top_weights_chart(top: pd.DataFrame, title: str = "") -> Figure:
    """The largest constituent weights (from `top_weights_data`), labelled code and name."""
    tips = [f"{r.label} ({r.industry}): {pct(r.weight, 2)}" for r in top.itertuples()]
    return hbar_chart(list(top["label"]), list(top["weight"]), texts=[pct(w, 2) for w in top["weight"]],
                      tips=tips, colour=ORANGE, title=title)


def cumulative_weight_chart(cw: pd.DataFrame, title: str = "", width: float = 6.2) -> Figure:
    """Cumulative weight of the largest k constituents (from `cumulative_weight_data`)
    against the equal-weight line, the top 10 and 50 (or fewer) marked."""
    fig = _figure(width, 3.4 + (0.4 if title else 0))
    ax = fig.add_subplot()
    draw_lines(ax, [Line("cumulative weight", cw["n"], cw["cum_weight"], BLUE, area=True),
                    Line("equal weight", cw["n"], cw["equal"], GREY, dashed=True)], y_pct=True)
    n = int(cw["n"].iloc[-1])
    for k in [k for k in (10, 50) if k < n] or [k for k in (1, 5) if k < n][-1:]:
        v = float(cw["cum_weight"].iloc[k])
        ax.plot([k], [v], "o", color="#1d2330", markersize=4)
        ax.annotate(f"top {k}: {pct(v)}", (k, v), xytext=(8, -12), textcoords="offset points", fontsize=8)
    ax.set_xlim(0, max(n, 1))
    ax.set_ylim(0, 1)
    ax.set_xlabel("number of constituents, largest weight first")
    ax.legend(loc="lower right", fontsize=8)
    _suptitle(fig, title)
    return fig


def _coverage_bars(ax: Any, cov: dict[str, Any]) -> None:
    texts = [f"{pct(cov['share_of_companies'])}  ·  {cov['index_stocks']} of {cov['board_stocks']} stocks",
             f"{pct(cov['share_of_market_cap'])}  ·  {cov['index_total_cap'] / 1e12:,.2f} of "
             f"{cov['board_total_cap'] / 1e12:,.2f} trillion CNY"]
    draw_hbars(ax, ["companies", "market cap"], [cov["share_of_companies"], cov["share_of_market_cap"]],
               texts=texts, colour=GREEN, xmax=1.0)
    ax.set_title("share of the board held by the index", fontsize=9, loc="left")


def _coverage_curve(ax: Any, curve: pd.DataFrame) -> None:
    mem = curve[curve["member"].astype(bool)]
    draw_lines(ax, [Line("all board stocks, largest first", curve["share_of_companies"],
                         curve["share_of_market_cap"], GREY),
                    Line("index constituents", mem["share_of_companies"], mem["share_of_market_cap"],
                         BLUE, points=True)], y_pct=True)
    _pct_axis(ax.xaxis)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("share of the board's companies, largest market cap first")
    ax.set_ylabel("share of market cap")
    ax.legend(loc="lower right", fontsize=8)


def coverage_bars_chart(cov: dict[str, Any], width: float = WIDTH) -> Figure:
    """The index's share of the board's companies and of its market cap (from
    `coverage_data`)."""
    fig = _figure(width, 1.5)
    _coverage_bars(fig.add_subplot(), cov)
    return fig


def coverage_curve_chart(curve: pd.DataFrame, width: float = WIDTH) -> Figure:
    """The board's concentration curve with the constituents marked (from `coverage_data`)."""
    fig = _figure(width, 3.2)
    _coverage_curve(fig.add_subplot(), curve)
    return fig


def coverage_chart(cov: dict[str, Any], curve: pd.DataFrame, title: str = "") -> Figure:
    """Both coverage charts side by side (the PNG and the notebook)."""
    fig = _figure(11, 3.6 + (0.4 if title else 0))
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1, 1.2])
    _coverage_bars(ax1, cov)
    _coverage_curve(ax2, curve)
    _suptitle(fig, title)
    return fig


def _backtest_lines(bt: BacktestSeries, drawdowns: bool) -> list[Line]:
    series = [("rebuilt", bt.rebuilt, BLUE)]
    if bt.official is not None:
        series.append((bt.official_label or "official", bt.official, ORANGE))
    return [Line(name, df["date"], drawdown(df["level"]) if drawdowns else df["level"], colour,
                 area=drawdowns and i == 0) for i, (name, df, colour) in enumerate(series)]


def _draw_drawdown(ax: Any, bt: BacktestSeries) -> None:
    draw_lines(ax, _backtest_lines(bt, True), dates=True, y_pct=True, legend=False)
    ax.set_ylabel("drawdown")


def backtest_level_chart(bt: BacktestSeries, width: float = WIDTH) -> Figure:
    """The rebuilt level against the official one (rebased), by date."""
    return lines_chart(_backtest_lines(bt, False), dates=True, y_fmt="{x:,.0f}", width=width, legend=True)


def backtest_drawdown_chart(bt: BacktestSeries, width: float = WIDTH) -> Figure:
    """Each series' drawdown from its running peak, by date."""
    fig = _figure(width, 2.5)
    _draw_drawdown(fig.add_subplot(), bt)
    return fig


def backtest_chart(bt: BacktestSeries, title: str = "") -> Figure:
    """Level (rebuilt vs official) above drawdown, sharing the date axis."""
    fig = _figure(9, 6)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    draw_lines(ax1, _backtest_lines(bt, False), dates=True, y_fmt="{x:,.0f}", legend=True)
    ax1.set_ylabel("level")
    _draw_drawdown(ax2, bt)
    _suptitle(fig, title or "index level and drawdown")
    return fig


# ---------------------------------------------------------------------------------------
# A Figure as inline SVG (the HTML report)
# ---------------------------------------------------------------------------------------
_ROOT = re.compile(r"<svg\b[^>]*\bviewBox=\"([^\"]+)\"[^>]*>")
# the chart colours and the page's CSS variables that carry them (present/page.py, light and dark)
PAGE_VARS = {"#ffffff": "--bg", "#000000": "--fg", "#1d2330": "--fg", "#5d6778": "--muted",
             "#e3e7ee": "--line", GREY: "--c0", BLUE: "--c1", ORANGE: "--c2", GREEN: "--c3", RED: "--c4",
             SERIES_COLOURS[4]: "--c5"}
_PAGE_COLOUR = re.compile("|".join(PAGE_VARS), re.I)


def chart_svg(draw: Callable[..., Figure], *args: Any, kind: str, title: str, **kw: Any) -> str:
    """`draw(*args, **kw)` (one of the chart functions above) drawn with the chart fonts
    and style, as inline SVG (see `svg`)."""
    with chart_fonts():
        return svg(draw(*args, **kw), kind, title)


def svg(fig: Figure, kind: str, title: str) -> str:
    """`fig` as an <svg class="chart" data-chart=kind> element to inline in a page.

    matplotlib writes the SVG (text as <text>, ids from a fixed salt, no date: the same
    figure gives the same bytes); this trims it for inlining: no XML prolog, no namespace
    URLs or metadata, no global <style>, no font names (the page's CSS gives the fonts), ids
    prefixed with `kind` (unique in a page of several charts), and the marks that have a
    hover text get class="mark" and a <title>."""
    buf = io.StringIO()
    with chart_fonts(), warnings.catch_warnings():
        # a glyph matplotlib's fonts lack (a Chinese name without a CJK font installed) only
        # makes its width guess rougher: the browser draws the text with the page's fonts
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buf.getvalue()
    tips = {a.get_gid(): t for a in fig.findobj() if (t := _TIPS.get(a)) is not None}
    root = _ROOT.search(text)
    if root is None:  # pragma: no cover - matplotlib always writes a viewBox
        raise IndexReconError("matplotlib wrote an SVG without a viewBox")
    w, h = (float(v) for v in root.group(1).split()[2:])
    body = text[root.end():text.rindex("</svg>")]
    body = re.sub(r"<defs>\s*<style[^>]*>.*?</style>\s*</defs>|<metadata>.*?</metadata>", "", body, flags=re.S)
    body = re.sub(r"font-family: [^;\"]*(; )?", "", body)
    body = re.sub(r">\s+<", "><", re.sub(r"\s*\n\s*", " ", body)).strip()
    body = re.sub(r' transform="rotate\(-0 [^)]*\)"| +(?=/?>)', "", body)
    # the chart's colours follow the page's palette (its dark mode too); each keeps its own
    # value as the fallback, so the SVG reads the same without the page's CSS
    body = re.sub(r'style="[^"]*"', lambda m: _PAGE_COLOUR.sub(
        lambda c: f"var({PAGE_VARS[c[0].lower()]}, {c[0]})", m[0]), body)
    # coordinates to 0.01 pt (matplotlib writes 6 decimals): in attributes, never in text
    body = re.sub(r'="[^"]*"', lambda m: re.sub(r"(\.\d\d)\d+", r"\1", m[0]), body)
    body = re.sub(r'<g id="(mark\d+)">',
                  lambda m: f'<g class="mark"><title>{escape(tips[m[1]])}</title>' if m[1] in tips else "<g>", body)
    # groups around one element carry nothing (their ids are gone): unwrap them
    n = 1
    while n:
        body, n = re.subn(r"<g>(<[^<>]*/>|<text[^<>]*>[^<]*</text>|<g>[^<]*</g>)</g>|<g/>", r"\1", body)
    used = set(re.findall(r'(?:url\(#|href="#)([^)"]+)', body))
    body = re.sub(r' id="([^"]+)"', lambda m: f' id="{kind}-{m[1]}"' if m[1] in used else "", body)
    body = re.sub(r'(url\(#|href="#)', rf"\g<1>{kind}-", body)
    return (f'<svg class="chart" data-chart="{escape(kind)}" role="img" aria-label="{escape(title)}" '
            f'viewBox="0 0 {w:g} {h:g}" width="{w * 4 / 3:.0f}" height="{h * 4 / 3:.0f}">'
            f"<title>{escape(title)}</title>{body}</svg>")


# ---------------------------------------------------------------------------------------
# A review's charts for notebooks and PNG files
# ---------------------------------------------------------------------------------------
def _title(res: ReviewResult, what: str) -> str:
    tag = " — SYNTHETIC demo data" if res.synthetic else ""
    code = f" ({res.methodology.index_code})" if res.methodology.index_code else ""
    return f"{res.methodology.title}{code}, review {res.dates.review}{tag}\n{what}"


def _review_figure(res: ReviewResult, name: str, n: int = 20) -> Figure:
    """One of the review's charts with its title, drawn with the chart fonts."""
    with chart_fonts():
        if name == "industry_mix":
            return industry_mix_chart(industry_mix_data(res), _title(res, "industry mix (weight, stocks)"))
        if name == "top_weights":
            top = top_weights_data(res, n)
            return top_weights_chart(top, _title(res, f"the {len(top)} largest weights"))
        if name == "cumulative_weight":
            return cumulative_weight_chart(cumulative_weight_data(res), _title(res, "cumulative weight"), width=8)
        if name == "coverage":
            return coverage_chart(*coverage_data(res), _title(res, "coverage of the board"))
    raise ValueError(f"unknown chart {name!r}")


def write_pngs(res: ReviewResult, folder: str | Path, backtest: BacktestSeries | None = None,
               dpi: int = 150) -> list[Path]:
    """Write the report's charts as PNG files into `folder` (created if missing); returns
    the paths: industry_mix.png, top_weights.png, cumulative_weight.png, coverage.png and,
    with a backtest, backtest.png."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = ["industry_mix", "top_weights", "cumulative_weight", "coverage"]
    paths = []
    for name in [*names, *(["backtest"] if backtest is not None else [])]:
        path = folder / f"{name}.png"
        with chart_fonts():
            if name == "backtest":
                assert backtest is not None
                m, reb = res.methodology, backtest.rebuilt
                code = f" ({m.index_code})" if m.index_code else ""
                tag = " — SYNTHETIC demo data" if res.synthetic else ""
                fig = backtest_chart(backtest, f"{m.title}{code} rebuilt{tag}\nlevel and drawdown, "
                                               f"{reb['date'].iloc[0]} to {reb['date'].iloc[-1]}")
            else:
                fig = _review_figure(res, name)
            # no timestamps in the file, so the same inputs give the same bytes
            fig.savefig(path, dpi=dpi, metadata={"Software": None})
        paths.append(path)
    return paths


class PlotAccessor:
    """`res.plot`: the review's charts as matplotlib Figures, one call each:

        res.plot.industry_mix()
        res.plot.weights(n=20)
        res.plot.cumulative_weight()
        res.plot.coverage()

    In Jupyter a returned Figure shows inline; elsewhere save it with
    `fig.savefig("chart.png")`. They are the report's charts (same drawing), with a title.
    Needs matplotlib.
    """

    def __init__(self, res: ReviewResult) -> None:
        self._res = res

    def industry_mix(self) -> Figure:
        """Weight per Shenwan level-1 industry (bars, with the stock counts)."""
        return _review_figure(self._res, "industry_mix")

    def weights(self, n: int = 20) -> Figure:
        """The `n` largest constituent weights."""
        return _review_figure(self._res, "top_weights", n)

    def cumulative_weight(self) -> Figure:
        """Cumulative weight of the largest k constituents, with an equal-weight line."""
        return _review_figure(self._res, "cumulative_weight")

    def coverage(self) -> Figure:
        """Share of the board's companies vs its market cap, and the board's curve."""
        return _review_figure(self._res, "coverage")

    def __repr__(self) -> str:
        return "<plot accessor: industry_mix(), weights(n=20), cumulative_weight(), coverage()>"


def sweep_figure(res: Any) -> Figure:
    """A sweep's chart (of analysis.sweeps.SweepResult): every variant's level (the base
    thick and black), and return against volatility."""
    from ..analysis.sweeps import BASE

    names = [c for c in res.levels.columns if c != "date"]
    k = len(SERIES_COLOURS)
    lines = [Line(n, res.levels["date"], res.levels[n], "black" if n == BASE else SERIES_COLOURS[(i - 1) % k],
                  dashed=n != BASE and i > k, width=2.2 if n == BASE else 1.2) for i, n in enumerate(names)]
    t = res.table
    with chart_fonts():
        fig = _figure(11, 4.2)
        ax, ax2 = fig.subplots(1, 2, width_ratios=[1.6, 1])
        draw_lines(ax, lines, dates=True, legend=True)
        ax.set_title(f"{res.methodology.name}: levels {res.start} .. {res.end}", fontsize=10)
        ax2.scatter(100 * t["volatility"], 100 * t["annualised_return"],
                    c=["black" if v == BASE else BLUE for v in t["variant"]])
        for _, r in t.iterrows():
            ax2.annotate(str(r["variant"]), (100 * r["volatility"], 100 * r["annualised_return"]),
                         fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax2.set(xlabel="volatility, % a year", ylabel="annualised return, %")
        ax2.set_title("return against risk", fontsize=10)
        if res.synthetic:
            fig.suptitle("SYNTHETIC demo data", fontsize=9, color=RED)
    return fig


def sweep_plot(res: Any, path: str | Path) -> Path:
    """A sweep's chart as one PNG."""
    path = Path(path)
    with chart_fonts(), writing(path):
        sweep_figure(res).savefig(path, format="png")
    return path
