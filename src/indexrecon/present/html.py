"""A review as one self-contained HTML page: summary, changes, charts, tables.

Everything the page needs is inside the file: the CSS, a few lines of JavaScript (sortable
tables) and the charts as inline SVG (matplotlib's, see `plots.svg`; the browser draws their
text with the page's fonts). It opens offline, from a mail attachment or a USB stick, and
fetches nothing.

    from indexrecon.present.html import write_report
    write_report(res, "chinext-2026-06.html")
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import math
import os
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..analysis import chart_data
from ..errors import IndexReconError
from . import charts as plots
from .describe import (
    coverage_note,
    describe_methodology,
    fmt_value,
    index_label,
    metric_words,
    unit,
    unweighted_note,
)

if TYPE_CHECKING:
    from ..data.store import Store
    from ..methodology.schema import Methodology
    from ..results.review import ReviewResult

__all__ = ["html_table", "official_levels", "render_report", "repr_html", "run_backtest", "write_report"]

LABELS = {
    "rank": "Rank",
    "code": "Code",
    "name": "Name",
    "board": "Board",
    "industry": "Industry (SW L1)",
    "incumbent": "Incumbent",
    "status": "Status",
    "stage": "Stage",
    "reason": "Reason",
    "weight": "Weight",
    "inclusion_factor": "Inclusion factor",
    "cap_factor": "Cap factor",
}
HIDDEN = {"sw_l1_code", "sw_l1_name", "sw_l1_name_en"}
WRAP = {"industry", "board", "description", "examples"}  # a name is short: kept on one line

# Latin first, then a CJK face on every platform (macOS, Windows, Linux: Debian's
# fonts-noto-cjk, Source Han, WenQuanYi, Android's Droid fallback), so Chinese names never
# fall to a font without the glyphs (boxes).
FONT_STACK = ('system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"PingFang SC",'
              '"Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","Noto Sans SC","Source Han Sans SC",'
              '"WenQuanYi Micro Hei","WenQuanYi Zen Hei","Droid Sans Fallback",sans-serif')

CSS = """
:root{--bg:#fff;--fg:#1d2330;--muted:#5d6778;--line:#e3e7ee;--card:#f6f8fb;--accent:#1f6fb4;
--c0:#8a94a3;--c1:#1f6fb4;--c2:#e08a00;--c3:#2a9d6f;--c4:#c8443a;--warn-bg:#fff4d6;--warn-fg:#7a4b00;
--warn-line:#e0a400;--ok-bg:#e6f4ee;--ok-fg:#1e6b4b}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--fg:#e4e8ee;--muted:#9aa4b2;--line:#2c323c;
--card:#1c2027;--accent:#6fb1ec;--c0:#7d8796;--c1:#5aa3e6;--c2:#f0a431;--c3:#43c08e;--c4:#ec6c61;
--warn-bg:#3a2e10;--warn-fg:#ffd980;--ok-bg:#123326;--ok-fg:#8fe0bb}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 FONT_STACK}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:26px;margin:0 0 4px;line-height:1.25}
h2{font-size:19px;margin:36px 0 10px;padding-top:8px;border-top:1px solid var(--line)}
h3{font-size:15px;margin:18px 0 6px}
p{margin:6px 0}
a{color:var(--accent)}
.sub{color:var(--muted);margin:0 0 14px}
.banner{border:2px solid var(--warn-line);background:var(--warn-bg);color:var(--warn-fg);
border-radius:8px;padding:10px 14px;margin:14px 0;font-weight:600}
.banner.real{border-color:var(--c3);background:var(--ok-bg);color:var(--ok-fg)}
.badge{display:inline-block;border-radius:4px;padding:0 6px;font-size:12px;font-weight:700;
letter-spacing:.04em;vertical-align:middle}
.badge.synthetic{background:var(--warn-line);color:#fff}
.badge.real{background:var(--c3);color:#fff}
nav{position:sticky;top:0;z-index:2;background:var(--bg);border-bottom:1px solid var(--line);
padding:8px 28px;font-size:13px}
nav a{margin-right:14px;text-decoration:none}
dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:3px 18px;margin:8px 0}
dl.summary dt{color:var(--muted)}
dl.summary dd{margin:0}
.warnings{color:var(--warn-fg);background:var(--warn-bg);border-radius:6px;padding:6px 12px;margin:8px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:10px;margin:14px 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card .k{color:var(--muted);font-size:12px}
.card .v{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}
.card .s{color:var(--muted);font-size:12px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:18px}
@media (max-width:900px){.grid2{grid-template-columns:1fr}}
figure{margin:10px 0 4px}
figcaption{color:var(--muted);font-size:12px;margin-top:4px}
svg.chart{max-width:100%;height:auto;display:block;background:#fff;border-radius:6px;
stroke-linejoin:round;stroke-linecap:butt}
svg.chart text{font-family:"DejaVu Sans",FONT_STACK}
svg.chart g.mark:hover{opacity:.8}
.tablewrap{overflow-x:auto;border:1px solid var(--line);border-radius:8px;margin:8px 0}
.tablewrap.tall{max-height:640px;overflow-y:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:5px 9px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--card);position:sticky;top:0;z-index:1;font-weight:600}
th .unit{display:block;font-weight:400;color:var(--muted);font-size:11px}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.num{white-space:nowrap}
td{white-space:nowrap}
td.wrap{white-space:normal;overflow-wrap:break-word;min-width:6em;max-width:11em}
td.reason{color:var(--muted);min-width:140px;white-space:normal}
.side{display:flex;flex-wrap:wrap;gap:8px 24px;align-items:flex-start}
.side .tablewrap{flex:0 1 auto;margin-top:40px}
.side table{width:auto}
tbody tr:nth-child(even){background:color-mix(in srgb,var(--card) 60%,transparent)}
tbody tr:hover{background:color-mix(in srgb,var(--accent) 8%,transparent)}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th .lbl::after{content:" \\2195";color:var(--muted);font-size:11px}
table.sortable th[aria-sort=ascending] .lbl::after{content:" \\25B2";color:var(--accent)}
table.sortable th[aria-sort=descending] .lbl::after{content:" \\25BC";color:var(--accent)}
.st{border-radius:4px;padding:0 5px;font-size:12px;font-weight:600}
.st.added{background:var(--ok-bg);color:var(--ok-fg)}
.st.deleted{background:#fbe4e2;color:#9b2d24}
.muted{color:var(--muted)}
pre.method{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px;
white-space:pre-wrap;font-size:12.5px}
footer{margin-top:36px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding-top:10px}
@media print{nav{display:none}.tablewrap.tall{max-height:none}h2{break-after:avoid}figure{break-inside:avoid}}
""".replace("FONT_STACK", FONT_STACK)

# Sortable tables, plus two markers for tests: data-report-js="ok" once the script ran
# without an exception and data-charts-drawn="N" for the charts with a visible size. With
# the URL hash #selftest it also clicks some headers and checks the rows come out sorted.
JS = r"""
(function () {
  "use strict";
  var root = document.documentElement;
  window.addEventListener("error", function (e) {
    root.setAttribute("data-report-js", "error: " + (e && e.message));
  });
  function cellKey(td, num) {
    var v = td.getAttribute("data-v");
    if (v === null) v = td.textContent.trim();
    if (!num) return v;
    var f = parseFloat(v);
    return isNaN(f) ? null : f;
  }
  function sortBy(th) {
    var table = th.closest("table");
    var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
    var num = th.getAttribute("data-type") === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    table.querySelectorAll("th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var sign = dir === "ascending" ? 1 : -1;
    rows.sort(function (a, b) {
      var x = cellKey(a.cells[idx], num), y = cellKey(b.cells[idx], num);
      if (x === null || x === "") return (y === null || y === "") ? 0 : 1;   // blanks last
      if (y === null || y === "") return -1;
      var c = num ? x - y : String(x).localeCompare(String(y), "zh-CN");
      return sign * c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable th").forEach(function (th) {
    th.tabIndex = 0;
    th.title = (th.title ? th.title + " — " : "") + "click to sort";
    th.addEventListener("click", function () { sortBy(th); });
    th.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(th); }
    });
  });
  var drawn = 0;
  document.querySelectorAll("svg.chart").forEach(function (svg) {
    var box = svg.getBoundingClientRect();
    var marks = svg.querySelectorAll(".mark").length;
    if (box.width > 0 && box.height > 0 && marks > 0) { svg.setAttribute("data-drawn", "1"); drawn++; }
  });
  root.setAttribute("data-charts-drawn", String(drawn));
  // the sections whose tables need a horizontal scroll at this window width (for tests)
  var wide = [];
  document.querySelectorAll("section .tablewrap").forEach(function (w) {
    if (w.scrollWidth > w.clientWidth + 1) wide.push(w.closest("section").id);
  });
  root.setAttribute("data-tables-scroll", wide.join(" "));
  if (location.hash === "#selftest") {
    var out = "ok";
    var table = document.querySelector("#constituents table");
    var check = function (col, num, dir) {
      var th = table.querySelector('th[data-col="' + col + '"]');
      var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
      th.click();
      if (th.getAttribute("aria-sort") !== dir) th.click();
      var vals = Array.prototype.map.call(table.tBodies[0].rows, function (r) { return cellKey(r.cells[idx], num); });
      for (var i = 1; i < vals.length; i++) {
        var bad = num ? (dir === "ascending" ? vals[i] < vals[i - 1] : vals[i] > vals[i - 1])
                      : (dir === "ascending" ? vals[i] < vals[i - 1] : vals[i] > vals[i - 1]);
        if (bad) return col + " " + dir + " out of order at row " + i;
      }
      return null;
    };
    out = check("weight", true, "descending") || check("weight", true, "ascending") ||
          check("code", false, "ascending") || check("code", false, "descending") ||
          check("rank", true, "ascending") || "ok";
    root.setAttribute("data-selftest", out);
  }
  if (!root.hasAttribute("data-report-js")) root.setAttribute("data-report-js", "ok");
})();
"""


# ---------------------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------------------
def _is_num(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and s.dtype != bool


def _unit(col: str) -> str:
    return "100m CNY" if unit(col) == "100m CNY" else ""  # percentages carry their own %


def _raw(v: Any) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def html_table(
    df: pd.DataFrame,
    *,
    sortable: bool = False,
    caption: str | None = None,
    max_rows: int | None = None,
) -> str:
    """A DataFrame as an HTML table: numbers right-aligned and formatted like the terminal
    tables (weights in %, caps in 100m CNY), each numeric cell keeping its raw value in
    data-v for sorting."""
    cols = [c for c in df.columns if c not in HIDDEN]
    num = {c: _is_num(df[c]) for c in cols}
    out = [f'<table{" class=sortable" if sortable else ""}>']
    if caption:
        out.append(f"<caption class=muted>{escape(caption)}</caption>")
    out.append("<thead><tr>")
    for c in cols:
        words = LABELS.get(c) or c
        tip = "" if c in LABELS else f' title="{escape(metric_words(c))}"'
        unit = f'<span class="unit">{_unit(c)}</span>' if _unit(c) else ""
        cls = ' class="num"' if num[c] else ""
        typ = "num" if num[c] else "text"
        # a long metric name may break after its underscores, so the header does not widen the column
        label = escape(words).replace("_", "_<wbr>")
        out.append(f'<th data-col="{escape(c)}" data-type="{typ}"{cls}{tip}><span class="lbl">{label}</span>{unit}</th>')
    out.append("</tr></thead><tbody>")
    rows = df if max_rows is None else df.head(max_rows)
    for row in rows[cols].itertuples(index=False):
        out.append("<tr>")
        for c, v in zip(cols, row, strict=True):
            text = fmt_value(c, v)
            if c == "status" and text in ("added", "deleted"):
                out.append(f'<td><span class="st {text}">{escape(text)}</span></td>')
            elif c == "incumbent":
                out.append(f"<td>{'yes' if v is True else ('no' if v is False else '')}</td>")
            elif num[c]:
                out.append(f'<td class="num" data-v="{escape(_raw(v))}">{escape(text)}</td>')
            else:
                # long text wraps (names, industries) so that the numbers, the weight above
                # all, stay in view without a horizontal scroll
                cls = ' class="reason"' if c == "reason" else (' class="wrap"' if c in WRAP else "")
                out.append(f"<td{cls}>{escape(text)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    if max_rows is not None and len(df) > max_rows:
        out.append(f'<p class="muted">… and {len(df) - max_rows} more rows.</p>')
    return "".join(out)


def _drop_empty(df: pd.DataFrame) -> pd.DataFrame:
    """Columns with no value at all (e.g. a metric the store has no data for) say nothing."""
    return df[[c for c in df.columns if df[c].notna().any()]]


def _data_label(res: ReviewResult) -> tuple[str, str]:
    """(badge html, banner html) saying SYNTHETIC or real data."""
    if res.synthetic:
        badge = '<span class="badge synthetic">SYNTHETIC</span>'
        banner = (
            '<div class="banner" id="data-label">SYNTHETIC demo data — not real market data. '
            "Every number on this page comes from indexrecon's embedded, randomly generated "
            "demo market; stock names and codes are made up.</div>"
        )
    else:
        badge = '<span class="badge real">REAL DATA</span>'
        banner = f'<div class="banner real" id="data-label">Real data: {escape(res.store_label)}</div>'
    return badge, banner


def _summary(res: ReviewResult) -> str:
    h = res.header()
    rows = [
        ("Index", index_label(h["title"], h["index_code"])),
        ("Methodology", h["methodology"]),
        ("Review", h["review"] + (" (provisional)" if h["provisional"] else "")),
        ("Data cutoff", f"{h['data_cutoff']} (window from {h['window_start']})"),
        ("Effective date", h["effective_date"]),
        ("Incumbents", h["incumbents"]),
        ("Data", h["data"]),
    ]
    out = ['<dl class="summary">']
    for k, v in rows:
        out.append(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>")
    out.append("</dl>")
    if h["warnings"]:
        out.append('<div class="warnings"><strong>Warnings</strong><ul>')
        out += [f"<li>{escape(w)}</li>" for w in h["warnings"]]
        out.append("</ul></div>")
    return "".join(out)


def _card(key: str, value: str, sub: str = "") -> str:
    s = f'<div class="s">{escape(sub)}</div>' if sub else ""
    return f'<div class="card"><div class="k">{escape(key)}</div><div class="v">{escape(value)}</div>{s}</div>'


def _cards(res: ReviewResult, stats: dict[str, Any]) -> str:
    conc, cov = stats["concentration"], stats["coverage"]
    mix = stats["industry_mix"]
    top_ind = mix[0] if mix else None
    cards = [
        _card("Constituents", f"{conc['count']}", f"of {cov['board_stocks']} board stocks"
              + (f" ({cov['board_stocks_without_cap']} more without share data)"
                 if cov.get("board_stocks_without_cap") else "")),
        _card("Adds / deletes", f"{len(res.adds)} / {len(res.deletes)}", f"{len(res.retained)} retained"),
        _card("Largest weight", plots.pct(conc["top1"], 2), f"top 10: {plots.pct(conc['top10'])}"
              + (f"; {conc['unweighted_count']} without a weight" if conc.get("unweighted_count") else "")),
        _card("Effective N", f"{conc['effective_n']:.1f}", f"HHI {conc['hhi']:.4f}, Gini {conc['gini']:.2f}"),
        _card("Market-cap coverage", plots.pct(cov["share_of_market_cap"]),
              f"with {plots.pct(cov['share_of_companies'])} of the companies"),
    ]
    if top_ind:
        cards.append(_card("Largest industry", plots.pct(top_ind["weight"]), str(top_ind["sw_l1_name_en"])))
    return '<div class="cards">' + "".join(cards) + "</div>"


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def _changes(res: ReviewResult) -> str:
    rank_by = res.methodology.selection.rank_by
    out = []
    for title, df, empty in (
        ("Adds", res.adds, "No stock enters at this review."),
        ("Deletes", res.deletes, "No stock leaves at this review."),
    ):
        out.append(f"<h3>{title} ({len(df)})</h3>")
        if len(df):
            cols = [c for c in ["code", "name", "rank", "industry", rank_by, "weight", "reason"] if c in df]
            out.append(f'<div class="tablewrap">{html_table(_drop_empty(df[cols]), sortable=True)}</div>')
        else:
            out.append(f'<p class="muted">{empty}</p>')
    return "".join(out)


def _borderline(res: ReviewResult, margin: int) -> str:
    out = []
    border = res.borderline(margin).drop(columns=["stage"], errors="ignore")
    out.append(f'<p class="muted">Ranks around the boundaries, margin {margin}. ')
    out.append(
        "Every stock ranked near the selection count or a buffer edge, every add "
        "and delete, and incumbents that failed a rule — each with the reason it is in or out.</p>"
    )
    out.append(f'<div class="tablewrap tall">{html_table(border, sortable=True)}</div>')
    return "".join(out)


def _concentration_table(conc: dict[str, Any]) -> str:
    rows = [
        ("Largest weight", plots.pct(conc["top1"], 2)),
        ("Top 5", plots.pct(conc["top5"], 2)),
        ("Top 10", plots.pct(conc["top10"], 2)),
        ("Herfindahl (HHI)", f"{conc['hhi']:.4f}"),
        ("Effective N (1/HHI)", f"{conc['effective_n']:.1f}"),
        ("Gini of weights", f"{conc['gini']:.3f}"),
    ]
    body = "".join(f'<tr><td>{escape(k)}</td><td class="num">{escape(v)}</td></tr>' for k, v in rows)
    note = f'<p class="muted" id="unweighted">{escape(unweighted_note(conc))}</p>' if conc.get("unweighted_count") else ""
    return f'<div class="tablewrap"><table><tbody>{body}</tbody></table></div>{note}'


def _backtest_section(bt: chart_data.BacktestSeries) -> str:
    level = plots.chart_svg(plots.backtest_level_chart, bt, kind="backtest_level",
                            title="Index level: rebuilt vs official")
    draw = plots.chart_svg(plots.backtest_drawdown_chart, bt, kind="backtest_drawdown",
                           title="Drawdown from the running peak")
    stats = pd.DataFrame(bt.stats())
    view = pd.DataFrame({"series": stats["series"], "from": stats["start"], "to": stats["end"]})
    view["first level"] = stats["first"].map(lambda v: f"{v:,.2f}")
    view["last level"] = stats["last"].map(lambda v: f"{v:,.2f}")
    view["total return"] = stats["total_return"].map(lambda v: plots.pct(v, 2))
    view["annualised"] = stats["annualised_return"].map(lambda v: "" if math.isnan(v) else plots.pct(v, 2))
    view["max drawdown"] = stats["max_drawdown"].map(lambda v: plots.pct(v, 2))
    if "tracking_error" in stats:
        view["tracking error"] = stats["tracking_error"].map(
            lambda v: "" if pd.isna(v) else plots.pct(v, 2))
        view["correlation"] = stats["correlation"].map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
    if bt.official is None:
        note = "The store has no official levels for this index over the range: the rebuilt level alone."
    else:
        first = bt.official["date"].iloc[0]
        note = (f"The official series is rebased to the rebuilt level on {first}, the first day both "
                "have, so the two lines start together.")
    return (
        _figure(level, "Index level. " + note)
        + _figure(draw, "Drawdown: how far each series is below its running peak.")
        + f'<div class="tablewrap">{html_table(view)}</div>'
    )


def _review_charts(res: ReviewResult, mix: pd.DataFrame, top_n: int) -> dict[str, str]:
    """The review's charts as inline SVG, by kind."""
    cov, curve = chart_data.coverage_data(res)
    top = chart_data.top_weights_data(res, top_n)
    return {
        "industry_mix": plots.chart_svg(plots.industry_mix_chart, mix, kind="industry_mix",
                                        title="Industry mix: weight per Shenwan level-1 industry"),
        "top_weights": plots.chart_svg(plots.top_weights_chart, top, kind="top_weights",
                                       title=f"The {len(top)} largest weights"),
        "cumulative_weight": plots.chart_svg(plots.cumulative_weight_chart, chart_data.cumulative_weight_data(res),
                                             kind="cumulative_weight",
                                             title="Cumulative weight of the largest constituents"),
        "coverage": plots.chart_svg(plots.coverage_bars_chart, cov, kind="coverage", title="Coverage of the board"),
        "coverage_curve": plots.chart_svg(
            plots.coverage_curve_chart, curve, kind="coverage_curve",
            title="Board concentration: cumulative share of market cap by share of companies"),
    }


# ---------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------
def render_report(
    res: ReviewResult,
    *,
    margin: int = 10,
    backtest: chart_data.BacktestSeries | Any = None,
    official: Any = None,
    top_n: int = 20,
) -> str:
    """The HTML page of one review, as a string.

    `backtest` is an optional levels table (columns date, level, or anything
    `chart_data.levels_frame` reads, or a ready `chart_data.BacktestSeries`) and `official` an
    optional official series over the same days; with them the page gets a level and
    drawdown chart."""
    from .._version import __version__

    h = res.header()
    stats = res.stats()
    badge, banner = _data_label(res)
    code = f" ({h['index_code']})" if h["index_code"] else ""
    title = f"{h['title']}{code} — review {h['review']}"
    if backtest is not None and not isinstance(backtest, chart_data.BacktestSeries):
        backtest = chart_data.backtest_series(backtest, official, f"official {h['index_code'] or ''}".strip())
    nav = [("summary", "Summary"), ("changes", "Changes"), ("industry", "Industry mix"),
           ("weights", "Weights"), ("coverage", "Coverage"), ("borderline", "Borderline")]
    if backtest is not None:
        nav.append(("backtest", "Backtest"))
    nav += [("constituents", "Constituents"), ("methodology", "Methodology")]

    cons = _drop_empty(res.constituents)
    cols = [c for c in ["rank", "code", "name", "industry", *res.metric_columns, "inclusion_factor",
                        "cap_factor", "weight", "status", "reason"] if c in cons.columns]
    mix = chart_data.industry_mix_data(res)
    charts = _review_charts(res, mix, top_n)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="indexrecon {escape(__version__)}">',
        f"<title>{escape(title)}{' [SYNTHETIC]' if res.synthetic else ''}</title>",
        f"<style>{CSS}</style></head><body>",
        "<nav>" + "".join(f'<a href="#{k}">{escape(v)}</a>' for k, v in nav) + "</nav>",
        "<main>",
        f'<section id="summary"><h1>{escape(title)} {badge}</h1>',
        f'<p class="sub">Rebuilt from the published rules by indexrecon: data cutoff '
        f"{escape(h['data_cutoff'])}, effective {escape(h['effective_date'])}.</p>",
        banner,
        _summary(res),
        _cards(res, stats),
        "</section>",
        f'<section id="changes"><h2>Changes at this review</h2>{_changes(res)}</section>',
        '<section id="industry"><h2>Industry mix</h2>',
        _figure(charts["industry_mix"],
                f"Weight per Shenwan level-1 industry, heaviest first; {len(mix)} industries. "
                "Hover a bar for the Chinese name and the count."),
        "</section>",
        '<section id="weights"><h2>Weights and concentration</h2>',
        _figure(charts["top_weights"], f"The {min(top_n, len(res.constituents))} largest constituent weights."),
        '<div class="side">',
        _figure(charts["cumulative_weight"],
                "Cumulative weight held by the k largest constituents; the dashed line is an equal-weight index."),
        _concentration_table(stats["concentration"]),
        "</div>",
        "</section>",
        '<section id="coverage"><h2>Coverage of the board</h2>',
        _figure(charts["coverage"],
                "Share of the board's companies the index holds against its share of the board's "
                "total market cap at the data cutoff."),
        _figure(charts["coverage_curve"],
                "Every board stock by total market cap, largest first: the curve is the cumulative share "
                "of the board's market cap; dots are the index's constituents."),
        (f'<p class="muted" id="coverage-note">{escape(coverage_note(stats["coverage"]))}</p>'
         if coverage_note(stats["coverage"]) else ""),
        "</section>",
        f'<section id="borderline"><h2>Borderline stocks</h2>{_borderline(res, margin)}</section>',
    ]
    if backtest is not None:
        parts += ['<section id="backtest"><h2>Backtest</h2>', _backtest_section(backtest), "</section>"]
    parts += [
        '<section id="constituents"><h2>Constituents</h2>',
        f'<p class="muted">{len(cons)} stocks. Click a column header to sort; click again to reverse. '
        "Caps and turnover in 100 million CNY.</p>",
        f'<div class="tablewrap tall">{html_table(cons[cols], sortable=True)}</div>',
        "</section>",
        '<section id="methodology"><h2>Methodology in plain words</h2>',
        f'<pre class="method">{escape(describe_methodology(res.methodology))}</pre>',
        "</section>",
        f"<footer>{escape(h['data'])}. Generated by indexrecon {escape(__version__)}. "
        "This file is self-contained: it needs no network to view.</footer>",
        "</main>",
        f"<script>{JS}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(res: ReviewResult, path: str | os.PathLike[str], **kw: Any) -> Path:
    """Render the page (see `render_report` for the options) and write it atomically to
    `path`: an interrupted run leaves no half-written file."""
    return write_html(path, render_report(res, **kw))


def write_html(path: str | os.PathLike[str], html: str) -> Path:
    """Write a page atomically: an interrupted run leaves no half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(html, encoding="utf-8", newline="\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# ---------------------------------------------------------------------------------------
# Backtest wiring
# ---------------------------------------------------------------------------------------
def official_levels(store: Store, index_code: str | None, start: dt.date, end: dt.date) -> pd.DataFrame | None:
    """The official index closes between two dates (columns date, level), or None when the
    store has none."""
    if not index_code or not store.has_table("index_bars"):
        return None
    df = store.con.execute(
        "SELECT date, close AS level FROM index_bars WHERE index_code = ? AND date BETWEEN ? AND ? "
        "ORDER BY date",
        [index_code, start, end],
    ).df()
    return None if df.empty else df


def run_backtest(m: Methodology, store: Store, start: dt.date, end: dt.date) -> chart_data.BacktestSeries:
    """Rebuilt levels from `indexrecon.analysis.backtest.backtest(m, store, start, end)` with the
    store's official series of the index over the same range, ready to chart."""
    if importlib.util.find_spec("indexrecon.analysis.backtest") is None:
        raise IndexReconError("this installation has no backtest (indexrecon.analysis.backtest); drop --backtest-start")
    mod = importlib.import_module("indexrecon.analysis.backtest")
    levels = mod.backtest(m, store, start, end)
    official = official_levels(store, m.index_code, start, end)
    label = f"official {m.index_code}" if m.index_code else "official"
    return chart_data.backtest_series(levels, official, label)


# ---------------------------------------------------------------------------------------
# Notebooks
# ---------------------------------------------------------------------------------------
REPR_CSS = (
    ".ir-review .ir-synthetic{display:inline-block;background:#e0a400;color:#fff;font-weight:700;"
    "border-radius:4px;padding:0 6px;margin-left:6px}"
    ".ir-review .ir-warn{color:#b06a00}"
    ".ir-review table{border-collapse:collapse;margin-top:6px}"
    ".ir-review th,.ir-review td{padding:2px 8px;text-align:left;white-space:nowrap}"
    ".ir-review thead th{border-bottom:1px solid rgba(127,127,127,.5);vertical-align:bottom}"
    ".ir-review tbody tr:nth-child(odd){background:rgba(127,127,127,.07)}"
    ".ir-review td.num,.ir-review th.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".ir-review th .unit{display:block;font-weight:400;font-size:11px;opacity:.7}"
)


def repr_html(res: ReviewResult, max_rows: int = 200) -> str:
    """The notebook view of a review: a header line (with a SYNTHETIC label on demo data)
    and the constituents table. Static HTML, no script."""
    h = res.header()
    code = f" ({h['index_code']})" if h["index_code"] else ""
    tag = '<span class="ir-synthetic">SYNTHETIC</span>' if res.synthetic else ""
    data = (f'<div class="ir-warn">{escape(h["data"])}</div>' if res.synthetic
            else f"<div>{escape(h['data'])}</div>")
    lines: Sequence[str] = [
        f'<div class="ir-review"><style>{REPR_CSS}</style>',
        f"<div><strong>{escape(h['title'])}{escape(code)}</strong> review {escape(h['review'])}{tag}</div>",
        f"<div>data cutoff {escape(h['data_cutoff'])} · effective {escape(h['effective_date'])} · "
        f"{len(res.codes)} constituents, {len(res.adds)} adds, {len(res.deletes)} deletes · "
        f"incumbents: {escape(h['incumbents'])}</div>",
        data,
        *(f'<div class="ir-warn">warning: {escape(w)}</div>' for w in h["warnings"]),
    ]
    cons = _drop_empty(res.constituents)
    cols = [c for c in ["rank", "code", "name", "board", "industry", *res.metric_columns, "weight",
                        "status", "reason"] if c in cons.columns]
    return "".join(lines) + html_table(cons[cols], max_rows=max_rows) + "</div>"
