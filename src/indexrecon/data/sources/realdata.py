"""Readers of the shared real dataset (shared/realdata, as its README documents), converted to the store's units."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import duckdb

from ...errors import DataError
from .common import (
    CODE_CHANGES,
    CSI_INDEX_CODES,
    ONE_DAY,
    _first,
    board_sql,
    insert_calendar,
    one,
    remap_code_sql,
    replace_rows,
    sql_str,
    upsert_securities,
)
from .folder import (
    _check_bars,
    _check_codes,
    _check_intervals,
    _check_shares,
    _fail,
    _Folder,
    _Item,
    _once,
)

# --------------------------------------------------------------------------------------
# the shared real dataset: one builder per file, each binding its own path


def _parquet(path: Path) -> str:
    return f"read_parquet({sql_str(path)})"


def _realdata_bars(f: _Folder, path: Path) -> list[_Item]:
    reader = _parquet(path)

    def validate() -> None:
        have = f.describe(path, reader)
        f.require_columns(
            path,
            have,
            {
                "code": "text",
                "exchange": "text",
                "date": "date",
                "open": "number",
                "high": "number",
                "low": "number",
                "close": "number",
                "amount": "number",
                "volume": "number",
            },
        )
        # a view, not a copy: DuckDB reads the Parquet file directly for each statement
        rel = f.view(
            "_src_bars",
            "SELECT code, exchange, CAST(date AS DATE) AS date, CAST(open AS DOUBLE) AS open, "
            "CAST(high AS DOUBLE) AS high, CAST(low AS DOUBLE) AS low, "
            "CAST(close AS DOUBLE) AS close, CAST(amount AS DOUBLE) AS amount, "
            f"CAST(volume AS BIGINT) AS volume FROM {reader}",
        )
        _check_bars(f, path, rel)
        bad = _first(
            f.con,
            f"SELECT count(DISTINCT code), any_value(exchange || ':' || code) FROM {rel} "
            f"WHERE {board_sql('code', 'exchange')} IS NULL",
        )
        if bad and bad[0]:
            raise _fail(
                path,
                "code",
                f"{bad[0]} code(s) are not A-share stocks by exchange and prefix (e.g. {bad[1]})",
            )

    def write_bars(con: duckdb.DuckDBPyConnection) -> int:
        cols = ["code", "date", "open", "high", "low", "close", "amount", "volume"]
        # ordered by (date, code) so date-range queries prune row groups
        return replace_rows(con, "bars", "_src_bars", cols, order_by="date, code")

    def write_securities(con: duckdb.DuckDBPyConnection) -> int:
        rel = f.temp_table(
            "_new_securities",
            "SELECT code, any_value(exchange) AS exchange, "
            f"any_value({board_sql('code', 'exchange')}) AS board, NULL::VARCHAR AS name, "
            "min(date) AS list_date, NULL::DATE AS delist_date FROM _src_bars GROUP BY code",
        )
        _note_censored_list_dates(f, con, rel)
        return upsert_securities(con, rel)

    once = _once(f, "bars_valid", validate)
    return [
        _Item("bars", (path,), "bars <- bars.parquet", once, write_bars),
        _Item("securities", (path,), "securities <- bars.parquet", once, write_securities),
        _Item(
            "calendar",
            (path,),
            "calendar <- bars.parquet",
            once,
            lambda con: insert_calendar(con, "_src_bars"),
        ),
    ]


def _note_censored_list_dates(f: _Folder, con: duckdb.DuckDBPyConnection, rel: str) -> None:
    """list_date is the first bar: record that it is only a bound for the data's first day."""
    row = one(
        con,
        f"SELECT min(list_date), count(*) FILTER (WHERE list_date = "
        f"(SELECT min(list_date) FROM {rel})) FROM {rel}",
    )
    if not row or not row[1]:
        return
    first_day, censored = row
    f.summary.warnings.append(
        f"list_date is estimated as the first bar in the data: {censored:,} stocks have their "
        f"first bar on {first_day}, the data's first day, so they listed on or before it "
        "(meta list_date_censored_at)"
    )
    f.store.set_meta(
        list_date_source="first bar in the data (estimate)",
        list_date_censored_at=str(first_day),
    )


def _realdata_index_bars(f: _Folder, path: Path) -> list[_Item]:
    reader = _parquet(path)

    def validate() -> None:
        have = f.describe(path, reader)
        f.require_columns(
            path,
            have,
            {
                "code": "text",
                "date": "date",
                "open": "number",
                "high": "number",
                "low": "number",
                "close": "number",
                "amount": "number",
                "volume": "number",
            },
        )
        rel = f.view(
            "_src_index_bars",
            "SELECT code AS index_code, CAST(date AS DATE) AS date, "
            "CAST(open AS DOUBLE) AS open, CAST(high AS DOUBLE) AS high, "
            "CAST(low AS DOUBLE) AS low, CAST(close AS DOUBLE) AS close, "
            "CAST(amount AS DOUBLE) AS amount, CAST(volume AS BIGINT) AS volume "
            f"FROM {reader}",
        )
        _check_index_bars(f, path, rel, index_col="code")

    def write(con: duckdb.DuckDBPyConnection) -> int:
        return replace_rows(con, "index_bars", "_src_index_bars", order_by="date, index_code")

    return [_Item("index_bars", (path,), "index_bars <- index_bars.parquet", validate, write)]


def _check_index_bars(f: _Folder, path: Path, rel: str, index_col: str = "index_code") -> None:
    _check_codes(f, path, f"(SELECT DISTINCT index_code FROM {rel})", "index_code", index_col)
    row = _first(
        f.con,
        "SELECT count(*) FILTER (WHERE close IS NULL OR close <= 0), "
        f"count(*) FILTER (WHERE date IS NULL) FROM {rel}",
    )
    if row and row[0]:
        raise _fail(path, "close", f"is missing, zero or negative in {row[0]:,} rows")
    if row and row[1]:
        raise _fail(path, "date", f"is missing in {row[1]:,} rows")
    dup = _first(
        f.con, f"SELECT index_code, date FROM {rel} GROUP BY ALL HAVING count(*) > 1 LIMIT 1"
    )
    if dup:
        raise _fail(path, "date", f"duplicate rows for {index_col} {dup[0]} on {dup[1]}")


def _realdata_shares(f: _Folder, path: Path) -> list[_Item]:
    reader = _parquet(path)

    def validate() -> None:
        have = f.describe(path, reader)
        f.require_columns(
            path, have, {"code": "text", "effective_date": "date", "total_shares": "number"}
        )
        source = "source" if "source" in have else "NULL::VARCHAR"
        # A few change points hold a derived event and an observed anchor on the same day;
        # the README's method lets the anchor override the event, so keep the anchor.
        prefer = "(source = 'base_share')" if "source" in have else "false"
        rel = f.view(
            "_src_shares",
            "SELECT code, CAST(effective_date AS DATE) AS effective_date, "
            "CAST(total_shares AS DOUBLE) AS total_shares, NULL::DOUBLE AS float_shares, "
            f"NULL::DOUBLE AS free_float_shares, {source} AS source, NULL::DOUBLE AS a_shares "
            f"FROM read_parquet({sql_str(path)}, file_row_number = true) "
            "QUALIFY row_number() OVER (PARTITION BY code, effective_date "
            f"ORDER BY {prefer} DESC, file_row_number DESC) = 1",
        )
        dropped = _first(f.con, f"SELECT (SELECT count(*) FROM {reader}) - count(*) FROM {rel}")
        if dropped and dropped[0]:
            f.summary.warnings.append(
                f"{path.name}: {dropped[0]} (code, effective_date) pairs had two rows; kept the "
                "observed base_share anchor over the derived event"
            )
        _check_shares(f, path, rel)

    def write(con: duckdb.DuckDBPyConnection) -> int:
        return replace_rows(con, "shares", "_src_shares", order_by="code, effective_date")

    return [_Item("shares", (path,), "shares <- shares.parquet", validate, write)]


def _realdata_industry(
    f: _Folder, path: Path, changes: dict[str, tuple[str, dt.date]]
) -> list[_Item]:
    """Shenwan intervals; an old code's rows move to its new code, clipped at the change.

    Also dates the code changes (in `changes`, in place) by the new code's first interval.
    """
    reader = _parquet(path)

    def validate() -> None:
        have = f.describe(path, reader)
        f.require_columns(
            path,
            have,
            {
                "code": "text",
                "start_date": "date",
                "end_date": "date",
                "sw_l1_code": "text",
                "sw_l1_name": "text",
                "sw_l2_code": "text",
                "sw_l2_name": "text",
                "sw_l3_code": "text",
            },
        )
        for old, (new, default) in CODE_CHANGES.items():
            row = _first(f.con, f"SELECT min(start_date) FROM {reader} WHERE code = '{new}'")
            changes[old] = (new, row[0] if row and row[0] else default)
        clip = " ".join(
            f"WHEN code = '{old}' THEN LEAST(COALESCE(end_date, DATE '{day - ONE_DAY}'), "
            f"DATE '{day - ONE_DAY}')"
            for old, (_new, day) in changes.items()
        )
        drop = " OR ".join(
            f"(code = '{old}' AND start_date >= DATE '{day}')"
            for old, (_new, day) in changes.items()
        )
        l1_en = "sw_l1_name_en" if "sw_l1_name_en" in have else "NULL::VARCHAR"
        rel = f.view(
            "_src_industry",
            f"SELECT {remap_code_sql('code')} AS code, CAST(start_date AS DATE) AS start_date, "
            f"CAST(CASE {clip} ELSE end_date END AS DATE) AS end_date, "
            f"sw_l1_code, sw_l1_name, {l1_en} AS sw_l1_name_en, sw_l2_code, sw_l2_name, "
            f"NULL::VARCHAR AS sw_l2_name_en, sw_l3_code FROM {reader} "
            f"WHERE NOT ({drop or 'false'})",
        )
        _check_codes(f, path, f"(SELECT DISTINCT code FROM {rel})", "code")
        _check_intervals(f, path, rel, "start_date", "end_date")

    def write(con: duckdb.DuckDBPyConnection) -> int:
        return replace_rows(con, "industry", "_src_industry", order_by="code, start_date")

    return [
        _Item(
            "industry",
            (path,),
            "industry <- industry_sw.parquet",
            _once(f, "industry_valid", validate),
            write,
        )
    ]


def _realdata_weights(f: _Folder, path: Path) -> list[_Item]:
    reader = _parquet(path)
    view = f"_src_{path.stem}"

    def validate() -> None:
        have = f.describe(path, reader)
        f.require_columns(
            path,
            have,
            {"index_code": "text", "con_code": "text", "trade_date": "date", "weight": "number"},
        )
        # published in percent; the store holds fractions
        rel = f.view(
            view,
            "SELECT index_code, CAST(trade_date AS DATE) AS trade_date, "
            f"{remap_code_sql('con_code')} AS code, CAST(weight AS DOUBLE) / 100.0 AS weight "
            f"FROM {reader}",
        )
        _check_codes(f, path, f"(SELECT DISTINCT index_code FROM {rel})", "index_code")
        _check_codes(f, path, f"(SELECT DISTINCT code FROM {rel})", "code", "con_code")
        row = _first(
            f.con,
            f"SELECT (SELECT count(*) FROM {rel} WHERE weight IS NULL OR weight < 0), max(s) "
            f"FROM (SELECT sum(weight) * 100 AS s FROM {rel} GROUP BY index_code, trade_date)",
        )
        assert row is not None
        if row[0]:
            raise _fail(path, "weight", f"is missing or negative in {row[0]:,} rows")
        if row[1] is not None and row[1] <= 1.5:
            raise _fail(
                path,
                "weight",
                f"sums to {row[1]:.3g} per date: looks like fractions, but this file is "
                "documented in percent (sums to ~100)",
            )
        if row[1] is not None and row[1] > 101:
            raise _fail(path, "weight", f"sums to {row[1]:.4g}% on some date, above 100")
        dup = _first(
            f.con,
            f"SELECT index_code, trade_date, code FROM {rel} GROUP BY ALL "
            "HAVING count(*) > 1 LIMIT 1",
        )
        if dup:
            raise _fail(path, "con_code", f"{dup[2]} listed twice in {dup[0]} on {dup[1]}")

    def write(con: duckdb.DuckDBPyConnection) -> int:
        return replace_rows(
            con, "official_weights", view, order_by="index_code, trade_date, code"
        )

    return [
        _Item(
            "official_weights",
            (path,),
            f"official_weights <- {path.name}",
            validate,
            write,
        )
    ]


def _realdata_membership(f: _Folder, path: Path) -> list[_Item]:
    reader = _parquet(path)

    def validate() -> None:
        have = f.describe(path, reader)
        f.require_columns(
            path,
            have,
            {"index": "text", "code": "text", "start_date": "date", "end_date": "date"},
        )
        known = ", ".join(sql_str(k) for k in CSI_INDEX_CODES)
        bad = _first(
            f.con,
            f'SELECT count(*), any_value("index") FROM {reader} '
            f'WHERE "index" IS NULL OR "index" NOT IN ({known})',
        )
        if bad and bad[0]:
            raise _fail(
                path,
                "index",
                f"unknown index {bad[1]!r} in {bad[0]:,} rows "
                f"(known: {', '.join(CSI_INDEX_CODES)})",
            )
        whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in CSI_INDEX_CODES.items())
        # The 2005-07 CSI 300 history carries a placeholder code (T00018) for a stock long
        # gone: drop such rows rather than store a code nothing can join on.
        bad = _first(
            f.con,
            f"SELECT count(*), any_value(code) FROM {reader} "
            "WHERE NOT regexp_full_match(code, '[0-9]{6}')",
        )
        if bad and bad[0]:
            f.summary.warnings.append(
                f"{path.name}: dropped {bad[0]} rows whose code is not a 6-digit code (e.g. {bad[1]})"
            )
        rel = f.view(
            "_src_membership",
            f'SELECT CASE "index" {whens} END AS index_code, '
            f"{remap_code_sql('code')} AS code, CAST(start_date AS DATE) AS start_date, "
            f"CAST(end_date AS DATE) AS end_date FROM {reader} "
            "WHERE regexp_full_match(code, '[0-9]{6}')",
        )
        _check_intervals(f, path, rel, "start_date", "end_date")

    def write(con: duckdb.DuckDBPyConnection) -> int:
        n = replace_rows(
            con, "index_membership", "_src_membership", order_by="index_code, code, start_date"
        )
        # Intervals still open when the file was cut end on its last day: not exits.
        edge = _first(con, "SELECT max(end_date) FROM _src_membership")
        if edge and edge[0]:
            f.store.set_meta(index_membership_known_until=str(edge[0]))
            f.summary.warnings.append(
                f"index_membership ends on {edge[0]}, the edge of {path.name}: intervals ending "
                "that day are not exits (meta index_membership_known_until)"
            )
        return n

    return [
        _Item(
            "index_membership",
            (path,),
            "index_membership <- csi_membership.parquet",
            validate,
            write,
        )
    ]


def _realdata_items(f: _Folder) -> list[_Item]:
    folder = f.folder
    bars = folder / "bars.parquet"
    if not bars.exists():
        raise DataError(f"{folder}: bars.parquet is missing; the real dataset needs it")
    changes = dict(CODE_CHANGES)
    items = _realdata_bars(f, bars)
    builders: list[tuple[str, Callable[[_Folder, Path], list[_Item]]]] = [
        ("index_bars.parquet", _realdata_index_bars),
        ("shares.parquet", _realdata_shares),
        ("industry_sw.parquet", lambda f, p: _realdata_industry(f, p, changes)),
        ("official_weights.parquet", _realdata_weights),
        ("csi_membership.parquet", _realdata_membership),
    ]
    from . import realdata_more  # it builds on this module's helpers

    more, has_observations = realdata_more.items(f, _realdata_weights)
    if has_observations:  # the estimates merge with the observations (realdata_more)
        builders = [b for b in builders if b[0] != "shares.parquet"]
    industry_validate: Callable[[], None] = lambda: None  # noqa: E731
    for name, build in builders:
        if (folder / name).exists():
            new = build(f, folder / name)
            if name == "industry_sw.parquet":
                industry_validate = new[0].validate
            items += new
    items += more

    def write_code_changes(con: duckdb.DuckDBPyConnection) -> int:
        rows = ", ".join(f"('{old}', '{new}', DATE '{day}')" for old, (new, day) in changes.items())
        rel = f.temp_table(
            "_new_code_changes",
            f"SELECT * FROM (VALUES {rows}) v(old_code, new_code, change_date)",
        )
        return replace_rows(con, "code_changes", rel)

    industry = folder / "industry_sw.parquet"
    items.append(
        _Item(
            "code_changes",
            (industry,) if industry.exists() else (),
            "code_changes <- README (300114 -> 302132, dated by the SW history)",
            industry_validate,  # dates the change
            write_code_changes,
        )
    )
    return items


