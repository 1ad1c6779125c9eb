"""Result objects of a review: light tables for the command line, DataFrames for analysis,
JSON for machines.

A review's rows come back from DuckDB as a `Table` (names, types, tuples); pandas is
imported only when a DataFrame is asked for, so the command line starts without it."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ..data.store import BOARD_LABELS, Store
from ..methodology.schedule import ReviewDates
from ..methodology.schema import Methodology
from . import hooks

if TYPE_CHECKING:
    import pandas as pd

SYNTHETIC_NOTE = "SYNTHETIC demo data: not real market data"
_INTEGER = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
_FLOAT = {"DOUBLE", "FLOAT", "REAL"}
NUMERIC_TYPES = _INTEGER | _FLOAT


def _clean(v: Any) -> Any:
    """JSON-safe scalars: NaN/NA -> None, numpy -> Python, dates -> ISO strings."""
    if v is None or type(v).__name__ in ("NAType", "NaTType"):
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def _csv_value(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


@dataclass(frozen=True)
class Table:
    """Rows of a result with their column names and DuckDB types."""

    columns: tuple[str, ...]
    types: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    @classmethod
    def fetch(cls, cursor: Any) -> Table:
        """All rows of a DuckDB result."""
        desc = cursor.description
        rows = cursor.fetchall()
        return cls(tuple(d[0] for d in desc), tuple(str(d[1]) for d in desc), rows)

    def __len__(self) -> int:
        return len(self.rows)

    def col(self, name: str) -> int:
        return self.columns.index(name)

    def column(self, name: str) -> list[Any]:
        i = self.col(name)
        return [r[i] for r in self.rows]

    def select(self, names: list[str], rename: dict[str, str] | None = None) -> Table:
        """The named columns that exist, in the given order, optionally renamed."""
        names = [n for n in dict.fromkeys(names) if n in self.columns]
        idx = [self.col(n) for n in names]
        rn = rename or {}
        if len(idx) == 1:
            j = idx[0]
            rows = [(r[j],) for r in self.rows]
        else:  # itemgetter: a daily backtest selects from a few hundred thousand rows
            rows = list(map(itemgetter(*idx), self.rows)) if idx else [() for _ in self.rows]
        return Table(tuple(rn.get(n, n) for n in names), tuple(self.types[i] for i in idx), rows)

    def where(self, keep: Callable[[dict[str, Any]], bool]) -> Table:
        """The rows for which `keep(row as a dict)` is true."""
        return Table(self.columns, self.types, [r for r in self.rows if keep(dict(zip(self.columns, r, strict=True)))])

    def where_value(self, name: str, keep: Callable[[Any], bool]) -> Table:
        """The rows whose value in column `name` passes `keep` (no row dicts: a review's
        few thousand rows are filtered many times in a backtest)."""
        i = self.col(name)
        return Table(self.columns, self.types, [r for r in self.rows if keep(r[i])])

    def sorted_by(self, *names: str) -> Table:
        """Rows ordered by the named columns, missing values last (a stable sort)."""
        idx = [self.col(n) for n in names]
        return Table(self.columns, self.types,
                     sorted(self.rows, key=lambda r: tuple((r[i] is None, r[i] if r[i] is not None else 0) for i in idx)))

    def with_column(self, name: str, value: Any, type_: str = "VARCHAR") -> Table:
        return Table((*self.columns, name), (*self.types, type_), [(*r, value) for r in self.rows])

    def map_column(self, name: str, fn: Any) -> Table:
        i = self.col(name)
        return Table(self.columns, self.types, [(*r[:i], fn(r[i]), *r[i + 1:]) for r in self.rows])

    def records(self) -> list[dict[str, Any]]:
        """JSON-safe row dicts."""
        return [{c: _clean(v) for c, v in zip(self.columns, r, strict=True)} for r in self.rows]

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns)
        w.writerows([_csv_value(v) for v in r] for r in self.rows)
        return buf.getvalue()

    def to_pandas(self) -> pd.DataFrame:
        """A DataFrame with one dtype per DuckDB type: integers as nullable Int64, dates as
        datetime64, text as pandas strings."""
        import numpy as np
        import pandas as pd

        data: dict[str, Any] = {}
        for i, (c, t) in enumerate(zip(self.columns, self.types, strict=True)):
            vals = [r[i] for r in self.rows]
            if t in _INTEGER:
                data[c] = pd.array(vals, dtype="Int64")
            elif t in _FLOAT or t.startswith("DECIMAL"):
                data[c] = np.array([np.nan if v is None else v for v in vals], dtype="float64")
            elif t == "BOOLEAN":
                data[c] = pd.array(vals, dtype="boolean") if None in vals else np.array(vals, dtype=bool)
            elif t == "DATE" or t.startswith("TIMESTAMP"):
                data[c] = pd.to_datetime(pd.Series(vals, dtype="object")).astype("datetime64[us]")
            elif t == "VARCHAR":
                data[c] = pd.array(vals, dtype="str")
            else:
                data[c] = pd.Series(vals, dtype="object")
        return pd.DataFrame(data, columns=list(self.columns))


@dataclass
class ReviewResult:
    """One review: every candidate with its rank, status, reason and weight.

    `candidates` and the views (`constituents`, `adds`, ...) are DataFrames; `view(name)`
    gives the same views as light `Table`s without importing pandas."""

    methodology: Methodology
    dates: ReviewDates
    table: Table
    incumbents_source: str
    incumbents: list[str]
    warnings: list[str]
    store_label: str
    synthetic: bool
    store: Store | None = field(default=None, repr=False)
    # official incumbents: the date of the list, and the reviews it was rolled forward through
    incumbents_detail: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def candidates(self) -> pd.DataFrame:
        """Every candidate of the review, ordered by rank (unranked last), then code."""
        return self.table.to_pandas()

    # -- views ------------------------------------------------------------------------
    @property
    def metric_columns(self) -> list[str]:
        m = self.methodology
        cols = [m.selection.rank_by, *m.selection.tie_break, *(s.metric for s in m.screens)]
        if m.selection.tilt is not None:
            cols.append(m.selection.tilt.metric)
        return [c for c in dict.fromkeys([*cols, "total_cap"]) if c in self.table.columns]

    @property
    def codes(self) -> list[str]:
        i, s = self.table.col("code"), self.table.col("selected")
        return sorted(r[i] for r in self.table.rows if r[s])

    def view(self, name: str, margin: int = 10) -> Table:
        """A view as a Table: constituents, added, deleted, retained or borderline."""
        t = self.table
        rank_by = self.methodology.selection.rank_by
        if name == "constituents":
            cols = [
                "rank", "code", "name", "board", "sw_l1_code", "sw_l1_name", "sw_l1_name_en",
                *self.metric_columns, "inclusion_factor", "cap_factor", "weight", "status", "reason",
            ]
            sel = t.where_value("selected", bool).sorted_by("rank")
            out = sel.select(cols, {"sw_l1_name_en": "industry"})
            return out.map_column("board", lambda b: BOARD_LABELS.get(b, b))
        if name in ("added", "deleted", "retained"):
            cols = ["code", "name", "rank", "sw_l1_name_en", rank_by, "weight", "reason"]
            return t.where_value("status", lambda v: v == name).select(cols, {"sw_l1_name_en": "industry"})
        if name == "borderline":
            sel = self.methodology.selection
            lo = min(sel.count, sel.buffer.newcomers_within if sel.buffer else sel.count) - margin
            hi = max(sel.count, sel.buffer.incumbents_within if sel.buffer else sel.count) + margin
            near = t.where(lambda r: (r["rank"] is not None and lo <= r["rank"] <= hi)
                           or r["status"] in ("added", "deleted"))
            cols = ["rank", "code", "name", "incumbent", "status", rank_by, "stage", "reason"]
            return near.select(cols).sorted_by("rank", "code")
        raise ValueError(f"unknown view {name!r}: constituents, added, deleted, retained or borderline")

    @property
    def constituents(self) -> pd.DataFrame:
        """The selected stocks by rank: code, name, board, industry, metrics, weight."""
        return self.view("constituents").to_pandas()

    @property
    def adds(self) -> pd.DataFrame:
        return self.view("added").to_pandas()

    @property
    def deletes(self) -> pd.DataFrame:
        return self.view("deleted").to_pandas()

    @property
    def retained(self) -> pd.DataFrame:
        return self.view("retained").to_pandas()

    def borderline(self, margin: int = 10) -> pd.DataFrame:
        """Stocks near a boundary: ranked around the selection count and buffer edges, every
        add and delete, and incumbents that failed a rule."""
        return self.view("borderline", margin).to_pandas()

    def explain(self, code: str) -> str:
        """Why one stock is in or out of the index."""
        rows = self.table.where_value("code", lambda c: c == code).records()
        if not rows:
            return f"{code}: not a listed stock of {', '.join(self.methodology.universe.boards)} at the cutoff"
        r = rows[0]
        who = f"{code} {r['name']}" if r["name"] else code
        if not r["selected"]:
            state = "OUT"
        elif r["weight"] is None:
            state = "IN (no weight: no price or shares at the cutoff)"
        else:
            state = f"IN (weight {100 * r['weight']:.2f}%)"
        return f"{who}: {state} — {r['reason'] or 'no reason recorded'}"

    # -- analytics ------------------------------------------------------------------
    def industry_mix(self) -> pd.DataFrame:
        return hooks.call("review_industry_mix", self)

    def stats(self) -> dict[str, Any]:
        """Industry mix, concentration and coverage (analysis.composition.review_stats)."""
        return hooks.call("review_stats", self)

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
            "incumbents_official_date": self.incumbents_detail.get("official_date"),
            "incumbents_rolled_through": list(self.incumbents_detail.get("rolled_through", [])),
            "warnings": list(self.warnings),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.header(), "constituents": self.view("constituents").records(), "stats": self.stats()}

    def rebalance_dict(self, margin: int = 10) -> dict[str, Any]:
        return {
            **self.header(),
            "adds": self.view("added").records(),
            "deletes": self.view("deleted").records(),
            "retained_count": len(self.view("retained")),
            "borderline": self.view("borderline", margin).records(),
        }

    def to_json(self, **kw: Any) -> str:
        from ..jsonout import dumps

        return dumps(self.to_dict(), **kw)

    # -- notebooks ----------------------------------------------------------------------
    @property
    def plot(self) -> Any:
        """Charts, one call each, as matplotlib Figures: `res.plot.industry_mix()`,
        `res.plot.weights(n=20)`, `res.plot.cumulative_weight()`, `res.plot.coverage()`."""
        return hooks.call("review_plot", self)

    def to_html(self, path: Any, **kw: Any) -> Any:
        """Write the review as a self-contained HTML report (see `indexrecon report`)."""
        return hooks.call("review_to_html", self, path, **kw)

    def _repr_html_(self) -> str:
        """Jupyter view: a header (with the SYNTHETIC label on demo data) and the
        constituents table."""
        return hooks.call("review_repr_html", self)

    def __repr__(self) -> str:
        d = self.dates
        tag = " [SYNTHETIC]" if self.synthetic else ""
        return (
            f"<ReviewResult {self.methodology.name} review {d.review} cutoff {d.cutoff} "
            f"effective {d.effective}: {len(self.codes)} constituents, {len(self.view('added'))} adds, "
            f"{len(self.view('deleted'))} deletes{tag}>"
        )
