"""Probabilities that each candidate is in the index after a review, from a stated model.

The model (one Monte Carlo, `paths` paths, a fixed seed):

(a) Data still to come. A forecast made before the data cutoff has the window so far; each
    stock's remaining trading days are simulated from its own behaviour in the window: its
    total market cap follows a driftless log random walk with the stock's daily volatility
    of log returns, and its daily turnover is its window average turnover (amount / cap)
    times a lognormal day factor with the stock's own daily spread of log amount. The
    window averages are then (days so far x average so far + the simulated days) / all days.
    A forecast at or after the cutoff has no (a).
(b) Share counts. Every cap metric is multiplied per path and stock by a lognormal factor of
    spread `SIGMA_SHARES` (our share counts are estimates).
(c) Provider judgement. The ranking metric gets a further lognormal factor of spread
    `SIGMA_RESIDUAL`, and the probability is kept `EPSILON` away from 0 and 1; both are
    calibrated on past reviews (scripts/calibrate_forecast.py, figures in
    docs/validation.md), not tuned on the reviews they are scored on.

On each path the methodology's rank-based screens, ranking, buffer and change cap are
applied again (numpy over a paths x stocks matrix, mirroring engine._select_steps); rules
that do not depend on the simulated metrics (listing age, ST, dependencies' members) keep
the engine's outcome. The probability is the share of paths in which the stock is selected.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..engine import cache as depcache

if TYPE_CHECKING:
    from ..results.review import ReviewResult

# calibrated on the CSI 300 / 500 / 1000 reviews 2022-12, 2023-06, 2023-12 (official
# incumbents) by scripts/calibrate_forecast.py; docs/validation.md has the grid and scores
SIGMA_SHARES = 0.02  # (b) assumed spread of our total-share estimates (not measured)
SIGMA_RESIDUAL = 0.1  # (c) calibrated
EPSILON = 0.02  # (c) calibrated
PATHS = 300
SEED = 0
_CHUNK = 50  # paths simulated at once (memory: chunk x stocks x remaining days)

CAP_METRICS = {"avg_total_cap", "avg_float_cap", "avg_free_float_cap"}
POINT_CAP_METRICS = {"total_cap", "float_cap", "free_float_cap"}
AMOUNT_METRICS = {"avg_amount", "avg_turnover_rate"}
SIMULATED = CAP_METRICS | POINT_CAP_METRICS | AMOUNT_METRICS
RANK_SCREENS = ("drop_bottom_pct", "keep_top_pct", "keep_top_n", "drop_top_n")


@dataclass
class Forecast:
    """Probabilities of a review's candidates, and how they were made."""

    review: str
    probability: dict[str, float]
    rank: dict[str, int | None]
    candidate_codes: list[str]
    remaining_days: int
    paths: int
    seed: int
    sigma_shares: float
    sigma_residual: float
    epsilon: float
    simulated: bool = True
    warnings: list[str] = field(default_factory=list)

    def candidates(self) -> list[dict[str, Any]]:
        """Every stock ranked within twice the index size and every current member."""
        return [{"code": c, "rank": self.rank.get(c), "probability": self.probability[c]} for c in self.candidate_codes]

    def model(self) -> dict[str, Any]:
        return {"paths": self.paths, "seed": self.seed, "remaining_days": self.remaining_days,
                "sigma_shares": self.sigma_shares, "sigma_residual": self.sigma_residual,
                "epsilon": self.epsilon, "simulated": self.simulated}


def remaining_trading_days(res: ReviewResult) -> tuple[int, dt.date]:
    """Trading days between the result's data cutoff and the review's scheduled cutoff
    (weekdays past the store's end), and that scheduled cutoff."""
    from ..engine import context
    from ..methodology.schedule import review_dates

    assert res.store is not None
    cal = context(res.store).cal
    if res.methodology.schedule.frequency == "daily":
        return 0, res.dates.cutoff
    sched = review_dates(res.methodology, cal, res.dates.review).cutoff
    n, d = 0, res.dates.cutoff
    while d < sched:  # at most a few months of days: the calendar walk, not the stocks
        d = cal.after(d)
        if d <= sched:
            n += 1
    return n, sched


def _daily_spreads(res: ReviewResult, codes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per code: the daily volatility of log close-to-close returns and the spread of log
    amount over the window so far (bounded by the data cutoff). Day-to-day moves beyond
    the widest price limit (30%) are share events, not returns, and are left out."""
    assert res.store is not None
    rows = dict((r[0], r[1:]) for r in res.store.con.execute(
        """
        WITH b AS (SELECT code, date, close, amount,
                          ln(close / lag(close) OVER (PARTITION BY code ORDER BY date)) AS r
                   FROM bars WHERE date BETWEEN $start AND $cutoff AND code IN (SELECT unnest($codes::VARCHAR[]))
                     AND close > 0 AND amount > 0)
        SELECT code, coalesce(stddev_samp(r) FILTER (WHERE abs(r) < 0.35), 0.03),
               coalesce(stddev_samp(ln(amount)), 0.5)
        FROM b GROUP BY code
        """,
        {"start": res.dates.window_start, "cutoff": res.dates.cutoff, "codes": codes},
    ).fetchall())
    vol = np.array([rows.get(c, (0.03, 0.5))[0] for c in codes], dtype=float)
    spread = np.array([rows.get(c, (0.03, 0.5))[1] for c in codes], dtype=float)
    return np.nan_to_num(vol, nan=0.03), np.nan_to_num(spread, nan=0.5)


def _col(res: ReviewResult, name: str, idx: np.ndarray) -> np.ndarray:
    vals = res.table.column(name) if name in res.table.columns else [None] * len(res.table)
    return np.array([np.nan if vals[i] is None else float(vals[i]) for i in idx], dtype=float)


def _ranks(key: np.ndarray) -> np.ndarray:
    """1-based ranks along axis 1 of a lower-is-better key (NaN: no rank, as inf)."""
    return _ranks_order(key)[0]


def _ranks_order(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`_ranks` and the rank order itself: the stable argsort of those ranks (the ranked in
    rank order, then the unranked in place order), which `_ordered_cumsum` walks."""
    k = np.where(np.isfinite(key), key, np.inf)
    order = np.argsort(k, axis=1, kind="stable")
    rk = np.empty_like(order)
    np.put_along_axis(rk, order, np.arange(1, k.shape[1] + 1)[None, :].repeat(k.shape[0], 0), axis=1)
    return np.where(np.isfinite(k), rk, np.iinfo(np.int64).max).astype(np.int64), order


def _ordered_cumsum(mask: np.ndarray, order: np.ndarray) -> np.ndarray:
    """For each row, the running count of `mask` in rank order (`order`), at each element."""
    cs = np.cumsum(np.take_along_axis(mask, order, axis=1), axis=1)
    out = np.empty_like(cs)
    np.put_along_axis(out, order, cs, axis=1)
    return out


def select_paths(key: np.ndarray, inc: np.ndarray, count: int, buffer: tuple[int, int] | None,
                 max_changes_pct: float | None, held: int = 0) -> np.ndarray:
    """The buffered selection with the change cap on every path (rows of `key`, lower is
    better, NaN unranked): engine._select_steps in numpy."""
    rk, order = _ranks_order(key)
    ranked = np.isfinite(key)
    has_inc = bool(inc.any())
    n = max(count - held, 0)
    if buffer is not None and has_inc:
        b_new, b_inc = min(buffer[0], n), buffer[1]
        tier0 = ranked & ((inc[None, :] & (rk <= b_inc)) | (~inc[None, :] & (rk <= b_new)))
        prio = np.where(ranked, np.where(tier0, 0, 1) * (key.shape[1] + 1) + rk, np.iinfo(np.int64).max)
        sel_raw = ranked & (_ranks(prio.astype(float)) <= n)
    else:
        sel_raw = ranked & (rk <= n)
    if max_changes_pct is None or not has_inc:
        return sel_raw
    ninc = (ranked & inc[None, :]).sum(axis=1, keepdims=True)
    lim = np.maximum(int(np.floor(count * max_changes_pct / 100 + 1e-9)), n - ninc)
    new_raw = sel_raw & ~inc[None, :]
    keep_new = new_raw & (_ordered_cumsum(new_raw, order) <= lim)
    c_inc = (sel_raw & inc[None, :]).sum(axis=1, keepdims=True)
    c_new = new_raw.sum(axis=1, keepdims=True)
    displaced = ranked & inc[None, :] & ~sel_raw
    back = displaced & (_ordered_cumsum(displaced, order) <= n - c_inc - np.minimum(lim, c_new))
    return (sel_raw & inc[None, :]) | keep_new | back


def forecast_review(res: ReviewResult, *, paths: int = PATHS, seed: int = SEED,
                    sigma_shares: float = SIGMA_SHARES, sigma_residual: float = SIGMA_RESIDUAL,
                    epsilon: float = EPSILON) -> Forecast:
    """The probabilities of a review's candidates (see the module docstring)."""
    m = res.methodology
    sel = m.selection
    t = res.table
    codes = t.column("code")
    selected = np.array([bool(s) for s in t.column("selected")])
    inc_all = np.array([bool(s) for s in t.column("incumbent")])
    rank = dict(zip(codes, t.column("rank"), strict=True))
    cand = sorted((c for c, r, i in zip(codes, t.column("rank"), inc_all, strict=True)
                   if i or (r is not None and r <= 2 * sel.count)), key=lambda c: (rank[c] is None, rank[c] or 0, c))
    remaining, _ = remaining_trading_days(res)
    warnings: list[str] = []
    plain = {c: float(s) for c, s in zip(codes, selected, strict=True)}
    unsupported = [w for w, on in (("industry_balance", sel.industry_balance is not None),
                                   ("composite_rank", sel.composite is not None),
                                   ("all_eligible", sel.all_eligible)) if on]
    base = dict(review=res.dates.review, rank=rank, candidate_codes=cand, remaining_days=remaining, paths=paths,
                seed=seed, sigma_shares=sigma_shares, sigma_residual=sigma_residual, epsilon=epsilon)
    if unsupported:
        warnings.append(f"probabilities are the plain rule (0 or 1): the simulation does not model {', '.join(unsupported)}")
        return Forecast(probability={c: plain[c] for c in cand}, simulated=False, warnings=warnings, **base)  # type: ignore[arg-type]

    # the side-file results cache: the simulation is a function of the review's table (its
    # own key, noted when it was computed or read), its rules and dates, the store's data
    # (the window's spreads) and the model's parameters
    ck = None
    tk = depcache.key_of(t)
    if tk is not None and res.store is not None:
        ck = depcache.key(res.store, "forecast", tk, m.model_dump(mode="json"), asdict(res.dates),
                          list(res.incumbents), paths, seed, sigma_shares, sigma_residual, epsilon, remaining)
    hit = depcache.get(ck)
    if isinstance(hit, dict) and set(hit) == set(cand):
        return Forecast(probability=hit, warnings=warnings, **base)  # type: ignore[arg-type]
    probs = _simulate(res, cand, plain, remaining, paths, seed, sigma_shares, sigma_residual, epsilon)
    depcache.put(ck, probs)
    return Forecast(probability=probs, warnings=warnings, **base)  # type: ignore[arg-type]


def _simulate(res: ReviewResult, cand: list[str], plain: dict[str, float], remaining: int, paths: int, seed: int,
              sigma_shares: float, sigma_residual: float, epsilon: float) -> dict[str, float]:
    """The probabilities of `cand` from the paths (see the module docstring)."""
    m = res.methodology
    sel = m.selection
    t = res.table
    codes = t.column("code")
    stage = t.column("stage")
    selected = np.array([bool(s) for s in t.column("selected")])
    inc_all = np.array([bool(s) for s in t.column("incumbent")])
    screens = [(i, s) for i, s in enumerate(m.screens, 1) if s.type in RANK_SCREENS
               or (s.type in ("min_value", "max_value") and s.metric in SIMULATED)]
    # every screen's stocks join the paths: a screen the paths do not simulate keeps the
    # engine's decision at its place in the order, so the rank screens before it still rank
    # the stocks it drops later (CSI 300's loss-making newcomers count in its liquidity cut)
    simulated = {i for i, _ in screens}
    redo = {"selection", *(f"screen {i}" for i in range(1, len(m.screens) + 1))}
    ranks = t.column("rank")
    # selected without a rank (incumbents without data) keep their place on every path
    kept = [i for i, s in enumerate(selected) if s and ranks[i] is None]
    pool_idx = np.array([i for i, s in enumerate(stage) if s in redo and not (selected[i] and ranks[i] is None)],
                        dtype=np.int64)
    ss_idx = np.array([i for i, s in enumerate(stage) if s == "membership"], dtype=np.int64)
    idx = np.concatenate([pool_idx, ss_idx])
    in_pool = np.concatenate([np.ones(len(pool_idx), bool), np.zeros(len(ss_idx), bool)])
    dropped_at = np.array([int(stage[i].split()[1]) if stage[i].startswith("screen ") else 0 for i in idx],
                          dtype=np.int64)
    inc = inc_all[idx] & in_pool
    held = len(kept)
    metrics = sorted({sel.rank_by, *(s.metric for _, s in screens)})
    values = {k: _col(res, k, idx) for k in metrics}
    if sel.tilt is not None:  # the engine ranks by rank_by times the tilt (1 where a stock has none)
        values[sel.rank_by] = values[sel.rank_by] * np.nan_to_num(_col(res, sel.tilt.metric, idx), nan=1.0)
    pool_codes = [codes[i] for i in idx]
    days_so_far = np.nan_to_num(_col(res, "traded_days", idx), nan=0.0)
    cap_last = _col(res, "total_cap", idx)
    avg_cap = _col(res, "avg_total_cap", idx)
    avg_amt = _col(res, "avg_amount", idx)
    if remaining > 0:
        vol, spread = _daily_spreads(res, pool_codes)
        turn = np.where(avg_cap > 0, avg_amt / avg_cap, np.nan)
    rng = np.random.default_rng(seed)
    hits = np.zeros(len(idx))
    n_stock = len(idx)
    order_sign = -1.0 if sel.order == "desc" else 1.0
    for start in range(0, paths, _CHUNK):
        p = min(_CHUNK, paths - start)
        share_err = np.exp(sigma_shares * rng.standard_normal((p, n_stock)) - sigma_shares ** 2 / 2)
        resid = np.exp(sigma_residual * rng.standard_normal((p, n_stock)) - sigma_residual ** 2 / 2)
        f_cap = np.ones((p, n_stock))
        f_pt = np.ones((p, n_stock))
        f_amt = np.ones((p, n_stock))
        if remaining > 0:
            z = rng.standard_normal((p, n_stock, remaining)).astype(np.float32)
            walk = np.exp(np.cumsum(z, axis=2) * vol[None, :, None].astype(np.float32)
                          - (vol[None, :, None] ** 2 / 2 * np.arange(1, remaining + 1)[None, None, :]).astype(np.float32))
            day = np.exp(spread[None, :, None] * rng.standard_normal((p, n_stock, remaining)).astype(np.float32)
                         - spread[None, :, None] ** 2 / 2)
            caps = cap_last[None, :, None] * walk
            fut_cap = caps.sum(axis=2)
            fut_amt = (turn[None, :, None] * caps * day).sum(axis=2)
            total = days_so_far + remaining
            with np.errstate(invalid="ignore", divide="ignore"):
                f_cap = np.where(avg_cap > 0, (days_so_far * avg_cap + fut_cap) / total / avg_cap, 1.0)
                f_amt = np.where(avg_amt > 0, (days_so_far * avg_amt + fut_amt) / total / avg_amt, 1.0)
                f_pt = walk[:, :, -1]
            f_cap, f_amt, f_pt = (np.nan_to_num(f, nan=1.0) for f in (f_cap, f_amt, f_pt))
        sim: dict[str, np.ndarray] = {}
        for k in metrics:
            v = np.broadcast_to(values[k], (p, n_stock)).copy()
            if k in CAP_METRICS:
                v *= f_cap * share_err
            elif k in POINT_CAP_METRICS:
                v *= f_pt * share_err
            elif k in AMOUNT_METRICS:
                v *= f_amt
            sim[k] = v
        sim[sel.rank_by] = sim[sel.rank_by] * resid
        alive = np.broadcast_to(in_pool, (p, n_stock)).copy()
        for i, s in enumerate(m.screens, 1):
            if i not in simulated:
                alive &= (dropped_at != i)[None, :]
                continue
            v = sim[s.metric]
            exempt = inc[None, :] if s.applies_to == "newcomers" else np.zeros((1, n_stock), bool)
            fails = ~np.isfinite(v)
            # incumbents are held to their own threshold where the screen gives them one
            cut = np.where(inc, s.incumbents_value, s.value)[None, :] if s.incumbents_value is not None else s.value
            if s.type in ("min_value", "max_value"):
                fails |= (v < cut) if s.type == "min_value" else (v > cut)
            else:
                scope = alive | (~in_pool[None, :] if s.scope == "sample_space" else False)
                scope &= np.isfinite(v)
                r = _ranks(np.where(scope, -v, np.nan))  # ranks count from the top
                npool = scope.sum(axis=1, keepdims=True)
                if s.type == "drop_bottom_pct":
                    keep = npool - np.floor(npool * cut / 100)
                elif s.type == "keep_top_pct":
                    keep = np.ceil(npool * cut / 100)
                else:
                    keep = np.floor(np.broadcast_to(cut, (1, n_stock)))
                fails |= scope & ((r <= keep) if s.type == "drop_top_n" else (r > keep))
            alive &= ~(fails & ~exempt)
        key = np.where(alive, order_sign * sim[sel.rank_by], np.nan)
        buf = (sel.buffer.newcomers_within, sel.buffer.incumbents_within) if sel.buffer else None
        chosen = select_paths(key, inc, sel.count, buf, sel.max_changes_pct, held)
        hits += chosen.sum(axis=0)
    prob = dict(plain)
    for c, h, ok in zip(pool_codes, hits, in_pool, strict=True):
        if ok:
            prob[c] = float(h / paths)
    return {c: float(epsilon + (1 - 2 * epsilon) * prob[c]) for c in cand}


def brier(prob: dict[str, float], actual: set[str]) -> float:
    """Mean squared difference between the probabilities and the outcome (1 in, 0 out)."""
    if not prob:
        return float("nan")
    return float(np.mean([(p - (c in actual)) ** 2 for c, p in prob.items()]))


def score_change(res: ReviewResult, official: set[str], fc: Forecast | None = None) -> dict[str, Any]:
    """The predicted change against the official one (the brokers' measure): precision and
    recall of the adds and of the deletes (relative to the review's incumbents), and with a
    forecast the Brier score of its probabilities and of the plain rule over its candidates."""
    before = set(res.incumbents)
    ours = set(res.codes)

    def pr(pred: set[str], actual: set[str]) -> dict[str, Any]:
        hit = len(pred & actual)
        return {"predicted": len(pred), "actual": len(actual), "hit": hit,
                "precision": hit / len(pred) if pred else None, "recall": hit / len(actual) if actual else None}

    out: dict[str, Any] = {"adds": pr(ours - before, official - before), "deletes": pr(before - ours, before - official)}
    if fc is not None:
        plain = {c: float(c in ours) for c in fc.candidate_codes}
        out["brier"] = brier(fc.probability, official)
        out["brier_plain"] = brier(plain, official)
        out["brier_candidates"] = len(fc.candidate_codes)
    return out
