"""Charts of a review: the data behind each chart, inline SVG for the HTML report, and
matplotlib figures (for notebooks and ``--png``).

The SVG side is plain Python (no dependency, nothing fetched at view time); matplotlib is
imported only when a figure is asked for, so the command line starts fast without it.

    res.plot.industry_mix()        # matplotlib Figure
    res.plot.weights()             # the top weights as bars
    res.plot.cumulative_weight()   # cumulative weight by number of stocks
    res.plot.coverage()            # share of the board's companies vs its market cap
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import IndexReconError, writing

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..results.review import ReviewResult

__all__ = [
    "BacktestSeries",
    "PlotAccessor",
    "backtest_series",
    "coverage_data",
    "cumulative_weight_data",
    "drawdown",
    "fig_backtest",
    "fig_coverage",
    "fig_cumulative_weight",
    "fig_industry_mix",
    "fig_weights",
    "industry_mix_data",
    "levels_frame",
    "top_weights_data",
    "write_pngs",
]

# One palette for SVG and matplotlib (colour-blind safe: Okabe-Ito based).
BLUE = "#1f6fb4"
ORANGE = "#e08a00"
GREEN = "#2a9d6f"
RED = "#c8443a"
GREY = "#8a94a3"
SERIES_COLOURS = (BLUE, ORANGE, GREEN, RED, "#7b5ea7")


# ---------------------------------------------------------------------------------------
# The data behind each chart
# ---------------------------------------------------------------------------------------
def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def industry_mix_data(res: ReviewResult) -> pd.DataFrame:
    """Weight and count per Shenwan level-1 industry, heaviest first (columns industry,
    industry_cn, count, weight)."""
    mix = res.industry_mix()
    return pd.DataFrame(
        {
            "industry": mix["sw_l1_name_en"].astype(str),
            "industry_cn": mix["sw_l1_name"].astype(str),
            "count": mix["count"].astype(int),
            "weight": mix["weight"].astype(float),
        }
    )


def top_weights_data(res: ReviewResult, n: int = 20) -> pd.DataFrame:
    """The `n` heaviest constituents (columns code, name, industry, weight, label)."""
    cons = res.constituents
    top = cons.sort_values(["weight", "code"], ascending=[False, True], kind="stable").head(n)
    names = top["name"].fillna("").astype(str) if "name" in top else pd.Series("", index=top.index)
    out = pd.DataFrame(
        {
            "code": top["code"].astype(str),
            "name": names,
            "industry": top["industry"].fillna("").astype(str) if "industry" in top else "",
            "weight": top["weight"].astype(float),
        }
    ).reset_index(drop=True)
    out["label"] = [f"{c} {nm}".strip() for c, nm in zip(out["code"], out["name"], strict=True)]
    return out


def cumulative_weight_data(res: ReviewResult) -> pd.DataFrame:
    """Cumulative weight of the heaviest k constituents, k = 0..N (columns n, cum_weight,
    equal: the same curve for an equal-weight index)."""
    w = np.sort(res.constituents["weight"].to_numpy(dtype=float))[::-1]
    n = w.size
    k = np.arange(n + 1)
    return pd.DataFrame(
        {
            "n": k,
            "cum_weight": np.concatenate([[0.0], np.cumsum(w)]),
            "equal": k / n if n else k * 0.0,
        }
    )


def coverage_data(res: ReviewResult, cap_col: str = "total_cap") -> tuple[dict[str, Any], pd.DataFrame]:
    """The coverage numbers (as in `res.stats()["coverage"]`) and the board's concentration
    curve: every board stock by market cap, largest first, with the cumulative share of
    companies and of market cap and whether it is a constituent."""
    cov = res.stats()["coverage"]
    c = res.candidates
    board = c[c[cap_col].notna()].sort_values([cap_col, "code"], ascending=[False, True], kind="stable")
    cap = board[cap_col].to_numpy(dtype=float)
    total = cap.sum()
    n = len(board)
    members = set(res.codes)
    curve = pd.DataFrame(
        {
            "code": board["code"].to_numpy(),
            "share_of_companies": np.arange(1, n + 1) / n if n else np.array([]),
            "share_of_market_cap": np.cumsum(cap) / total if total else np.zeros(n),
            "member": [code in members for code in board["code"]],
        }
    )
    return cov, curve


def levels_frame(obj: Any, name: str = "level") -> pd.DataFrame:
    """Index levels as a DataFrame with columns date (datetime.date) and level, sorted.

    Accepts a DataFrame with a date column (or a date index) and a level/close/value column,
    a Series indexed by date, or an object with a `levels` attribute holding either."""
    if obj is None:
        raise IndexReconError("no index levels given")
    if hasattr(obj, "levels") and not isinstance(obj, (pd.DataFrame, pd.Series)):
        obj = obj.levels
    if isinstance(obj, pd.Series):
        df = pd.DataFrame({"date": obj.index, "level": obj.to_numpy()})
    elif isinstance(obj, pd.DataFrame):
        df = obj.reset_index() if "date" not in obj.columns else obj
        date_col = "date" if "date" in df.columns else df.columns[0]
        level_col = next((c for c in (name, "level", "close", "value", "nav") if c in df.columns), None)
        if level_col is None:
            numeric = [c for c in df.columns if c != date_col and pd.api.types.is_numeric_dtype(df[c])]
            if not numeric:
                raise IndexReconError("index levels need a 'level' column")
            level_col = numeric[0]
        df = pd.DataFrame({"date": df[date_col].to_numpy(), "level": df[level_col].to_numpy()})
    else:
        raise IndexReconError(f"cannot read index levels from {type(obj).__name__}")
    df["date"] = pd.to_datetime(df["date"]).dt.date
    df["level"] = pd.to_numeric(df["level"], errors="coerce").astype(float)
    df = df.dropna(subset=["level"])
    return df.sort_values("date", kind="stable").drop_duplicates("date", keep="last").reset_index(drop=True)


def drawdown(levels: pd.Series) -> pd.Series:
    """Drawdown from the running peak: level / running max - 1 (0 at a new high)."""
    v = levels.astype(float)
    return v / v.cummax() - 1.0


@dataclass
class BacktestSeries:
    """The rebuilt levels and, when the store has it, the official index over the same days
    rebased to the rebuilt level on the first common day."""

    rebuilt: pd.DataFrame  # date, level
    official: pd.DataFrame | None = None  # date, level (rebased), close (as published)
    official_label: str = ""

    def stats(self) -> list[dict[str, Any]]:
        """Per series: first and last level, total and annualised return, maximum
        drawdown; for the rebuilt series also the annualised tracking error (daily return
        differences, x sqrt(252)) and daily-return correlation against the official one."""
        rows = [_series_stats("rebuilt", self.rebuilt)]
        if self.official is not None and len(self.official):
            rows.append(_series_stats(self.official_label or "official", self.official))
            merged = self.rebuilt.merge(self.official, on="date", suffixes=("", "_off"))
            if len(merged) > 2:
                diff = merged["level"].pct_change() - merged["level_off"].pct_change()
                rows[0]["tracking_error"] = float(diff.std(ddof=1) * math.sqrt(252))
                rows[0]["correlation"] = float(
                    merged["level"].pct_change().corr(merged["level_off"].pct_change())
                )
        return rows


def _series_stats(name: str, df: pd.DataFrame) -> dict[str, Any]:
    lv = df["level"].to_numpy(dtype=float)
    days = (df["date"].iloc[-1] - df["date"].iloc[0]).days if len(df) > 1 else 0
    total = lv[-1] / lv[0] - 1 if len(lv) and lv[0] else float("nan")
    annual = (1 + total) ** (365.25 / days) - 1 if days > 0 and total > -1 else float("nan")
    return {
        "series": name,
        "start": df["date"].iloc[0].isoformat() if len(df) else None,
        "end": df["date"].iloc[-1].isoformat() if len(df) else None,
        "first": float(lv[0]) if len(lv) else float("nan"),
        "last": float(lv[-1]) if len(lv) else float("nan"),
        "total_return": float(total),
        "annualised_return": float(annual),
        "max_drawdown": float(drawdown(df["level"]).min()) if len(df) else float("nan"),
    }


def backtest_series(levels: Any, official: Any = None, official_label: str = "") -> BacktestSeries:
    """Normalise rebuilt (and official) levels for the charts: official rebased to the
    rebuilt level on the first day both have."""
    reb = levels_frame(levels)
    if reb.empty:
        raise IndexReconError("the backtest returned no levels")
    off = None
    if official is not None:
        off = levels_frame(official)
        off = off[(off["date"] >= reb["date"].iloc[0]) & (off["date"] <= reb["date"].iloc[-1])]
        common = reb.merge(off, on="date", suffixes=("", "_off"))
        if common.empty:
            off = None
        else:
            scale = common["level"].iloc[0] / common["level_off"].iloc[0]
            off = off.assign(close=off["level"], level=off["level"] * scale).reset_index(drop=True)
    return BacktestSeries(reb, off, official_label)


# ---------------------------------------------------------------------------------------
# Inline SVG (for the HTML report)
# ---------------------------------------------------------------------------------------
def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About `n` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(s * mag for s in (1, 2, 5, 10) if s * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks = []
    v = start
    while v <= hi + step * 1e-6:
        ticks.append(round(v, 12))
        v += step
    if ticks[-1] < hi - step * 1e-6:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def pct(v: float, digits: int = 1) -> str:
    """A fraction as a percentage: pct(0.1234) == '12.3%'; a missing value is 'n/a', never
    'nan%'."""
    if v is None or not math.isfinite(v):
        return "n/a"
    v = 0.0 if abs(v) < 0.5 * 10 ** (-digits - 2) else v  # no "-0.0%"
    return f"{100 * v:.{digits}f}%"


def _tick_fmt(fmt: Any, ticks: Sequence[float]) -> Any:
    """`fmt` itself, or for "pct" a percentage with just enough decimals for the step."""
    if fmt != "pct":
        return fmt
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    digits = max(0, -math.floor(math.log10(step * 100) + 1e-9)) if step > 0 else 0
    return lambda v: pct(v, digits)


def _n(v: float) -> str:
    """A compact SVG coordinate."""
    return f"{v:.1f}".rstrip("0").rstrip(".") if math.isfinite(v) else "0"


def _text_width(text: str, size: float = 12) -> float:
    """Rough rendered width: CJK glyphs are about one em, Latin about 0.58 em."""
    return sum(size if ord(ch) > 0x2E7F else size * 0.58 for ch in text)


def _svg_open(width: int, height: int, label: str, kind: str) -> str:
    return (
        f'<svg class="chart" data-chart="{escape(kind)}" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'preserveAspectRatio="xMinYMin meet"><title>{escape(label)}</title>'
    )


def hbar_svg(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    kind: str,
    title: str,
    tips: Sequence[str] | None = None,
    notes: Sequence[str] | None = None,
    value_fmt: Any = pct,
    tick_fmt: Any = None,
    axis_max: float | None = None,
    width: int = 760,
    bar: int = 20,
    gap: int = 6,
    colour_class: str = "c1",
    max_label: int = 34,
) -> str:
    """Horizontal bars, one per label, the value written at the end of each bar; `tips`
    become hover tooltips, `notes` grey text after the value."""
    vals = [float(v) for v in values]
    shown = [_short(str(lb), max_label) for lb in labels]
    left = int(min(max((_text_width(s) for s in shown), default=40) + 14, width * 0.45))
    ends = [_text_width(value_fmt(v)) + (_text_width(notes[i], 11) + 8 if notes else 0) for i, v in enumerate(vals)]
    right = int(max(ends, default=40) + 16)
    top, axis_h = 8, 24
    height = top + len(vals) * (bar + gap) + axis_h
    vmax = axis_max or max([*vals, 0.0]) or 1.0
    ticks = nice_ticks(0.0, vmax, 5)
    tick_fmt = _tick_fmt(tick_fmt or value_fmt, ticks)
    scale = (width - left - right) / ticks[-1]
    out = [_svg_open(width, height, title, kind)]
    plot_bottom = top + len(vals) * (bar + gap)
    for t in ticks:
        x = left + t * scale
        out.append(f'<line class="grid" x1="{_n(x)}" y1="{top}" x2="{_n(x)}" y2="{plot_bottom}"/>')
        out.append(
            f'<text class="tick" x="{_n(x)}" y="{plot_bottom + 16}" text-anchor="middle">'
            f"{escape(tick_fmt(t))}</text>"
        )
    for i, (lb, v) in enumerate(zip(shown, vals, strict=True)):
        y = top + i * (bar + gap)
        w = max(v * scale, 0.0)
        tip = escape(tips[i] if tips else f"{labels[i]}: {value_fmt(v)}")
        out.append(
            f'<g class="mark"><title>{tip}</title>'
            f'<text class="label" x="{left - 8}" y="{_n(y + bar * 0.72)}" text-anchor="end">{escape(lb)}</text>'
            f'<rect class="{colour_class}" x="{left}" y="{y}" width="{_n(max(w, 1.0))}" height="{bar}" rx="2"/>'
            f'<text class="value" x="{_n(left + w + 6)}" y="{_n(y + bar * 0.72)}">{escape(value_fmt(v))}'
        )
        if notes:
            out.append(f'<tspan class="note" dx="6">{escape(notes[i])}</tspan>')
        out.append("</text></g>")
    out.append(f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{plot_bottom}"/>')
    out.append("</svg>")
    return "".join(out)


@dataclass
class Line:
    """One series of a line chart."""

    name: str
    x: Sequence[float]
    y: Sequence[float]
    colour_class: str = "c1"
    dashed: bool = False
    area: bool = False
    points: bool = False  # draw dots instead of a line
    point_tips: Sequence[str] | None = None


def line_svg(
    lines: Sequence[Line],
    *,
    kind: str,
    title: str,
    x_ticks: Sequence[tuple[float, str]] | None = None,
    x_fmt: Any = str,
    y_fmt: Any = str,
    y_range: tuple[float, float] | None = None,
    x_range: tuple[float, float] | None = None,
    x_label: str = "",
    y_label: str = "",
    width: int = 760,
    height: int = 300,
    annotations: Sequence[tuple[float, float, str]] = (),
) -> str:
    """Lines (or dots) over numeric x; dates go in as ordinals with `x_ticks` labels."""
    xs = [float(v) for ln in lines for v in ln.x]
    ys = [float(v) for ln in lines for v in ln.y if math.isfinite(float(v))]
    x0, x1 = x_range or (min(xs, default=0.0), max(xs, default=1.0))
    if x1 <= x0:
        x1 = x0 + 1
    if y_range is None:
        lo, hi = min(ys, default=0.0), max(ys, default=1.0)
        pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 1.0
        yt = nice_ticks(lo - pad, hi + pad, 5)
    else:
        yt = nice_ticks(*y_range, 5)
    y0, y1 = yt[0], yt[-1]
    y_fmt = _tick_fmt(y_fmt, yt)
    left = int(max(_text_width(y_fmt(t), 11) for t in yt) + 16 + (14 if y_label else 0))
    right, top = 16, 26 if len(lines) > 1 else 10
    bottom = 26 + (16 if x_label else 0)
    pw, ph = width - left - right, height - top - bottom

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * pw

    def sy(v: float) -> float:
        return top + (1 - (v - y0) / (y1 - y0)) * ph

    out = [_svg_open(width, height, title, kind)]
    for t in yt:
        out.append(f'<line class="grid" x1="{left}" y1="{_n(sy(t))}" x2="{left + pw}" y2="{_n(sy(t))}"/>')
        out.append(
            f'<text class="tick" x="{left - 6}" y="{_n(sy(t) + 4)}" text-anchor="end">{escape(y_fmt(t))}</text>'
        )
    if x_ticks is None:
        x_ticks = [(t, x_fmt(t)) for t in nice_ticks(x0, x1, 6) if x0 <= t <= x1]
    for t, lab in x_ticks:
        out.append(f'<line class="grid" x1="{_n(sx(t))}" y1="{top}" x2="{_n(sx(t))}" y2="{top + ph}"/>')
        out.append(
            f'<text class="tick" x="{_n(sx(t))}" y="{top + ph + 16}" text-anchor="middle">{escape(lab)}</text>'
        )
    if y0 < 0 < y1:
        out.append(f'<line class="axis" x1="{left}" y1="{_n(sy(0))}" x2="{left + pw}" y2="{_n(sy(0))}"/>')
    out.append(f'<line class="axis" x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}"/>')
    out.append(f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}"/>')
    if x_label:
        out.append(f'<text class="axis-label" x="{left + pw / 2:.0f}" y="{height - 4}" text-anchor="middle">{escape(x_label)}</text>')
    if y_label:
        out.append(
            f'<text class="axis-label" transform="translate(12 {top + ph / 2:.0f}) rotate(-90)" '
            f'text-anchor="middle">{escape(y_label)}</text>'
        )
    for ln in lines:
        pts = [(sx(float(a)), sy(float(b))) for a, b in zip(ln.x, ln.y, strict=True) if math.isfinite(float(b))]
        if not pts:
            continue
        if ln.points:
            out.append(f'<g class="mark {ln.colour_class}"><title>{escape(ln.name)}</title>')
            for i, (px, py) in enumerate(pts):
                tip = f"<title>{escape(ln.point_tips[i])}</title>" if ln.point_tips else ""
                out.append(f'<circle cx="{_n(px)}" cy="{_n(py)}" r="3">{tip}</circle>')
            out.append("</g>")
            continue
        path = " ".join(f"{_n(px)},{_n(py)}" for px, py in pts)
        if ln.area:
            base = sy(max(min(0.0, y1), y0))
            out.append(
                f'<polygon class="area {ln.colour_class}" points="{_n(pts[0][0])},{_n(base)} {path} '
                f'{_n(pts[-1][0])},{_n(base)}"/>'
            )
        dash = ' stroke-dasharray="5 4"' if ln.dashed else ""
        out.append(
            f'<polyline class="mark line {ln.colour_class}" points="{path}"{dash}><title>{escape(ln.name)}</title></polyline>'
        )
    for ax, ay, text in annotations:
        out.append(f'<circle class="dot" cx="{_n(sx(ax))}" cy="{_n(sy(ay))}" r="3.5"/>')
        anchor = "end" if sx(ax) > left + pw * 0.7 else "start"
        dx = -8 if anchor == "end" else 8
        out.append(
            f'<text class="note" x="{_n(sx(ax) + dx)}" y="{_n(sy(ay) + 14)}" text-anchor="{anchor}">{escape(text)}</text>'
        )
    if len(lines) > 1:
        x = left
        for ln in lines:
            out.append(
                f'<g class="legend"><rect class="{ln.colour_class}" x="{x}" y="6" width="12" height="12" rx="2"/>'
                f'<text x="{x + 16}" y="16">{escape(ln.name)}</text></g>'
            )
            x += int(_text_width(ln.name) + 36)
    out.append("</svg>")
    return "".join(out)


def date_ticks(dates: Sequence[dt.date], max_ticks: int = 8) -> list[tuple[float, str]]:
    """Month-start ticks (every 1, 2, 3, 6 or 12 months) for dates plotted as ordinals."""
    if not dates:
        return []
    first, last = dates[0], dates[-1]
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    step = next((s for s in (1, 2, 3, 6, 12, 24, 60) if months / s <= max_ticks), 120)
    out = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        d = dt.date(y, m, 1)
        if d >= first and (m - 1) % step == 0 and (step < 12 or m == 1):
            out.append((float(d.toordinal()), d.strftime("%Y-%m") if step < 12 else str(y)))
        m += 1
        if m > 12:
            y, m = y + 1, 1
    return out


def svg_industry_mix(res: ReviewResult) -> str:
    mix = industry_mix_data(res)
    tips = [
        f"{r.industry} ({r.industry_cn}): {pct(r.weight, 2)} of the weight, {r.count} stock{'s' if r.count != 1 else ''}"
        for r in mix.itertuples()
    ]
    return hbar_svg(
        list(mix["industry"]),
        list(mix["weight"]),
        kind="industry_mix",
        title="Industry mix: weight per Shenwan level-1 industry",
        tips=tips,
        notes=[f"{c} stock{'s' if c != 1 else ''}" for c in mix["count"]],
        colour_class="c1",
        tick_fmt="pct",
    )


def svg_top_weights(res: ReviewResult, n: int = 20) -> str:
    top = top_weights_data(res, n)
    tips = [f"{r.label} ({r.industry}): {pct(r.weight, 2)}" for r in top.itertuples()]
    return hbar_svg(
        list(top["label"]),
        list(top["weight"]),
        kind="top_weights",
        title=f"The {len(top)} largest weights",
        tips=tips,
        value_fmt=lambda v: pct(v, 2),
        tick_fmt="pct",
        colour_class="c2",
        bar=16,
        gap=5,
    )


def svg_cumulative_weight(res: ReviewResult) -> str:
    cw = cumulative_weight_data(res)
    n = int(cw["n"].iloc[-1])
    marks = [k for k in (10, 50) if k < n] or [k for k in (1, 5) if k < n][-1:]
    ann = [(float(k), float(cw["cum_weight"].iloc[k]), f"top {k}: {pct(cw['cum_weight'].iloc[k])}") for k in marks]
    return line_svg(
        [
            Line("cumulative weight", cw["n"], cw["cum_weight"], "c1", area=True),
            Line("equal weight", cw["n"], cw["equal"], "c0", dashed=True),
        ],
        kind="cumulative_weight",
        title="Cumulative weight of the largest constituents",
        y_fmt="pct",
        x_fmt=lambda v: f"{v:g}",
        y_range=(0.0, 1.0),
        x_range=(0.0, float(n)),
        x_label="number of constituents, largest weight first",
        annotations=ann,
    )


def svg_coverage(res: ReviewResult) -> str:
    cov, _curve = coverage_data(res)
    labels = ["share of the board's companies", "share of the board's market cap"]
    vals = [cov["share_of_companies"], cov["share_of_market_cap"]]
    notes = [
        f"{cov['index_stocks']} of {cov['board_stocks']} stocks",
        f"{cov['index_total_cap'] / 1e12:,.2f} of {cov['board_total_cap'] / 1e12:,.2f} trillion CNY",
    ]
    return hbar_svg(
        labels, vals, kind="coverage", title="Coverage of the board", notes=notes,
        value_fmt=lambda v: pct(v, 1), tick_fmt="pct", axis_max=1.0,
        colour_class="c3", bar=26, gap=10,
    )


def svg_coverage_curve(res: ReviewResult) -> str:
    _cov, curve = coverage_data(res)
    mem = curve[curve["member"].astype(bool)]
    return line_svg(
        [
            Line("all board stocks, largest first", curve["share_of_companies"], curve["share_of_market_cap"], "c0"),
            Line(
                "index constituents", mem["share_of_companies"], mem["share_of_market_cap"], "c1",
                points=True,
                point_tips=[f"{c}" for c in mem["code"]],
            ),
        ],
        kind="coverage_curve",
        title="Board concentration: cumulative share of market cap by share of companies",
        y_fmt="pct",
        x_fmt=lambda v: pct(v, 0),
        y_range=(0.0, 1.0),
        x_range=(0.0, 1.0),
        x_label="share of the board's companies, largest market cap first",
        height=260,
    )


def svg_backtest(bt: BacktestSeries) -> tuple[str, str]:
    """The level chart and the drawdown chart."""
    reb = bt.rebuilt
    dates = list(reb["date"])
    if bt.official is not None:
        dates = sorted(set(dates) | set(bt.official["date"]))
    ticks = date_ticks(dates)
    x = [d.toordinal() for d in reb["date"]]
    lines = [Line("rebuilt", x, reb["level"], "c1")]
    dd = [Line("rebuilt", x, drawdown(reb["level"]), "c1", area=True)]
    if bt.official is not None:
        ox = [d.toordinal() for d in bt.official["date"]]
        label = bt.official_label or "official"
        lines.append(Line(label, ox, bt.official["level"], "c2"))
        dd.append(Line(label, ox, drawdown(bt.official["level"]), "c2"))
    xr = (float(dates[0].toordinal()), float(dates[-1].toordinal()))
    level = line_svg(lines, kind="backtest_level", title="Index level: rebuilt vs official", x_ticks=ticks,
                     y_fmt=lambda v: f"{v:,.0f}", x_range=xr)
    low = min(float(np.nanmin(ln.y)) for ln in dd)
    draw = line_svg(dd, kind="backtest_drawdown", title="Drawdown from the running peak", x_ticks=ticks,
                    y_fmt="pct", x_range=xr, y_range=(min(low, -0.01), 0.0), height=220)
    return level, draw


# ---------------------------------------------------------------------------------------
# matplotlib figures (notebooks, --png)
# ---------------------------------------------------------------------------------------
# CJK faces matplotlib may find, most common on Linux first; the first installed ones follow
# DejaVu Sans (matplotlib's own, for Latin) in font.family, and matplotlib falls back to
# them glyph by glyph, so a Chinese name is drawn, not boxes.
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
             "WenQuanYi Zen Hei", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "SimHei",
             "Droid Sans Fallback", "Noto Sans CJK JP")


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
    """Draw (and save) inside this: the font fallback list, for this figure only."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - _figure says how to install it
        yield
        return
    with matplotlib.rc_context({"font.family": font_family()}):
        yield


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise IndexReconError(
            "charts as images need matplotlib: python -m pip install matplotlib"
        ) from None
    # A bare Figure (no pyplot): no GUI backend, no global state; it renders with Agg when
    # saved and shows inline in Jupyter.
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _top(values: pd.Series) -> float:
    return float(values.max()) if len(values) else 0.0


def _style(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(True, color="#e3e7ee", linewidth=0.8)
    ax.set_axisbelow(True)


def _title(res: ReviewResult, what: str) -> str:
    tag = " — SYNTHETIC demo data" if res.synthetic else ""
    code = f" ({res.methodology.index_code})" if res.methodology.index_code else ""
    return f"{res.methodology.title}{code}, review {res.dates.review}{tag}\n{what}"


def _pct_axis(axis: Any, digits: int = 0) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _p: pct(v, digits)))


def fig_industry_mix(res: ReviewResult) -> Figure:
    """Weight per Shenwan level-1 industry as horizontal bars."""
    mix = industry_mix_data(res)
    fig = _figure(9, 0.32 * len(mix) + 1.2)
    ax = fig.add_subplot()
    labels = [_short(s, 34) for s in mix["industry"]][::-1]
    bars = ax.barh(labels, mix["weight"][::-1], color=BLUE)
    for b, v, c in zip(bars, mix["weight"][::-1], mix["count"][::-1], strict=True):
        ax.text(b.get_width(), b.get_y() + b.get_height() / 2, f" {pct(v)}  ({c})", va="center", fontsize=8)
    _pct_axis(ax.xaxis)
    ax.set_xlim(0, max(_top(mix["weight"]) * 1.25, 0.01))
    _style(ax)
    fig.suptitle(_title(res, "industry mix (weight, stocks)"), fontsize=10, x=0.01, ha="left")
    return fig


def fig_weights(res: ReviewResult, n: int = 20) -> Figure:
    """The `n` largest constituent weights as horizontal bars."""
    top = top_weights_data(res, n)
    fig = _figure(9, 0.28 * len(top) + 1.2)
    ax = fig.add_subplot()
    bars = ax.barh(list(top["code"])[::-1], top["weight"][::-1], color=ORANGE)
    for b, v in zip(bars, top["weight"][::-1], strict=True):
        ax.text(b.get_width(), b.get_y() + b.get_height() / 2, f" {pct(v, 2)}", va="center", fontsize=8)
    _pct_axis(ax.xaxis)
    ax.set_xlim(0, max(_top(top["weight"]) * 1.2, 0.01))
    _style(ax)
    fig.suptitle(_title(res, f"the {len(top)} largest weights"), fontsize=10, x=0.01, ha="left")
    return fig


def fig_cumulative_weight(res: ReviewResult) -> Figure:
    """Cumulative weight of the largest k constituents against an equal-weight line."""
    cw = cumulative_weight_data(res)
    fig = _figure(8, 4.5)
    ax = fig.add_subplot()
    ax.fill_between(cw["n"], cw["cum_weight"], color=BLUE, alpha=0.12, linewidth=0)
    ax.plot(cw["n"], cw["cum_weight"], color=BLUE, label="cumulative weight")
    ax.plot(cw["n"], cw["equal"], color=GREY, linestyle="--", label="equal weight")
    n = int(cw["n"].iloc[-1])
    for k in (5, 10, 20):
        if k < n:
            v = cw["cum_weight"].iloc[k]
            ax.annotate(f"top {k}: {pct(v)}", (k, v), xytext=(8, -12), textcoords="offset points", fontsize=8)
            ax.plot([k], [v], "o", color=BLUE, markersize=4)
    ax.set_xlim(0, max(n, 1))
    ax.set_ylim(0, 1)
    _pct_axis(ax.yaxis)
    ax.set_xlabel("number of constituents, largest weight first")
    ax.legend(loc="lower right", frameon=False)
    _style(ax)
    fig.suptitle(_title(res, "cumulative weight"), fontsize=10, x=0.01, ha="left")
    return fig


def fig_coverage(res: ReviewResult) -> Figure:
    """Share of the board's companies and of its market cap held by the index, and the
    board's concentration curve with the constituents marked."""
    cov, curve = coverage_data(res)
    fig = _figure(9, 4.2)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1, 1.4])
    vals = [cov["share_of_companies"], cov["share_of_market_cap"]]
    bars = ax1.bar(["companies", "market cap"], vals, color=[GREY, GREEN])
    for b, v in zip(bars, vals, strict=True):
        ax1.text(b.get_x() + b.get_width() / 2, v, f"{pct(v)}", ha="center", va="bottom", fontsize=9)
    ax1.set_ylim(0, 1)
    _pct_axis(ax1.yaxis)
    ax1.set_title("share of the board held", fontsize=9)
    _style(ax1)
    ax2.plot(curve["share_of_companies"], curve["share_of_market_cap"], color=GREY, label="board, largest first")
    mem = curve[curve["member"].astype(bool)]
    ax2.plot(mem["share_of_companies"], mem["share_of_market_cap"], "o", color=BLUE, markersize=3, label="constituents")
    _pct_axis(ax2.xaxis)
    _pct_axis(ax2.yaxis)
    ax2.set_xlim(0, 1)
    ax2.set_ylim(0, 1)
    ax2.set_xlabel("share of companies")
    ax2.set_ylabel("share of market cap")
    ax2.legend(loc="lower right", frameon=False, fontsize=8)
    _style(ax2)
    fig.suptitle(_title(res, "coverage of the board"), fontsize=10, x=0.01, ha="left")
    return fig


def fig_backtest(bt: BacktestSeries, title: str = "") -> Figure:
    """Level (rebuilt vs official) above drawdown, sharing the date axis."""
    fig = _figure(9, 6)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    reb = bt.rebuilt
    d = pd.to_datetime(reb["date"])
    ax1.plot(d, reb["level"], color=BLUE, label="rebuilt")
    ax2.fill_between(d, drawdown(reb["level"]), color=BLUE, alpha=0.15, linewidth=0)
    ax2.plot(d, drawdown(reb["level"]), color=BLUE, linewidth=1)
    if bt.official is not None:
        od = pd.to_datetime(bt.official["date"])
        ax1.plot(od, bt.official["level"], color=ORANGE, label=bt.official_label or "official")
        ax2.plot(od, drawdown(bt.official["level"]), color=ORANGE, linewidth=1)
    ax1.legend(frameon=False)
    ax1.set_ylabel("level")
    ax2.set_ylabel("drawdown")
    _pct_axis(ax2.yaxis)
    _style(ax1)
    _style(ax2)
    fig.suptitle(title or "index level and drawdown", fontsize=10, x=0.01, ha="left")
    return fig


def write_pngs(res: ReviewResult, folder: str | Path, backtest: BacktestSeries | None = None,
               dpi: int = 150) -> list[Path]:
    """Write the report's charts as PNG files into `folder` (created if missing); returns
    the paths: industry_mix.png, top_weights.png, cumulative_weight.png, coverage.png and,
    with a backtest, backtest.png."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    figs: list[tuple[str, Any]] = [
        ("industry_mix", lambda: fig_industry_mix(res)),
        ("top_weights", lambda: fig_weights(res)),
        ("cumulative_weight", lambda: fig_cumulative_weight(res)),
        ("coverage", lambda: fig_coverage(res)),
    ]
    if backtest is not None:
        m, reb = res.methodology, backtest.rebuilt
        code = f" ({m.index_code})" if m.index_code else ""
        tag = " — SYNTHETIC demo data" if res.synthetic else ""
        title = (f"{m.title}{code} rebuilt{tag}\nlevel and drawdown, "
                 f"{reb['date'].iloc[0]} to {reb['date'].iloc[-1]}")
        figs.append(("backtest", lambda: fig_backtest(backtest, title)))
    paths = []
    for name, make in figs:
        path = folder / f"{name}.png"
        with chart_fonts():
            # no timestamps in the file, so the same inputs give the same bytes
            make().savefig(path, dpi=dpi, metadata={"Software": None})
        paths.append(path)
    return paths


class PlotAccessor:
    """`res.plot`: the review's charts as matplotlib Figures, one call each:

        res.plot.industry_mix()
        res.plot.weights(n=20)
        res.plot.cumulative_weight()
        res.plot.coverage()

    In Jupyter a returned Figure shows inline; elsewhere save it with
    `fig.savefig("chart.png")`. Needs matplotlib.
    """

    def __init__(self, res: ReviewResult) -> None:
        self._res = res

    def industry_mix(self) -> Figure:
        """Weight per Shenwan level-1 industry (bars, with the stock counts)."""
        with chart_fonts():
            return fig_industry_mix(self._res)

    def weights(self, n: int = 20) -> Figure:
        """The `n` largest constituent weights."""
        with chart_fonts():
            return fig_weights(self._res, n)

    def cumulative_weight(self) -> Figure:
        """Cumulative weight of the largest k constituents, with an equal-weight line."""
        with chart_fonts():
            return fig_cumulative_weight(self._res)

    def coverage(self) -> Figure:
        """Share of the board's companies vs its market cap, and the board's curve."""
        with chart_fonts():
            return fig_coverage(self._res)

    def __repr__(self) -> str:
        return "<plot accessor: industry_mix(), weights(n=20), cumulative_weight(), coverage()>"


def sweep_figure(res: Any) -> Any:
    """A sweep's chart: every variant's level (base in black), and return against volatility."""
    from ..analysis.sweeps import BASE as sweep_base

    fig = _figure(11, 4.2)
    ax, ax2 = fig.subplots(1, 2, width_ratios=[1.6, 1])
    names = [c for c in res.levels.columns if c != "date"]
    for i, name in enumerate(names):
        base = name == sweep_base
        ax.plot(res.levels["date"], res.levels[name], label=name, linewidth=2.2 if base else 1.2,
                color="black" if base else SERIES_COLOURS[(i - 1) % len(SERIES_COLOURS)],
                linestyle="-" if base or i <= len(SERIES_COLOURS) else "--")
    ax.set_title(f"{res.methodology.name}: levels {res.start} .. {res.end}", fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    _style(ax)
    t = res.table
    ax2.scatter(100 * t["volatility"], 100 * t["annualised_return"],
                c=["black" if v == sweep_base else SERIES_COLOURS[0] for v in t["variant"]])
    for _, r in t.iterrows():
        ax2.annotate(str(r["variant"]), (100 * r["volatility"], 100 * r["annualised_return"]),
                     fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax2.set_xlabel("volatility, % a year")
    ax2.set_ylabel("annualised return, %")
    ax2.set_title("return against risk", fontsize=10)
    _style(ax2)
    if res.synthetic:
        fig.suptitle("SYNTHETIC demo data", fontsize=9, color="#c8443a")
    return fig


def sweep_plot(res: Any, path: str | Path) -> Path:
    """A sweep's chart as one PNG."""
    path = Path(path)
    with chart_fonts(), writing(path):
        sweep_figure(res).savefig(path, format="png")
    return path
