"""The engine: compiles a methodology into SQL that DuckDB runs over the store.

One review is a short pipeline of set operations on temp tables, each bounded by the data
cutoff: candidates (the board's listed stocks) -> window metrics (one grouped scan of the
bars, share capital joined ASOF) -> universe exclusions -> screens in order -> ranking ->
buffered selection with a cap on changes -> weights. Every step records, per stock, the
reason it fell out or got in, so any stock near a boundary can say why.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from ..data import pit_shares
from ..errors import IndexReconError
from ..methodology.schedule import ReviewDates
from ..methodology.schema import Methodology
from ..methodology.vocabulary import (
    A_SHARE_METRICS,
    EXTERNAL_METRICS,
)
from ..results.review import Table
from .context import Context, _lit, _q, _security_codes
from .screens import _listing_age, _screen
from .selection import (
    _composite_rank,
    _factor_gaps,
    _finish_sql,
    _industry_select,
    _order,
    _select_steps,
    _tilt,
)
from .steps import Steps
from .universe import _candidates_base, _rule_metrics, status_kinds
from .weighting import cap_weights, methodology_caps

KEPT_UNKNOWN = "kept: unknown to the store (no securities row; a gap in the data)"


def _pipeline(
    m: Methodology,
    ctx: Context,
    rd: ReviewDates,
    incumbents: list[str],
    excluded: dict[str, list[str]],
    required: dict[str, list[str]],
    warnings: list[str],
    members_only: bool = False,
) -> Table:
    """The review's finished table; `members_only` (a review whose members alone are read:
    a dependency, a roll-forward step, the previous review of a path) fetches only the
    columns the selection, the weights and the warnings read, with the same warnings."""
    con = ctx.store.con
    u, sel = m.universe, m.selection
    base, base_cols = _candidates_base(ctx, rd.window_start, rd.cutoff, tuple(sorted(u.boards)),
                                       m.lookback.skip_listing_days)
    params: dict[str, Any] = {"cutoff": rd.cutoff, "start": rd.window_start, "inc": incumbents}
    lists = {}
    for i, (name, codes) in enumerate([*required.items(), *excluded.items()]):
        lists[name] = f"$m{i}"
        params[f"m{i}"] = codes

    # External metrics and status at the cutoff, for the methodologies that use them.
    externals = []
    joins = []
    read = _rule_metrics(m)
    for j, name in enumerate(EXTERNAL_METRICS):
        src = ctx.external.get(name)
        if src is None:
            if name in read:  # a rule on a metric the store lacks: it reads NULLs (and says so)
                externals.append(f"CAST(NULL AS DOUBLE) AS {_q(name)}")
            continue
        externals.append(f"CAST(x{j}.value AS DOUBLE) AS {_q(name)}")
        joins.append(f"""LEFT JOIN (SELECT code, arg_max(value, date) AS value FROM ({src})
                           WHERE date <= $cutoff GROUP BY code) x{j} USING (code)""")
    # Each status kind the methodology excludes is applied when the store has data of that
    # kind up to the cutoff, and said not to be otherwise.
    st_kinds, st_warnings = status_kinds(m, ctx, rd.cutoff)
    warnings += st_warnings
    use_status = bool(st_kinds)
    # ST is read at the cutoff, on the last trading day before the effective date, or at the
    # month-end whose warnings the latest monthly adjustment applied
    st_late = u.st_as_of != "cutoff"
    if u.st_as_of == "monthly":
        params["st_day"] = rd.monthly_status_day
        st_when = f"on {rd.monthly_status_day} (the month-end before the monthly adjustment of {rd.monthly_adjusted})"
    else:
        params["st_day"] = ctx.cal.on_or_before(rd.effective - dt.timedelta(days=1)) if st_late else rd.cutoff
        st_when = f"on {params['st_day']} (the day before the effective date)"
    if use_status:
        day = "(CASE WHEN status IN ('ST', '*ST') THEN $st_day ELSE $cutoff END)" if st_late else "$cutoff"
        joins.append(f"""LEFT JOIN (SELECT code, min(status) AS status FROM status
                           WHERE status IN ({", ".join(_lit(k) for k in st_kinds)})
                             AND start_date <= {day} AND (end_date IS NULL OR end_date >= {day})
                           GROUP BY code) st USING (code)""")
    # The rules run over the columns they read; names, industries and the other metrics
    # join back at the end (carrying every column through each step costs more than the rules).
    keep = ["code", "board", "list_date", "listing_days", "suspended_days", "traded_days",
            *sorted(c for c in read if c in base_cols)]
    plan = Steps()
    plan.add(
        f"""SELECT {", ".join([*(f"b.{c}" for c in keep), *externals])},
              {"b.code IN (SELECT unnest($inc::VARCHAR[]))" if incumbents else "false"} AS incumbent,
              {"st.status" if use_status else "CAST(NULL AS VARCHAR)"} AS _st,
              CAST(NULL AS DOUBLE) AS composite_rank, CAST(NULL AS VARCHAR) AS stage,
              CAST(NULL AS VARCHAR) AS reason, CAST(NULL AS BIGINT) AS rank,
              CAST(NULL AS BOOLEAN) AS selected, CAST(NULL AS VARCHAR) AS status
            FROM {base} b {" ".join(joins)}"""
    )
    # what the chain decides comes from its last step; the rest from the base, so DuckDB drops
    # the columns the rules have read once they are read (windows carry every column they get)
    narrow = {"code", *ctx.external, "incumbent", "_st", "composite_rank", "stage", "reason", "rank",
              "selected", "status"}
    cols = [*base_cols, *EXTERNAL_METRICS, "composite_rank", "stage", "reason", "rank", "incumbent", "selected",
            "status", "_st"]

    # The sample space: universe rules in order, first reason wins.
    if u.exclude_codes:
        plan.drop("universe", f"code IN ({', '.join(_lit(c) for c in u.exclude_codes)})", "'excluded by code list'")
    for name in required:
        plan.drop("universe", f"code NOT IN (SELECT unnest({lists[name]}::VARCHAR[]))",
                  _lit(f"not a member of {name} at this review"))
    if use_status:
        when = (f"CASE WHEN _st IN ('ST', '*ST') THEN ' {st_when}' "
                "ELSE ' at the data cutoff' END") if st_late else "' at the data cutoff'"
        plan.drop("universe", "_st IS NOT NULL", f"_st || {when}")
    plan.drop("universe", "traded_days IS NULL", "'no trading in the review window'")
    if u.min_listing_age is not None or u.listing_age_by_board:
        _listing_age(m, plan)
    if u.max_suspended_days is not None:
        plan.drop(
            "universe",
            f"suspended_days > {int(u.max_suspended_days)}",
            f"format('suspended {{}} trading days in the window (more than {u.max_suspended_days})', suspended_days)",
        )
    # Members of the indices this one excludes: still part of the sample space (stage
    # 'membership'), so a sample-space screen ranks them ("CSI 300 members and the top 300").
    for name in excluded:
        plan.drop("membership", f"code IN (SELECT unnest({lists[name]}::VARCHAR[]))", _lit(f"member of {name} at this review"))

    for i, s in enumerate(m.screens, start=1):
        _screen(s, i, ctx, plan, warnings, rd.cutoff)

    if sel.tilt is not None:
        _tilt(m, ctx, plan, warnings)
    if sel.rank_by == "composite_rank":
        _composite_rank(m, ctx, plan, warnings)
    if not sel.all_eligible:  # a composite holds only what it can see
        # An incumbent the store cannot rank (e.g. no share capital, so no market cap) keeps
        # its place: a gap in the data is no evidence that it should leave. Newcomers
        # without the data cannot enter.
        plan.mark(
            f"{_q(sel.rank_by)} IS NULL AND incumbent",
            {"stage": "'selection'", "selected": "true", "status": "'retained'",
             "reason": _lit(f"kept: no {sel.rank_by} data to rank it (a gap in the store's data)")},
        )
        plan.drop("selection", f"{_q(sel.rank_by)} IS NULL", _lit(f"no {sel.rank_by} data to rank by"))
    # Incumbents outside the candidates: unknown to the store (no row in securities: the data
    # lacks them, e.g. a stock missing from a survivorship-biased source) keep their place,
    # counted among the places held; the others (not listed on the index boards) are deleted.
    known = _security_codes(ctx, list(incumbents)) if incumbents else frozenset()
    unknown = [] if sel.all_eligible else [c for c in incumbents if c not in known]
    # the share-data warnings' observation dates ride along in working columns after the
    # weights' (the window table holds them): no statement of their own
    rank_a = next((x for x in (sel.rank_by, *(s.metric for s in m.screens)) if x in A_SHARE_METRICS), None)
    weight_shares = {"free_float_cap": "free_float_shares" if ctx.has_free_float else None,
                     "float_cap": "float_shares" if ctx.has_float else None}.get(m.weighting.method)
    sparse = [c for c in (weight_shares, "a_shares" if ctx.has_a_shares and rank_a else None) if c]
    hidden = {pit_shares.OBSERVED[c]: f"b.{pit_shares.OBSERVED[c]}" for c in sparse}
    src = {c: f"n.{_q(c)}" if c in narrow else f"b.{_q(c)}" for c in cols}
    src.update({c: "CAST(NULL AS DOUBLE)" for c in EXTERNAL_METRICS if c not in ctx.external})
    frm = f"{{prev}} n LEFT JOIN {base} b USING (code)"
    if sel.industry_balance is None:
        # one statement from the sample space to the finished table
        src.update(_select_steps(m, bool(incumbents), plan, len(unknown)))
        finish = _finish_sql(m, src, frm, hidden)
        sql = plan.sql(_members_only(m, finish, hidden) if members_only else finish)
        table = Table.fetch(con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql}))
    else:
        # industry places are allocated in Python between two statements
        joined = ", ".join([*(f"{e} AS {_q(c)}" for c, e in src.items()), *(f"{e} AS {c}" for c, e in hidden.items())])
        sql = "CREATE OR REPLACE TEMP TABLE _ir_c AS " + plan.sql(f"SELECT {joined} FROM {frm}")
        con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})
        row = con.execute("SELECT count(*) FILTER (WHERE selected) FROM _ir_c").fetchone()
        held = int(row[0]) if row else 0
        _kept_warnings(warnings, held, len(unknown), sel.rank_by)
        n = max(sel.count - held - len(unknown), 0)
        con.execute("CREATE OR REPLACE TEMP TABLE _ir_x AS SELECT unnest($c::VARCHAR[]) AS code", {"c": incumbents})
        _industry_select(m, ctx, _order(m), bool(incumbents), warnings, n)
        try:
            finish = _finish_sql(m, {c: f"c.{_q(c)}" for c in cols}, "_ir_c c", {c: f"c.{c}" for c in hidden})
            table = Table.fetch(con.execute(_members_only(m, finish, hidden) if members_only else finish))
        finally:
            con.execute("DROP TABLE IF EXISTS _ir_x; DROP TABLE IF EXISTS _ir_c")
    observed = {c: dict(zip(table.column("code"), table.column(pit_shares.OBSERVED[c]), strict=True)) for c in sparse}
    listed = set(table.column("code"))
    gone = [c for c in incumbents if c not in listed and c not in unknown]
    gone_rows = con.execute(
        "SELECT x.code, s.name, s.board FROM (SELECT unnest($c::VARCHAR[]) AS code) x "
        "LEFT JOIN securities s USING (code) ORDER BY x.code", {"c": gone}).fetchall() if gone else []
    if unknown or gone:
        extra = [{"code": c, "stage": "selection", "reason": KEPT_UNKNOWN, "incumbent": True, "selected": True,
                  "status": "retained"} for c in unknown]
        extra += [{"code": r[0], "name": r[1], "board": r[2], "stage": "universe", "incumbent": True,
                   "reason": "deleted: not a listed stock of the index boards at the cutoff",
                   "selected": False, "status": "deleted"} for r in gone_rows]
        rows = table.rows + [tuple(e.get(c) for c in table.columns) for e in extra]
        ri, ci = table.col("rank"), table.col("code")
        rows.sort(key=lambda r: (r[ri] is None, r[ri] or 0, r[ci]))
        table = Table(table.columns, table.types, rows)
    table = _weights(m, ctx, warnings, table)
    _factor_gaps(m, ctx, table, warnings)
    if weight_shares or (ctx.has_a_shares and rank_a):
        codes, ranks, chosen = table.column("code"), table.column("rank"), table.column("selected")
        warnings += pit_shares.review_warnings(
            con, rd.cutoff,
            weighted=[c for c, s in zip(codes, chosen, strict=True) if s],
            ranked=[c for c, r in zip(codes, ranks, strict=True) if r is not None],
            weight_shares=weight_shares,
            a_share_rank=rank_a if ctx.has_a_shares else None, observed=observed)
    return table


def _members_only(m: Methodology, finish: str, hidden: dict[str, str]) -> str:
    """The finished table narrowed to what a members-only review reads: the selection and
    its reasons, the weighting inputs (the weight columns last, as `_weights` expects) and
    the metrics `_factor_gaps` names; fetching a whole market's ~50 columns is most of what
    such a review costs beyond the statement."""
    sel = m.selection
    gaps = [sel.tilt.metric] if sel.tilt is not None else []
    gaps += [t.metric for t in sel.composite or []]
    cols = ["code", "rank", "selected", "incumbent", "stage", "status", "reason", "sw_l1_code",
            *dict.fromkeys(x for x in gaps if x in EXTERNAL_METRICS),
            "weight", "inclusion_factor", "cap_factor", "_wbase", "_wfactor", *hidden]
    return f"SELECT {', '.join(_q(c) for c in cols)} FROM ({finish}) ORDER BY rank NULLS LAST, code"


def _kept_warnings(warnings: list[str], kept: int, unknown: int, rank_by: str) -> None:
    if unknown:
        warnings.append(f"{unknown} incumbent(s) are unknown to the store (no data at all): kept without a rank")
    if kept:
        warnings.append(
            f"{kept} incumbent(s) have no {rank_by} data (e.g. no share capital in the store): kept without a rank"
        )




def _weights(m: Methodology, ctx: Context, warnings: list[str], table: Table) -> Table:
    """Weights at the data cutoff: the weighting base of each constituent, then caps; the
    table without its working columns (_wbase and those after it)."""
    sel, w = m.selection, m.weighting
    ix = {c: i for i, c in enumerate(table.columns)}
    rows = [(r[ix["code"]], r[ix["_wbase"]], r[ix["_wfactor"]], r[ix["sw_l1_code"]], r[ix["reason"]])
            for r in table.rows if r[ix["selected"]]]
    if sel.industry_balance is None:
        unknown = sum(r[4] == KEPT_UNKNOWN for r in rows)
        kept = sum(r[4] == f"kept: no {sel.rank_by} data to rank it (a gap in the store's data)" for r in rows)
        _kept_warnings(warnings, kept, unknown, sel.rank_by)
    n_sel = len(rows)
    if n_sel < sel.count and not sel.all_eligible:
        warnings.append(f"only {n_sel} stocks passed the rules; the index has {n_sel} of {sel.count} places filled")
    if n_sel > sel.count and sel.all_eligible:
        warnings.append(f"{n_sel} stocks passed the rules, more than the maximum of {sel.count}")
    if w.method != "equal":
        missing = {"float_cap": not ctx.has_float, "free_float_cap": not ctx.has_free_float}
        if missing.get(w.method):
            warnings.append(
                f"the store has no {'free-float' if w.method == 'free_float_cap' else 'float'} share data: "
                f"{w.method} weights use total shares (inclusion factor 100%)"
            )
    weighted: dict[str, tuple[float, float, float]] = {}
    if rows:
        base_all = np.array([r[1] if r[1] is not None else np.nan for r in rows], dtype=float)
        ok = np.isfinite(base_all) & (base_all > 0)
        bad = [r[0] for r, good in zip(rows, ok, strict=True) if not good]
        if bad:
            if not ok.any():
                raise IndexReconError(
                    f"cannot weight any of the {len(rows)} constituents (no price or shares at the cutoff)"
                )
            warnings.append(
                f"{len(bad)} constituent(s) cannot be weighted (no price or shares at the cutoff), e.g. {bad[0]}: "
                "left without a weight; the others' weights sum to 1"
            )
            rows = [r for r, good in zip(rows, ok, strict=True) if good]
        base_v = base_all[ok]
        weights = cap_weights(base_v, **methodology_caps(w.caps, [r[3] for r in rows]))
        cap_f = weights / (base_v / base_v.sum())
        weighted = {r[0]: (float(wt), float(r[2]), float(cf)) for r, wt, cf in zip(rows, weights, cap_f, strict=True)}
    # the weights into their columns (a constituent-sized patch of the fetched rows)
    wi, n = ix["weight"], ix["_wbase"]
    assert table.columns[wi:wi + 3] == ("weight", "inclusion_factor", "cap_factor") and ix["_wfactor"] == n + 1
    out = [(*r[:wi], *weighted[r[0]], *r[wi + 3:n]) if r[0] in weighted else r[:n] for r in table.rows]
    return Table(table.columns[:n], table.types[:n], out)


