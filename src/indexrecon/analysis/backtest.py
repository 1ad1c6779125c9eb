"""Point-in-time backtests: every review in a range, rolled forward, priced daily.

A backtest runs the engine once per review (`engine.run_review`), each review seeing only the
data up to its own cutoff and taking the previous review's constituents as its incumbents, so
buffers and the cap on changes behave as they would have. The reviews' holdings are then
priced as one chain in DuckDB (`calculation.index_levels`): daily price and total-return
levels with the divisor carried across every review and corporate action.

Daily-rebalanced methodologies (schedule.frequency: daily) of the simple class that
`engine.daily.eligible` names (one-day window, universe rules only, no buffer, equal weights:
microcap400) run every day in one statement (`engine.daily.run_days`), with exactly the
per-day results. The others run through the same engine, one
review per trading day, each with the previous day's constituents as incumbents. Over many
days they run on an in-memory working copy of the store that holds only the bars their
windows can read, on one DuckDB thread (parallel operators cost more than they save on one
day's data), and with `workers` > 1 in several processes when the days are independent (no
buffer, no cap on changes, no dependency on another index); the levels of all the days are
then one set computation like any other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.store import Store
from ..engine import _CONTEXTS, IncumbentSpec, context, daily, run_review
from ..errors import IndexReconError, StoreError
from ..methodology.loader import load_methodology
from ..methodology.schedule import latest_review_in_force, review_dates, reviews_between
from ..methodology.schema import Methodology
from ..results.review import SYNTHETIC_NOTE, ReviewResult, Table, _clean
from .baskets import Basket, basket_from_review, baskets_from_reviews
from .levels import index_levels
from .performance import PERIODS_PER_YEAR, performance_stats, relative_stats
from .query import single_threaded

# Daily runs at least this long use a working copy of the store; parallel runs give each
# process at least this many days (a process takes a second or two to start).
_COPY_MIN_DAYS = 40
_PARALLEL_MIN_DAYS_PER_WORKER = 60


@dataclass
class BacktestResult:
    """A backtest: daily levels, the reviews it went through, and statistics."""

    methodology: Methodology
    start: dt.date
    end: dt.date
    base: float
    levels: pd.DataFrame  # date, level, total_return_level, return, total_return, constituents, divisor
    reviews: pd.DataFrame  # review, data_cutoff, effective_date, constituents, adds, deletes, turnover, ...
    stats: dict[str, Any]
    results: list[ReviewResult] = field(repr=False, default_factory=list)
    against: str | None = None
    against_levels: pd.DataFrame | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)
    synthetic: bool = False
    store_label: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    total_return_includes_dividends: bool = True  # False: no dividends in the store, TR = PR

    @property
    def name(self) -> str:
        return self.methodology.name

    def stats_frame(self) -> pd.DataFrame:
        """The statistics as a two-column table (stat, value)."""
        return pd.DataFrame([{"stat": k, "value": v} for k, v in self.stats.items()])

    def weights_on(self, date: dt.date | str) -> pd.DataFrame:
        """Constituent weights at the close of `date` (drifted from the review in force)."""
        from .levels import drifted_weights

        d = dt.date.fromisoformat(date) if isinstance(date, str) else date
        res = next((r for r in reversed(self.results) if r.dates.effective <= d), None)
        if res is None or res.store is None:
            raise IndexReconError(f"no review of this backtest is in force on {d}")
        b = basket_from_review(res)
        return drifted_weights(res.store, b.weights, b.base_date, d, shares=b.shares)[["code", "weight"]]

    def to_dict(self) -> dict[str, Any]:
        m = self.methodology
        return {
            "methodology": m.name,
            "index_code": m.index_code,
            "title": m.title,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "base": self.base,
            "synthetic": self.synthetic,
            "data": SYNTHETIC_NOTE if self.synthetic else self.store_label,
            "against": self.against,
            "total_return_includes_dividends": self.total_return_includes_dividends,
            "warnings": list(self.warnings),
            "stats": {k: _clean(v) for k, v in self.stats.items()},
            "reviews": [{k: _clean(v) for k, v in r.items()} for r in self.reviews.to_dict("records")],
            "levels": [{k: _clean(v) for k, v in r.items()} for r in self.levels.to_dict("records")],
        }

    def to_json(self, **kw: Any) -> str:
        from ..jsonout import dumps

        return dumps(self.to_dict(), **kw)

    def __repr__(self) -> str:
        s = self.stats
        tag = " [SYNTHETIC]" if self.synthetic else ""
        return (
            f"<BacktestResult {self.name} {self.start}..{self.end}: {len(self.reviews)} reviews, "
            f"cumulative {100 * s.get('cumulative_return', float('nan')):.2f}%, "
            f"max drawdown {100 * s.get('max_drawdown', float('nan')):.2f}%{tag}>"
        )


Progress = Callable[[str], None]  # called with a line saying which review or day is running


def _d(v: dt.date | str | None) -> dt.date | None:
    if v is None or isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(v)
    except ValueError:
        raise IndexReconError(f"dates look like YYYY-MM-DD, got '{v}'") from None


def _rules_tree(m: Methodology, seen: set[str] | None = None) -> list[Methodology]:
    """A methodology's rule sets (base and versions) and those of the indices it depends on."""
    seen = seen if seen is not None else set()
    if m.name in seen:
        return []
    seen.add(m.name)
    out = [m, *(m.for_date(v.effective_from) for v in m.versions)]
    for r in list(out):
        u = r.universe
        for name in [*u.exclude_members_of, *getattr(u, "members_of", [])]:
            out += _rules_tree(load_methodology(name), seen)
    return out


def _months_back(d: dt.date, months: int) -> dt.date:
    k = d.year * 12 + d.month - 1 - months
    return dt.date(k // 12, k % 12 + 1, 1)


def working_copy(store: Store, m: Methodology, start: dt.date, end: dt.date) -> Store:
    """An in-memory, single-threaded copy of the store holding every table but only the bars a
    run of `m` from `start` to `end` can read (its boards and those of its dependencies, from
    the earliest possible window start), for many small engine runs in a row. The engine
    reads bars only inside review windows, so results are identical."""
    import duckdb

    rules = _rules_tree(m)
    boards = sorted({b for r in rules for b in r.universe.boards})
    back = 0
    for r in rules:
        lb = r.lookback.months if r.lookback.months is not None else -(-(r.lookback.trading_days or 1) // 15)
        periodic = r.schedule.frequency == "periodic"
        back = max(back, lb + (r.schedule.cutoff_months_before + 13 if periodic else 1))
    lo = _months_back(start, back)
    src = store.con
    src.execute("SELECT 1").fetchall()
    tables = [r[0] for r in src.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_type = 'BASE TABLE' AND table_catalog = current_database() ORDER BY 1"
    ).fetchall()]
    con = duckdb.connect(":memory:", config={"threads": 1})
    try:
        for t in tables:
            if t == "bars":
                data = src.sql(
                    "SELECT b.* FROM bars b WHERE b.date BETWEEN ? AND ? AND b.code IN "
                    f"(SELECT code FROM securities WHERE board IN ({', '.join('?' * len(boards))})) "
                    "ORDER BY b.date, b.code",
                    params=[lo, end, *boards],
                ).to_arrow_table()
            else:
                data = src.sql(f'SELECT * FROM "{t}"').to_arrow_table()
            con.register("_src", data)
            con.execute(f'CREATE TABLE "{t}" AS SELECT * FROM _src')
            con.unregister("_src")
    except Exception:
        con.close()
        raise
    return Store(path=store.path, con=con, read_only=True)


def parallel_safe(m: Methodology) -> bool:
    """True when a daily methodology's days can run independently: incumbents cannot change
    its selection (no buffer, no cap on changes) and it depends on no other index."""
    rules = [m, *(m.for_date(v.effective_from) for v in m.versions)]
    return all(
        r.selection.buffer is None
        and r.selection.max_changes_pct is None
        and not r.universe.exclude_members_of
        and not getattr(r.universe, "members_of", [])
        for r in rules
    )


def _trim(res: ReviewResult) -> ReviewResult:
    """A daily review keeps its constituents and its changes, not the whole board."""
    t = res.table
    si, ti = t.col("selected"), t.col("status")
    keep = [r for r in t.rows if r[si] or r[ti] in ("added", "deleted")]
    return dc_replace(res, table=Table(t.columns, t.types, keep))


def _daily_chain(m: Methodology, store: Store, days: list[dt.date], incumbents: IncumbentSpec,
                 copy: bool, progress: Progress | None = None, set_based: bool = True) -> list[ReviewResult]:
    """One review per day, each with the previous day's constituents as incumbents, on a
    working copy of the store (copy=True) or on the store itself; results trimmed. A
    methodology of the set-based class (`engine.daily.eligible`) runs every day in one
    statement instead (`engine.daily.run_days`), falling back to the days one by one when
    that path cannot give the per-day result."""
    out: list[ReviewResult] = []
    if set_based and daily.eligible(m) and len(days) > 1:
        # one statement over the store itself: no working copy, DuckDB's own threads
        if progress:
            progress(f"{m.name}: days {days[0]}..{days[-1]} ({len(days)}) in one statement")
        sctx = context(store)
        first = _trim(run_review(m, store, as_of=days[0], incumbents=incumbents, _ctx=sctx))
        got = daily.run_days(m, sctx, days, first)
        if got is not None:
            return got
    run_store = working_copy(store, m, days[0], days[-1]) if copy else store
    try:
        rctx = context(run_store)
        inc: IncumbentSpec = incumbents
        with single_threaded(run_store):
            for i, day in enumerate(days, 1):
                if progress:
                    progress(f"{m.name}: day {day} ({i}/{len(days)})")
                res = run_review(m, run_store, as_of=day, incumbents=inc, _ctx=rctx)
                out.append(_trim(res))
                inc = res.codes
    finally:
        if run_store is not store:
            _CONTEXTS.pop(id(run_store), None)
            run_store.close()
    return [dc_replace(r, store=store, store_label=store.label) for r in out]


def _chain_worker(path: str, m: Methodology, days: list[dt.date], incumbents: IncumbentSpec) -> list[ReviewResult]:
    """A process of a parallel daily chain: open the store, run its days, return the results
    without the store (a connection does not cross processes)."""
    from ..data.open import open_store

    store = open_store(path)
    try:
        return [dc_replace(r, store=None) for r in _daily_chain(m, store, days, incumbents, copy=True)]
    finally:
        _CONTEXTS.pop(id(store), None)
        store.close()


def _worker_context(preload: str) -> Any:
    """A multiprocessing context for worker pools. Where POSIX has it, a fork server that has
    imported `preload` once, so each worker is forked from it instead of importing the package
    anew (on 2 cores, two spawned workers' imports cost about what their parallel work saves);
    elsewhere, spawn."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([preload])
    return ctx


def _parallel_daily_chain(m: Methodology, store: Store, days: list[dt.date], incumbents: IncumbentSpec,
                          workers: int) -> list[ReviewResult]:
    """Contiguous blocks of days in `workers` processes. The first day of every later block
    is rerun here with the previous block's last constituents as incumbents, so every result
    equals the sequential chain's (the selection cannot depend on incumbents: parallel_safe)."""
    from concurrent.futures import ProcessPoolExecutor

    size = -(-len(days) // workers)
    blocks = [days[i:i + size] for i in range(0, len(days), size)]
    ctx = _worker_context(__name__)
    with ProcessPoolExecutor(max_workers=len(blocks), mp_context=ctx) as ex:
        futures = [
            ex.submit(_chain_worker, str(store.path), m, block, incumbents if i == 0 else "none")
            for i, block in enumerate(blocks)
        ]
        parts = [f.result() for f in futures]
    out: list[ReviewResult] = []
    for i, part in enumerate(parts):
        part = [dc_replace(r, store=store, store_label=store.label) for r in part]
        if i > 0:
            redo = _trim(run_review(m, store, as_of=blocks[i][0], incumbents=out[-1].codes))
            if redo.codes != part[0].codes:  # cannot happen for a parallel-safe methodology
                raise IndexReconError(f"parallel daily run diverged on {blocks[i][0]}; run with workers=1")
            part[0] = redo
        out += part
    return out


def review_chain(
    m: Methodology,
    store: Store,
    start: dt.date,
    end: dt.date,
    incumbents: IncumbentSpec = "auto",
    *,
    fast: bool | None = None,
    workers: int = 1,
    progress: Progress | None = None,
) -> list[ReviewResult]:
    """The reviews in force from `start` to `end`: the one in force on `start` (incumbents as
    given), then every later one with the previous one's constituents as incumbents.

    A daily methodology runs one review per trading day; over many days (or with fast=True)
    on a working copy of the store (`working_copy`), single-threaded, and with workers > 1
    in that many processes when its days are independent (`parallel_safe`) and the store is
    a file opened read-only. Daily results keep their constituents and changes only."""
    ctx = context(store)
    cal = ctx.cal
    out: list[ReviewResult] = []
    if m.schedule.frequency == "daily":
        days = [d for d in cal.days if start <= d <= end]
        if not days:
            return []
        copy = len(days) >= _COPY_MIN_DAYS if fast is None else fast
        if (workers > 1 and not daily.eligible(m) and len(days) >= _PARALLEL_MIN_DAYS_PER_WORKER * 2 and parallel_safe(m)
                and store.read_only and store.path.is_file()):
            n = min(workers, len(days) // _PARALLEL_MIN_DAYS_PER_WORKER)
            return _parallel_daily_chain(m, store, days, incumbents, n)
        return _daily_chain(m, store, days, incumbents, copy, progress)
    first = latest_review_in_force(m, cal, start)
    labels = [first] + [
        lb for lb in reviews_between(m, start, end)
        if lb > first and review_dates(m, cal, lb).effective <= end
    ]
    inc = incumbents
    for i, label in enumerate(labels, 1):
        if progress:
            progress(f"{m.name}: review {label} ({i}/{len(labels)})")
        res = run_review(m, store, label, incumbents=inc, _ctx=ctx)
        out.append(res)
        inc = res.codes
    return out


def _summarise_warnings(items: list[str]) -> list[str]:
    """Each kind of warning once (kinds differ in more than their numbers and codes), with
    how many more reviews gave it."""
    import re

    first: dict[str, str] = {}
    count: dict[str, int] = {}
    for w in items:
        key = re.sub(r"\d+(\.\d+)?", "#", w)
        first.setdefault(key, w)
        count[key] = count.get(key, 0) + 1
    return [w if count[k] == 1 else f"{w} (and in {count[k] - 1} more review(s))" for k, w in first.items()]


def _reviews_frame(results: list[ReviewResult], turnover: pd.Series) -> pd.DataFrame:
    rows = []
    for i, r in enumerate(results):
        # the codes of view("added") and view("deleted"), without selecting and renaming
        # their columns (a daily backtest has a review a day)
        adds = sorted(r.table.where_value("status", lambda v: v == "added").column("code"))
        dels = sorted(r.table.where_value("status", lambda v: v == "deleted").column("code"))
        rows.append({
            "review": r.dates.review,
            "data_cutoff": r.dates.cutoff,
            "effective_date": r.dates.effective,
            "constituents": len(r.codes),
            "adds": len(adds),
            "deletes": len(dels),
            "turnover": turnover.get(r.dates.review, float("nan")),
            "added": " ".join(adds),
            "deleted": " ".join(dels),
            # a later review's incumbents are the list the backtest handed it
            "incumbents": r.incumbents_source if i == 0 else
            f"the previous review's {len(r.incumbents)} constituents",
        })
    return pd.DataFrame(rows)


def _has_dividends(store: Store, start: dt.date, end: dt.date) -> bool:
    """Whether the store has any cash dividend going ex in [start, end]."""
    if not store.has_table("dividends"):
        return False
    row = store.con.execute(
        "SELECT count(*) FROM dividends WHERE ex_date BETWEEN ? AND ? AND cash_per_share > 0", [start, end]
    ).fetchone()
    return bool(row and row[0])


def _official_levels(store: Store, code: str, start: dt.date, end: dt.date) -> pd.DataFrame | None:
    if not store.has_table("index_bars"):
        return None
    df = store.con.execute(
        "SELECT date, close AS level FROM index_bars WHERE index_code = ? AND date BETWEEN ? AND ? ORDER BY date",
        [code, start, end],
    ).df()
    if df.empty:
        return None
    df["date"] = df["date"].dt.date
    return df


def backtest(
    m: Methodology | str | Path | dict[str, Any],
    store: Store,
    start: dt.date | str,
    end: dt.date | str | None = None,
    *,
    base: float = 1000.0,
    rf: float = 0.0,
    incumbents: IncumbentSpec = "auto",
    against: str | Methodology | BacktestResult | None = "auto",
    move_days: int = 5,
    share_changes: str = "all",
    periods_per_year: int = PERIODS_PER_YEAR,
    fast: bool | None = None,
    workers: int = 1,
    progress: Progress | None = None,
) -> BacktestResult:
    """Simulate every review of `m` from `start` to `end` point in time and price the index daily.

    `start` is the base day (level `base`); the review in force that day is run with
    `incumbents`, every later one with the previous review's constituents. `against` is an
    official index code in the store (table index_bars), another methodology (backtested over
    the same days with the same incumbents), or a finished BacktestResult; it adds tracking
    error and correlation to the statistics; "auto" (the default) is the official index of
    `m` (its `index_code`) when the store has its levels, "none" (or None) no comparison.

    On a store without cash dividends in the period the total return is the price return:
    a warning says so and `total_return_includes_dividends` is False.

    A daily-rebalanced methodology runs one review per trading day; `workers` > 1 runs
    independent days in that many processes (forked from a fork server, or spawned where there
    is none: call it from a script's `if __name__ == "__main__":` block). `share_changes="bonus"` freezes weighting shares
    between reviews except for bonus issues and splits."""
    import time

    m = load_methodology(m)  # type: ignore[arg-type]
    ctx = context(store)
    cal = ctx.cal
    s = _d(start)
    e = _d(end) or cal.last
    assert s is not None
    if s > cal.last:
        raise StoreError(f"the start {s} is after the store's last day {cal.last}")
    if e > cal.last:
        e = cal.last
    s = cal.after(s, 0) if s >= cal.first else s
    e = cal.on_or_before(e)
    if e <= s:
        raise IndexReconError(f"the end {e} must be after the start {s}")

    t0, c0 = time.perf_counter(), time.process_time()
    results = review_chain(m, store, s, e, incumbents, fast=fast, workers=workers, progress=progress)
    empty = next((r for r in results if not r.codes), None)
    if empty is not None:  # an index with no constituents has no level: say which rule emptied it
        from ..errors import EmptyIndexError
        from ..results.outcome import empty_index_message

        raise EmptyIndexError(f"backtest: {empty_index_message(empty)}")
    t1, c1 = time.perf_counter(), time.process_time()
    baskets: list[Basket] = baskets_from_reviews(results, share_changes="all" if share_changes == "all" else "bonus")
    path, _ = index_levels(store, baskets, s, e, base=base)
    t2, c2 = time.perf_counter(), time.process_time()
    turnover = {}
    for row in path.transitions.itertuples():
        turnover[row.label] = row.turnover
    reviews = _reviews_frame(results, pd.Series(turnover, dtype=float))
    warnings = _summarise_warnings([w for r in results for w in r.warnings]) + path.warnings
    with_div = _has_dividends(store, s, e)
    if not with_div:
        warnings.append(f"the store has no cash dividends from {s} to {e} (table dividends): "
                        "the total return is the price return")

    stats = performance_stats(path.levels, rf=rf, move_days=move_days, periods_per_year=periods_per_year)
    tr = performance_stats(path.levels, column="total_return_level", rf=rf, move_days=move_days,
                           periods_per_year=periods_per_year)
    stats["total_return_cumulative"] = tr.get("cumulative_return")
    stats["total_return_annualised"] = tr.get("annualised_return")
    stats["risk_free"] = rf
    t_rev = reviews["turnover"].dropna() if len(reviews) else pd.Series(dtype=float)
    stats["reviews"] = len(results)
    stats["mean_turnover"] = float(t_rev.mean()) if len(t_rev) else float("nan")
    years = max(stats.get("days", 0), 1) / periods_per_year
    stats["annual_turnover"] = float(t_rev.sum() / years) if len(t_rev) else float("nan")

    against_label, against_levels = None, None
    if isinstance(against, str) and against.lower() in ("auto", "none"):
        auto = against.lower() == "auto" and m.index_code
        against = m.index_code if auto and _official_levels(store, m.index_code, s, e) is not None else None
    if against is not None:
        against_label, against_levels = _against(against, store, s, e, base=base, incumbents=incumbents,
                                                 share_changes=share_changes, workers=workers)
        rel = relative_stats(path.levels, against_levels, periods_per_year=periods_per_year)
        stats["against"] = against_label
        stats.update({k: v for k, v in rel.items()})
    return BacktestResult(
        methodology=m, start=s, end=e, base=base, levels=path.levels, reviews=reviews, stats=stats,
        results=results, against=against_label, against_levels=against_levels, warnings=warnings,
        synthetic=store.synthetic, store_label=store.label, total_return_includes_dividends=with_div,
        timings={"reviews_s": t1 - t0, "reviews_cpu_s": c1 - c0, "levels_s": t2 - t1,
                 "levels_cpu_s": c2 - c1, "reviews": len(results)},
    )


def _against(
    against: str | Methodology | BacktestResult,
    store: Store,
    s: dt.date,
    e: dt.date,
    **kw: Any,
) -> tuple[str, pd.DataFrame]:
    if isinstance(against, BacktestResult):
        return against.name, against.levels[["date", "level"]]
    if isinstance(against, str) and not Path(against).suffix:
        off = _official_levels(store, against, s, e)
        if off is not None:
            return f"official {against}", off
    try:
        other = load_methodology(against)  # type: ignore[arg-type]
    except IndexReconError:
        raise IndexReconError(
            f"against={against!r} (CLI: --against): neither an index code in the store's index_bars nor a methodology"
        ) from None
    bt = backtest(other, store, s, e, base=kw["base"], incumbents=kw["incumbents"], against=None,
                  share_changes=kw["share_changes"], workers=kw["workers"])
    return other.name, bt.levels[["date", "level"]]


def compare_backtests(results: list[BacktestResult], names: list[str] | None = None) -> pd.DataFrame:
    """Variants side by side, one row each: returns, risk, drawdown, turnover, and tracking
    error / correlation against the first."""
    if not results:
        return pd.DataFrame()
    names = names or [r.name for r in results]
    if len(set(names)) < len(names):
        names = [f"{n}#{i}" for i, n in enumerate(names, 1)]
    first = results[0]
    rows = []
    keys = [
        "start", "end", "days", "cumulative_return", "annualised_return", "total_return_annualised",
        "volatility", "sharpe", "max_drawdown", "drawdown_peak", "drawdown_trough", "best_move",
        "worst_move", "reviews", "mean_turnover", "annual_turnover",
    ]
    for name, r in zip(names, results, strict=True):
        row: dict[str, Any] = {"variant": name}
        row.update({k: r.stats.get(k) for k in keys})
        cons = r.results[-1].constituents if r.results else None
        row["constituents"] = len(cons) if cons is not None else None
        if cons is not None and len(cons):
            w = np.sort(cons["weight"].to_numpy(dtype=float))[::-1]
            row["top10_weight"] = float(w[:10].sum())
            row["effective_n"] = float(1 / (w**2).sum())
        if r is first:
            row["tracking_error_vs_first"] = 0.0
            row["correlation_vs_first"] = 1.0
        else:
            rel = relative_stats(r.levels, first.levels)
            row["tracking_error_vs_first"] = rel.get("tracking_error")
            row["correlation_vs_first"] = rel.get("correlation")
        rows.append(row)
    out = pd.DataFrame(rows)
    for c in out.columns:
        if out[c].dtype == object and out[c].map(lambda v: isinstance(v, float)).all():
            out[c] = out[c].astype(float)
    return out
