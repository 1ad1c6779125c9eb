"""Result objects of a review: DataFrames for analysis, JSON for machines."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from . import analytics
from .schedule import ReviewDates
from .schema import Methodology
from .store import BOARD_LABELS, Store

SYNTHETIC_NOTE = "SYNTHETIC demo data: not real market data"


def _clean(v: Any) -> Any:
    """JSON-safe scalars: NaN/NA -> None, numpy -> Python, dates -> ISO strings."""
    if v is None or v is pd.NA:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


@dataclass
class ReviewResult:
    """One review: every candidate with its rank, status, reason and weight."""

    methodology: Methodology
    dates: ReviewDates
    candidates: pd.DataFrame
    incumbents_source: str
    incumbents: list[str]
    warnings: list[str]
    store_label: str
    synthetic: bool
    store: Store | None = field(default=None, repr=False)

    # -- views ------------------------------------------------------------------------
    @property
    def metric_columns(self) -> list[str]:
        m = self.methodology
        cols = [m.selection.rank_by, *m.selection.tie_break, *(s.metric for s in m.screens)]
        out = []
        for c in [*cols, "total_cap"]:
            if c not in out and c in self.candidates.columns:
                out.append(c)
        return out

    @property
    def codes(self) -> list[str]:
        return sorted(self.candidates.loc[self.candidates["selected"].fillna(False).astype(bool), "code"])

    @property
    def constituents(self) -> pd.DataFrame:
        """The selected stocks by rank: code, name, board, industry, metrics, weight."""
        c = self.candidates
        sel = c[c["selected"].fillna(False).astype(bool)].sort_values("rank", kind="stable")
        cols = [
            "rank", "code", "name", "board", "sw_l1_code", "sw_l1_name", "sw_l1_name_en",
            *self.metric_columns, "inclusion_factor", "cap_factor", "weight", "status", "reason",
        ]
        out = sel[[x for x in dict.fromkeys(cols) if x in sel.columns]].reset_index(drop=True)
        out = out.rename(columns={"sw_l1_name_en": "industry"})
        out["board"] = out["board"].map(lambda b: BOARD_LABELS.get(b, b))
        return out

    def _status(self, status: str) -> pd.DataFrame:
        c = self.candidates
        cols = ["code", "name", "rank", "sw_l1_name_en", self.methodology.selection.rank_by, "weight", "reason"]
        out = c[c["status"] == status][[x for x in dict.fromkeys(cols) if x in c.columns]]
        return out.rename(columns={"sw_l1_name_en": "industry"}).reset_index(drop=True)

    @property
    def adds(self) -> pd.DataFrame:
        return self._status("added")

    @property
    def deletes(self) -> pd.DataFrame:
        return self._status("deleted")

    @property
    def retained(self) -> pd.DataFrame:
        return self._status("retained")

    def borderline(self, margin: int = 10) -> pd.DataFrame:
        """Stocks near a boundary: ranked around the selection count and buffer edges, every
        add and delete, and incumbents that failed a rule."""
        sel = self.methodology.selection
        lo = min(sel.count, sel.buffer.newcomers_within if sel.buffer else sel.count) - margin
        hi = max(sel.count, sel.buffer.incumbents_within if sel.buffer else sel.count) + margin
        c = self.candidates
        near = c["rank"].between(lo, hi) | c["status"].isin(["added", "deleted"])
        cols = ["rank", "code", "name", "incumbent", "status", self.methodology.selection.rank_by, "stage", "reason"]
        out = c[near][[x for x in dict.fromkeys(cols) if x in c.columns]]
        return out.sort_values(["rank", "code"], na_position="last", kind="stable").reset_index(drop=True)

    def explain(self, code: str) -> str:
        """Why one stock is in or out of the index."""
        c = self.candidates
        row = c[c["code"] == code]
        if row.empty:
            return f"{code}: not a listed stock of {', '.join(self.methodology.universe.boards)} at the cutoff"
        r = row.iloc[0]
        state = "IN" if bool(r["selected"]) else "OUT"
        return f"{code} {r['name'] or ''}: {state} — {r['reason']}".replace("  ", " ")

    # -- analytics ------------------------------------------------------------------
    def industry_mix(self) -> pd.DataFrame:
        return analytics.industry_mix(self.constituents.rename(columns={"industry": "sw_l1_name_en"}))

    def stats(self) -> dict[str, Any]:
        cons = self.constituents
        return {
            "industry_mix": [
                {k: _clean(v) for k, v in row.items()} for row in self.industry_mix().to_dict("records")
            ],
            "concentration": analytics.concentration(cons["weight"].to_numpy()),
            "coverage": analytics.coverage(self.candidates, cons),
        }

    # -- serialisation ----------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        m, d = self.methodology, self.dates
        return {
            "methodology": m.name,
            "index_code": m.index_code,
            "title": m.title,
            "review": d.review,
            "data_cutoff": d.cutoff.isoformat(),
            "window_start": d.window_start.isoformat(),
            "effective_date": d.effective.isoformat(),
            "provisional": d.provisional,
            "synthetic": self.synthetic,
            "data": SYNTHETIC_NOTE if self.synthetic else self.store_label,
            "incumbents": self.incumbents_source,
            "warnings": list(self.warnings),
        }

    @staticmethod
    def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
        return [{k: _clean(v) for k, v in row.items()} for row in df.to_dict("records")]

    def to_dict(self) -> dict[str, Any]:
        return {**self.header(), "constituents": self._records(self.constituents), "stats": self.stats()}

    def rebalance_dict(self, margin: int = 10) -> dict[str, Any]:
        return {
            **self.header(),
            "adds": self._records(self.adds),
            "deletes": self._records(self.deletes),
            "retained_count": len(self.retained),
            "borderline": self._records(self.borderline(margin)),
        }

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, **kw)

    # -- notebooks ----------------------------------------------------------------------
    @property
    def plot(self) -> Any:
        """Charts, one call each, as matplotlib Figures: `res.plot.industry_mix()`,
        `res.plot.weights(n=20)`, `res.plot.cumulative_weight()`, `res.plot.coverage()`."""
        from .plots import PlotAccessor

        return PlotAccessor(self)

    def to_html(self, path: Any, **kw: Any) -> Any:
        """Write the review as a self-contained HTML report (see `indexrecon report`)."""
        from .html_report import write_report

        return write_report(self, path, **kw)

    def _repr_html_(self) -> str:
        """Jupyter view: a header (with the SYNTHETIC label on demo data) and the
        constituents table."""
        from .html_report import repr_html

        return repr_html(self)

    def __repr__(self) -> str:
        d = self.dates
        tag = " [SYNTHETIC]" if self.synthetic else ""
        return (
            f"<ReviewResult {self.methodology.name} review {d.review} cutoff {d.cutoff} "
            f"effective {d.effective}: {len(self.codes)} constituents, {len(self.adds)} adds, "
            f"{len(self.deletes)} deletes{tag}>"
        )
