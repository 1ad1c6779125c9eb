"""Command line of the index calculation: `indexrecon track` and `indexrecon backtest`.

The commands are plain click commands listed in COMMANDS; `cli.py` adds them to the main
group (whose error handling turns IndexReconError into one line and exit code 2).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import click

from ..errors import IndexReconError
from ..jsonout import dumps
from .common import (
    checked_range,
    frame_table,
    label_synthetic,
    open_store_at,
    output_console,
    parse_day,
    refuse_overwrite,
    store_option,
    working,
    write_text,
)
from .output import print_warnings
from .replay import replayable

_store_option = store_option()
_INCUMBENTS_HELP = (
    "incumbents of the first review: official, simulate, none, a file of codes, or auto "
    "(official if the store has it, else simulate); later reviews take the previous review's constituents"
)


def _open(store_path: Path | None) -> Any:
    return open_store_at(store_path)


def _date(value: str, opt: str) -> dt.date:
    return parse_day(value, opt)


def _pct(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{100 * float(v):.{digits}f}%"


def _fmt_stat(key: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, dt.date):
        return v.isoformat()
    if key in {"sharpe", "correlation", "information_ratio"}:
        return f"{float(v):.3f}"
    if key in {"days", "reviews", "move_days", "common_days", "constituents"}:
        return str(int(v))
    if isinstance(v, float) and key not in {"level_end", "official_end"}:
        digits = 4 if key in {"tracking_error", "mean_daily_diff", "max_abs_daily_diff", "final_gap",
                              "max_abs_gap"} else 2
        return _pct(v, digits)
    if isinstance(v, float):
        return f"{v:,.2f}"
    return str(v)


def _stats_table(stats: dict[str, Any], title: str) -> Any:
    from ..present.termtable import TextTable

    rows = [[k, _fmt_stat(k, v)] for k, v in stats.items()]
    return TextTable(["statistic", "value"], ["statistic", "value"], [False, True], rows, title=title)


def _bp(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{1e4 * float(v):+.2f}"


@click.command("track")
@click.argument("method")
@click.option("--from-official", "from_official", required=True,
              help="Date of the official weight snapshot to start from (table official_weights).")
@click.option("--end", required=True, help="Last day to track (YYYY-MM-DD).")
@click.option("--share-changes", type=click.Choice(["bonus", "all"]), default="bonus", show_default=True,
              help="Carry the implied shares through bonus issues/splits only, or through every share change in the store.")
@click.option("--total-return", "total_return", is_flag=True,
              help="Track our total-return level (dividends reinvested) against the official total-return index (399006 -> 399606).")
@click.option("--against", "against", help="Official index code to compare with (default: the methodology's, or its total-return index).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@_store_option
@replayable()
def track_cmd(method: str, from_official: str, end: str, share_changes: str, total_return: bool,
              against: str | None, fmt: str, output: Path | None, store_path: Path | None) -> None:
    """Reproduce an official index from one official weight snapshot.

    Implied weighting shares (weight x index close / price on the snapshot date) are carried
    forward and priced daily; the path is compared with the official close (table
    index_bars): daily return difference, annualised tracking error, largest daily gap, and
    how our drifted weights compare with later official snapshots.

    \b
    Example:
      indexrecon track chinext --from-official 2025-01-27 --end 2025-04-30 --store real.duckdb
      indexrecon track chinext --from-official 2025-01-27 --end 2025-06-12 --total-return --store real.duckdb
    """
    from ..analysis.tracking import track

    refuse_overwrite(output, store_path=store_path, methods=[method])
    first, last = _date(from_official, "--from-official"), _date(end, "--end")
    if last < first:
        raise IndexReconError(f"--end {last} is before the snapshot --from-official {first}")
    store = _open(store_path)
    res = track(method, store, first, last, share_changes=share_changes,  # type: ignore[arg-type]
                total_return=total_return, against=against)
    _track_output(res, fmt, output)
    print_warnings(res.warnings)  # on stderr in every format, after the output


def _track_output(res: Any, fmt: str, output: Path | None) -> None:
    if fmt == "json":
        write_text(dumps(res.to_dict()) + "\n", output)
        return
    if fmt == "csv":
        write_text(label_synthetic(res.levels, res.synthetic).to_csv(index=False, lineterminator="\n"), output)
        return
    with output_console(output) as con:
        s = res.stats
        tag = " [SYNTHETIC demo data]" if res.synthetic else ""
        con.print(
            f"{res.index_code} tracked from the official weights of {res.snapshot} to {s['end']}: "
            f"{s['days']} days{tag}", highlight=False,
        )
        con.print(
            f"tracking error {_pct(s['tracking_error'], 3)} a year; largest daily gap "
            f"{_bp(s['max_abs_daily_diff'])} bp on {s['max_abs_daily_diff_date']}; level "
            f"{s['level_end']:,.2f} vs official {s['official_end'] or float('nan'):,.2f} "
            f"({_bp(s['final_gap'])} bp)", highlight=False,
        )
        for w in res.warnings if output is not None else []:  # stdout: on stderr instead
            con.print(f"warning: {w}", highlight=False)
        con.print(_stats_table(s, "Tracking"))
        if len(res.drift):
            con.print(frame_table(res.drift, "Our drifted weights against later official snapshots",
                                   {"weight_distance": lambda v: _pct(v, 3)}))
        con.print(frame_table(
            res.levels.drop(columns=["constituents"]), "Daily levels (return, diff and gap in %/bp)",
            {"return": lambda v: _pct(v, 3), "official_return": lambda v: _pct(v, 3), "diff": _bp, "gap": _bp},
        ))


@click.command("backtest")
@click.argument("method")
@click.option("--start", required=True, help="Base day (YYYY-MM-DD): the index starts there at --base.")
@click.option("--end", help="Last day (default: the store's last day).")
@click.option("--base", default=1000.0, show_default=True, callback=checked_range("--base", 0, lo_open=True),
              help="Level on the base day.")
@click.option("--rf", default=0.0, show_default=True,
              callback=checked_range("--rf", -0.2, 0.5, hint=" (a fraction a year: 0.02 = 2%)"),
              help="Risk-free rate for the Sharpe ratio, a fraction a year (0.02 = 2%).")
@click.option("--against", "against", default="auto", show_default=True,
              help="Official index code in the store (index_bars) or another methodology: adds tracking error and "
              "correlation. auto: the methodology's own index_code when the store has its levels; none: no comparison.")
@click.option("--incumbents", default="auto", show_default=True, help=_INCUMBENTS_HELP)
@click.option("--move-days", default=5, show_default=True, callback=checked_range("--move-days", 1),
              help="Window of the best and worst N-day moves.")
@click.option("--share-changes", type=click.Choice(["all", "bonus"]), default="all", show_default=True,
              help="Between reviews, follow every share change of the methodology's share count, or bonus issues/splits only.")
@click.option("--workers", default=0, show_default="all cores, at most 4",
              help="Processes for daily-rebalanced methodologies whose days are independent (1: none).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@_store_option
@replayable(methods=("method", "against"))
def backtest_cmd(method: str, start: str, end: str | None, base: float, rf: float, against: str | None,
                 incumbents: str, move_days: int, share_changes: str, workers: int, fmt: str,
                 output: Path | None, store_path: Path | None) -> None:
    """Point-in-time backtest: every review from START to END, priced daily.

    Each review sees only the data up to its own cutoff and takes the previous review's
    constituents as incumbents. Prints return, volatility, Sharpe, maximum drawdown, best and
    worst moves, turnover per review, and tracking error against --against. csv gives the
    daily levels (price and total return), json everything.

    \b
    Example:
      indexrecon backtest chinext --start 2023-12-18 --end 2026-05-29
      indexrecon backtest chinext --start 2022-06-13 --against 399006 --store real.duckdb --format json
      indexrecon backtest microcap400 --start 2025-01-02 --end 2025-12-31
    """
    import os

    from ..analysis.backtest import backtest

    refuse_overwrite(output, store_path=store_path, methods=[method, against], incumbents=incumbents)
    store = _open(store_path)
    if workers <= 0:
        workers = min(4, os.cpu_count() or 1)

    with working(f"backtest {method}") as update:
        bt = backtest(method, store, _date(start, "--start"), _date(end, "--end") if end else None,
                      base=base, rf=rf, incumbents=incumbents, against=against, move_days=move_days,
                      share_changes=share_changes, workers=workers, progress=update)
    _backtest_output(bt, fmt, output)
    print_warnings(bt.warnings, bt.methodology)  # on stderr in every format, after the output


def _backtest_output(bt: Any, fmt: str, output: Path | None) -> None:
    if fmt == "json":
        write_text(bt.to_json() + "\n", output)
        return
    if fmt == "csv":
        write_text(label_synthetic(bt.levels, bt.synthetic).to_csv(index=False, lineterminator="\n"), output)
        return
    with output_console(output) as con:
        m = bt.methodology
        tag = "SYNTHETIC demo data" if bt.synthetic else bt.store_label
        con.print(
            f"{m.title} ({m.index_code or m.name}) backtest {bt.start} .. {bt.end}, base {bt.base:g}; data: {tag}",
            highlight=False,
        )
        for w in bt.warnings if output is not None else []:  # stdout: on stderr instead
            con.print(f"warning: {w}", highlight=False)
        con.print(_stats_table(bt.stats, "Statistics (price index; annualised over 252 trading days)"))
        rev = bt.reviews.drop(columns=["added", "deleted"])
        if len(rev) > 40:
            rev = rev[rev["adds"] + rev["deletes"] > 0]
            title = f"Reviews with changes ({len(rev)} of {len(bt.reviews)})"
        else:
            title = "Reviews"
        con.print(frame_table(rev, title, {"turnover": _pct}))
        lv = bt.levels.copy()
        lv["month"] = [d.strftime("%Y-%m") for d in lv["date"]]
        monthly = lv.groupby("month").tail(1)[["date", "level", "total_return_level", "constituents"]]
        con.print(frame_table(monthly, "Month-end levels"))


COMMANDS = [track_cmd, backtest_cmd]
