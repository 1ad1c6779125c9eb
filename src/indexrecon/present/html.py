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
    index_label,
    unweighted_note,
)
from .page import (
    CSS,
    JS,
    _drop_empty,
    html_table,
    write_html,
)

if TYPE_CHECKING:
    from ..data.store import Store
    from ..methodology.schema import Methodology
    from ..results.review import ReviewResult

__all__ = ["html_table", "official_levels", "render_report", "repr_html", "run_backtest", "write_report"]

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
