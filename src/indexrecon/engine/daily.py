"""Daily methodologies set-based: every day's eligible set and ranks in one statement.

A daily methodology of the simple class (`eligible`: a one-day window, universe rules only
-- boards, ST / delisting status at the cutoff, a listing age in trading days -- no screens,
no buffer, no cap on changes, no dependencies, equal weights without caps) selects the same
stocks whatever its incumbents, so every day's ranking is one window over (day, code)
instead of one review per day. `run_days` builds each day's trimmed `ReviewResult` from it:
the rows, reasons, weights and warnings the per-day pipeline (`engine.pipeline`) gives.
It refuses (returns None) when a day would need what the per-day path does beyond this:
an incumbent kept without rank data, an incumbent unknown to the store, two bars of a stock
on one day, two industry rows of a stock starting on one day. The caller then runs the
per-day path.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..data import pit_shares
from ..methodology.schema import Methodology
from ..methodology.vocabulary import A_SHARE_METRICS, EXTERNAL_METRICS, METRICS
from ..plan.review import plan_review
from ..results.review import ReviewResult, Table
from .context import Context, _lit, _map_codes, _q
from .selection import _order
from .universe import _metric_exprs, _metric_sql, status_kinds


def eligible(m: Methodology) -> bool:
    """Whether `m` is in the class `run_days` computes set-based (see the module docstring)."""
    if m.versions or m.schedule.frequency != "daily":
        return False
    u, sel, w, lb = m.universe, m.selection, m.weighting, m.lookback
    age = u.min_listing_age
    caps = w.caps
    return (
        lb.months is None and (lb.trading_days or 1) == 1 and not lb.skip_listing_days
        and not m.screens and sel.buffer is None and sel.max_changes_pct is None
        and sel.industry_balance is None and not sel.composite and not sel.all_eligible and sel.tilt is None
        and sel.rank_by in METRICS and all(t in METRICS for t in sel.tie_break)
        and not u.exclude_members_of and not getattr(u, "members_of", []) and not u.exclude_codes
        and u.max_suspended_days is None and not u.listing_age_by_board and u.new_listing_exception is None
        and u.st_as_of == "cutoff" and (age is None or age.trading_days is not None)
        and w.method == "equal"
        and all(getattr(caps, f) is None for f in type(caps).model_fields)
    )


# the leading columns of a review's table that depend on the stock alone (and its industry)
STATIC = ("code", "name", "board", "exchange", "list_date", "sw_l1_code", "sw_l1_name", "sw_l1_name_en",
          "sw_l2_name", "sw_l2_code", "sw_l3_code")

_BASE = [*STATIC, "listing_days", "suspended_days", *METRICS,
         "shares_total", "shares_float", "shares_ff", "last_bar", "suspended_run"]
# the columns the rules and the incumbents decide, computed by the statement (`keep`)
_DECIDED = ("stage", "reason", "rank", "incumbent", "selected", "status", "weight", "inclusion_factor", "cap_factor")


def _numbered(boards: str) -> str:
    """The boards' securities with `cid` numbering their codes 1..n in code order: the key
    the statement's rows and `_static`'s columns share (one numbering for both)."""
    return f"SELECT *, row_number() OVER (ORDER BY code) AS cid FROM securities WHERE board IN ({boards})"


def _sid(cid: str, ind_from: str) -> str:
    """The key of a stock's static columns (`STATIC`: its names and board, and the industry
    row in force, by its start date): a string costs the most to fetch, so a kept row carries
    this key and `_static` sends each key's columns once."""
    return f"{cid} * 100000 + 1 + coalesce(datediff('day', DATE '1900-01-01', {ind_from}), -1)"


def _static(con: Any, boards: str, first: dt.date, last: dt.date) -> dict[int, tuple[Any, ...]] | None:
    """The static columns of every key a day from `first` to `last` can hold: each stock of
    the boards with each industry row in force on one of those days, or with none. None when
    two industry rows of a stock start on one day (the key would not tell them apart)."""
    rows = con.execute(
        f"""WITH sec0 AS ({_numbered(boards)})
            SELECT {_sid("s.cid", "n.start_date")}, s.code, s.name, s.board, s.exchange, s.list_date,
                   n.sw_l1_code, n.sw_l1_name, n.sw_l1_name_en, n.sw_l2_name, n.sw_l2_code, n.sw_l3_code
            FROM sec0 s JOIN industry n ON n.code = s.code AND n.start_date <= $last
              AND (n.end_date IS NULL OR n.end_date >= $first)
            UNION ALL
            SELECT {_sid("s.cid", "NULL")}, s.code, s.name, s.board, s.exchange, s.list_date,
                   NULL, NULL, NULL, NULL, NULL, NULL FROM sec0 s""",
        {"first": first, "last": last}).fetchall()
    out = {r[0]: r[1:] for r in rows}
    return out if len(out) == len(rows) else None


def _row_expr(agg: str) -> str | None:
    """A metric's aggregate over a group of one bar as the bar's own expression: the count is
    1, the last value (arg_max over the date) is the value; None for the others (an exact
    average of one value is not bit for bit its cast)."""
    if agg == "count(*)":
        return "1"
    if agg.startswith("arg_max(") and agg.endswith(", date)"):
        return agg[len("arg_max("):-len(", date)")]
    return None


def _statement(m: Methodology, ctx: Context, st_kinds: list[str], a_when: str | None,
               columns: tuple[str, ...], n_codes: int) -> str:
    """One statement over every day: (kind 'row', day, `columns` -- those the rules decide
    per incumbent set NULL) of the rows a trimmed day keeps (ranked within the places, or
    selected the day before), and (kind 'cov', day, NULLs, missing, after): per day the ranked
    codes without an A-share observation / observed after the cutoff (days with neither are
    left out).

    The ranking reads only the bars of the days (one per stock and day) and the few columns
    it sorts on, keyed by integers (day, `cid` numbering the codes in code order); the rules'
    stages and reasons, and every other column, are computed for the kept rows only."""
    u, sel = m.universe, m.selection
    n = int(sel.count)
    boards = ", ".join(_lit(b) for b in sorted(u.boards))
    age = u.min_listing_age
    st = st_cte = ""
    if st_kinds:
        st_cte = f"""
        stx AS (
          SELECT d.i, s.code, min(s.status) AS status FROM days d JOIN status s
            ON s.start_date <= d.cutoff AND (s.end_date IS NULL OR s.end_date >= d.cutoff)
          WHERE s.status IN ({", ".join(_lit(k) for k in st_kinds)}) GROUP BY d.i, s.code
        ),"""
        st = "LEFT JOIN stx st ON st.i = c.i AND st.code = c.code"
    rules = []
    if st_kinds:
        rules.append(("st.status IS NOT NULL", "'universe'", "st.status || ' at the data cutoff'"))
    rules.append(("c.traded_days IS NULL", "'universe'", "'no trading in the review window'"))
    if age is not None:
        rules.append((f"c.listing_days < {int(age.trading_days)}", "'universe'",
                      f"format('listed {{}} trading days (since {{}}); needs {age.describe()}', "
                      "c.listing_days, c.list_date)"))
    rules.append((f'c."{sel.rank_by}" IS NULL', "'selection'", _lit(f"no {sel.rank_by} data to rank by")))
    # a row is ranked when no rule stops it: the same CASE decides the ranked set and the
    # kept rows' stages
    stage = "CASE " + " ".join(f"WHEN {c} THEN {s}" for c, s, _ in rules) + " END"
    reason = "CASE " + " ".join(f"WHEN {c} THEN {r}" for c, _, r in rules) + " END"
    # external metrics as the pipeline joins them: the last value up to the cutoff
    ext: dict[str, str] = {}
    joins = []
    for j, name in enumerate(EXTERNAL_METRICS):
        src = ctx.external.get(name)
        if src is None:
            continue
        ext[name] = f"CAST(x{j}.value AS DOUBLE)"
        joins.append(f"""LEFT JOIN (SELECT k.i, k.code, arg_max(x.value, x.date) AS value FROM keep k
                           JOIN ({src}) x ON x.code = k.code AND x.date <= k.cutoff GROUP BY k.i, k.code) x{j}
                         ON x{j}.i = f.i AND x{j}.code = f.code""")
    items = [f"f.{_q(c)}" if c in _BASE or c in _DECIDED else
             f"{ext[c]} AS {_q(c)}" if c in ext else f"NULL AS {_q(c)}" for c in columns]
    assert columns[:len(STATIC)] == STATIC
    del items[:len(STATIC)]  # sent apart, once per key (`_static`)
    exprs = _metric_exprs(ctx)
    rank_cols = list(dict.fromkeys(["traded_days", sel.rank_by, *sel.tie_break]))
    listed = "(s.list_date IS NULL OR s.list_date <= d.cutoff) AND (s.delist_date IS NULL OR s.delist_date > d.cutoff)"
    shares = """s.total_shares, coalesce(s.float_shares, s.total_shares) AS float_sh,
                 coalesce(s.free_float_shares, s.float_shares, s.total_shares) AS ff_sh,
                 coalesce(s.a_shares, s.total_shares) AS a_sh"""
    sh_join = "LEFT JOIN sh s ON b.code = s.code AND b.date >= s.d0 AND b.date < s.d1"
    # the A-share coverage of a ranked row: the ratio date of the share row in force at the
    # cutoff, i.e. the one its bar (dated the cutoff) joins
    cov = a_cols = a_lists = ""
    if a_when:
        a_cols = ", arg_max(a_when, date) AS a_when"
        # code numbers in code order: a list of them ordered by number is in code order
        a_lists = """,
                 list(cid ORDER BY cid) FILTER (WHERE a_when IS NULL) AS mis,
                 list(cid ORDER BY cid) FILTER (WHERE a_when > cutoff) AS aft"""
        cov = """,
        cov AS (
          SELECT r.i, list_transform(r.mis, lambda x: n.codes[x]) AS missing, list_transform(r.aft, lambda x: n.codes[x]) AS after
          FROM ranked r, (SELECT list(code ORDER BY cid) AS codes FROM sec0) n
          WHERE r.mis IS NOT NULL OR r.aft IS NOT NULL
        )"""
    # a one-day window holds one bar per stock and day: a metric that is its last value
    # (arg_max over the day) or the count is the bar's own, read without grouping; a day
    # with two bars of a stock (a store check-data calls broken) is counted, and the caller
    # then runs the per-day path
    row_exprs = {x: _row_expr(exprs[x]) for x in rank_cols}
    dup_col = ""
    if all(v is not None for v in row_exprs.values()):
        aggn = f"""aggn AS MATERIALIZED (
          SELECT i, cid, cutoff, code, list_date, delist_date, listing_days,
                 {", ".join(f"{row_exprs[x]} AS {_q(x)}" for x in rank_cols)}{", a_when" if a_when else ""} FROM w
        )"""
        # distinct codes counted on a bitmap of the code numbers (a hash of them costs more
        # than the ranking); sec0 numbers the boards' codes 1..n_codes
        dup_col = f", count(*) - bit_count(bitstring_agg(c.cid, 1, {max(int(n_codes), 1)})) AS dups"
    else:
        aggn = f"""aggn AS (
          SELECT i, cid, any_value(cutoff) AS cutoff, any_value(code) AS code, any_value(list_date) AS list_date,
                 any_value(delist_date) AS delist_date, any_value(listing_days) AS listing_days,
                 {", ".join(f"{exprs[x]} AS {_q(x)}" for x in rank_cols)}{a_cols} FROM w GROUP BY i, cid
        )"""
    return f"""
        WITH days AS (SELECT unnest($i::BIGINT[]) AS i, unnest($cut::DATE[]) AS cutoff),
        cal AS (SELECT date, row_number() OVER (ORDER BY date) AS pos FROM calendar),
        dpos AS (SELECT d.i, d.cutoff, cal.pos FROM days d JOIN cal ON cal.date = d.cutoff),
        sec0 AS (
          SELECT s.code, s.cid, s.name, s.board, s.exchange, s.list_date,
                 s.delist_date, coalesce(a.pos, 0) AS before_list
          FROM ({_numbered(boards)}) s ASOF LEFT JOIN cal a ON coalesce(s.list_date, DATE '1900-01-01') > a.date
        ),
        sh AS (
          SELECT code, effective_date AS d0, total_shares, float_shares, free_float_shares, a_shares
                 {f", {a_when} AS a_when" if a_when else ""},
                 lead(effective_date, 1, DATE '9999-12-31') OVER (
                   PARTITION BY code ORDER BY effective_date, total_shares, float_shares, free_float_shares) AS d1
          FROM {pit_shares.VIEW} WHERE code IN (SELECT code FROM sec0)
        ),
        -- the ranking's input: each day's bars of the boards' stocks, not materialised
        w AS NOT MATERIALIZED (
          SELECT d.i, s0.cid, b.date, b.close, b.amount, b.volume, {shares}{", s.a_when" if a_when else ""},
                 d.cutoff, s0.code, s0.list_date, s0.delist_date, d.pos - s0.before_list AS listing_days
          FROM bars b JOIN dpos d ON b.date = d.cutoff JOIN sec0 s0 ON s0.code = b.code {sh_join}
        ),
        {aggn},{st_cte}
        -- the ranked rows: listed at the cutoff, traded, stopped by no rule; each day's in
        -- one ordered list (an ordered aggregate per day sorts them in about half the CPU of
        -- a window partitioned by day), unnested with their places
        ranked AS (
          SELECT c.i, list(c.cid ORDER BY {_order(m, "c.cid")}) AS l{a_lists}{dup_col}
          FROM (SELECT * FROM aggn s WHERE {listed.replace("d.cutoff", "s.cutoff")}) c {st}
          WHERE ({stage}) IS NULL
          GROUP BY c.i
        ),
        e AS MATERIALIZED (SELECT i, unnest(l) AS cid, generate_subscripts(l, 1) AS _rk FROM ranked),
        chosen AS (SELECT e.i, s.code FROM e JOIN sec0 s ON s.cid = e.cid WHERE e._rk <= {n}),
        -- each day's incumbents: the day before's constituents (the first day's given)
        incs AS (SELECT i + 1 AS i, code FROM chosen UNION ALL SELECT 0, unnest($inc0::VARCHAR[])),
        -- the rows a trimmed day keeps: its constituents and its incumbents, if listed
        sec AS (
          SELECT d.i, d.cutoff, d.pos, k.is_inc, s.* EXCLUDE (delist_date)
          FROM (SELECT i, code, bool_or(inc) AS is_inc FROM (
                  SELECT i, code, false AS inc FROM chosen UNION ALL SELECT i, code, true FROM incs)
                GROUP BY i, code) k
            JOIN dpos d ON d.i = k.i JOIN sec0 s ON s.code = k.code
          WHERE {listed}
        ),
        -- incumbents not listed at the cutoff (kept as deleted rows by the caller)
        gone AS (
          SELECT n.i, list(DISTINCT n.code ORDER BY n.code) AS codes FROM incs n JOIN dpos d ON d.i = n.i
          WHERE NOT EXISTS (SELECT 1 FROM sec WHERE sec.i = n.i AND sec.code = n.code) GROUP BY n.i
        ),
        ruled AS (
          SELECT c.i, c.cutoff, c.code, c.is_inc, {stage} AS stage, {reason} AS reason, c._rk AS rank
          FROM (SELECT sec.i, sec.cutoff, sec.code, sec.is_inc, sec.list_date, sec.pos - sec.before_list AS listing_days,
                       {", ".join(f"aggn.{_q(x)}" for x in rank_cols)}, e._rk
                FROM sec LEFT JOIN aggn ON aggn.i = sec.i AND aggn.cid = sec.cid
                  LEFT JOIN e ON e.i = sec.i AND e.cid = sec.cid) c {st}
        ),
        -- what the per-day pipeline decides with these incumbents and no buffer: the ranks
        -- within the places selected (equal weights), an incumbent outside them or stopped
        -- by a rule deleted
        keep AS MATERIALIZED (
          SELECT r.i, r.cutoff, r.code, r.rank, r.is_inc AS incumbent, r.stage AS stage0,
                 CASE WHEN r.rank IS NULL THEN r.stage ELSE 'selection' END AS stage,
                 coalesce(r.rank <= {n}, false) AS selected,
                 CASE WHEN r.rank <= {n} THEN CASE WHEN r.is_inc THEN 'retained' ELSE 'added' END
                      ELSE 'deleted' END AS status,
                 CASE WHEN r.rank IS NULL THEN 'deleted: ' || r.reason
                      WHEN r.rank <= {n} THEN 'rank ' || r.rank || ', ' || CASE
                        WHEN h.i IS NULL THEN 'selected' WHEN r.is_inc THEN 'retained'
                        ELSE {_lit(f"added to fill the {n} places")} END
                      ELSE 'rank ' || r.rank || ', deleted: outside incumbent buffer {n}' END AS reason,
                 CASE WHEN r.rank <= {n} THEN 1.0::DOUBLE / count(*) FILTER (WHERE r.rank <= {n}) OVER (PARTITION BY r.i)
                      END AS weight,
                 CASE WHEN r.rank <= {n} THEN 1.0::DOUBLE END AS inclusion_factor,
                 CASE WHEN r.rank <= {n} THEN 1.0::DOUBLE END AS cap_factor
          FROM ruled r LEFT JOIN (SELECT DISTINCT i FROM incs) h ON h.i = r.i
          WHERE r.rank <= {n} OR r.is_inc
        ),
        -- every other column, for the kept rows only
        agg AS (
          SELECT w.i, w.code,
            {_metric_sql(ctx)},
            arg_max(total_shares, date) AS shares_total,
            arg_max(float_sh, date) AS shares_float,
            arg_max(ff_sh, date) AS shares_ff,
            max(date) AS last_bar
          FROM (SELECT k.i, b.code, b.date, b.close, b.amount, b.volume, {shares}
                FROM keep k JOIN bars b ON b.code = k.code AND b.date = k.cutoff {sh_join}) w
          GROUP BY w.i, w.code
        ),
        ind AS (
          SELECT k.i, n.code, arg_max(n.sw_l1_code, n.start_date) AS sw_l1_code,
                 arg_max(n.sw_l1_name, n.start_date) AS sw_l1_name,
                 arg_max(n.sw_l1_name_en, n.start_date) AS sw_l1_name_en,
                 arg_max(n.sw_l2_code, n.start_date) AS sw_l2_code,
                 arg_max(n.sw_l2_name, n.start_date) AS sw_l2_name,
                 arg_max(n.sw_l3_code, n.start_date) AS sw_l3_code, max(n.start_date) AS ind_from
          FROM keep k JOIN industry n ON n.code = k.code
            AND n.start_date <= k.cutoff AND (n.end_date IS NULL OR n.end_date >= k.cutoff)
          GROUP BY k.i, n.code
        ),
        f AS (
          SELECT k.i, k.cutoff, k.code, sec.name, sec.board, sec.exchange, sec.list_date,
            ind.sw_l1_code, ind.sw_l1_name, ind.sw_l1_name_en, ind.sw_l2_name, ind.sw_l2_code, ind.sw_l3_code,
            sec.pos - sec.before_list AS listing_days,
            -- a one-day window: the trading days before it are those before the cutoff
            sec.pos - (sec.pos - 1) - coalesce(agg.traded_days, 0) AS suspended_days,
            agg.* EXCLUDE (i, code),
            sec.pos - lb.pos AS suspended_run, {", ".join(f"k.{c}" for c in _DECIDED)},
            {_sid("sec.cid", "ind.ind_from")} AS sid
          FROM keep k JOIN sec ON sec.i = k.i AND sec.code = k.code
            LEFT JOIN agg ON agg.i = k.i AND agg.code = k.code
            LEFT JOIN ind ON ind.i = k.i AND ind.code = k.code
            LEFT JOIN cal lb ON lb.date = agg.last_bar
        )
        {cov}
        SELECT 'row' AS kind, f.i, f.sid, {", ".join(items)}, NULL::VARCHAR[] AS missing, NULL::VARCHAR[] AS after
        FROM f {" ".join(joins)}
        {"UNION ALL SELECT 'cov', cov.i, NULL, " + ", ".join("NULL" for _ in items) + ", cov.missing, cov.after FROM cov"
         if a_when else ""}
        UNION ALL SELECT 'gone', i, NULL, {", ".join("NULL" for _ in items)}, codes, NULL FROM gone
        -- an incumbent without rank data: the per-day path keeps it (the caller refuses)
        UNION ALL SELECT 'refuse', i, NULL, {", ".join("NULL" for _ in items)}, NULL, NULL FROM keep
          WHERE rank IS NULL AND stage0 = 'selection'
        {"UNION ALL SELECT 'refuse', i, NULL, " + ", ".join("NULL" for _ in items) + ", NULL, NULL FROM ranked WHERE dups > 0"
         if dup_col else ""}
        ORDER BY 2, 1, rank NULLS LAST, sid"""


def run_days(m: Methodology, ctx: Context, days: list[dt.date], first: ReviewResult) -> list[ReviewResult] | None:
    """The trimmed reviews of `days` (the first already run per day: `first`, whose rows
    this must reproduce), or None when a day needs the per-day path."""
    con, store = ctx.store.con, ctx.store
    sel = m.selection
    plans = [None, *(plan_review(m, ctx.where, as_of=d, incumbents="none") for d in days[1:])]
    rds = [first.dates, *(p.dates for p in plans[1:] if p is not None)]
    if any(rd.provisional for rd in rds):
        return None
    st_sets = [status_kinds(m, ctx, rd.cutoff) for rd in rds]
    if any(s[0] != st_sets[0][0] for s in st_sets):
        return None  # status data starts inside the range: the per-day path says which days
    rank_a = sel.rank_by if sel.rank_by in A_SHARE_METRICS and ctx.has_a_shares else None
    a_when = dict(pit_shares.SPARSE)["a_shares"] if rank_a else None
    if rank_a:
        pit_shares.ensure(con)
    columns, types = first.table.columns, first.table.types
    if columns[:len(STATIC)] != STATIC:
        return None
    static = _static(con, ", ".join(_lit(b) for b in sorted(m.universe.boards)), rds[0].cutoff, rds[-1].cutoff)
    if static is None:
        return None
    sql = _statement(m, ctx, st_sets[0][0], a_when, columns, len({v[0] for v in static.values()}))
    cur = con.execute(sql, {"i": list(range(len(days))), "cut": [rd.cutoff for rd in rds],
                                "inc0": list(first.incumbents)})
    rows_by_day: list[list[tuple[Any, ...]]] = [[] for _ in rds]
    cov: dict[int, tuple[list[str], list[str]]] = {}
    gone: dict[int, list[str]] = {}
    for r in cur.fetchall():
        kind = r[0]
        if kind == "row":
            key = static.get(r[2])
            if key is None:
                return None  # not a key of `_static`: the per-day path
            rows_by_day[r[1]].append(key + r[3:-2])
        elif kind == "cov":
            cov[r[1]] = (list(r[-2] or []), list(r[-1] or []))
        elif kind == "gone":
            gone[r[1]] = list(r[-2])
        else:
            return None  # two bars of a stock on a day, or an incumbent kept without rank data
    ix = {c: i for i, c in enumerate(columns)}
    n_cols = len(columns)
    c_code, c_rank, c_sel = ix["code"], ix["rank"], ix["selected"]
    out: list[ReviewResult] = []
    inc: list[str] = list(first.incumbents)
    codes_known = None
    for k, rd in enumerate(rds):
        rows = rows_by_day[k]
        if k in gone:
            if codes_known is None:
                codes_known = {c: (n, b) for c, n, b in con.execute("SELECT code, name, board FROM securities").fetchall()}
            if any(c not in codes_known for c in gone[k]):
                return None  # unknown incumbents are kept: the per-day path
            for c in gone[k]:
                v: list[Any] = [None] * n_cols
                v[c_code], v[ix["name"]], v[ix["board"]] = c, *codes_known[c]
                v[ix["stage"]], v[ix["incumbent"]], v[c_sel], v[ix["status"]] = "universe", True, False, "deleted"
                v[ix["reason"]] = "deleted: not a listed stock of the index boards at the cutoff"
                rows.append(tuple(v))
            rows.sort(key=lambda e: (e[c_rank] is None, e[c_rank] or 0, e[c_code]))
        sel_codes = sorted(e[c_code] for e in rows if e[c_sel])
        warnings = list(st_sets[k][1])
        if len(sel_codes) < sel.count:
            warnings.append(f"only {len(sel_codes)} stocks passed the rules; the index has {len(sel_codes)} of "
                            f"{sel.count} places filled")
        if rank_a:
            warnings.append(pit_shares.a_share_note(rank_a, *cov.get(k, ([], [])), rd.cutoff))
        table = Table(columns, types, rows)
        if k == 0:
            if table.rows != first.table.rows or first.warnings[len(first.warnings) - len(warnings):] != warnings:
                return None  # not the per-day result: that path decides
            out.append(first)
        else:
            # the day's plan with the day before's constituents as given incumbents: what
            # planning the day with them gives (the class has no dependencies they could reach)
            p = plans[k].given(inc)  # type: ignore[union-attr]
            res_inc = p.incumbents
            out.append(ReviewResult(
                methodology=p.rules, dates=p.dates, table=table, incumbents_source=res_inc.label,
                incumbents=list(inc), incumbents_detail=res_inc.detail(),
                warnings=list(dict.fromkeys([*p.override_warnings, *res_inc.warnings, *warnings])),
                store_label=store.label, synthetic=store.synthetic, store=store))
        inc = _map_codes(ctx, sel_codes)
        if inc != sel_codes:
            return None  # a constituent under a changed code: the statement's incumbents are not these
    return out
