"""The rebalance as a desk sees it: the index priced on a chosen day before the change
(pro-forma weights, with the methodology's inclusion factors and caps) and the passive
flows an AUM tracking it must trade, in board lots, with the days of volume they take.

Both the current index and the new one are priced here the same way on the same day: the
close on (or last before) the price date times the methodology's weighting shares known on
that day (`weights.weighting_sql`, as the engine uses it), then the caps of
`weights.cap_weights`. The current index's own cap factors from its last review are not in
the store, so its weights are those of its members priced by the same rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..engine.weighting import cap_weights, methodology_caps, weighting_sql
from ..errors import IndexReconError, StoreError

if TYPE_CHECKING:
    from ..data.store import Store
    from ..results.review import ReviewResult

ADV_DAYS = 20  # average daily volume over the last 20 trading days up to the price date


def default_price_date(res: ReviewResult, asked: dt.date | None = None,
                       not_after: dt.date | None = None) -> tuple[dt.date, list[str]]:
    """The day the new index is priced on and notes about it: by default the last trading day
    in the store before the effective date, clipped to the store's last day and to
    `not_after` (a forecast's as-of day), with a note; an asked day must lie before the
    effective date, within the store and not after `not_after`."""
    store = _store(res)
    first, last = store.con.execute("SELECT min(date), max(date) FROM calendar").fetchone()  # type: ignore[misc]
    eff = res.dates.effective
    notes: list[str] = []
    if asked is not None:
        if asked >= eff:
            raise IndexReconError(f"--price-date {asked} must be before the effective date {eff}")
        if asked < first:
            raise StoreError(f"--price-date {asked} is before the store's first trading day {first}")
        if asked > last:
            raise StoreError(f"--price-date {asked} is after the store's last trading day {last}")
        if not_after is not None and asked > not_after:
            raise IndexReconError(f"--price-date {asked} is after the forecast's as-of day {not_after}")
        day = store.con.execute("SELECT max(date) FROM calendar WHERE date <= ?", [asked]).fetchone()[0]  # type: ignore[index]
        if day != asked:
            notes.append(f"price date {asked} is not a trading day: priced on {day}")
        return day, notes
    day = store.con.execute("SELECT max(date) FROM calendar WHERE date < ?", [eff]).fetchone()[0]  # type: ignore[index]
    if day is None:
        raise StoreError(f"the store has no trading day before the effective date {eff}")
    if not_after is not None and day > not_after:
        day = store.con.execute("SELECT max(date) FROM calendar WHERE date <= ?", [not_after]).fetchone()[0]  # type: ignore[index]
        notes.append(f"price date clipped to the forecast's as-of day {day} (the last trading day before the "
                     f"effective date {eff} is later: prices after {day} are not used)")
    elif last < eff and day == last:
        notes.append(f"price date clipped to the store's last day {last}: the store ends before the last trading "
                     f"day before the effective date {eff}")
    return day, notes


def _store(res: ReviewResult) -> Store:
    if res.store is None:
        raise IndexReconError("this review has no store attached to price it")
    return res.store


def priced_rows(res: ReviewResult, codes: list[str], day: dt.date) -> dict[str, dict[str, Any]]:
    """Per code: close on (or last before) `day`, its date, the weighting base (close x the
    methodology's weighting shares on `day` x tier factor), board, industry, and the average
    daily volume over the last ADV_DAYS trading days up to `day` (days with a bar)."""
    store = _store(res)
    shares, factor = weighting_sql(res.methodology.weighting, "shares_ff / nullif(shares_total, 0)")
    base = "CASE WHEN close > 0 THEN 1.0 END" if shares is None else f"close * {shares} * ({factor})"
    # the last close is looked for among the ADV days first (a scan of a few weeks of bars,
    # not of their whole history); a code without a bar there (suspended) has the whole
    # history read for it: the same close either way
    row = store.con.execute(f"SELECT min(date) FROM (SELECT date FROM calendar WHERE date <= $d "
                            f"ORDER BY date DESC LIMIT {ADV_DAYS})", {"d": day}).fetchone()
    recent = row[0] if row and row[0] is not None else None
    rows = _priced(store, base, factor, list(codes), day, recent)
    if recent is not None and any(r[2] is None for r in rows):
        rows = _priced(store, base, factor, list(codes), day, None)
    ind = dict(zip(res.table.column("code"), res.table.column("sw_l1_code"), strict=True))
    keys = ("close", "bar_date", "base", "inclusion_factor", "adv", "adv_days", "board")
    return {r[0]: {**dict(zip(keys, r[1:], strict=True)), "industry": ind.get(r[0])} for r in rows}


def _priced(store: Store, base: str, factor: str, codes: list[str], day: dt.date,
            since: dt.date | None) -> list[tuple[Any, ...]]:
    """The rows of `priced_rows`, the last close looked for from `since` (None: all history)."""
    rows = store.con.execute(
        f"""
        WITH c AS (SELECT DISTINCT unnest($codes::VARCHAR[]) AS code),
        days AS (SELECT date FROM calendar WHERE date <= $d ORDER BY date DESC LIMIT {ADV_DAYS}),
        px AS (SELECT code, arg_max(close, date) AS close, max(date) AS bar_date FROM bars
               WHERE date <= $d {"AND date >= $since" if since is not None else ""}
                 AND code IN (SELECT code FROM c) GROUP BY code),
        adv AS (SELECT code, avg(volume) AS adv, count(*) AS adv_days FROM bars
                WHERE date IN (SELECT date FROM days) AND code IN (SELECT code FROM c) GROUP BY code),
        sh AS (SELECT code, total_shares AS shares_total,
                      coalesce(float_shares, total_shares) AS shares_float,
                      coalesce(free_float_shares, float_shares, total_shares) AS shares_ff
               FROM shares WHERE effective_date <= $d AND code IN (SELECT code FROM c)
               QUALIFY row_number() OVER (PARTITION BY code ORDER BY effective_date DESC,
                       total_shares DESC NULLS LAST, float_shares DESC NULLS LAST,
                       free_float_shares DESC NULLS LAST) = 1),
        j AS (SELECT c.code, px.close, px.bar_date, sh.shares_total, sh.shares_float, sh.shares_ff,
                     adv.adv, adv.adv_days, s.board
              FROM c LEFT JOIN px USING (code) LEFT JOIN sh USING (code) LEFT JOIN adv USING (code)
              LEFT JOIN securities s USING (code))
        SELECT code, CAST(close AS DOUBLE) AS close, bar_date, CAST({base} AS DOUBLE) AS base,
               CAST({factor} AS DOUBLE) AS inclusion_factor, CAST(adv AS DOUBLE) AS adv, adv_days, board
        FROM j ORDER BY code
        """,
        {"codes": codes, "d": day, **({"since": since} if since is not None else {})},
    ).fetchall()
    return rows


def priced_weights(res: ReviewResult, priced: dict[str, dict[str, Any]], codes: list[str],
                   warnings: list[str], label: str) -> dict[str, float]:
    """Weights of `codes` from their priced bases with the methodology's caps (codes without
    a price or shares are left out, with a warning)."""
    ok = [c for c in sorted(codes) if (b := priced[c]["base"]) is not None and np.isfinite(b) and b > 0]
    bad = sorted(set(codes) - set(ok))
    if bad:
        warnings.append(f"{len(bad)} stock(s) of the {label} index have no price or shares on the price date "
                        f"(e.g. {bad[0]}): left without a weight")
    if not ok:
        return {}
    base = np.array([priced[c]["base"] for c in ok], dtype=float)
    caps = methodology_caps(res.methodology.weighting.caps, [priced[c]["industry"] for c in ok])
    return dict(zip(ok, cap_weights(base, **caps).tolist(), strict=True))


@dataclass
class DeskView:
    """Current and pro-forma weights of one review priced on `price_date`, and with an AUM
    the trades (signed shares in board lots, signed CNY) and their days of volume."""

    price_date: dt.date
    current: dict[str, float]
    pro_forma: dict[str, float]
    priced: dict[str, dict[str, Any]]
    aum: float | None = None
    trades: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def row(self, code: str) -> dict[str, Any]:
        """The desk columns of one stock."""
        out: dict[str, Any] = {"current_weight": self.current.get(code, 0.0),
                               "pro_forma_weight": self.pro_forma.get(code, 0.0)}
        if self.aum is not None:
            t = self.trades.get(code, {"trade_shares": 0, "trade_value": 0.0, "days_of_volume": 0.0})
            out.update({k: t[k] for k in ("trade_shares", "trade_value", "days_of_volume")})
        return out

    def trade_list(self) -> list[dict[str, Any]]:
        """Every stock whose weight changes, most days of volume first (then code)."""
        rows = [{"code": c, **self.priced[c], **self.row(c), "delta_weight": self.pro_forma.get(c, 0.0) - self.current.get(c, 0.0)}
                for c in self.trades]
        for r in rows:
            r.pop("base", None)
        return sorted(rows, key=lambda r: (-(r["days_of_volume"] if r["days_of_volume"] is not None else np.inf), r["code"]))

    def net_value(self) -> float:
        return float(sum(t["trade_value"] for t in self.trades.values()))


def desk_view(res: ReviewResult, price_date: dt.date | None = None, aum: float | None = None,
              not_after: dt.date | None = None) -> DeskView:
    """Price the review's current members and its new list on the price date; with `aum`
    (CNY tracking the index) the passive trades: aum x (pro-forma - current weight) / close,
    rounded to board lots, for every stock whose weight moves."""
    from ..data.market_rules import round_to_lots

    day, notes = default_price_date(res, price_date, not_after)
    warnings = list(notes)
    new = list(res.codes)
    current = sorted(set(res.incumbents))
    priced = priced_rows(res, sorted(set(new) | set(current)), day)
    stale = sorted(c for c, p in priced.items() if p["bar_date"] is not None and p["bar_date"] < day)
    if stale:
        warnings.append(f"{len(stale)} stock(s) did not trade on {day} (e.g. {stale[0]}): priced at their last close")
    cur_w = priced_weights(res, priced, current, warnings, "current")
    new_w = priced_weights(res, priced, new, warnings, "new")
    if not current:
        warnings.append("no incumbents: current weights are all 0")
    else:  # the index's own cap and inclusion factors of its last review are not in the store
        warnings.append(f"current weights: the {len(current)} current members priced on {day} by the "
                        "methodology's rules, not the index's published factors")
    view = DeskView(day, cur_w, new_w, priced, aum, warnings=warnings)
    if aum is None:
        return view
    if not (np.isfinite(aum) and aum > 0):
        raise IndexReconError(f"--aum must be a positive amount of CNY, got {aum}")
    moved = sorted(c for c in set(cur_w) | set(new_w) if abs(new_w.get(c, 0.0) - cur_w.get(c, 0.0)) > 1e-12)
    if not moved:
        return view
    close = np.array([priced[c]["close"] for c in moved], dtype=float)
    delta = np.array([new_w.get(c, 0.0) - cur_w.get(c, 0.0) for c in moved])
    shares = round_to_lots(aum * delta / close, [priced[c]["board"] for c in moved])
    adv = np.array([priced[c]["adv"] if priced[c]["adv"] else np.nan for c in moved], dtype=float)
    dov = np.abs(shares) / adv
    no_adv = [c for c, a in zip(moved, adv, strict=True) if not np.isfinite(a)]
    if no_adv:
        warnings.append(f"{len(no_adv)} traded stock(s) have no volume in the {ADV_DAYS} trading days up to "
                        f"{day} (e.g. {no_adv[0]}): days of volume unknown")
    view.trades = {
        c: {"trade_shares": int(s), "trade_value": float(s * p),
            "days_of_volume": float(d) if np.isfinite(d) else None}
        for c, s, p, d in zip(moved, shares, close, dov, strict=True)
    }
    return view


def read_aum(value: str, method: str) -> float:
    """An AUM given on the command line: a number of CNY (1e11, 100000000000), or a YAML
    file mapping methodology names to CNY, from which METHOD's entry is taken."""
    try:
        return float(value.replace("_", "").replace(",", ""))
    except ValueError:
        pass
    path = Path(value)
    if not path.is_file():
        raise IndexReconError(f"--aum: '{value}' is neither an amount of CNY nor a YAML file")
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise IndexReconError(f"--aum: {path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise IndexReconError(f"--aum: {path}: expected a mapping of methodology names to CNY")
    if method not in data:
        raise IndexReconError(f"--aum: {path} has no entry for '{method}'; it has {', '.join(map(str, data)) or 'none'}")
    try:
        return float(data[method])
    except (TypeError, ValueError):
        raise IndexReconError(f"--aum: {path}: '{method}' is not a number of CNY ({data[method]!r})") from None


@dataclass
class PricedResult:
    """A review result whose JSON also carries the price date and the priced weights."""

    res: ReviewResult
    view: DeskView
    table: Any

    def __getattr__(self, name: str) -> Any:
        return getattr(self.res, name)

    def header(self) -> dict[str, Any]:
        h = self.res.header()
        return {**h, "price_date": self.view.price_date.isoformat(),
                "warnings": list(dict.fromkeys([*h["warnings"], *self.view.warnings]))}

    def to_dict(self) -> dict[str, Any]:
        return {**self.res.to_dict(), **{k: v for k, v in self.header().items() if k in ("price_date", "warnings")},
                "constituents": self.table.records()}


def price_constituents(res: ReviewResult, cons: Any, price_date: dt.date | None) -> tuple[Any, PricedResult]:
    """`rebuild --price-date`: the constituents table with each stock's weight in the
    current index and in the new one priced on the price date."""
    from ..results.review import Table

    view = desk_view(res, price_date)
    ci = cons.col("code")
    rows = [(*r, view.current.get(r[ci], 0.0), view.pro_forma.get(r[ci])) for r in cons.rows]
    table = Table((*cons.columns, "current_weight", "pro_forma_weight"), (*cons.types, "DOUBLE", "DOUBLE"), rows)
    return table, PricedResult(res, view, table)
