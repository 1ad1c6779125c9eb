"""The engine: compiles a methodology into SQL that DuckDB runs over the store.

One review is a short pipeline of set operations on temp tables, each bounded by the data
cutoff: candidates (the board's listed stocks) -> window metrics (one grouped scan of the
bars, share capital joined ASOF) -> universe exclusions -> screens in order -> ranking ->
buffered selection with a cap on changes -> weights. Every step records, per stock, the
reason it fell out or got in, so any stock near a boundary can say why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import DependencyCycleError, IndexReconError, StoreError
from .loader import load_methodology
from .metrics import METRICS, WEIGHT_SHARES
from .schedule import (
    ReviewDates,
    TradingCalendar,
    check_in_data,
    daily_review_dates,
    latest_review_in_force,
    review_dates,
    reviews_between,
)
from .schema import Methodology, Screen
from .store import Store
from .weights import cap_weights, tier_case_sql

if TYPE_CHECKING:
    from .results import ReviewResult

IncumbentSpec = str | Path | Iterable[str] | None


@dataclass
class Context:
    """Per-store state shared by the reviews of one run (calendar, caches, chain stack)."""

    store: Store
    cal: TradingCalendar
    cache: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    stack: list[str] = field(default_factory=list)
    has_float: bool = False
    has_free_float: bool = False
    has_esg: bool = False


_CONTEXTS: dict[int, Context] = {}


def context(store: Store) -> Context:
    ctx = _CONTEXTS.get(id(store))
    if ctx is None or ctx.store is not store:
        store.require("securities", "bars", "shares", "calendar")
        days = [r[0] for r in store.con.execute("SELECT date FROM calendar ORDER BY date").fetchall()]
        row = store.con.execute("SELECT count(float_shares), count(free_float_shares) FROM shares").fetchone()
        ctx = Context(store, TradingCalendar(days))
        ctx.has_float, ctx.has_free_float = bool(row and row[0]), bool(row and row[1])
        if store.has_table("esg_scores"):
            r = store.con.execute("SELECT count(*) FROM esg_scores").fetchone()
            ctx.has_esg = bool(r and r[0])
        _CONTEXTS[id(store)] = ctx
    return ctx


def methodology_key(m: Methodology) -> str:
    blob = json.dumps(m.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _lit(v: Any) -> str:
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, dt.date):
        return f"DATE '{v.isoformat()}'"
    return repr(v)


# ---------------------------------------------------------------------------------------
# Incumbents
# ---------------------------------------------------------------------------------------
def official_members(store: Store, index_code: str | None, before: dt.date) -> list[str] | None:
    """Official members on the last day before `before`: membership intervals first, else
    the latest official weight snapshot before it. None if the store has neither."""
    if not index_code:
        return None
    day = before - dt.timedelta(days=1)
    rows = store.con.execute(
        "SELECT DISTINCT code FROM index_membership WHERE index_code = ? AND start_date <= ? "
        "AND (end_date IS NULL OR end_date >= ?) ORDER BY code",
        [index_code, day, day],
    ).fetchall()
    if rows:
        return [r[0] for r in rows]
    rows = store.con.execute(
        "SELECT code FROM official_weights WHERE index_code = ? AND trade_date = "
        "(SELECT max(trade_date) FROM official_weights WHERE index_code = ? AND trade_date < ?) "
        "ORDER BY code",
        [index_code, index_code, before],
    ).fetchall()
    return [r[0] for r in rows] if rows else None


def _read_codes_file(path: Path) -> list[str]:
    if not path.exists():
        raise IndexReconError(f"incumbents file {path} does not exist")
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        items = data.get("constituents", data) if isinstance(data, dict) else data
        codes = [x["code"] if isinstance(x, dict) else str(x) for x in items]
    elif path.suffix == ".parquet":
        codes = pd.read_parquet(path)["code"].astype(str).tolist()
    else:
        text = path.read_text().splitlines()
        first = text[0].split(",") if text else []
        if "code" in first:
            col = first.index("code")
            codes = [ln.split(",")[col] for ln in text[1:] if ln.strip()]
        else:
            codes = [ln.split(",")[0] for ln in text if ln.strip()]
    codes = [c.strip().zfill(6) for c in codes]
    bad = [c for c in codes if not c.isdigit() or len(c) != 6]
    if bad:
        raise IndexReconError(f"incumbents file {path}: '{bad[0]}' is not a 6-digit stock code")
    return sorted(set(codes))


def first_simulable_review(m: Methodology, ctx: Context) -> str:
    for label in reviews_between(m, ctx.cal.first, ctx.cal.last):
        if review_dates(m, ctx.cal, label).window_start >= ctx.cal.first:
            return label
    raise StoreError(f"the store's data is too short for any complete {m.name} review window")


def resolve_incumbents(
    m: Methodology, ctx: Context, rd: ReviewDates, spec: IncumbentSpec
) -> tuple[list[str], str]:
    """Incumbent codes and a label saying where they came from."""
    if spec is None or spec == "none":
        return [], "none (pure rule ranking)"
    if isinstance(spec, str) and spec in ("official", "auto", "simulate"):
        if spec in ("official", "auto"):
            codes = official_members(ctx.store, m.index_code, rd.effective)
            if codes is not None:
                return codes, f"official members before {rd.effective}"
            if spec == "official":
                raise StoreError(
                    f"the store has no official {m.index_code or m.name} membership before "
                    f"{rd.effective}; use --incumbents simulate"
                )
        return _simulated_incumbents(m, ctx, rd)
    if isinstance(spec, (str, Path)):
        return _read_codes_file(Path(spec)), f"file {spec}"
    return sorted({str(c).zfill(6) for c in spec}), "given list"


def _simulated_incumbents(m: Methodology, ctx: Context, rd: ReviewDates) -> tuple[list[str], str]:
    """Roll reviews forward from the earliest complete window to the one before `rd`."""
    if m.schedule.frequency == "daily":
        prev = ctx.cal.on_or_before(rd.effective - dt.timedelta(days=1))
        if prev <= ctx.cal.first:
            return [], "none (first day of the data)"
        res = run_review(m, ctx.store, as_of=prev, incumbents="none", _ctx=ctx)
        return res.codes, f"simulated: previous day {res.dates.review}"
    seed = first_simulable_review(m, ctx)
    labels = [lb for lb in reviews_between(m, ctx.cal.first, rd.effective) if lb < rd.review]
    labels = [lb for lb in labels if lb >= seed]
    if not labels:
        return [], f"none (review {rd.review} is the first with a complete window: seed)"
    codes: list[str] = []
    for i, label in enumerate(labels):
        res = run_review(m, ctx.store, label, incumbents=None if i == 0 else codes, _ctx=ctx)
        codes = res.codes
    return codes, f"simulated: seeded {labels[0]} by pure ranking, rolled through {labels[-1]}"


# ---------------------------------------------------------------------------------------
# The review pipeline
# ---------------------------------------------------------------------------------------
def run_review(
    m: Methodology | str | Path | dict[str, Any],
    store: Store,
    review: str | None = None,
    *,
    as_of: dt.date | None = None,
    incumbents: IncumbentSpec = "auto",
    allow_provisional: bool = False,
    _ctx: Context | None = None,
) -> ReviewResult:
    """Run one review of `m` over `store` and return the full candidate table."""
    from .results import ReviewResult

    m = load_methodology(m)  # type: ignore[arg-type]
    ctx = _ctx or context(store)
    if m.schedule.frequency == "daily":
        day = as_of or (dt.date.fromisoformat(review) if review else ctx.cal.last)
        rd = daily_review_dates(m, ctx.cal, day)
    else:
        if review is None:
            if as_of is None:
                raise IndexReconError("give a review (YYYY-MM) or an as-of date")
            review = latest_review_in_force(m, ctx.cal, as_of)
        rd = review_dates(m, ctx.cal, review)
    check_in_data(rd, ctx.cal, allow_provisional=allow_provisional)
    rules = m.for_date(rd.effective)

    warnings: list[str] = []
    # The stack holds only the chain of "exclude members of" dependencies being resolved,
    # so rolling this index's own reviews forward is not mistaken for a cycle.
    ctx.stack.append(m.name)
    try:
        excluded = _dependency_members(rules, ctx, rd, incumbents, warnings)
    finally:
        ctx.stack.pop()
    inc_key = incumbents if isinstance(incumbents, str) or incumbents is None else "list:" + ",".join(
        sorted(str(c) for c in incumbents)  # type: ignore[union-attr]
    )
    deps = hashlib.sha256(json.dumps(excluded, sort_keys=True).encode()).hexdigest()[:16]
    key = (methodology_key(rules), rd.review, f"{inc_key}|{deps}")
    if key in ctx.cache:
        return ctx.cache[key]
    inc_codes, inc_label = resolve_incumbents(rules, ctx, rd, incumbents)
    cand = _pipeline(rules, ctx, rd, inc_codes, excluded, warnings)
    if rd.provisional:
        warnings.insert(
            0,
            f"provisional: the store ends {ctx.cal.last}, before the scheduled data cutoff; "
            "results use the data so far",
        )
    res = ReviewResult(
        methodology=rules,
        dates=rd,
        candidates=cand,
        incumbents_source=inc_label,
        incumbents=inc_codes,
        warnings=warnings,
        store_label=store.label,
        synthetic=store.synthetic,
        store=store,
    )
    ctx.cache[key] = res
    return res


def _dependency_members(
    rules: Methodology, ctx: Context, rd: ReviewDates, incumbents: IncumbentSpec, warnings: list[str]
) -> dict[str, list[str]]:
    """Members of the indices this one excludes, computed first (in one run)."""
    out: dict[str, list[str]] = {}
    dep_inc = incumbents if isinstance(incumbents, str) else "auto"
    for name in rules.universe.exclude_members_of:
        dep = load_methodology(name)
        if dep.name in ctx.stack:
            chain = " -> ".join([*ctx.stack, dep.name])
            raise DependencyCycleError(f"methodologies exclude each other's members in a cycle: {chain}")
        if dep.schedule.frequency == "daily":
            res = run_review(dep, ctx.store, as_of=rd.effective, incumbents=dep_inc, _ctx=ctx)
        else:
            label = latest_review_in_force(dep, ctx.cal, rd.effective)
            res = run_review(dep, ctx.store, label, incumbents=dep_inc, allow_provisional=True, _ctx=ctx)
        out[name] = res.codes
        warnings.extend(f"{name}: {w}" for w in res.warnings)
    return out


def _metric_sql() -> str:
    return ",\n  ".join(f"{m.sql} AS {m.name}" for m in METRICS.values())


def _pipeline(
    m: Methodology,
    ctx: Context,
    rd: ReviewDates,
    incumbents: list[str],
    excluded: dict[str, list[str]],
    warnings: list[str],
) -> pd.DataFrame:
    con = ctx.store.con
    u = m.universe
    boards = ", ".join(_lit(b) for b in u.boards)
    cutoff, start = rd.cutoff, rd.window_start
    p = {"cutoff": cutoff, "start": start}

    # Candidates: the boards' stocks listed by the cutoff and not delisted by then, with
    # their industry at the cutoff and the window metrics from one grouped scan.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _ir_c AS
        WITH sec AS (
          SELECT code, name, board, exchange, list_date FROM securities
          WHERE board IN ({boards})
            AND (list_date IS NULL OR list_date <= $cutoff)
            AND (delist_date IS NULL OR delist_date > $cutoff)
        ),
        w AS (
          SELECT b.code, b.date, b.close, b.amount, b.volume, s.total_shares,
                 coalesce(s.float_shares, s.total_shares) AS float_sh,
                 coalesce(s.free_float_shares, s.float_shares, s.total_shares) AS ff_sh
          FROM bars b ASOF LEFT JOIN shares s ON b.code = s.code AND b.date >= s.effective_date
          WHERE b.date BETWEEN $start AND $cutoff AND b.code IN (SELECT code FROM sec)
        ),
        agg AS (
          SELECT code,
            {_metric_sql()},
            arg_max(total_shares, date) AS shares_total,
            arg_max(float_sh, date) AS shares_float,
            arg_max(ff_sh, date) AS shares_ff,
            max(date) AS last_bar
          FROM w GROUP BY code
        ),
        cal AS (SELECT date FROM calendar WHERE date <= $cutoff),
        ind AS (
          SELECT code, arg_max(sw_l1_code, start_date) AS sw_l1_code,
                 arg_max(sw_l1_name, start_date) AS sw_l1_name,
                 arg_max(sw_l1_name_en, start_date) AS sw_l1_name_en,
                 arg_max(sw_l2_name, start_date) AS sw_l2_name
          FROM industry WHERE start_date <= $cutoff AND (end_date IS NULL OR end_date >= $cutoff)
          GROUP BY code
        )
        SELECT sec.*, ind.sw_l1_code, ind.sw_l1_name, ind.sw_l1_name_en, ind.sw_l2_name,
          (SELECT count(*) FROM cal WHERE cal.date >= coalesce(sec.list_date, DATE '1900-01-01'))
            AS listing_days,
          (SELECT count(*) FROM cal WHERE cal.date >= greatest($start, coalesce(sec.list_date, $start)))
            - coalesce(agg.traded_days, 0) AS suspended_days,
          agg.* EXCLUDE (code),
          CAST(NULL AS DOUBLE) AS esg_score,
          CAST(NULL AS VARCHAR) AS stage,
          CAST(NULL AS VARCHAR) AS reason,
          CAST(NULL AS BIGINT) AS rank,
          CAST(NULL AS BOOLEAN) AS incumbent,
          CAST(NULL AS BOOLEAN) AS selected,
          CAST(NULL AS VARCHAR) AS status,
          CAST(NULL AS DOUBLE) AS weight,
          CAST(NULL AS DOUBLE) AS inclusion_factor,
          CAST(NULL AS DOUBLE) AS cap_factor
        FROM sec LEFT JOIN agg USING (code) LEFT JOIN ind USING (code)
        """,
        p,
    )
    if ctx.has_esg:
        con.execute(
            """UPDATE _ir_c SET esg_score = e.score FROM (
                 SELECT code, arg_max(score, date) AS score FROM esg_scores WHERE date <= $cutoff
                 GROUP BY code) e WHERE _ir_c.code = e.code""",
            {"cutoff": cutoff},
        )

    def drop(stage: str, cond: str, reason: str, params: dict[str, Any] | None = None) -> None:
        sql = f"UPDATE _ir_c SET stage = {_lit(stage)}, reason = {reason} WHERE reason IS NULL AND ({cond})"
        con.execute(sql, {k: v for k, v in (params or {}).items() if f"${k}" in sql})

    # Universe exclusions, first reason wins.
    if u.exclude_codes:
        drop("universe", f"code IN ({', '.join(_lit(c) for c in u.exclude_codes)})", "'excluded by code list'")
    for name, codes in excluded.items():
        con.execute("CREATE OR REPLACE TEMP TABLE _ir_x AS SELECT unnest($c::VARCHAR[]) AS code", {"c": codes})
        drop("universe", "code IN (SELECT code FROM _ir_x)", _lit(f"member of {name} at this review"))
    st_kinds = []
    if u.exclude_st:
        st_kinds += ["ST", "*ST"]
    if u.exclude_delisting:
        st_kinds.append("delisting")
    if st_kinds:
        con.execute(
            f"""UPDATE _ir_c SET stage = 'universe', reason = s.status || ' at the data cutoff'
                FROM (SELECT code, min(status) AS status FROM status
                      WHERE status IN ({", ".join(_lit(k) for k in st_kinds)})
                        AND start_date <= $cutoff AND (end_date IS NULL OR end_date >= $cutoff)
                      GROUP BY code) s
                WHERE _ir_c.code = s.code AND _ir_c.reason IS NULL""",
            {"cutoff": cutoff},
        )
    drop("universe", "traded_days IS NULL", "'no trading in the review window'")
    if u.min_listing_age is not None:
        _listing_age(m, ctx, rd, drop)
    if u.max_suspended_days is not None:
        drop(
            "universe",
            f"suspended_days > {int(u.max_suspended_days)}",
            f"format('suspended {{}} trading days in the window (more than {u.max_suspended_days})', suspended_days)",
        )

    # Screens, in order, each over the stocks still in.
    for i, s in enumerate(m.screens, start=1):
        _screen(s, i, ctx, drop, warnings)

    _rank_and_select(m, ctx, incumbents, drop, warnings)
    con.execute(
        "UPDATE _ir_c SET selected = coalesce(selected, false), "
        "incumbent = coalesce(incumbent, false), status = coalesce(status, '')"
    )
    _weights(m, ctx, warnings)
    df = con.execute("SELECT * FROM _ir_c ORDER BY rank NULLS LAST, code").df()
    con.execute("DROP TABLE IF EXISTS _ir_c")
    con.execute("DROP TABLE IF EXISTS _ir_x")
    return df


def _listing_age(m: Methodology, ctx: Context, rd: ReviewDates, drop: Any) -> None:
    u = m.universe
    age = u.min_listing_age
    assert age is not None

    def too_young(a: Any) -> str:
        if a.trading_days is not None:
            return f"listing_days < {int(a.trading_days)}"
        return f"list_date > $cutoff - INTERVAL {int(a.months)} MONTH"

    exc = u.new_listing_exception
    cond = too_young(age)
    if exc is not None:
        # Large new listings may enter early: rank among the board's stocks with data.
        metric = exc.metric
        if exc.top_n is not None:
            within = f"r <= {int(exc.top_n)}"
        else:
            within = f"r <= ceil(n * {exc.top_pct / 100!r})"
        ctx.store.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _ir_x AS SELECT code FROM (
                  SELECT code, row_number() OVER (ORDER BY {_q(metric)} DESC, code) AS r,
                         count(*) OVER () AS n
                  FROM _ir_c WHERE {_q(metric)} IS NOT NULL) WHERE {within}"""
        )
        cond = f"({cond}) AND (({too_young(exc.min_age)}) OR code NOT IN (SELECT code FROM _ir_x))"
    drop(
        "universe",
        cond,
        f"format('listed {{}} trading days (since {{}}); needs {age.describe()}', listing_days, list_date)",
        {"cutoff": rd.cutoff},
    )


def _screen(s: Screen, i: int, ctx: Context, drop: Any, warnings: list[str]) -> None:
    con = ctx.store.con
    col = _q(s.metric)
    stage = f"screen {i}"
    if s.metric == "esg_score" and not ctx.has_esg:
        warnings.append(
            f"screen {i} ({s.describe()}) skipped: the store has no ESG data (table esg_scores)"
        )
        return
    drop(stage, f"{col} IS NULL", _lit(f"no {s.metric} data (screen {i}: {s.describe()})"))
    v = s.value
    if s.type in ("min_value", "max_value"):
        op = "<" if s.type == "min_value" else ">"
        drop(stage, f"{col} {op} {v!r}", f"format('{s.metric} {{}} fails screen {i}: {s.describe()}', round({col}, 4))")
        return
    asc = s.type == "drop_top_n"  # ranks count from the top in every case
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ir_x AS
            SELECT code, row_number() OVER (ORDER BY {col} DESC, code) AS r, count(*) OVER () AS n
            FROM _ir_c WHERE reason IS NULL"""
    )
    if s.type == "drop_bottom_pct":
        keep = f"n - floor(n * {v / 100!r})"
        cond = f"r > {keep}"
    elif s.type == "keep_top_pct":
        keep = f"ceil(n * {v / 100!r})"
        cond = f"r > {keep}"
    elif s.type == "keep_top_n":
        keep = str(int(v))
        cond = f"r > {keep}"
    else:
        keep = str(int(v))
        cond = f"r <= {keep}"
    del asc
    con.execute(
        f"""UPDATE _ir_c SET stage = {_lit(stage)},
              reason = format('{s.describe()}: rank {{}} of {{}} (cut at {{}})', x.r, x.n, CAST({keep} AS BIGINT))
            FROM _ir_x x WHERE _ir_c.code = x.code AND _ir_c.reason IS NULL AND {cond}"""
    )


def _rank_and_select(m: Methodology, ctx: Context, incumbents: list[str], drop: Any, warnings: list[str]) -> None:
    con = ctx.store.con
    sel = m.selection
    n = sel.count
    direction = "ASC" if sel.order == "asc" else "DESC"
    order = ", ".join([f"{_q(sel.rank_by)} {direction}", *(f"{_q(t)} {direction}" for t in sel.tie_break), "code"])
    drop("selection", f"{_q(sel.rank_by)} IS NULL", _lit(f"no {sel.rank_by} data to rank by"))
    b_new = sel.buffer.newcomers_within if sel.buffer else n
    b_inc = sel.buffer.incumbents_within if sel.buffer else n
    con.execute("CREATE OR REPLACE TEMP TABLE _ir_x AS SELECT unnest($c::VARCHAR[]) AS code", {"c": incumbents})

    # Priority tier 0: newcomers within b_new and incumbents within b_inc; then fill by rank.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ir_s AS
        WITH r AS (
          SELECT code, row_number() OVER (ORDER BY {order}) AS rank,
                 code IN (SELECT code FROM _ir_x) AS inc
          FROM _ir_c WHERE reason IS NULL
        ),
        t AS (SELECT *, CASE WHEN inc AND rank <= {b_inc} THEN 0
                             WHEN NOT inc AND rank <= {b_new} THEN 0 ELSE 1 END AS tier FROM r)
        SELECT *, row_number() OVER (ORDER BY tier, rank) <= {n} AS sel_raw FROM t"""
    )
    n_inc_ranked = con.execute("SELECT count(*) FROM _ir_s WHERE inc").fetchone()[0]  # type: ignore[index]
    limit = n
    if sel.max_changes_pct is not None and incumbents:
        limit = max(int(np.floor(n * sel.max_changes_pct / 100 + 1e-9)), n - n_inc_ranked)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ir_s AS
        WITH a AS (SELECT *, CASE WHEN sel_raw AND NOT inc
                     THEN row_number() OVER (PARTITION BY sel_raw AND NOT inc ORDER BY rank) END AS add_seq
                   FROM _ir_s),
        b AS (SELECT *, sel_raw AND (inc OR add_seq <= {limit}) AS sel1 FROM a),
        k AS (SELECT *, CASE WHEN inc AND NOT sel1
                     THEN row_number() OVER (PARTITION BY inc AND NOT sel1 ORDER BY rank) END AS keep_seq
              FROM b)
        SELECT *, sel1 OR (keep_seq IS NOT NULL AND keep_seq <= {n} - (SELECT count(*) FROM b WHERE sel1))
                  AS selected
        FROM k"""
    )
    buf = sel.buffer is not None
    con.execute(_select_update_sql(n, b_new, b_inc, limit, buf, bool(incumbents)))
    # Incumbents that are no longer candidates at all (delisted, moved board, no data).
    con.execute(
        "UPDATE _ir_c SET incumbent = true, status = 'deleted', "
        "reason = 'deleted: ' || reason WHERE code IN (SELECT code FROM _ir_x) AND rank IS NULL"
    )
    gone = con.execute(
        "SELECT count(*) FROM _ir_x WHERE code NOT IN (SELECT code FROM _ir_c)"
    ).fetchone()[0]  # type: ignore[index]
    if gone:
        con.execute(
            """INSERT INTO _ir_c (code, name, board, stage, reason, incumbent, selected, status)
               SELECT x.code, s.name, s.board, 'universe',
                      'deleted: not a listed stock of the index boards at the cutoff', true, false, 'deleted'
               FROM _ir_x x LEFT JOIN securities s USING (code)
               WHERE x.code NOT IN (SELECT code FROM _ir_c)"""
        )
    n_sel = con.execute("SELECT count(*) FROM _ir_c WHERE selected").fetchone()[0]  # type: ignore[index]
    if n_sel < n:
        warnings.append(f"only {n_sel} stocks passed the rules; the index has {n_sel} of {n} places filled")
    con.execute("DROP TABLE IF EXISTS _ir_s")


def _select_update_sql(n: int, b_new: int, b_inc: int, limit: int, buf: bool, has_inc: bool) -> str:
    """The UPDATE that records rank, status and the in/out reason of every ranked stock."""
    bi = "TRUE" if (buf and has_inc) else "FALSE"
    hi = "TRUE" if has_inc else "FALSE"
    return f"""
    UPDATE _ir_c SET rank = s.rank, incumbent = s.inc, selected = s.selected, stage = 'selection',
      status = CASE WHEN s.selected AND s.inc THEN 'retained' WHEN s.selected THEN 'added'
                    WHEN s.inc THEN 'deleted' ELSE '' END,
      reason = CASE
        WHEN s.selected AND s.inc AND NOT s.sel1
          THEN format('rank {{}}, kept: at most {limit} changes per review', s.rank)
        WHEN s.selected AND s.inc AND s.rank <= {n} THEN format('rank {{}}, retained', s.rank)
        WHEN s.selected AND s.inc AND s.tier = 0
          THEN format('rank {{}}, kept by incumbent buffer {b_inc}', s.rank)
        WHEN s.selected AND s.inc THEN format('rank {{}}, kept to fill the {n} places', s.rank)
        WHEN s.selected AND s.tier = 0 AND {bi}
          THEN format('rank {{}}, added (newcomer within {b_new})', s.rank)
        WHEN s.selected AND {hi} THEN format('rank {{}}, added to fill the {n} places', s.rank)
        WHEN s.selected THEN format('rank {{}}, selected', s.rank)
        WHEN s.inc AND s.rank > {b_inc}
          THEN format('rank {{}}, deleted: outside incumbent buffer {b_inc}', s.rank)
        WHEN s.inc THEN format('rank {{}}, deleted: displaced by higher-priority candidates', s.rank)
        WHEN s.sel_raw THEN format('rank {{}}, not added: at most {limit} changes per review', s.rank)
        WHEN s.rank <= {n} AND {bi}
          THEN format('rank {{}}, not added: newcomers must rank within {b_new}', s.rank)
        ELSE format('rank {{}}, outside the {n} places', s.rank) END
    FROM _ir_s s WHERE _ir_c.code = s.code"""


def _weights(m: Methodology, ctx: Context, warnings: list[str]) -> None:
    """Weights at the data cutoff: price x weighting shares (x tier factor), then caps."""
    con = ctx.store.con
    w = m.weighting
    ratio = "shares_ff / nullif(shares_total, 0)"
    if w.method == "equal":
        base, factor = "1.0", "1.0"
    else:
        col = WEIGHT_SHARES[w.method]
        shares = {"total_shares": "shares_total", "float_sh": "shares_float", "ff_sh": "shares_ff"}[col]
        if w.method == "free_float_cap" and w.inclusion_factor:
            factor = tier_case_sql([(t.up_to_pct, t.factor_pct) for t in w.inclusion_factor], ratio)
            shares = "shares_total"
        else:
            factor = "1.0"
        base = f"last_close * {shares} * ({factor})"
        missing = {"float_cap": not ctx.has_float, "free_float_cap": not ctx.has_free_float}
        if missing.get(w.method):
            warnings.append(
                f"the store has no {'free-float' if w.method == 'free_float_cap' else 'float'} share data: "
                f"{w.method} weights use total shares (inclusion factor 100%)"
            )
    rows = con.execute(
        f"""SELECT code, {base} AS base, {factor} AS factor, sw_l1_code
            FROM _ir_c WHERE selected ORDER BY rank"""
    ).fetchall()
    if not rows:
        return
    codes = [r[0] for r in rows]
    base_v = np.array([r[1] if r[1] is not None else np.nan for r in rows], dtype=float)
    bad = [c for c, v in zip(codes, base_v, strict=True) if not np.isfinite(v) or v <= 0]
    if bad:
        raise IndexReconError(
            f"cannot weight {len(bad)} constituent(s) (no price or shares at the cutoff), e.g. {bad[0]}"
        )
    c = w.caps
    groups = np.array([r[3] or "?" for r in rows]) if c.industry_pct else None
    weights = cap_weights(
        base_v,
        single=c.single_pct / 100 if c.single_pct else None,
        top_k=(c.top_k.k, c.top_k.pct / 100) if c.top_k else None,
        groups=groups,
        group_cap=c.industry_pct / 100 if c.industry_pct else None,
    )
    uncapped = base_v / base_v.sum()
    df = pd.DataFrame(
        {
            "code": codes,
            "weight": weights,
            "inclusion_factor": [float(r[2]) for r in rows],
            "cap_factor": weights / uncapped,
        }
    )
    con.register("_ir_w", df)
    try:
        con.execute(
            """UPDATE _ir_c SET weight = d.weight, inclusion_factor = d.inclusion_factor,
                 cap_factor = d.cap_factor FROM _ir_w d WHERE _ir_c.code = d.code"""
        )
    finally:
        con.unregister("_ir_w")

