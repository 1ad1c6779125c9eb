"""The page every HTML output shares: its style and script (one font stack, CJK names
drawn by the browser), table rendering with units, and the atomic write of a page."""

from __future__ import annotations

import math
import os
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .describe import (
    fmt_value,
    metric_words,
    unit,
)

if TYPE_CHECKING:
    pass



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
--c0:#8a94a3;--c1:#1f6fb4;--c2:#e08a00;--c3:#2a9d6f;--c4:#c8443a;--c5:#7b5ea7;--warn-bg:#fff4d6;--warn-fg:#7a4b00;
--warn-line:#e0a400;--ok-bg:#e6f4ee;--ok-fg:#1e6b4b}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--fg:#e4e8ee;--muted:#9aa4b2;--line:#2c323c;
--card:#1c2027;--accent:#6fb1ec;--c0:#7d8796;--c1:#5aa3e6;--c2:#f0a431;--c3:#43c08e;--c4:#ec6c61;--c5:#a98bd6;
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
