"""The review commands: rebuild, rebalance, stats, explain, compare and report.

Plain click commands listed in COMMANDS; `main` adds them to the group (whose error handling
turns IndexReconError into one line and exit code 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import IndexReconError
from .common import (
    FORMATS,
    INCUMBENTS_HELP,
    checked_range,
    complete_method,
    emit,
    label_synthetic,
    open_store_at,
    optional_day,
    refuse_overwrite,
    working,
    write_text,
)
from .common import store_option as common_store_option
from .output import finish_review
from .replay import replayable

store_option = common_store_option()


def _review(method: str, review: str | None, as_of: str | None, incumbents: str,
            store_path: Path | None) -> Any:
    """Run the review named by --review or --as-of (one of them is required)."""
    from ..engine import run_review
    from ..methodology.loader import load_methodology

    m = load_methodology(method)  # a mistyped name is the first thing to say
    if review is None and as_of is None:
        raise IndexReconError("give --review YYYY-MM or --as-of YYYY-MM-DD")
    _one_of_review_as_of(review, as_of)
    store = open_store_at(store_path)
    with working(f"rebuilding {method}…"):
        return run_review(m, store, review, as_of=optional_day(as_of, "--as-of"), incumbents=incumbents)


def _one_of_review_as_of(review: str | None, as_of: str | None) -> None:
    if review is not None and as_of is not None:
        raise IndexReconError(f"give --review or --as-of, not both (got --review {review} and --as-of {as_of})")



def _review_options(f: Any) -> Any:
    f = click.option("--incumbents", default="auto", show_default=True, help=INCUMBENTS_HELP)(f)
    f = click.option("--as-of", "as_of", help="The review in force on this date (YYYY-MM-DD).")(f)
    f = click.option("--review", help="Review month, YYYY-MM (e.g. 2024-12).")(f)
    return f


def _output_options(f: Any) -> Any:
    f = click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")(f)
    f = click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)(f)
    return f


WEIGHT_DISTANCE = ("half the sum of the absolute differences between the official weights and ours "
                   "(drifted to the official date) over every stock in either list: 0% is the same "
                   "index, 100% shares nothing")


def _header_lines(res: Any, to_file: Path | None = None) -> list[str]:
    """The header of a review's table; its warnings go to stderr (`cli_output`), and into the
    file too when the table is written `to_file`."""
    from ..present.describe import index_label
    from .output import header_warnings

    h = res.header()
    lines = [
        f"{index_label(h['title'], h['index_code'])} review {h['review']}: data cutoff {h['data_cutoff']} "
        f"(window from {h['window_start']}), effective {h['effective_date']}",
        f"data: {h['data']}; incumbents: {h['incumbents']}",
    ]
    return lines + header_warnings(res, to_file is not None)


@click.command("rebuild")
@click.argument("method", shell_complete=complete_method)
@_review_options
@click.option("--price-date", help="Also price the index on this day (YYYY-MM-DD, or 'effective': the last "
              "trading day before the effective date): current_weight and pro_forma_weight columns.")
@_output_options
@store_option
@replayable()
def rebuild_cmd(method: str, review: str | None, as_of: str | None, incumbents: str, price_date: str | None,
                fmt: str, output: Path | None, store_path: Path | None) -> None:
    """Constituents, ranks and weights of METHOD at a review.

    \b
    Example:
      indexrecon rebuild chinext --review 2025-12
      indexrecon rebuild chinext --as-of 2026-01-15 --format csv -o chinext.csv
      indexrecon rebuild chinext --review 2025-12 --price-date effective
    """
    from ..present.describe import rich_table

    refuse_overwrite(output, store_path=store_path, methods=[method], incumbents=incumbents)
    res = _review(method, review, as_of, incumbents, store_path)
    finish_review(res, before_output=True)
    cons = res.view("constituents")
    if price_date is not None:
        from ..analysis.flows import price_constituents

        cons, res = price_constituents(res, cons, None if price_date == "effective" else optional_day(price_date, "--price-date"))

    def render(con: Any) -> None:
        for line in _header_lines(res, output):
            con.print(line, highlight=False)
        con.print(rich_table(cons.select(["rank", "code", "name", "board", "industry", *res.metric_columns, "weight",
                                          "current_weight", "pro_forma_weight"])))

    emit(cons, fmt, output, res.to_dict, render, synthetic=res.synthetic)
    finish_review(res, before_output=False)


@click.command("rebalance")
@click.argument("method", shell_complete=complete_method)
@click.option("--review", help="Review month, YYYY-MM (default: the next review after the store's last date, "
              "or after --as-of).")
@click.option("--as-of", "as_of", help="Forecast with the data up to this day (YYYY-MM-DD); the rest of the "
              "review's window is simulated.")
@click.option("--incumbents", default="auto", show_default=True, help=INCUMBENTS_HELP)
@click.option("--margin", default=10, show_default=True, callback=checked_range("--margin", 0),
              help="Ranks either side of the boundaries to show.")
@click.option("--price-date", help="Price the current and new index on this day (default: the last trading day "
              "in the store before the effective date).")
@click.option("--aum", help="CNY tracking the index (e.g. 5e10), or a YAML file of methodology: CNY; adds the trades.")
@click.option("--paths", default=300, show_default=True, help="Simulated paths for the probabilities.")
@click.option("--seed", default=0, show_default=True, help="Seed of the simulation.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet", "xlsx"]), default="table",
              show_default=True, help="csv / parquet / xlsx: the trade list with --aum, else the borderline table.")
@store_option
@replayable()
def rebalance_cmd(method: str, review: str | None, as_of: str | None, incumbents: str, margin: int,
                  price_date: str | None, aum: str | None, paths: int, seed: int, fmt: str,
                  output: Path | None, store_path: Path | None) -> None:
    """Simulate a review: adds, deletes, probabilities, pro-forma weights, passive trades.

    \b
    Example:
      indexrecon rebalance chinext
      indexrecon rebalance chinext --review 2024-12 --incumbents simulate --format json
      indexrecon rebalance csi300 --review 2024-06 --as-of 2024-03-15 --store real.duckdb
      indexrecon rebalance csi300 --review 2024-06 --aum 5e11 --format xlsx -o trades.xlsx
    """
    from .desk import run_rebalance

    refuse_overwrite(output, store_path=store_path, methods=[method], incumbents=incumbents)
    run_rebalance(method, review, as_of, incumbents, margin, optional_day(price_date, "--price-date"), aum, paths, seed, fmt, output,
                  open_store_at(store_path), working, _header_lines, emit)


@click.command("stats")
@click.argument("method", shell_complete=complete_method)
@_review_options
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(),
              help="Write to FILE; with csv or parquet, a DIR (existing, or ending in /) gets one file per table.")
@store_option
@replayable()
def stats_cmd(method: str, review: str | None, as_of: str | None, incumbents: str, fmt: str,
              output: str | None, store_path: Path | None) -> None:
    """Industry mix, concentration and coverage of the board at a review.

    csv prints the three tables one after the other, each under a line naming it and
    separated by an empty line (as a spreadsheet shows them); -o DIR writes
    industry_mix.csv, concentration.csv and coverage.csv instead.

    \b
    Example:
      indexrecon stats chinext --review 2025-12
      indexrecon stats chinext --review 2025-12 --format csv -o stats/
    """
    import pandas as pd

    from ..present.describe import coverage_note, rich_table, unweighted_note

    refuse_overwrite(output, store_path=store_path, methods=[method], incumbents=incumbents)
    res = _review(method, review, as_of, incumbents, store_path)
    finish_review(res, before_output=True)
    stats = res.stats()
    mix = res.industry_mix()
    on = None
    if as_of is not None:  # coverage and industry mix measured on the day itself (market.py)
        from ..analysis.market import stats_on

        stats, mix, on_warnings = stats_on(res, stats, optional_day(as_of, "--as-of"))
        on = stats["coverage"]["date"]
        for w in on_warnings:
            click.echo(f"warning: {w}", err=True)
    c = stats["concentration"]
    conc = pd.DataFrame([{**c, "unweighted_codes": " ".join(c.get("unweighted_codes", []))}])
    cutoff_cov = stats.get("coverage_at_cutoff", stats["coverage"])
    tables = {"industry_mix": mix, "concentration": conc, "coverage": pd.DataFrame([stats["coverage"]])}
    if on:
        tables["coverage_at_cutoff"] = pd.DataFrame([cutoff_cov])

    def render(con: Any) -> None:
        for line in _header_lines(res, output):
            con.print(line, highlight=False)
        when = f"on {on}, weights drifted to it" if on else "at the cutoff"
        con.print(rich_table(mix.rename(columns={"sw_l1_name_en": "industry"}), f"Industry mix (Shenwan level 1) {when}"))
        con.print(rich_table(conc.drop(columns=["unweighted_codes"]), "Concentration (of the weighted constituents)"))
        if c["unweighted_count"]:
            con.print(f"{unweighted_note(c)}", highlight=False)
        if on:
            from .market import coverage_table

            con.print(coverage_table(stats["coverage"], f"Coverage of the board on {on} (total market cap)"))
        con.print(rich_table(pd.DataFrame([cutoff_cov]), "Coverage of the board (total market cap at the cutoff)"))
        if coverage_note(cutoff_cov):
            con.print(coverage_note(cutoff_cov), highlight=False)

    out = None if output is None else Path(output)

    def write() -> None:
        if fmt in ("csv", "parquet") and out is not None and (out.is_dir() or str(output).endswith(("/", "\\"))):
            for name in tables:
                refuse_overwrite(out / f"{name}.{fmt}", store_path=store_path, methods=[method],
                                 incumbents=incumbents)
            out.mkdir(exist_ok=True)  # the folder itself, not missing parents (as every -o)
            for name, df in tables.items():
                emit(df, fmt, out / f"{name}.{fmt}", synthetic=res.synthetic)
                click.echo(f"wrote {out / f'{name}.{fmt}'}", err=True)
            return
        if out is not None and out.is_dir():
            raise IndexReconError(f"{out} is a folder: give a file name, or --format csv/parquet for one file per table")
        if fmt == "csv":
            blocks = [f"{name}\n{label_synthetic(df, res.synthetic).to_csv(index=False, lineterminator=chr(10))}"
                      for name, df in tables.items()]
            write_text("\n".join(blocks), out)
            return
        emit(mix, fmt, out, {**res.header(), "stats": stats}, render, synthetic=res.synthetic)

    write()
    finish_review(res, before_output=False)


@click.command("explain")
@click.argument("method", shell_complete=complete_method)
@click.argument("codes", nargs=-1, required=True)
@_review_options
@store_option
@replayable(writes=())
def explain_cmd(method: str, codes: tuple[str, ...], review: str | None, as_of: str | None,
                incumbents: str, store_path: Path | None) -> None:
    """Why given stocks are in or out of METHOD at a review.

    \b
    Example:
      indexrecon explain chinext 300750 300059 --review 2025-12
    """

    res = _review(method, review, as_of, incumbents, store_path)
    for line in _header_lines(res):
        click.echo(line)
    for code in codes:
        click.echo(res.explain(code.strip()))
    finish_review(res, before_output=False)  # an empty index is explained, not refused


@click.command("compare")
@click.argument("method", shell_complete=complete_method)
@click.option("--review", required=True, help="Review month, YYYY-MM.")
@click.option("--official-date", help="Official snapshot (default: the first on or after the effective date).")
@click.option("--incumbents", default="auto", show_default=True, help=INCUMBENTS_HELP)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@store_option
@replayable()
def compare_cmd(method: str, review: str, official_date: str | None, incumbents: str, fmt: str,
                output: Path | None, store_path: Path | None) -> None:
    """Rebuild a review and compare it with the store's official constituents.

    \b
    Example:
      indexrecon compare chinext --review 2024-12 --incumbents simulate --store real.duckdb
    """
    import pandas as pd

    from ..analysis.composition import compare_official
    from ..engine import run_review
    from ..present.describe import rich_table

    refuse_overwrite(output, store_path=store_path, methods=[method], incumbents=incumbents)
    store = open_store_at(store_path)
    with working(f"rebuilding {method}…"):
        res = run_review(method, store, review, incumbents=incumbents)
        finish_review(res, before_output=True)
        cmp = compare_official(res, optional_day(official_date, "--official-date"))
        cmp["change"] = _score_change(res, cmp)

    def render(con: Any) -> None:
        for line in _header_lines(res, output):
            con.print(line, highlight=False)
        con.print(
            f"official list of {cmp['official_date']}: overlap {cmp['overlap']} of "
            f"{cmp['official_count']}; weight distance {100 * cmp['weight_distance']:.2f}%",
            highlight=False,
        )
        con.print(f"(weight distance: {WEIGHT_DISTANCE}; weights in %)", highlight=False)
        ch = cmp["change"]
        con.print("; ".join(
            f"{k}: precision {_pct(ch[k]['precision'])}, recall {_pct(ch[k]['recall'])} "
            f"({ch[k]['hit']} of {ch[k]['predicted']} predicted, {ch[k]['actual']} official)" for k in ("adds", "deletes"))
            + f"; Brier {ch['brier']:.4f} (plain rule {ch['brier_plain']:.4f}, {ch['brier_candidates']} candidates)",
            highlight=False)
        for key, title in (("missing", "In the official list, not rebuilt"), ("extra", "Rebuilt, not official")):
            if cmp[key]:
                con.print(rich_table(pd.DataFrame(cmp[key]), title))

    emit(None, fmt, output, cmp, render)
    finish_review(res, before_output=False)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _score_change(res: Any, cmp: dict[str, Any]) -> dict[str, Any]:
    """Precision / recall of the adds and deletes and the Brier score against the official list."""
    from ..analysis.forecast import forecast_review, score_change

    official = (set(res.codes) - {r["code"] for r in cmp["extra"]}) | {r["code"] for r in cmp["missing"]}
    return score_change(res, official, forecast_review(res))



@click.command("report")
@click.argument("method", shell_complete=complete_method)
@click.option("--review", help="Review month, YYYY-MM (default: the next review after the store's last date).")
@click.option("--as-of", "as_of", help="The review in force on this date (YYYY-MM-DD).")
@click.option("--incumbents", default="auto", show_default=True, help=INCUMBENTS_HELP)
@click.option("--margin", default=10, show_default=True, callback=checked_range("--margin", 0),
              help="Ranks either side of the boundaries to show.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write (default: METHOD-REVIEW.html).")
@click.option("--png", "png_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write the charts as PNG files into DIR (needs matplotlib).")
@click.option("--backtest-start", help="Add a backtest from this day (YYYY-MM-DD): level and drawdown "
              "against the official index where the store has it.")
@click.option("--backtest-end", help="Last day of the backtest (YYYY-MM-DD; default: the store's last day).")
@store_option
def report_cmd(method: str, review: str | None, as_of: str | None, incumbents: str, margin: int,
               output: Path | None, png_dir: Path | None, backtest_start: str | None,
               backtest_end: str | None, store_path: Path | None) -> None:
    """Write a review as one self-contained HTML page that opens offline.

    The page has the summary (data cutoff, effective date, and whether the data is the
    SYNTHETIC demo or real), adds, deletes and the borderline stocks with their reasons,
    the industry mix, weight and concentration charts, the coverage of the board, a
    sortable constituents table and, with --backtest-start, the level and drawdown against
    the official index.

    \b
    Example:
      indexrecon report chinext -o chinext.html          # the next review, demo store
      indexrecon report chinext --review 2025-12 -o r.html --png charts/
      indexrecon report chinext --review 2025-12 --backtest-start 2025-01-02 -o r.html
    """
    import importlib.util

    from ..engine import run_review, simulate_review
    from ..methodology.loader import load_methodology
    from ..present.html import run_backtest, write_report

    if png_dir is not None and importlib.util.find_spec("matplotlib") is None:
        raise IndexReconError("--png needs matplotlib: python -m pip install matplotlib")
    if backtest_end and not backtest_start:
        raise IndexReconError("--backtest-end needs --backtest-start")
    _one_of_review_as_of(review, as_of)
    bt_start, bt_end = optional_day(backtest_start, "--backtest-start"), optional_day(backtest_end, "--backtest-end")
    m = load_methodology(method)
    refuse_overwrite(output, store_path=store_path, methods=[method], incumbents=incumbents)
    if output is not None and not output.parent.is_dir():  # as every -o: a missing folder is not created
        raise IndexReconError(f"cannot write {output}: folder {output.parent} does not exist")
    store = open_store_at(store_path)
    with working(f"running the {m.name} review…") as step:
        if as_of is not None:
            res = run_review(m, store, review, as_of=optional_day(as_of, "--as-of"), incumbents=incumbents)
        else:
            res = simulate_review(m, store, review, incumbents=incumbents)
        finish_review(res, before_output=True)
        bt = None
        if bt_start is not None:
            step(f"backtesting {m.name} from {bt_start}…")
            bt = run_backtest(m, store, bt_start, bt_end or store.date_range()[1])
        step("drawing the report…")
        out = output or Path(f"{m.name}-{res.dates.review}.html")
        write_report(res, out, margin=margin, backtest=bt)
        pngs = []
        if png_dir is not None:
            from ..present.charts import write_pngs

            step("drawing the PNG charts…")
            pngs = write_pngs(res, png_dir, backtest=bt)
    label = "SYNTHETIC demo data" if res.synthetic else "real data"
    click.echo(f"wrote {out} ({m.name} review {res.dates.review}, {label})")
    for p in pngs:
        click.echo(f"wrote {p}")
    finish_review(res, before_output=False)


COMMANDS = [rebuild_cmd, rebalance_cmd, stats_cmd, explain_cmd, compare_cmd, report_cmd]
