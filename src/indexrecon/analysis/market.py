"""Market and index analytics: breadth, limit closes, N-day moves, comparisons, event windows,
coverage on a date and valuation. Each is SQL over the store, bounded by the dates asked for;
price limits come from `market_rules` (the one place they are written)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..data import market_rules
from ..data.store import BOARDS, Store
from ..errors import IndexReconError, StoreError
from .query import _one, _register

__all__ = ["MarketResult", "breadth", "compare", "coverage_on", "events", "ladder", "limit_closes", "moves",
           "spring_festival", "target_levels"]

# Trading days scanned before the day asked for, for streaks of limit closes; a streak that
# reaches the scan's start makes the scan go back further, up to the data's first day.
STREAK_SCAN_DAYS = 30


@dataclass
class MarketResult:
    """A result: the rows, the JSON payload, and what it rests on."""

    payload: dict[str, Any]
    frame: Any  # pandas DataFrame of the table / csv
    warnings: list[str] = field(default_factory=list)
    synthetic: bool = False


def _calendar_bounds(store: Store) -> tuple[dt.date, dt.date]:
    store.require("calendar", "bars", "securities")
    return store.date_range()


def trading_day(store: Store, d: dt.date | None, what: str = "--date") -> dt.date:
    """`d` (default: the store's last day) if it is a trading day of the store, else an error
    naming the nearest trading day before it."""
    first, last = _calendar_bounds(store)
    if d is None:
        return last
    if d < first or d > last:
        raise StoreError(f"{what} {d} is outside the store's data ({first} .. {last})")
    row = _one(store, "SELECT max(date) FROM calendar WHERE date <= ?", [d])
    prev = row[0] if row else None
    if prev != d:
        raise StoreError(f"{what} {d} is not a trading day in the store (the last one before it: {prev})")
    return d


def trading_range(store: Store, start: dt.date, end: dt.date | None) -> tuple[dt.date, dt.date]:
    """The first trading day on or after `start` and the last on or before `end` (default:
    the store's last day); an error when the range holds none or lies outside the data."""
    first, last = _calendar_bounds(store)
    if end is not None and start > end:
        raise IndexReconError(f"--start {start} is after --end {end}")
    row = _one(store, "SELECT min(date) FILTER (WHERE date >= $s), max(date) FILTER (WHERE date <= $e) "
                      "FROM calendar", {"s": start, "e": end or last})
    lo, hi = row if row else (None, None)
    if lo is None or hi is None or lo > hi:
        raise StoreError(f"no trading day of the store between {start} and {end or last} (data {first} .. {last})")
    return lo, hi


def _shift(store: Store, d: dt.date, n: int) -> dt.date:
    """The trading day n days before d (or the first day of the data)."""
    row = _one(store, "SELECT coalesce(min(date), (SELECT min(date) FROM calendar)) FROM "
               "(SELECT date FROM calendar WHERE date <= ? ORDER BY date DESC LIMIT ?)", [d, n + 1])
    assert row is not None
    return row[0]


# ---------------------------------------------------------------------------------------
# Breadth
# ---------------------------------------------------------------------------------------
BREADTH_KEYS = ("traded", "up", "down", "flat", "limit_up", "limit_down", "amount")


def breadth(store: Store, date: dt.date | None = None, *, start: dt.date | None = None,
            end: dt.date | None = None) -> MarketResult:
    """Per board and in total, on `date` (default: the last day) or per day from `start` to
    `end` (default: the last day): stocks that traded, rose, fell, were flat, closed at the
    limit up / down, and the turnover (CNY). A listing day with no previous close counts as
    traded only."""
    if start is None:
        end = start = trading_day(store, date)
    else:
        start, end = trading_range(store, start, end)
    sql = f"""
    SELECT date, coalesce(board, 'total') AS board, count(*) AS traded,
           count(*) FILTER (WHERE dir > 0) AS up, count(*) FILTER (WHERE dir < 0) AS down,
           count(*) FILTER (WHERE dir = 0) AS flat, count(*) FILTER (WHERE at_up) AS limit_up,
           count(*) FILTER (WHERE at_down) AS limit_down,
           -- summed in DECIMAL: a parallel sum of doubles may change the last bit run to run
           CAST(sum(CAST(amount AS DECIMAL(38, 4))) AS DOUBLE) AS amount
    FROM ({market_rules.market_days_sql(store)})
    GROUP BY GROUPING SETS ((date, board), (date))
    """
    df = store.con.execute(sql, {"scan_lo": start, "hi": end}).df()
    order = {b: i for i, b in enumerate((*BOARDS, "total"))}
    df["date"] = df["date"].dt.date
    df["_o"] = df["board"].map(order)
    df = df.sort_values(["date", "_o"]).drop(columns="_o").reset_index(drop=True)
    for c in BREADTH_KEYS[:-1]:
        df[c] = df[c].astype(int)

    def block(sub: Any) -> dict[str, Any]:
        rows = sub.to_dict("records")
        boards = [{"board": r["board"], **{k: r[k] for k in BREADTH_KEYS}} for r in rows if r["board"] != "total"]
        total = next(({k: r[k] for k in BREADTH_KEYS} for r in rows if r["board"] == "total"), None)
        return {"boards": boards, "total": total}

    warnings = market_rules.warnings(store)
    if start == end:
        payload: dict[str, Any] = {"date": end.isoformat(), **block(df)}
    else:
        payload = {"start": start.isoformat(), "end": end.isoformat(),
                   "days": [{"date": d.isoformat(), **block(g)} for d, g in df.groupby("date", sort=True)]}
    payload["warnings"] = warnings
    return MarketResult(payload, df, warnings, store.synthetic)


# ---------------------------------------------------------------------------------------
# Limit closes
# ---------------------------------------------------------------------------------------
LIMIT_KEYS = ("code", "name", "board", "close", "change", "limit_pct", "streak")


def limit_closes(store: Store, date: dt.date | None = None) -> MarketResult:
    """The stocks that closed at their limit up or down on `date`, with the limit in force
    (percent) and the streak of consecutive limit closes up to that day."""
    d = trading_day(store, date)
    first = store.date_range()[0]
    # first the day alone (every stock), then the streaks of the stocks at the limit only
    hits = [r[0] for r in store.con.execute(
        f"SELECT code FROM ({market_rules.market_days_sql(store)}) WHERE at_up OR at_down ORDER BY code",
        {"scan_lo": d, "hi": d}).fetchall()]
    scan = STREAK_SCAN_DAYS
    while True:
        lo = _shift(store, d, scan)
        df = store.con.execute(
            f"SELECT * FROM ({market_rules.limit_closes_sql(store)}) ORDER BY code",
            {"scan_lo": lo, "hi": d, "codes": hits},
        ).df()
        if lo <= first or not (df["up_open"].any() or df["down_open"].any()):
            break
        scan *= 4  # a streak reaches the scan's start: look further back
    df["limit_pct"] = df["up_pct"].where(df["at_up"], df["down_pct"]).astype(int)
    df["streak"] = df["up_streak"].where(df["at_up"], df["down_streak"]).astype(int)
    df["side"] = ["up" if u else "down" for u in df["at_up"]]
    df = df.sort_values(["side", "streak", "code"], ascending=[False, False, True]).reset_index(drop=True)
    warnings = market_rules.warnings(store)
    open_at_start = df[(df["up_open"] | df["down_open"])]
    if len(open_at_start):
        warnings.append(f"{len(open_at_start)} streak(s) reach the first day of the data ({first}): "
                        "they may be longer")

    def rows(side: str) -> list[dict[str, Any]]:
        sub = df[df["side"] == side]
        return [{k: (None if k == "name" and r[k] is None else r[k]) for k in LIMIT_KEYS}
                for r in sub.to_dict("records")]

    payload = {"date": d.isoformat(), "limit_up": rows("up"), "limit_down": rows("down"), "warnings": warnings}
    frame = df[["side", *LIMIT_KEYS]]
    return MarketResult(payload, frame, warnings, store.synthetic)


def ladder(limits: MarketResult) -> Any:
    """The limit-up stocks grouped by streak, longest first: streak, count, codes."""
    import pandas as pd

    up = limits.frame[limits.frame["side"] == "up"]
    if up.empty:
        return pd.DataFrame({"streak": [], "count": [], "codes": []})
    g = up.groupby("streak", sort=True)["code"].agg(lambda s: ", ".join(sorted(s)))
    n = up.groupby("streak")["code"].size()
    out = pd.DataFrame({"streak": g.index.astype(int), "count": n.loc[g.index].astype(int).to_numpy(),
                        "codes": g.to_numpy()})
    return out.sort_values("streak", ascending=False).reset_index(drop=True)


# ---------------------------------------------------------------------------------------
# Levels of a target: an official index in index_bars, or a methodology priced point in time
# ---------------------------------------------------------------------------------------
@dataclass
class Levels:
    target: str
    label: str  # "official 399006" or the methodology's name
    frame: Any  # DataFrame: date, level
    warnings: list[str] = field(default_factory=list)


def is_official(store: Store, target: str) -> bool:
    if not store.has_table("index_bars"):
        return False
    row = _one(store, "SELECT count(*) > 0 FROM index_bars WHERE index_code = ?", [target])
    return bool(row and row[0])


def target_levels(store: Store, target: str, start: dt.date | None = None, end: dt.date | None = None,
                  **backtest_kw: Any) -> Levels:
    """Daily levels of `target` from `start` to `end` (default: all the store has): the close of
    an official index in `index_bars`, else the methodology `target` rebuilt and priced point
    in time by `backtesting.backtest` (every review seeing only its own data)."""
    first, last = _calendar_bounds(store)
    if is_official(store, target):
        df = store.con.execute(
            "SELECT date, close AS level FROM index_bars WHERE index_code = $c "
            "AND date BETWEEN coalesce($s, DATE '0001-01-01') AND coalesce($e, DATE '9999-12-31') ORDER BY date",
            {"c": target, "s": start, "e": end},
        ).df()
        if df.empty:
            raise StoreError(f"index {target} has no levels in the store between {start or first} and {end or last}")
        df["date"] = df["date"].dt.date
        return Levels(target, f"official {target}", df)
    from ..methodology.loader import load_methodology
    from .backtest import backtest

    try:
        m = load_methodology(target)
    except IndexReconError as e:
        raise IndexReconError(f"{target}: neither an index code in the store's index_bars nor a methodology ({e})") from None
    from ..engine import context, first_simulable_review
    from ..methodology.schedule import review_dates

    ctx = context(store)
    label = first_simulable_review(m, ctx)
    earliest = review_dates(m, ctx.cal, label).effective
    s, notes = start or first, []
    if end is not None and end <= earliest:
        raise StoreError(f"{m.name} can be priced only from {earliest}, the effective date of its first review "
                         f"whose window the store holds ({label}): nothing up to {end}")
    if s < earliest:  # no review before this one has its whole window in the store
        notes.append(f"{m.name} is priced from {earliest}, the effective date of its first review whose "
                     f"window the store holds ({label}), not from {s}")
        s = earliest
    bt = backtest(m, store, s, end or last, **backtest_kw)
    return Levels(target, m.name, bt.levels[["date", "level"]].copy(), notes + list(bt.warnings))


# ---------------------------------------------------------------------------------------
# N-day moves
# ---------------------------------------------------------------------------------------
def _moves_sql(days: int) -> str:
    n = int(days)
    return f"""
    SELECT date, level, level / lag(level) OVER w - 1 AS daily,
           lag(date, {n}) OVER w AS start, level / lag(level, {n}) OVER w - 1 AS ret
    FROM _market_levels WINDOW w AS (ORDER BY date)
    """


def moves(store: Store, target: str, days: int, start: dt.date | None = None, end: dt.date | None = None,
          on: dt.date | None = None, daily: bool = False) -> MarketResult:
    """The best and worst `days`-day moves of `target` from `start` to `end` (`start` = the
    close the move starts from, `end` the close it ends at, `return` a fraction), and with `on`
    the daily and N-day returns on that day. Ties go to the earlier end."""
    if days < 1:
        raise IndexReconError(f"--days must be at least 1, got {days}")
    if on is not None:
        on = trading_day(store, on)
    lv = target_levels(store, target, start, end)
    if len(lv.frame) <= days:
        raise StoreError(f"{target} has {len(lv.frame)} levels in the range: too few for {days}-day moves")
    _register(store, "_market_levels", lv.frame)
    sql = _moves_sql(days)
    con = store.con

    def pick(order: str) -> dict[str, Any]:
        row = _one(store, f"SELECT start, date, ret FROM ({sql}) WHERE ret IS NOT NULL "
                          f"ORDER BY ret {order}, date LIMIT 1")
        assert row is not None
        return {"start": row[0], "end": row[1], "return": row[2]}

    payload: dict[str, Any] = {"target": target, "days": days, "best": pick("DESC"), "worst": pick("ASC")}
    table = con.execute(f"SELECT date, level, daily, start, ret AS return FROM ({sql}) ORDER BY date").df()
    table["date"] = table["date"].dt.date
    table["start"] = table["start"].dt.date
    if on is not None:
        hit = table[table["date"] == on]
        if hit.empty:
            raise StoreError(f"{target} has no level on {on}")
        r = hit.iloc[0]
        payload["on"] = {"date": on, "level": r["level"], "daily": r["daily"], "start": r["start"],
                         "return": r["return"]}
    if daily:
        payload["daily"] = table.to_dict("records")
    payload["levels"] = lv.label
    con.unregister("_market_levels")
    return MarketResult(payload, table, lv.warnings, store.synthetic)


# ---------------------------------------------------------------------------------------
# Side-by-side comparison
# ---------------------------------------------------------------------------------------
COMPARE_KEYS = ("annualised_return", "volatility", "sharpe", "max_drawdown", "best_day", "best_day_date",
                "worst_day", "worst_day_date", "cumulative_return", "start", "end", "days")


def compare(store: Store, targets: list[str], start: dt.date, end: dt.date | None = None,
            rf: float = 0.0) -> MarketResult:
    """Annualised return, volatility, Sharpe, maximum drawdown, best and worst day of each
    target from `start` to `end` (statistics as `backtest` computes them), and the
    correlation matrix of their daily returns on the days they have in common."""
    import pandas as pd

    from .performance import performance_stats

    if not targets:
        raise IndexReconError("give at least one TARGET")
    start, _ = trading_range(store, start, end)
    series, warnings, rows = {}, [], []
    for t in dict.fromkeys(targets):
        lv = target_levels(store, t, start, end)
        s = performance_stats(lv.frame, rf=rf, move_days=0)
        rows.append({"target": t, **{k: s.get(k) for k in COMPARE_KEYS}})
        series[t] = lv.frame.set_index("date")["level"]
        warnings += [f"{t}: {w}" for w in lv.warnings]
    starts = {t: s.index.min() for t, s in series.items()}
    if len(set(starts.values())) > 1 or len({s.index.max() for s in series.values()}) > 1:
        warnings.append("the targets cover different days: " + ", ".join(
            f"{t} {s.index.min()} .. {s.index.max()}" for t, s in series.items())
            + "; each row uses its own days, the correlation the common ones")
    wide = pd.DataFrame(series).dropna().sort_index()
    rets = wide.pct_change().iloc[1:]
    corr = rets.corr() if len(rets) > 2 else pd.DataFrame(index=wide.columns, columns=wide.columns, dtype=float)
    payload = {
        "start": start, "end": max(s.index.max() for s in series.values()),
        "rf": rf, "series": rows,
        "correlation": {a: {b: corr.loc[a, b] for b in corr.columns} for a in corr.index},
        "common_days": len(rets),
    }
    return MarketResult(payload, pd.DataFrame(rows), warnings, store.synthetic)


# ---------------------------------------------------------------------------------------
# Event windows
# ---------------------------------------------------------------------------------------
EVENTS = ("spring-festival", "national-day")


def spring_festival(year: int) -> dt.date:
    """The first day of the lunar year (春节), from the lunardate library's lunar calendar."""
    from lunardate import LunarDate

    return LunarDate(year, 1, 1).to_solar_date()


def event_dates(event: str, years: range) -> tuple[str, list[dt.date]]:
    """The name and dates of an event: spring-festival, national-day (1 October), or a file of
    dates (one YYYY-MM-DD a line, '#' comments, or a CSV with a `date` column)."""
    from pathlib import Path

    if event == "spring-festival":
        return event, [spring_festival(y) for y in years]
    if event == "national-day":
        return event, [dt.date(y, 10, 1) for y in years]
    p = Path(event)
    if not p.is_file():
        raise IndexReconError(f"event {event!r}: not one of {', '.join(EVENTS)} nor a file of dates")
    dates: list[dt.date] = []
    lines = p.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",") if lines else []
    col = header.index("date") if "date" in [h.strip() for h in header] else None
    for i, line in enumerate(lines[1:] if col is not None else lines, start=2 if col is not None else 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        cell = text.split(",")[col].strip() if col is not None else text
        try:
            dates.append(dt.date.fromisoformat(cell))
        except ValueError:
            raise IndexReconError(f"{p}:{i}: not a date (YYYY-MM-DD): {cell!r}") from None
    if not dates:
        raise IndexReconError(f"{p}: no dates in the file")
    return p.stem, sorted(set(dates))


def holiday_check(store: Store, dates: list[dt.date]) -> list[str]:
    """Warnings where the store's calendar disagrees with a holiday date: the market should be
    closed on it, with at least three weekdays closed around it (the Lunar New Year and
    National Day holidays are a week)."""
    import pandas as pd

    first, last = _calendar_bounds(store)
    _register(store, "_market_events", pd.DataFrame({"event_date": dates}))
    rows = store.con.execute("""
        SELECT e.event_date, (SELECT max(date) FROM calendar WHERE date < e.event_date) AS before,
               (SELECT min(date) FROM calendar WHERE date > e.event_date) AS after,
               e.event_date IN (SELECT date FROM calendar) AS open
        FROM _market_events e WHERE e.event_date BETWEEN $f AND $l ORDER BY 1
    """, {"f": first, "l": last}).fetchall()
    store.con.unregister("_market_events")
    out = []
    for d, before, after, is_open in rows:
        if is_open:
            out.append(f"the store's calendar trades on {d}, a holiday by the calendar library")
        elif before and after:
            closed = sum(1 for k in range(1, (after - before).days) if (before + dt.timedelta(k)).weekday() < 5)
            if closed < 3:
                out.append(f"the store's calendar closes only {closed} weekday(s) around {d} ({before} .. {after})")
    return out


def events(store: Store, event: str, targets: list[str], days: int, before: bool = False,
           start: dt.date | None = None, end: dt.date | None = None) -> MarketResult:
    """Each target's return over the `days` trading days after (or, with `before`, the
    `days` days before) each occurrence of `event`, year by year, with the share of years up
    and the mean. The window starts from the last close before the event date (for a holiday:
    the last close before it)."""
    import pandas as pd

    if days < 1:
        raise IndexReconError(f"--days must be at least 1, got {days}")
    first, last = _calendar_bounds(store)
    lo, hi = start or first, end or last
    name, dates = event_dates(event, range(lo.year, hi.year + 1))
    dates = [d for d in dates if lo <= d <= hi]
    warnings = holiday_check(store, dates) if name in EVENTS else []
    ev = pd.DataFrame({"event_date": dates})
    ev["year"] = [d.year for d in dates]
    k = -int(days) if before else int(days)
    sql = f"""
    WITH lv AS (SELECT date, level, row_number() OVER (ORDER BY date) AS rn FROM _market_levels),
    s AS (SELECT e.year, e.event_date, lv.date AS start, lv.level AS l0, lv.rn
          FROM _market_events e ASOF JOIN lv ON e.event_date > lv.date)
    SELECT s.year, s.event_date, {"x.date" if before else "s.start"} AS start,
           {"s.start" if before else "x.date"} AS "end",
           {"s.l0 / x.level" if before else "x.level / s.l0"} - 1 AS "return"
    FROM s JOIN lv x ON x.rn = s.rn + ({k})
    ORDER BY s.event_date
    """
    series, frames = [], []
    for t in dict.fromkeys(targets):
        lv = target_levels(store, t, lo, hi)
        warnings += [f"{t}: {w}" for w in lv.warnings]
        _register(store, "_market_levels", lv.frame)
        _register(store, "_market_events", ev)
        df = store.con.execute(sql).df()
        store.con.unregister("_market_levels")
        store.con.unregister("_market_events")
        for c in ("event_date", "start", "end"):
            df[c] = pd.to_datetime(df[c]).dt.date
        missing = sorted(set(ev["year"]) - set(df["year"]))
        if missing:
            warnings.append(f"{t}: no full {days}-day window in the data for {', '.join(map(str, missing))}")
        rets = df["return"]
        series.append({
            "target": t, "years": df.to_dict("records"),
            "share_up": float((rets > 0).mean()) if len(rets) else None,
            "mean": float(rets.mean()) if len(rets) else None,
        })
        frames.append(df.assign(target=t))
    payload = {"event": name, "days": days, "direction": "before" if before else "after", "series": series}
    frame = pd.concat(frames, ignore_index=True)[["target", "year", "event_date", "start", "end", "return"]]
    return MarketResult(payload, frame, warnings, store.synthetic)


# ---------------------------------------------------------------------------------------
# Coverage of the board on a date (stats --as-of D)
# ---------------------------------------------------------------------------------------
COVERAGE_KEYS = ("date", "board_stocks", "index_stocks", "board_total_cap", "index_total_cap",
                 "board_avg_cap", "index_avg_cap", "avg_cap_multiple", "share_of_companies",
                 "share_of_market_cap")


def _a_share_sql(store: Store, alias: str = "sh") -> tuple[str, str]:
    """The point-in-time share table (pit_shares, the one rule every reader of `shares` goes
    through) and the share count of a total cap as the engine's `total_cap` metric counts it:
    A shares where the store has them, else the company total."""
    from ..data import pit_shares

    table = pit_shares.ensure(store.con)
    a = f"coalesce({alias}.a_shares, {alias}.total_shares)" if pit_shares.has_column(store.con, "a_shares") \
        else f"{alias}.total_shares"
    return table, a


def _on_date_sql(store: Store, boards: list[str] | tuple[str, ...]) -> str:
    """Stocks of `boards` with a bar on $d: close x shares in force on $d (CNY; A shares as
    the `total_cap` metric counts them) and their Shenwan level-1 industry on $d."""
    bl = ", ".join(repr(b) for b in boards)
    table, a = _a_share_sql(store)
    return f"""
    SELECT b.code, b.close * {a} AS total_cap, i.sw_l1_code, i.sw_l1_name, i.sw_l1_name_en
    FROM (SELECT b.code, b.date, b.close FROM bars b JOIN securities s USING (code)
          WHERE b.date = $d AND s.board IN ({bl})) b
    ASOF LEFT JOIN {table} sh ON sh.code = b.code AND b.date >= sh.effective_date
    LEFT JOIN industry i ON i.code = b.code AND i.start_date <= $d AND (i.end_date IS NULL OR i.end_date >= $d)
    ORDER BY b.code
    """


def coverage_on(res: Any, d: dt.date) -> tuple[dict[str, Any], Any, list[str]]:
    """The index against its board on `d`: the members of the review in force on `d` and the
    board's companies that traded on `d`, each priced at its close on `d` x total shares in
    force on `d`; and the industry mix by the members' weights drifted to `d` (industries
    on `d`). Returns (coverage, industry mix, warnings)."""
    import pandas as pd

    from .composition import industry_mix
    from .levels import weights_on
    from .query import _q

    store = res.store
    d = trading_day(store, d, "--as-of")
    if d < res.dates.effective:
        raise IndexReconError(f"the review {res.dates.review} takes effect on {res.dates.effective}, after {d}")
    boards = list(res.methodology.universe.boards)
    px = _q(store, _on_date_sql(store, boards), {"d": d})
    priced = px[px["total_cap"].notna()]
    members = set(res.codes)
    idx = priced[priced["code"].isin(members)]
    warnings = []
    if len(priced) < len(px):
        warnings.append(f"{len(px) - len(priced)} of the {len(px)} board stocks trading on {d} have no share "
                        "capital in the store: left out of the board's count and cap")
    missing = sorted(members - set(idx["code"]))
    if missing:
        warnings.append(f"{len(missing)} member(s) have no close or share capital on {d} and are left out "
                        f"(e.g. {', '.join(missing[:5])})")
    nb, ni = len(priced), len(idx)
    bcap, icap = float(priced["total_cap"].sum()), float(idx["total_cap"].sum())
    bavg, iavg = (bcap / nb if nb else None), (icap / ni if ni else None)
    cov = {
        "date": d.isoformat(), "board_stocks": nb, "index_stocks": ni,
        "board_total_cap": bcap, "index_total_cap": icap, "board_avg_cap": bavg, "index_avg_cap": iavg,
        "avg_cap_multiple": iavg / bavg if iavg and bavg else None,
        "share_of_companies": ni / nb if nb else None,
        "share_of_market_cap": icap / bcap if bcap else None,
    }
    w = weights_on(res, d)
    ind = _q(store, "SELECT code, sw_l1_code, sw_l1_name, sw_l1_name_en FROM industry "
                    "WHERE start_date <= $d AND (end_date IS NULL OR end_date >= $d)", {"d": d})
    mix = industry_mix(pd.merge(w, ind, on="code", how="left"))
    return cov, mix, warnings


def stats_on(res: Any, stats: dict[str, Any], d: dt.date) -> tuple[dict[str, Any], Any, list[str]]:
    """`stats` of a review with coverage and industry mix measured on `d`; the figures at the
    data cutoff move to `coverage_at_cutoff` and `industry_mix_at_cutoff`."""
    from ..results.review import _clean

    cov, mix, warnings = coverage_on(res, d)
    out = {
        "industry_mix": [{k: _clean(v) for k, v in r.items()} for r in mix.to_dict("records")],
        "concentration": stats["concentration"],
        "coverage": cov,
        "coverage_at_cutoff": stats["coverage"],
        "industry_mix_at_cutoff": stats["industry_mix"],
    }
    return out, mix, warnings


# ---------------------------------------------------------------------------------------
# Valuation: the index's PE (TTM) and PB from per-stock valuation data
# ---------------------------------------------------------------------------------------
