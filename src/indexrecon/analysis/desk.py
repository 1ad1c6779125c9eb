"""`rebalance` for a trading desk: the review's adds, deletes and retained names with their
probability, current and pro-forma weights, the passive trades of an AUM, the reserve list,
and the trade list as csv / json / xlsx (the JSON contract of issue 19)."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .flows import DeskView, desk_view

if TYPE_CHECKING:
    from ..results.review import ReviewResult
    from .forecast import Forecast

TRADE_COLUMNS = ["code", "name", "board", "status", "rank", "probability", "close", "current_weight",
                 "pro_forma_weight", "delta_weight", "trade_shares", "trade_value", "adv", "days_of_volume"]


def reserve_list(res: ReviewResult) -> list[dict[str, Any]]:
    """The methodology's reserve list: the `selection.reserve.count` best-ranked candidates
    that were ranked in the selection and not selected (empty without `reserve`)."""
    r = res.methodology.selection.reserve
    if r is None:
        return []
    t = res.table
    ranked = t.where(lambda x: not x["selected"] and x["rank"] is not None and x["stage"] == "selection")
    rows = ranked.sorted_by("rank", "code").select(["code", "name", "rank", "incumbent", "reason"]).records()
    return rows[: r.count]


@dataclass
class DeskReport:
    """Everything `rebalance` shows: the review, its desk view, probabilities, reserve."""

    res: ReviewResult
    view: DeskView
    forecast: Forecast | None = None
    reserve: list[dict[str, Any]] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return [*self.view.warnings, *(self.forecast.warnings if self.forecast else [])]

    def probability(self, code: str) -> float | None:
        return self.forecast.probability.get(code) if self.forecast else None

    def rows(self, status: str) -> list[dict[str, Any]]:
        """Adds ('added'), deletes ('deleted') or retained: the contract's objects."""
        t = self.res.table.where_value("status", lambda v: v == status)
        rank_by = self.res.methodology.selection.rank_by
        cols = ["code", "name", "rank", "board", "sw_l1_name_en", rank_by, "reason"]
        out = []
        for r in t.select(cols, {"sw_l1_name_en": "industry"}).records():
            out.append({**r, "probability": self.probability(r["code"]), **self.view.row(r["code"])})
        return sorted(out, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["code"]))

    def trade_rows(self) -> list[dict[str, Any]]:
        """The trade list (every stock whose weight moves), most days of volume first."""
        names = dict(zip(self.res.table.column("code"), self.res.table.column("name"), strict=True))
        status = dict(zip(self.res.table.column("code"), self.res.table.column("status"), strict=True))
        ranks = dict(zip(self.res.table.column("code"), self.res.table.column("rank"), strict=True))
        out = []
        for r in self.view.trade_list():
            c = r["code"]
            out.append({**r, "name": names.get(c), "status": status.get(c) or ("deleted" if r["pro_forma_weight"] == 0 else ""),
                        "rank": ranks.get(c), "probability": self.probability(c)})
        return [{k: r.get(k) for k in TRADE_COLUMNS} for r in out]

    def to_dict(self, margin: int = 10) -> dict[str, Any]:
        from ..results.review import _clean

        d = self.res.rebalance_dict(margin)
        d["warnings"] = list(dict.fromkeys([*d["warnings"], *self.warnings]))
        d.update({
            "price_date": self.view.price_date.isoformat(),
            "aum": self.view.aum,
            "adds": self.rows("added"),
            "deletes": self.rows("deleted"),
            "retained": self.rows("retained"),
            "reserve": self.reserve,
            "candidates": self.forecast.candidates() if self.forecast else [],
            "probability_model": self.forecast.model() if self.forecast else None,
        })
        if self.view.aum is not None:
            d["trades"] = self.trade_rows()
            d["net_trade_value"] = self.view.net_value()
        return _deep_clean(d, _clean)


def _deep_clean(v: Any, clean: Any) -> Any:
    if isinstance(v, dict):
        return {k: _deep_clean(x, clean) for k, x in v.items()}
    if isinstance(v, list):
        return [_deep_clean(x, clean) for x in v]
    return clean(v)


def desk_report(res: ReviewResult, *, price_date: dt.date | None = None, aum: float | None = None,
                forecast: Forecast | None = None, as_of: dt.date | None = None) -> DeskReport:
    """The desk's view of a review (see `DeskReport`); a forecast `as_of` a day prices
    nothing after it."""
    return DeskReport(res, desk_view(res, price_date, aum, as_of), forecast, reserve_list(res))


def write_xlsx(rep: DeskReport, out: Path) -> None:
    """The trade list as an .xlsx workbook: a Trades sheet (or, without an AUM, the adds and
    deletes), the Reserve list, and a Summary sheet with the review, the data and every
    warning. Fixed document and zip timestamps: the same inputs give the same bytes."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    h = rep.res.header()
    summary = [("methodology", h["methodology"]), ("index_code", h["index_code"]), ("review", h["review"]),
               ("data_cutoff", h["data_cutoff"]), ("effective_date", h["effective_date"]),
               ("price_date", rep.view.price_date.isoformat()), ("aum_cny", rep.view.aum),
               ("data", h["data"]), ("incumbents", h["incumbents"])]
    if rep.view.aum is not None:
        summary.append(("net_trade_value_cny", rep.view.net_value()))
    for k, v in summary:
        ws.append([k, v])
    for w in [*h["warnings"], *rep.warnings]:
        ws.append(["warning", w])
    if rep.view.aum is not None:
        t = wb.create_sheet("Trades")
        t.append(TRADE_COLUMNS)
        for r in rep.trade_rows():
            t.append([_cell(r[c]) for c in TRADE_COLUMNS])
        t.freeze_panes = "A2"
    else:
        t = wb.create_sheet("Changes")
        cols = ["status", "code", "name", "rank", "probability", "current_weight", "pro_forma_weight", "reason"]
        t.append(cols)
        for status in ("added", "deleted"):
            for r in rep.rows(status):
                t.append([status, *(_cell(r.get(c)) for c in cols[1:])])
    rs = wb.create_sheet("Reserve")
    rs.append(["code", "name", "rank", "reason"])
    for r in rep.reserve:
        rs.append([r["code"], r["name"], r["rank"], r["reason"]])
    fixed = dt.datetime(2000, 1, 1)
    wb.properties.created = wb.properties.modified = fixed
    buf = io.BytesIO()
    wb.save(buf)
    _rezip(buf.getvalue(), out)


def _cell(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


def _rezip(data: bytes, out: Path) -> None:
    """Rewrite a zip with fixed entry and document timestamps (openpyxl stamps the current time)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps the save time as modified
                body = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z", body)
            dst.writestr(zi, body)
    out.write_bytes(buf.getvalue())
