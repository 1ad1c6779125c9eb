"""The market page of the HTML report: one self-contained page for a day with the breadth by
board, the limit-up ladder, an index against its board (coverage) and its moves. It reuses the
review report's style, tables and charts (`html_report`, `plots`: matplotlib's SVG, inlined)."""

from __future__ import annotations

import datetime as dt
import os
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from ..analysis import market
from ..data.store import BOARD_LABELS, Store
from . import charts as plots
from .html import _card, _figure
from .page import CSS, JS, html_table, write_html


def _warnings(items: list[str]) -> str:
    if not items:
        return ""
    return ('<div class="warnings"><strong>Warnings</strong><ul>'
            + "".join(f"<li>{escape(w)}</li>" for w in dict.fromkeys(items)) + "</ul></div>")


def _cov_text(key: str, v: Any) -> str:
    if v is None:
        return ""
    if key.startswith("share_of"):
        return plots.pct(v, 2)
    if key.endswith("_cap"):
        return f"{v / 1e8:,.1f} (100m CNY)"
    if key == "avg_cap_multiple":
        return f"{v:.2f}x"
    return str(v)


def render_market_page(store: Store, date: dt.date | None = None, *, target: str | None = None,
                       method: Any = None, days: int = 5, incumbents: str = "auto") -> str:
    """The market page for `date` (default: the store's last day) as a string. `target` (an
    index code in index_bars or a methodology) adds its moves over `days` trading days and a
    level chart of the year to `date`; `method` (a methodology) adds its coverage of the
    board on `date`, its members being those of the review in force that day."""
    from .._version import __version__

    d = market.trading_day(store, date)
    warnings: list[str] = []
    br = market.breadth(store, d)
    lim = market.limit_closes(store, d)
    warnings += br.warnings
    lad = market.ladder(lim)
    boards = pd.DataFrame(br.payload["boards"] + [{"board": "total", **br.payload["total"]}])
    boards["board"] = [BOARD_LABELS.get(b, b) for b in boards["board"]]
    boards["turnover (100m CNY)"] = [f"{v / 1e8:,.1f}" for v in boards.pop("amount")]
    tot = br.payload["total"]
    synthetic = store.synthetic
    badge = ('<span class="badge synthetic">SYNTHETIC</span>' if synthetic
             else '<span class="badge real">REAL DATA</span>')
    banner = ('<div class="banner" id="data-label">SYNTHETIC demo data — not real market data.</div>'
              if synthetic else f'<div class="banner real" id="data-label">Real data: {escape(store.label)}</div>')
    title = f"The market on {d}"
    ups = [b["up"] / b["traded"] if b["traded"] else 0.0 for b in br.payload["boards"]]
    labels = [BOARD_LABELS.get(b["board"], b["board"]) for b in br.payload["boards"]]
    cards = [
        _card("Stocks up", f"{tot['up']:,}", f"of {tot['traded']:,} traded; {tot['down']:,} down"),
        _card("Limit up / down", f"{tot['limit_up']} / {tot['limit_down']}",
              f"longest streak {int(lad['streak'].max()) if len(lad) else 0}"),
        _card("Turnover", f"{tot['amount'] / 1e8:,.0f}", "100 million CNY"),
    ]
    sections = [
        '<section id="breadth"><h2>Breadth by board</h2>',
        html_table(boards),
        _figure(plots.chart_svg(plots.hbar_chart, labels, ups, xmax=1.0, kind="market_breadth",
                       title="Share of traded stocks that rose"),
                "Share of each board's traded stocks that closed up."),
        "</section>",
        '<section id="ladder"><h2>Limit-up ladder</h2>',
        html_table(lad) if len(lad) else "<p>No stock closed at its limit up.</p>",
        "</section>",
    ]
    nav = [("summary", "Summary"), ("breadth", "Breadth"), ("ladder", "Ladder")]
    if method is not None:
        from ..engine import run_review

        res = run_review(method, store, None, as_of=d, incumbents=incumbents)
        cov, mix, cw = market.coverage_on(res, d)
        warnings += cw
        m = res.methodology
        name = f"{m.title} ({m.index_code or m.name})"
        cards.append(_card("Index vs board", plots.pct(cov["share_of_market_cap"]),
                           f"of the cap with {plots.pct(cov['share_of_companies'])} of the companies"))
        covdf = pd.DataFrame({"measure": list(cov), "value": [_cov_text(k, v) for k, v in cov.items()]})
        sections += [
            f'<section id="coverage"><h2>{escape(name)} against its board</h2>',
            f"<p class=muted>Members of the review in force on {d} ({escape(res.dates.review)}), "
            f"priced at the close of {d}; board: the {', '.join(m.universe.boards)} stocks that traded that day.</p>",
            html_table(covdf),
            _figure(plots.chart_svg(plots.hbar_chart, list(mix["sw_l1_name_en"].fillna("?")), list(mix["weight"]),
                           kind="market_industry", title="Industry mix, weights drifted to the day"),
                    "Weight per Shenwan level-1 industry on the day."),
            "</section>",
        ]
        nav.append(("coverage", "Coverage"))
    if target is not None:
        mv = market.moves(store, target, days, end=d, on=d)
        warnings += mv.warnings
        p = mv.payload
        best, worst = p["best"], p["worst"]
        cards.append(_card(f"{target} on the day", plots.pct(p["on"]["daily"], 2),
                           f"{days} days: {plots.pct(p['on']['return'], 2)}"))
        lv = mv.frame[mv.frame["date"] >= d - dt.timedelta(days=365)]
        chart = plots.chart_svg(plots.lines_chart, [plots.Line(target, lv["date"], lv["level"])], dates=True,
                       y_fmt="{x:,.0f}", kind="market_level", title=f"{target}: the year to {d}")
        table = pd.DataFrame([
            {"move": f"best {days}-day", "start": best["start"], "end": best["end"], "return": best["return"]},
            {"move": f"worst {days}-day", "start": worst["start"], "end": worst["end"], "return": worst["return"]},
            {"move": f"{days} days to {d}", "start": p["on"]["start"], "end": d, "return": p["on"]["return"]},
        ])
        table["return"] = [plots.pct(v, 2) for v in table["return"]]
        sections += [f'<section id="moves"><h2>{escape(target)}: moves</h2>', html_table(table),
                     _figure(chart, f"{p['levels']} level"), "</section>"]
        nav.append(("moves", "Moves"))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="indexrecon {escape(__version__)}">',
        f"<title>{escape(title)}{' [SYNTHETIC]' if synthetic else ''}</title>",
        f"<style>{CSS}#ladder td:last-child{{white-space:normal}}</style></head><body>",  # codes wrap
        "<nav>" + "".join(f'<a href="#{k}">{escape(v)}</a>' for k, v in nav) + "</nav>",
        "<main>",
        f'<section id="summary"><h1>{escape(title)} {badge}</h1>', banner, _warnings(warnings),
        '<div class="cards">' + "".join(cards) + "</div>", "</section>",
        *sections,
        f"<footer>{escape(store.label)}. Generated by indexrecon {escape(__version__)}. "
        "This file is self-contained: it needs no network to view.</footer>",
        "</main>", f"<script>{JS}</script>", "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_market_page(store: Store, path: str | os.PathLike[str], date: dt.date | None = None, **kw: Any) -> Path:
    """Render the market page and write it atomically to `path`."""
    return write_html(path, render_market_page(store, date, **kw))
