"""Official incumbents that are current: the newest official list in the store, rolled
forward through the reviews it predates.

A store's official list (membership intervals or weight snapshots) often ends months before
the review asked for. Taking it as the incumbents of a later review silently skips the
reviews in between, so every delete it predicts may be a stock that left long ago. When the
list predates the previous review's effective date, `auto` and `official` apply the
methodology's own rules (buffers, cap on changes) to each review in between, starting from
that list, and say so; `official-strict` refuses instead."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import IndexReconError
from ..methodology.schedule import ReviewDates, TradingCalendar, review_dates, reviews_between

if TYPE_CHECKING:
    from ..data.store import Store
    from ..methodology.schema import Methodology

STRICT = "official-strict"


def official_list(store: Store, index_code: str, before: dt.date) -> tuple[list[str], dt.date] | None:
    """The newest official list of `index_code` known before `before`, and its date.

    Membership intervals are known up to the store's `index_membership_known_until` (else to
    their last end date, or to the day asked for when some are still open); a weight snapshot
    on its trade date. The later of the two wins (membership on a tie)."""
    day = before - dt.timedelta(days=1)
    con = store.con
    row = con.execute(
        "SELECT max(end_date), count(*) FILTER (WHERE end_date IS NULL) FROM index_membership "
        "WHERE index_code = ? AND start_date <= ?",
        [index_code, day],
    ).fetchone()
    best: tuple[list[str], dt.date] | None = None
    if row and (row[0] is not None or row[1]):
        known = store.meta.get("index_membership_known_until")
        until = dt.date.fromisoformat(known) if known else (day if row[1] else row[0])
        on = min(day, until)
        codes = [r[0] for r in con.execute(
            "SELECT DISTINCT code FROM index_membership WHERE index_code = ? AND start_date <= ? "
            "AND (end_date IS NULL OR end_date >= ?) ORDER BY code",
            [index_code, on, on],
        ).fetchall()]
        if codes:
            best = (codes, on)
    snap = con.execute(
        "SELECT max(trade_date) FROM official_weights WHERE index_code = ? AND trade_date < ?",
        [index_code, before],
    ).fetchone()
    if snap and snap[0] is not None and (best is None or snap[0] > best[1]):
        codes = [r[0] for r in con.execute(
            "SELECT code FROM official_weights WHERE index_code = ? AND trade_date = ? ORDER BY code",
            [index_code, snap[0]],
        ).fetchall()]
        best = (codes, snap[0])
    return best


def reviews_since(m: Methodology, cal: TradingCalendar, list_date: dt.date, rd: ReviewDates) -> list[str]:
    """The reviews of `m` effective after `list_date` and before the review `rd`, in order."""
    out = []
    for label in reviews_between(m, list_date, rd.effective):
        if label >= rd.review:
            break
        eff = review_dates(m, cal, label).effective
        if list_date < eff < rd.effective:
            out.append(label)
    return out


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


def read_codes_file(path: Path) -> list[str]:
    if not path.exists():
        raise IndexReconError(
            f"incumbents file {path} does not exist (or give a mode: auto, official, official-strict, simulate, none)"
        )
    try:
        codes = _codes_in(path)
    except UnicodeDecodeError as e:
        raise IndexReconError(
            f"incumbents file {path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
            "give codes one per line, a CSV with a code column, Parquet or a rebuild JSON"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:  # bad JSON / Parquet, no code column
        what = f"no '{e.args[0]}' column" if isinstance(e, KeyError) else str(e).splitlines()[0]
        raise IndexReconError(f"incumbents file {path}: cannot read: {what}") from None
    codes = [str(c).strip().zfill(6) for c in codes]
    bad = [c for c in codes if not c.isdigit() or len(c) != 6]
    if bad:
        raise IndexReconError(f"incumbents file {path}: '{bad[0]}' is not a 6-digit stock code")
    return sorted(set(codes))


def _codes_in(path: Path) -> list[str]:
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data.get("constituents", data) if isinstance(data, dict) else data
        codes = [x["code"] if isinstance(x, dict) else str(x) for x in items]
    elif path.suffix == ".parquet":
        import pandas as pd

        codes = pd.read_parquet(path)["code"].astype(str).tolist()
    else:
        text = path.read_text(encoding="utf-8").splitlines()
        first = text[0].split(",") if text else []
        if "code" in first:
            col = first.index("code")
            codes = [ln.split(",")[col] for ln in text[1:] if ln.strip()]
        else:
            codes = [ln.split(",")[0] for ln in text if ln.strip()]
    return codes
