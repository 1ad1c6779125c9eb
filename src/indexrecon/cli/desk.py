"""The `rebalance` command's work: the review (or a forecast as of an earlier day), the
probabilities, the desk view, and the output in every format."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

from ..errors import IndexReconError
from .common import parse_day
from .output import finish_review


def run_review_as_of(method: str, store: Any, review: str | None, as_of: dt.date | None,
                     incumbents: str) -> Any:
    """The review, with data up to `as_of` when that is before its data cutoff."""
    from ..engine import context, run_review, simulate_review
    from ..methodology.loader import load_methodology
    from ..methodology.schedule import next_review_after

    m = load_methodology(method)
    if as_of is None:
        return simulate_review(m, store, review, incumbents=incumbents)
    cal = context(store).cal
    if as_of > cal.last:
        raise IndexReconError(f"--as-of {as_of} is after the store's last trading day {cal.last}")
    if as_of < cal.first:
        raise IndexReconError(f"--as-of {as_of} is before the store's first trading day {cal.first}")
    if review is None:
        review = next_review_after(m, cal, as_of)
    return run_review(m, store, review, incumbents=incumbents, allow_provisional=True, data_until=as_of)


def run_rebalance(method: str, review: str | None, as_of: str | None, incumbents: str, margin: int,
                  price_date: dt.date | None, aum: str | None, paths: int, seed: int, fmt: str,
                  output: Path | None, store: Any, working: Any, header_lines: Any, emit: Any) -> None:
    from ..analysis.desk import desk_report, write_xlsx
    from ..analysis.flows import read_aum
    from ..analysis.forecast import forecast_review
    from ..methodology.loader import load_methodology
    from ..present.describe import rich_table
    from ..results.review import Table

    m = load_methodology(method)
    day = None if as_of is None else parse_day(as_of, "--as-of")
    if paths < 1:
        raise IndexReconError(f"--paths must be at least 1, got {paths}")
    amount = read_aum(aum, m.name) if aum is not None else None
    if fmt in ("parquet", "xlsx") and output is None:
        raise IndexReconError(f"--format {fmt} needs -o FILE")
    with working(f"simulating the {m.name} review…"):
        res = run_review_as_of(method, store, review, day, incumbents)
        finish_review(res, before_output=True)
        fc = forecast_review(res, paths=paths, seed=seed)
        rep = desk_report(res, price_date=price_date, aum=amount, forecast=fc, as_of=day)
    border = res.view("borderline", margin)
    prob = fc.probability
    # every format: what the pricing rests on goes to stderr (the review's own warnings follow
    # from finish_review after the output)
    for w in dict.fromkeys(w for w in rep.warnings if w not in res.warnings):
        print(f"warning: {w}", file=sys.stderr)
    if fmt == "xlsx":
        from .common import writing

        with writing(output):
            write_xlsx(rep, output)  # type: ignore[arg-type]
        finish_review(res, before_output=False)
        return

    def render(con: Any) -> None:
        for line in header_lines(res, output):
            con.print(line, highlight=False)
        if output is not None:  # a written table keeps the record; a terminal has it on stderr
            for w in rep.warnings:
                con.print(f"warning: {w}", highlight=False)
        adds, deletes = rep.rows("added"), rep.rows("deleted")
        con.print(f"{len(adds)} adds, {len(deletes)} deletes, {len(res.view('retained'))} retained; "
                  f"priced on {rep.view.price_date}; probabilities from {fc.paths} paths (seed {fc.seed}, "
                  f"{fc.remaining_days} trading days of the window simulated)", highlight=False)
        cols = ["code", "name", "rank", "probability", "current_weight", "pro_forma_weight", "reason"]
        if amount is not None:
            cols[-1:-1] = ["trade_shares", "trade_value", "days_of_volume"]
        for title, rows in (("Adds", adds), ("Deletes", deletes)):
            if rows:
                con.print(rich_table(_table(rows, cols), title))
        if rep.reserve:
            con.print(rich_table(_table(rep.reserve, ["code", "name", "rank"]), "Reserve list"))
        bv = border.select([c for c in border.columns if c != "stage"])
        bv = Table((*bv.columns, "probability"), (*bv.types, "DOUBLE"),
                   [(*r, prob.get(r[bv.col("code")])) for r in bv.rows])
        con.print(rich_table(bv, f"Borderline (ranks around the boundaries, margin {margin})"))
        if amount is not None:
            tr = rep.trade_rows()
            con.print(rich_table(_table(tr[:30], ["code", "name", "status", "trade_shares", "close", "trade_value",
                                                  "days_of_volume"]),
                                 f"Trades for CNY {amount:,.0f} (top 30 of {len(tr)} by days of volume; "
                                 f"net {rep.view.net_value():,.0f})"))

    table = _table(rep.trade_rows(), list(rep.trade_rows()[0]) if rep.trade_rows() else ["code"]) \
        if amount is not None else border
    emit(table, fmt, output, lambda: rep.to_dict(margin), render, synthetic=res.synthetic)
    finish_review(res, before_output=False)


def _table(rows: list[dict[str, Any]], cols: list[str]) -> Any:
    """Row dicts as a results Table (types from the values)."""
    from ..results.review import Table

    def typ(c: str) -> str:
        vals = [r.get(c) for r in rows if r.get(c) is not None]
        if vals and all(isinstance(v, bool) for v in vals):
            return "BOOLEAN"
        if vals and all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            return "BIGINT"
        if vals and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            return "DOUBLE"
        return "VARCHAR"

    return Table(tuple(cols), tuple(typ(c) for c in cols), [tuple(r.get(c) for c in cols) for r in rows])
