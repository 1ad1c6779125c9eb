"""The `indexrecon market ...` commands: breadth, limit closes, moves, comparisons, event
windows, valuation and the HTML market page. The group is added to the main command line by
`cli.py`; the computations live in `market.py`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from ..errors import IndexReconError
from .common import (
    ErrorGroup,
    frame_table,
    label_synthetic,
    open_store_at,
    output_console,
    refuse_overwrite,
    store_option,
    write_text,
)
from .common import optional_day as _date
from .replay import replayable

_store_option = store_option()
FORMATS = click.Choice(["table", "csv", "json"])


def _open(store_path: Path | None) -> Any:
    return open_store_at(store_path)


def _output(f: Any) -> Any:
    """--format, -o and --store; the output replayed when an identical run is kept."""
    f = replayable(methods=("target", "targets"))(f)
    f = _store_option(f)
    f = click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")(f)
    f = click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)(f)
    return f


def _pct(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{100 * float(v):.{digits}f}%"


def _emit(res: Any, fmt: str, out: Path | None, render: Any, frame: Any = None) -> None:
    """Warnings on stderr in every format; then JSON, CSV (the frame) or the table."""
    from .output import print_warnings

    print_warnings(res.warnings)
    if fmt == "json":
        from ..jsonout import dumps

        payload = dict(res.payload)
        payload["synthetic"] = res.synthetic
        text = dumps(payload) + "\n"
        _write(text, out)
    elif fmt == "csv":
        df = label_synthetic(res.frame if frame is None else frame, res.synthetic)
        _write(df.to_csv(index=False, lineterminator="\n"), out)
    else:
        with output_console(out) as con:
            if res.synthetic:
                con.print("data: SYNTHETIC demo data, not real market data", highlight=False)
            render(con)


def _write(text: str, out: Path | None) -> None:

    write_text(text, out)


def _table(df: Any, title: str, fmt: dict[str, Any] | None = None) -> Any:

    return frame_table(df, title, fmt)


def _cny(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{float(v) / 1e8:,.1f}"


def _first_codes(codes: str, n: int = 8) -> str:
    """At most n codes of a ladder rung on a terminal (JSON and csv have them all)."""
    items = codes.split(", ")
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


@click.group("market", cls=ErrorGroup)
def market() -> None:
    """Market and index analytics: breadth, limit closes, moves, comparisons, events, valuation.

    \b
    Example:
      indexrecon market breadth --date 2025-04-08 --store real.duckdb
      indexrecon market limits --date 2025-04-08 --ladder --store real.duckdb
    """


@market.command("breadth")
@click.option("--date", "date_", help="The day (YYYY-MM-DD; default: the store's last day).")
@click.option("--start", help="First day of a daily table (YYYY-MM-DD).")
@click.option("--end", help="Last day of a daily table (default: the store's last day).")
@_output
def breadth_cmd(date_: str | None, start: str | None, end: str | None, fmt: str, output: Path | None,
                store_path: Path | None) -> None:
    """Stocks up, down, flat and at their limits, and the turnover, per board and in total.

    Up, down and flat compare the close with the previous close (to the fen; on an ex-dividend
    day the ex-dividend reference price when the store has dividends); a listing day without a
    previous close counts as traded only. Limits by board and date as in `market limits`.

    \b
    Example:
      indexrecon market breadth --date 2025-04-08 --store real.duckdb
      indexrecon market breadth --start 2025-04-01 --end 2025-04-10 --format csv
    """
    from ..analysis.market import breadth

    if date_ and (start or end):
        raise IndexReconError("give --date, or --start/--end for a daily table, not both")
    if end and not start:
        raise IndexReconError("--end needs --start (or give --date)")
    refuse_overwrite(output, store_path=store_path)
    store = _open(store_path)
    d = _date(date_, "--date")
    res = breadth(store, d, start=_date(start, "--start"), end=_date(end, "--end"))

    def render(con: Any) -> None:
        df = res.frame
        days = sorted(set(df["date"]))
        if len(days) == 1:
            con.print(f"Market breadth on {days[0]} (turnover in 100 million CNY)", highlight=False)
            con.print(_table(df.drop(columns="date").rename(columns={"amount": "turnover"}), "", {"turnover": _cny}))
        else:
            tot = df[df["board"] == "total"].drop(columns="board").rename(columns={"amount": "turnover"})
            con.print(f"Market breadth {days[0]} .. {days[-1]}, all boards (turnover in 100 million CNY)",
                      highlight=False)
            con.print(_table(tot, "", {"turnover": _cny}))

    _emit(res, fmt, output, render)


@market.command("limits")
@click.option("--date", "date_", help="The day (YYYY-MM-DD; default: the store's last day).")
@click.option("--ladder", is_flag=True, help="Group the limit-up stocks by streak (the 'ladder').")
@_output
def limits_cmd(date_: str | None, ladder: bool, fmt: str, output: Path | None, store_path: Path | None) -> None:
    """Stocks that closed at their daily price limit, with the limit in force and the streak.

    The limit by board and date: main boards 10% (ST/*ST 5% where the store knows the
    status), ChiNext 20% from 2020-08-24 (10% before), STAR 20%, BSE 30%; none in the first
    five trading days of a registration-system listing (ChiNext from 2020-08-24, STAR, main
    boards from 2023-04-10) or on a BSE listing day. The limit price is the previous close x
    (1 +- limit) rounded half up to the fen; a close at the limit equals it. The streak counts
    the stock's consecutive limit closes up to the day.

    \b
    Example:
      indexrecon market limits --date 2025-04-08 --store real.duckdb
      indexrecon market limits --ladder --format json
    """
    from ..analysis.market import ladder as make_ladder
    from ..analysis.market import limit_closes

    refuse_overwrite(output, store_path=store_path)
    store = _open(store_path)
    res = limit_closes(store, _date(date_, "--date"))
    lad = make_ladder(res) if ladder else None
    if lad is not None:
        res.payload["ladder"] = lad.to_dict("records")

    def render(con: Any) -> None:
        df = res.frame
        up, dn = df[df["side"] == "up"], df[df["side"] == "down"]
        con.print(f"Limit closes on {res.payload['date']}: {len(up)} up, {len(dn)} down", highlight=False)
        fmts = {"change": _pct, "close": lambda v: f"{v:.2f}"}
        if lad is not None:
            short = lad.assign(codes=[_first_codes(c) for c in lad["codes"]])
            con.print(_table(short, "Limit-up ladder (consecutive limit-up closes)"))
        for title, sub in (("Limit up", up), ("Limit down", dn)):
            if len(sub):
                con.print(_table(sub.drop(columns="side"), title, fmts))

    _emit(res, fmt, output, render, frame=lad if lad is not None and fmt == "csv" else None)


@market.command("moves")
@click.argument("target")
@click.option("--days", default=5, show_default=True, help="Length of the move in trading days.")
@click.option("--start", help="First day (YYYY-MM-DD; default: the first day the target has).")
@click.option("--end", help="Last day (default: the last day the target has).")
@click.option("--date", "date_", help="Also give the daily and N-day returns on this day.")
@click.option("--daily", is_flag=True, help="Add the daily table (level, daily and N-day return) to the JSON.")
@_output
def moves_cmd(target: str, days: int, start: str | None, end: str | None, date_: str | None, daily: bool,
              fmt: str, output: Path | None, store_path: Path | None) -> None:
    """The best and worst N-day moves of an index, and its returns on a day.

    A move runs from the close of `start` to the close of `end`, N trading days later; ties
    go to the earlier end. csv gives the daily table.

    TARGET is an official index code in the store (index_bars) or a methodology,
    rebuilt and priced point in time as `backtest` does.

    \b
    Example:
      indexrecon market moves 399006 --days 6 --store real.duckdb
      indexrecon market moves 399006 --days 3 --start 2024-10-08 --date 2024-10-11 --store real.duckdb
      indexrecon market moves chinext --days 5 --start 2025-01-02 --format json
    """
    from ..analysis.market import moves

    refuse_overwrite(output, store_path=store_path, methods=[target])
    store = _open(store_path)
    res = moves(store, target, days, _date(start, "--start"), _date(end, "--end"),
                on=_date(date_, "--date"), daily=daily)

    def render(con: Any) -> None:
        p = res.payload
        con.print(f"{target} ({p['levels']}): best and worst {days}-day moves", highlight=False)
        for k in ("best", "worst"):
            m = p[k]
            con.print(f"  {k:<5} {_pct(m['return']):>9}  {m['start']} .. {m['end']}", highlight=False)
        if "on" in p:
            o = p["on"]
            con.print(f"on {o['date']}: level {o['level']:,.2f}, day {_pct(o['daily'])}, "
                      f"{days} days {_pct(o['return'])} (from {o['start']})", highlight=False)

    _emit(res, fmt, output, render)



@market.command("compare")
@click.argument("targets", nargs=-1, required=True)
@click.option("--start", required=True, help="First day (YYYY-MM-DD).")
@click.option("--end", help="Last day (default: the store's last day).")
@click.option("--rf", default=0.0, show_default=True, help="Risk-free rate for the Sharpe ratio, a fraction a year.")
@_output
def compare_cmd(targets: tuple[str, ...], start: str, end: str | None, rf: float, fmt: str,
                output: Path | None, store_path: Path | None) -> None:
    """Indices side by side: annualised return, volatility, Sharpe, maximum drawdown, best and
    worst day, and the correlation matrix of daily returns (annualised over 252 days).

    TARGET is an official index code in the store (index_bars) or a methodology,
    rebuilt and priced point in time as `backtest` does.

    \b
    Example:
      indexrecon market compare 399006 000300 000852 --start 2024-01-02 --store real.duckdb
    """
    from ..analysis.market import compare

    refuse_overwrite(output, store_path=store_path, methods=targets)
    store = _open(store_path)
    s = _date(start, "--start")
    assert s is not None
    res = compare(store, list(targets), s, _date(end, "--end"), rf=rf)

    def render(con: Any) -> None:
        import pandas as pd

        p = res.payload
        con.print(f"{', '.join(targets)} from {p['start']} to {p['end']}", highlight=False)
        keys = ["target", "annualised_return", "volatility", "sharpe", "max_drawdown", "best_day",
                "best_day_date", "worst_day", "worst_day_date", "days"]
        pct = {k: _pct for k in ("annualised_return", "volatility", "max_drawdown", "best_day", "worst_day")}
        con.print(_table(res.frame[keys], "", {**pct, "sharpe": lambda v: f"{v:.2f}"}))
        corr = pd.DataFrame(p["correlation"]).reset_index(names="")
        con.print(_table(corr, f"Correlation of daily returns, {p['common_days']} days",
                         {c: (lambda v: f"{v:.3f}") for c in corr.columns[1:]}))

    _emit(res, fmt, output, render)



@market.command("events")
@click.argument("event")
@click.argument("targets", nargs=-1, required=True)
@click.option("--days", default=5, show_default=True, help="Trading days after (or before) the event.")
@click.option("--before", is_flag=True, help="The N trading days before the event instead of after it.")
@click.option("--start", help="Only events from this day (YYYY-MM-DD).")
@click.option("--end", help="Only events up to this day (YYYY-MM-DD).")
@_output
def events_cmd(event: str, targets: tuple[str, ...], days: int, before: bool, start: str | None,
               end: str | None, fmt: str, output: Path | None, store_path: Path | None) -> None:
    """Returns around an event, year by year, with the share of years up and the mean.

    EVENT is spring-festival (the Lunar New Year from the lunardate library's calendar,
    checked against the store's calendar: a warning where the store trades on it), national-day
    (1 October), or a file of dates (one YYYY-MM-DD a line, or a CSV with a date column). The
    window starts from the last close before the event date and runs N trading days on (with
    --before, ends there, N days after its start).

    TARGET is an official index code in the store (index_bars) or a methodology,
    rebuilt and priced point in time as `backtest` does.

    \b
    Example:
      indexrecon market events spring-festival 399006 000300 000852 --days 5 --store real.duckdb
      indexrecon market events national-day 399006 --days 5 --before --format json
      indexrecon market events my_dates.txt 000300 --days 10
    """
    from ..analysis.market import events

    refuse_overwrite(output, store_path=store_path, methods=[event, *targets])
    store = _open(store_path)
    res = events(store, event, list(targets), days, before, _date(start, "--start"), _date(end, "--end"))

    def render(con: Any) -> None:
        p = res.payload
        where = "before" if before else "after"
        con.print(f"{p['event']}: returns over the {days} trading days {where}", highlight=False)
        wide = res.frame.pivot_table(index="year", columns="target", values="return", sort=True)
        wide = wide[[t for t in dict.fromkeys(targets) if t in wide.columns]].reset_index()
        con.print(_table(wide, "", {t: _pct for t in targets}))
        for s in p["series"]:
            con.print(f"  {s['target']}: up in {_pct(s['share_up'], 0)} of years, mean {_pct(s['mean'])}",
                      highlight=False)

    _emit(res, fmt, output, render)



def coverage_table(cov: dict[str, Any], title: str) -> Any:
    """The coverage of a board on a date as a two-column table (caps in 100 million CNY)."""
    import pandas as pd

    def text(k: str, v: Any) -> str:
        if v is None:
            return ""
        if k.startswith("share_of"):
            return _pct(v)
        if k.endswith("_cap"):
            return f"{_cny(v)} (100m CNY)"
        return f"{v:.2f}x" if k == "avg_cap_multiple" else str(v)

    return _table(pd.DataFrame({"measure": list(cov), "value": [text(k, v) for k, v in cov.items()]}), title)


@market.command("valuation")
@click.argument("target")
@click.option("--date", "date_", help="The day (YYYY-MM-DD; default: the store's last day).")
@click.option("--years", default=10, show_default=True, help="Years of history for the percentile.")
@_output
def valuation_cmd(target: str, date_: str | None, years: int, fmt: str, output: Path | None,
                  store_path: Path | None) -> None:
    """An index's PE (TTM) and PB and their percentile over the past years.

    The index's own published PE/PB when the store has them (index_valuation, from `ingest
    akshare --datasets index_valuation`), else from the per-stock valuation table (valuation:
    code, date, pe_ttm, pb). Index PE =
    total market cap / total trailing earnings of the members, each stock's earnings = cap /
    PE, loss-makers (negative PE) included as negative earnings, as CSI and CNI compute it; PB
    likewise. Members without a PE in the data are left out of both sums (and counted). The
    percentile is the share of valuation days in the window at or below the day's value; with
    fewer than 20 days it is not given. TARGET is an official index code (members from
    index_membership, else the official weight snapshots) or a methodology (its reviews
    rebuilt point in time). csv gives the history.

    \b
    Example:
      indexrecon market valuation 000300 --date 2024-03-25 --store real.duckdb
      indexrecon market valuation chinext --years 5 --format json
    """
    from ..analysis.valuation import valuation

    refuse_overwrite(output, store_path=store_path, methods=[target])
    store = _open(store_path)
    res = valuation(store, target, _date(date_, "--date"), years)

    def render(con: Any) -> None:
        p = res.payload
        con.print(f"{target} on {p['date']} (members: {p['members_from']})", highlight=False)
        for k in ("pe_ttm", "pb"):
            pc = p[k.split("_")[0] + "_percentile"]
            v = p[k]
            where = f", {_pct(pc, 0)} percentile of {p['window']['dates']} days since {p['window']['start']}" \
                if pc is not None else f" (no percentile: {p['window']['dates']} day(s) of data in the window)"
            con.print(f"  {k:<6} {'' if v is None else f'{v:.2f}'}{where}", highlight=False)
        if p["members"] is not None:  # None: the provider's published figures
            con.print(f"  {p['with_pe']} of {p['members']} members have a PE, {p['with_pb']} a PB",
                      highlight=False)
        con.print(f"convention: {p['convention']}", highlight=False)

    _emit(res, fmt, output, render)


@market.command("report")
@click.option("--date", "date_", help="The day (YYYY-MM-DD; default: the store's last day).")
@click.option("--target", help="An index code in index_bars or a methodology: its moves and a level chart.")
@click.option("--method", help="A methodology: its coverage of the board on the day (the review in force).")
@click.option("--days", default=5, show_default=True, help="Length of the moves in trading days.")
@click.option("--incumbents", default="auto", show_default=True,
              help="Incumbents of the --method review: official, simulate, none, a file, or auto.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write (default: market-DATE.html).")
@_store_option
def report_cmd(date_: str | None, target: str | None, method: str | None, days: int, incumbents: str,
               output: Path | None, store_path: Path | None) -> None:
    """Write the market page for a day: one self-contained HTML file that opens offline.

    Breadth by board, the limit-up ladder, with --method the index against its board (coverage
    and industry mix on the day) and with --target its moves and a level chart.

    \b
    Example:
      indexrecon market report --date 2025-04-08 --target 399006 --method chinext --incumbents simulate --store real.duckdb -o market.html
    """
    from ..analysis.market import trading_day
    from ..present.market_html import write_market_page

    refuse_overwrite(output, store_path=store_path, methods=[m for m in (target, method) if m],
                     incumbents=incumbents)
    store = _open(store_path)
    d = trading_day(store, _date(date_, "--date"))
    out = output or Path(f"market-{d}.html")
    write_market_page(store, out, d, target=target, method=method, days=days, incumbents=incumbents)
    label = "SYNTHETIC demo data" if store.synthetic else "real data"
    click.echo(f"wrote {out} (the market on {d}, {label})")
