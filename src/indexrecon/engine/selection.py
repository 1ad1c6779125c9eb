"""Selection: ranking, buffers, caps on changes, and industry-balanced selection."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import pit_shares
from ..methodology.schema import Methodology
from ..methodology.vocabulary import EXTERNAL_METRICS
from ..results.review import Table
from .context import Context, _q
from .screens import missing_data
from .steps import Steps
from .weighting import weighting_sql


def _tilt(m: Methodology, ctx: Context, plan: Steps, warnings: list[str]) -> None:
    """Rank by rank_by times the tilt factor (1 where a stock has none). The step replaces the
    rank column inside the rules only: the outputs read the untilted metric from the base."""
    t = m.selection.tilt
    assert t is not None
    rank, col = _q(m.selection.rank_by), _q(t.metric)
    what = missing_data(t.metric, ctx)
    if what:
        note = f" [{t.note}]" if t.note else ""
        warnings.append(f"selection tilt by {t.metric}{note} not applied: the store has no {what}; "
                        f"stocks are ranked by {m.selection.rank_by} untilted")
        return
    plan.add(f"SELECT * REPLACE ({rank} * coalesce({col}, 1.0) AS {rank}) FROM {{prev}}")


def _factor_gaps(m: Methodology, ctx: Context, table: Table, warnings: list[str]) -> None:
    """Name the ranked stocks an external tilt or composite term has no value for, where the
    store has the data for others: the tilt ranks them untilted (factor 1), the composite
    ranks them last on that term."""
    sel = m.selection
    asked = [(sel.tilt.metric, "ranked untilted (factor 1)")] if sel.tilt is not None else []
    asked += [(t.metric, f"ranked last on the composite term {t.metric}") for t in sel.composite or []]
    asked = [(x, what) for x, what in asked if x in EXTERNAL_METRICS and x in ctx.external]
    if not asked:
        return
    codes, ranks = table.column("code"), table.column("rank")
    for metric, what in asked:
        missing = sorted(c for c, r, v in zip(codes, ranks, table.column(metric), strict=True)
                         if r is not None and v is None)
        if missing:
            warnings.append(f"{pit_shares.describe('ranked stock', missing)} lack {metric} at the cutoff: {what}")


def _composite_rank(m: Methodology, ctx: Context, plan: Steps, warnings: list[str]) -> None:
    """composite_rank = the weighted average of each named metric's rank among the stocks
    still in (1 = best; ties share the lowest rank). A term whose data the store lacks ranks
    every stock alike (it does not order them), with a warning."""
    terms = m.selection.composite or []
    for t in terms:
        what = missing_data(t.metric, ctx)
        if what:
            warnings.append(f"composite term {t.metric} orders no stock: the store has no {what}; "
                            "the ranking rests on the other terms and the tie-breaks")
    total = sum(t.weight for t in terms)
    parts = [
        f"{t.weight!r} * rank() OVER (PARTITION BY reason IS NULL ORDER BY {_q(t.metric)} "
        f"{'ASC' if t.order == 'asc' else 'DESC'} NULLS LAST)"
        for t in terms
    ]
    plan.add(
        f"""SELECT * REPLACE (CASE WHEN reason IS NULL THEN ({' + '.join(parts)}) / {total!r} END
                              AS composite_rank) FROM {{prev}}"""
    )


def _select_steps(m: Methodology, has_inc: bool, plan: Steps, unknown: int) -> dict[str, str]:
    """The buffered selection as plan steps, and the SQL of the columns it decides (rank,
    selected, stage, status, reason) over the last step `n`: priority tier 0 (newcomers
    within the newcomer line, incumbents within the incumbent line), then fill by rank; at
    most `max_changes_pct` adds, displaced incumbents kept first by rank."""
    sel = m.selection
    count = sel.count
    b = sel.buffer
    ranked = "reason IS NULL"
    held_unknown = int(unknown)  # incumbents unknown to the store, kept
    capped = sel.max_changes_pct is not None and has_inc
    # _n: places left after the incumbents kept without a rank (only incumbents are kept
    # so); _rk: rank among the stocks in; _ninc: incumbents among them. The kept incumbents
    # join the ranking's partition, where they sort last (they have no rank metric), so one
    # window pass gives the rank and both counts.
    part = f"{ranked} OR coalesce(selected, false)" if has_inc else ranked
    held = f"count(*) FILTER (WHERE selected) OVER (PARTITION BY {part}) - {held_unknown}" if has_inc else "0"
    plan.add(
        f"""SELECT *, greatest({count} - {held}, 0) AS _n,
                  {f"count(*) FILTER (WHERE incumbent AND {ranked}) OVER (PARTITION BY {part})" if capped else "0"} AS _ninc,
                  CASE WHEN {ranked} THEN row_number() OVER (PARTITION BY {part} ORDER BY {_order(m)}) END AS _rk
            FROM {{prev}}"""
    )
    lim = f"greatest({int(np.floor(count * sel.max_changes_pct / 100 + 1e-9))}, _n - _ninc)" if capped else "_n"
    b_new = f"least({b.newcomers_within}, _n)" if b else "_n"
    b_inc = str(b.incumbents_within) if b else "_n"
    tier = (f"CASE WHEN _rk IS NULL THEN NULL WHEN incumbent AND _rk <= {b_inc} THEN 0 "
            f"WHEN NOT incumbent AND _rk <= {b_new} THEN 0 ELSE 1 END")
    # Without incumbents or without a buffer the priority tier rises with the rank, so the
    # order (tier, rank) is the rank and the first _n ranks are selected; without a change
    # cap every stock within them stays and none is displaced. The window steps are only
    # written when they can change the outcome.
    if b is not None and has_inc:
        sel_raw = f"row_number() OVER (PARTITION BY _rk IS NOT NULL ORDER BY {tier}, _rk) <= _n"
    else:
        sel_raw = "_rk <= _n"
    plan.add(
        f"""SELECT *, {b_new} AS _b_new, {b_inc} AS _b_inc, CAST({lim} AS BIGINT) AS _lim, {tier} AS _tier,
                  CASE WHEN _rk IS NOT NULL THEN {sel_raw} END AS _sel_raw
            FROM {{prev}}"""
    )
    if capped:
        # One rank within (_sel_raw, incumbent) serves both: the newcomers within the places
        # enter by it up to the change limit, and the incumbents it displaced come back by it
        # into the places the limit left empty.
        plan.add(
            """SELECT *, row_number() OVER (PARTITION BY _sel_raw, incumbent ORDER BY _rk) AS _nr,
                      count(*) FILTER (WHERE _sel_raw AND incumbent) OVER () AS _c_inc,
                      count(*) FILTER (WHERE _sel_raw AND NOT incumbent) OVER () AS _c_new
               FROM {prev}"""
        )
        plan.add(
            """SELECT *, _sel_raw AND (incumbent OR _nr <= _lim) AS _sel1,
                      _sel_raw AND (incumbent OR _nr <= _lim) OR coalesce(
                        CASE WHEN incumbent AND NOT _sel_raw THEN _nr END <= _n - _c_inc - least(_lim, _c_new), false)
                        AS _selected
               FROM {prev}"""
        )
    chosen = "n._selected" if capped else "n._sel_raw"
    buf = b is not None and has_inc
    # (applies, condition, reason) in order, first true wins; the ones that cannot apply to
    # this methodology and incumbent set are left out of the statement
    whens = [
        (capped, f"{chosen} AND n.incumbent AND NOT n._sel1", "'rank {}, kept: at most {} changes per review', n._rk, n._lim"),
        (has_inc, f"{chosen} AND n.incumbent AND n._rk <= n._n", "'rank {}, retained', n._rk"),
        (has_inc, f"{chosen} AND n.incumbent AND n._tier = 0", "'rank {}, kept by incumbent buffer {}', n._rk, n._b_inc"),
        (has_inc, f"{chosen} AND n.incumbent", f"'rank {{}}, kept to fill the {count} places', n._rk"),
        (buf, f"{chosen} AND n._tier = 0", "'rank {}, added (newcomer within {})', n._rk, n._b_new"),
        (has_inc, chosen, f"'rank {{}}, added to fill the {count} places', n._rk"),
        (True, chosen, "'rank {}, selected', n._rk"),
        (has_inc, "n.incumbent AND n._rk > n._b_inc", "'rank {}, deleted: outside incumbent buffer {}', n._rk, n._b_inc"),
        (has_inc, "n.incumbent", "'rank {}, deleted: displaced by higher-priority candidates', n._rk"),
        (capped, "n._sel_raw", "'rank {}, not added: at most {} changes per review', n._rk, n._lim"),
        (buf, "n._rk <= n._n", "'rank {}, not added: newcomers must rank within {}', n._rk, n._b_new"),
    ]
    reason = " ".join(f"WHEN {c} THEN format({f})" for on, c, f in whens if on)
    return {
        "rank": "coalesce(n._rk, n.rank)",
        "selected": f"CASE WHEN n._rk IS NULL THEN n.selected ELSE {chosen} END",
        "stage": "CASE WHEN n._rk IS NULL THEN n.stage ELSE 'selection' END",
        "status": f"""CASE WHEN n._rk IS NULL THEN n.status
               WHEN {chosen} AND n.incumbent THEN 'retained' WHEN {chosen} THEN 'added'
               WHEN n.incumbent THEN 'deleted' ELSE '' END""",
        "reason": f"""CASE WHEN n._rk IS NULL THEN n.reason {reason}
            ELSE format('rank {{}}, outside the {count} places', n._rk) END""",
    }


def _finish_sql(m: Methodology, src: dict[str, str], frm: str, hidden: dict[str, str] | None = None) -> str:
    """The finished candidate table, ordered by rank then code, from the column expressions
    `src` over `frm`: incumbents no longer candidates marked deleted, and each constituent's
    weighting base (price x shares x tier factor) in the working columns _wbase, _wfactor,
    followed by the working columns `hidden` (name: expression).

    Each expression is written once, in an inner select, and the outer one reads its columns:
    DuckDB binds every copy of an expression, and binding is most of the cost of a review's
    few thousand rows."""
    shares, factor = weighting_sql(m.weighting, "_ratio")
    ratio = f", {src['shares_ff']} / nullif({src['shares_total']}, 0) AS _ratio" if factor != "1.0" else ""
    wbase = "1.0" if shares is None else f"last_close * {_q(shares)} * _f"
    inner = []
    for c, e in src.items():
        if c == "_st":
            continue
        if c in ("selected", "incumbent"):
            e = f"coalesce({e}, false)"
        inner.append(e if e.endswith(f".{_q(c)}") else f"{e} AS {_q(c)}")  # a column keeps its name
    hidden = hidden or {}
    inner += [f"{e} AS {c}" for c, e in hidden.items()]
    # incumbents that are no longer candidates (delisted, moved board, no data) are deleted
    out = (f"* EXCLUDE (_gone, _f{''.join(', ' + c for c in hidden)}) REPLACE ("
           "CASE WHEN _gone THEN 'deleted' ELSE coalesce(status, '') END AS status, "
           "CASE WHEN _gone THEN 'deleted: ' || reason ELSE reason END AS reason), "
           "CAST(NULL AS DOUBLE) AS weight, CAST(NULL AS DOUBLE) AS inclusion_factor, CAST(NULL AS DOUBLE) AS cap_factor, "
           f"CASE WHEN selected THEN {wbase} END AS _wbase, CASE WHEN selected THEN _f END AS _wfactor"
           + "".join(f", {c}" for c in hidden))
    return (f"SELECT {out} FROM (SELECT *{' EXCLUDE (_ratio)' if ratio else ''}, "
            f"incumbent AND rank IS NULL AND NOT selected AS _gone, {factor} AS _f "
            f"FROM (SELECT {', '.join(inner)}{ratio} FROM {frm})) ORDER BY rank NULLS LAST, code")


def _allocate(n: int, share: dict[str, float], floor_: dict[str, int], avail: dict[str, int]) -> dict[str, int]:
    """Places per group: `n` split in proportion to `share` by largest remainder, at least
    `floor_` (leaders already in) and at most `avail` (stocks there are) per group."""
    groups = sorted(share)
    total = sum(share.values()) or 1.0
    target = {g: n * share[g] / total for g in groups}
    q = {g: min(avail[g], max(floor_.get(g, 0), int(np.floor(target[g])))) for g in groups}
    # hand out or take back places one at a time, by the largest gap to the target
    for _ in range(10 * n + len(groups) + 10):
        diff = n - sum(q.values())
        if diff == 0:
            break
        if diff > 0:
            cands = [g for g in groups if q[g] < avail[g]]
            if not cands:
                break
            g = max(cands, key=lambda x: (target[x] - q[x], share[x], x))
            q[g] += 1
        else:
            cands = [g for g in groups if q[g] > floor_.get(g, 0)]
            if not cands:
                break
            g = max(cands, key=lambda x: (q[x] - target[x], -share[x], x))
            q[g] -= 1
    return q


def _industry_select(m: Methodology, ctx: Context, order: str, has_inc: bool, warnings: list[str], n: int) -> None:
    """Industry-balanced selection of `n` places: places per industry, leaders first,
    buffers scaled to each industry's places, the best-ranked fill the rest."""
    con = ctx.store.con
    sel = m.selection
    ib = sel.industry_balance
    assert ib is not None
    grp = f"coalesce({ib.level}_code, '?')"
    alloc = _q(ib.allocate_by)
    # the leader of each finer industry is its best-ranked stock, if it ranks within the
    # leaders' line (an industry whose best stock ranks below it has no leader)
    leader = (f"row_number() OVER (PARTITION BY coalesce({ib.leaders}_code, code) ORDER BY {order}) = 1"
              if ib.leaders else "false")
    if ib.leaders_within is not None:
        leader = f"({leader}) AND row_number() OVER (ORDER BY {order}) <= {int(ib.leaders_within)}"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ir_s AS
        SELECT code, {grp} AS grp, row_number() OVER (ORDER BY {order}) AS rank,
               row_number() OVER (PARTITION BY {grp} ORDER BY {order}) AS grank,
               {leader} AS leader,
               code IN (SELECT code FROM _ir_x) AS inc,
               coalesce({alloc}, 0) AS alloc
        FROM _ir_c WHERE reason IS NULL"""
    )
    rows = con.execute(
        "SELECT grp, sum(alloc), count(*), count(*) FILTER (WHERE leader) FROM _ir_s GROUP BY grp ORDER BY grp"
    ).fetchall()
    if not rows:
        _apply_selection(con, _industry_update_sql(n))
        return
    share = {r[0]: float(r[1] or 0.0) for r in rows}
    avail = {r[0]: int(r[2]) for r in rows}
    leaders = {r[0]: int(r[3]) for r in rows}
    if ib.allocate_over == "sample_space":
        # the shares of the whole sample space (every stock past the universe rules, the
        # screened-out ones too); an industry with no stock left to rank gets no places
        share = {g: float(v or 0.0) for g, v in con.execute(
            f"SELECT {grp}, sum(coalesce({alloc}, 0)) FROM _ir_c "
            "WHERE stage IS DISTINCT FROM 'universe' GROUP BY 1 ORDER BY 1").fetchall()}
        for g in share:
            avail.setdefault(g, 0)
        for g in avail:
            share.setdefault(g, 0.0)
    if sum(leaders.values()) > n:
        warnings.append(
            f"{sum(leaders.values())} industry leaders ({ib.leaders}) exceed the {n} places: "
            "the best-ranked leaders are kept"
        )
        leaders = {g: 0 for g in leaders}
        con.execute(
            f"UPDATE _ir_s SET leader = leader AND code IN (SELECT code FROM _ir_s WHERE leader ORDER BY rank LIMIT {n})"
        )
        for g, c in con.execute("SELECT grp, count(*) FROM _ir_s WHERE leader GROUP BY grp").fetchall():
            leaders[g] = int(c)
    quota = _allocate(n, share, leaders, avail)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _ir_q AS SELECT unnest($g::VARCHAR[]) AS grp, unnest($q::BIGINT[]) AS q",
        {"g": list(quota), "q": [quota[g] for g in quota]},
    )
    b = sel.buffer
    # the buffer lines scaled to each industry's places, whole numbers (for the reasons too)
    bn = f"CAST(ceil(q * {b.newcomers_within / sel.count!r}) AS BIGINT)" if b else "q"
    bi = f"CAST(ceil(q * {b.incumbents_within / sel.count!r}) AS BIGINT)" if b else "q"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ir_s AS
        WITH t AS (
          -- tier 1: newcomers within the newcomer line and incumbents within the incumbent
          -- line (both the industry's places without a buffer), so no newcomer ranked
          -- below an incumbent of its industry takes the incumbent's place
          SELECT s.*, q.q, {bn} AS b_new, {bi} AS b_inc,
                 CASE WHEN leader THEN 0
                      WHEN inc AND grank <= {bi} THEN 1
                      WHEN NOT inc AND grank <= {bn} THEN 1 ELSE 2 END AS tier
          FROM _ir_s s JOIN _ir_q q USING (grp))
        SELECT *, row_number() OVER (PARTITION BY grp ORDER BY tier, grank) <= q AS selected FROM t"""
    )
    lim = None
    if sel.max_changes_pct is not None and has_inc:
        lim = int(np.floor(sel.count * sel.max_changes_pct / 100 + 1e-9))
        _industry_change_cap(con, lim)
    _apply_selection(con, _industry_update_sql(n, bool(b and has_inc), has_inc, lim))


def _industry_change_cap(con: Any, lim: int) -> None:
    """At most `lim` newcomers enter, the best-ranked first; each place a held-back newcomer
    leaves goes to its own industry's best-ranked displaced incumbent, so the industry keeps
    its places. An industry with no displaced incumbent left keeps its newcomers (the places
    are filled, as the cap yields to the count without industries too)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ir_s AS
        WITH a AS (
          SELECT *, CASE WHEN selected AND NOT inc THEN
                   row_number() OVER (PARTITION BY selected AND NOT inc ORDER BY rank) END > {lim} AS over
          FROM _ir_s),
        g AS (SELECT grp, count(*) FILTER (WHERE over) AS dropped,
                     count(*) FILTER (WHERE inc AND NOT selected) AS spare FROM a GROUP BY grp),
        c AS (
          SELECT a.*, least(g.dropped, g.spare) AS refill, g.dropped,
                 CASE WHEN inc AND NOT selected THEN row_number() OVER (PARTITION BY grp, inc AND NOT selected
                                                                        ORDER BY grank) END AS irank,
                 CASE WHEN over THEN row_number() OVER (PARTITION BY grp, over ORDER BY grank) END AS orank
          FROM a JOIN g USING (grp))
        SELECT * EXCLUDE (over, refill, dropped, irank, orank) REPLACE (
                 CASE WHEN over THEN orank <= dropped - refill
                      WHEN inc AND NOT selected THEN coalesce(irank <= refill, false) ELSE selected END AS selected),
               coalesce(over AND orank > dropped - refill, false) AS capped_out,
               coalesce(inc AND NOT selected AND irank <= refill, false) AS capped_in
        FROM c"""
    )


def _industry_update_sql(n: int, buf: bool = False, has_inc: bool = False, lim: int | None = None) -> str:
    bi = "TRUE" if buf else "FALSE"
    capped = (f"""WHEN s.capped_in THEN format('rank {{}} ({{}} in industry {{}}), kept: at most {lim} changes per review',
                                               s.rank, s.grank, s.grp)
        WHEN s.capped_out THEN format('rank {{}} ({{}} in industry {{}}), not added: at most {lim} changes per review',
                                      s.rank, s.grank, s.grp)""" if lim is not None else "")
    return f"""
    SELECT s.code, s.rank, s.inc, s.selected,
      CASE WHEN s.selected AND s.inc THEN 'retained' WHEN s.selected THEN 'added'
           WHEN s.inc THEN 'deleted' ELSE '' END AS status,
      CASE
        {capped}
        WHEN s.selected AND s.leader THEN format('rank {{}}, selected: the largest of its industry', s.rank)
        WHEN s.selected AND s.inc AND s.grank > s.q AND {bi}
          THEN format('rank {{}} ({{}} in industry {{}}), kept by incumbent buffer {{}} of its {{}} places',
                      s.rank, s.grank, s.grp, s.b_inc, s.q)
        WHEN s.selected THEN format('rank {{}} ({{}} in industry {{}}), within its {{}} places',
                                    s.rank, s.grank, s.grp, s.q)
        WHEN s.inc THEN format('rank {{}} ({{}} in industry {{}}), deleted: outside its {{}} places',
                               s.rank, s.grank, s.grp, s.q)
        ELSE format('rank {{}} ({{}} in industry {{}}), outside its {{}} places', s.rank, s.grank, s.grp, s.q) END
        AS reason
    FROM _ir_s s"""


def _order(m: Methodology, code: str = "code") -> str:
    """The ranking order: the rank metric, then the tie-breaks, then the code (`code`: a
    column that sorts as the code does, e.g. an integer numbering the codes in code order).
    A tie-break follows the rank's direction (a small-cap ranking breaks its ties by the
    smaller value), except under a composite rank: that is lower-is-better, its tie-breaks
    (cap, turnover) are metrics where the larger value wins."""
    sel = m.selection
    direction = "ASC" if sel.order == "asc" else "DESC"
    ties = "DESC" if sel.rank_by == "composite_rank" else direction
    return ", ".join(
        [f"{_q(sel.rank_by)} {direction} NULLS LAST", *(f"{_q(t)} {ties} NULLS LAST" for t in sel.tie_break), code]
    )


def _apply_selection(con: Any, select_sql: str) -> None:
    """Record rank, status and reason of every ranked stock. The values are computed by a
    SELECT and the table rebuilt with them: DuckDB updates thousands of distinct strings far
    more slowly in place (an UPDATE ... FROM) than it writes them into a new table."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _ir_u AS {select_sql}")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _ir_c AS SELECT c.* REPLACE (
             coalesce(u.rank, c.rank) AS rank, coalesce(u.inc, c.incumbent) AS incumbent,
             coalesce(u.selected, c.selected) AS selected,
             CASE WHEN u.code IS NULL THEN c.stage ELSE 'selection' END AS stage,
             coalesce(u.status, c.status) AS status, coalesce(u.reason, c.reason) AS reason)
           FROM _ir_c c LEFT JOIN _ir_u u USING (code)"""
    )
    con.execute("DROP TABLE IF EXISTS _ir_u")
