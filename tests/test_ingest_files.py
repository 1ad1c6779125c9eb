"""Folder ingestion: the real dataset (one ingest per session) and store-layout files."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from indexrecon.data.open import open_store
from indexrecon.data.sources import files as files_mod
from indexrecon.data.sources.files import detect_layout, ingest_files
from indexrecon.errors import DataError

D = dt.date


def q(store, sql: str, params: list | None = None) -> list[tuple]:
    return store.con.execute(sql, params or []).fetchall()


# --------------------------------------------------------------------------------------
# the real dataset (ingested once per session by the real_store fixture)


def test_real_ingest_time_and_counts(real_store) -> None:
    print(f"\nreal-data ingest: {real_store.meta['last_ingest']}")
    counts = {t: real_store.row_count(t) for t in ("bars", "securities", "calendar")}
    assert counts == {"bars": 6_047_085, "securities": 5_528, "calendar": 1_189}
    assert real_store.row_count("index_bars") == 12_194
    assert real_store.row_count("industry") == 6_364
    # README: 20,585 weights of 2025 and 21,000 of the CSI 300 history (no overlap)
    assert real_store.row_count("official_weights") == 20_585 + 21_000
    # README: 38,548 change points, 15 of them a same-day (event, anchor) pair -> one row;
    # 21,629 observations, 13 of them on a day shares.parquet has a row (the observation wins);
    # 159 bonus issues dated from the price gap and 288 estimated from the bars after a stock's
    # last share row (realdata_more._infer_bonus_dates)
    assert real_store.row_count("shares") == 38_548 - 15 + 21_629 - 13 + 159 + 288
    # README row counts of the additions of December 2026
    assert {t: real_store.row_count(t) for t in ("dual_listings", "valuation", "dividends", "name_history")} == {
        "dual_listings": 160, "valuation": 15_608, "dividends": 44_667, "name_history": 39_825}
    # README: 65,294 intervals; 7 carry the placeholder code T00018 (2005-07) and are dropped
    assert real_store.row_count("index_membership") == 65_294 - 7
    assert real_store.date_range() == (D(2021, 8, 2), D(2026, 7, 1))


def test_real_boards(real_store) -> None:
    per_board = dict(q(real_store, "SELECT board, count(*) FROM securities GROUP BY board"))
    assert per_board == {
        "bse": 323,
        "chinext": 1399,
        "sh_main": 1701,
        "star": 610,
        "sz_main": 1495,
    }
    on_day = dict(
        q(
            real_store,
            "SELECT s.board, count(*) FROM bars b JOIN securities s USING (code) "
            "WHERE b.date = '2024-10-31' GROUP BY s.board",
        )
    )
    assert on_day == {"bse": 255, "chinext": 1349, "sh_main": 1662, "star": 573, "sz_main": 1469}
    exchanges = dict(q(real_store, "SELECT board, any_value(exchange) FROM securities GROUP BY 1"))
    assert exchanges == {
        "bse": "BJ",
        "chinext": "SZ",
        "sh_main": "SH",
        "star": "SH",
        "sz_main": "SZ",
    }
    # names from the latest ST snapshot (2025-03-04): every stock listed by then has one; the
    # 165 without are the listings after the snapshots (the first on 2025-03-24)
    assert q(real_store, "SELECT count(*), min(list_date) FROM securities WHERE name IS NULL") == [(165, D(2025, 3, 24))]
    assert dict(q(real_store, "SELECT code, name FROM securities WHERE code IN ('300750', '601398', '920799')")) == {
        "300750": "宁德时代", "601398": "工商银行", "920799": "艾融软件"}
    # list_date is the first bar: an estimate, flagged in meta for the data's first day
    assert real_store.meta["list_date_censored_at"] == "2021-08-02"
    assert q(real_store, "SELECT list_date FROM securities WHERE code = '301236'") == [
        (D(2022, 3, 15),)
    ]


def test_real_300750(real_store) -> None:
    bar = q(
        real_store,
        "SELECT open, high, low, close, amount, volume FROM bars "
        "WHERE code = '300750' AND date = '2024-10-31'",
    )
    assert bar == [(246.99, 250.5, 244.0, 245.98, 6_286_268_416.0, 25_500_279)]
    shares = q(
        real_store,
        "SELECT total_shares, float_shares, free_float_shares, source FROM shares "
        "WHERE code = '300750' AND effective_date <= '2024-10-31' "
        "ORDER BY effective_date DESC LIMIT 1",
    )
    # the README's estimate (4,387,430,000 from 2024-03-16) gives way to the later observation
    # of 2024-03-25 (tushare daily_basic: total, float and free float)
    assert shares == [(4_399_041_236, 3_894_852_702, 2_419_044_247, "tushare_daily_basic")]
    estimate = q(real_store, "SELECT total_shares, source FROM shares WHERE code = '300750' "
                             "AND effective_date = '2024-03-16'")
    assert estimate == [(4_387_430_000, "base_share")]
    close = q(
        real_store,
        "SELECT close FROM index_bars WHERE index_code = '399006' AND date = '2024-10-31'",
    )
    assert close == [(2164.46,)]


def test_real_bonus_dated_from_the_price_gap(real_store) -> None:
    """300058's 10-for-4 conversion of June 2025 is only in the quarter-end total (after the
    estimates end): dated at the session that fell by the share ratio, beyond the 20% limit."""
    rows = q(real_store, "SELECT effective_date, total_shares, source FROM shares WHERE code = '300058' "
                         "AND effective_date BETWEEN '2025-04-01' AND '2025-06-30' ORDER BY 1")
    assert rows == [(D(2025, 4, 25), 2_526_800_000, "base_share"),
                    (D(2025, 6, 4), 3_537_525_227, "stock_bonus_inferred"),
                    (D(2025, 6, 30), 3_537_525_227, "tushare_total_mv_qe")]
    closes = q(real_store, "SELECT close FROM bars WHERE code = '300058' AND date IN ('2025-06-03', '2025-06-04') ORDER BY date")
    assert closes[1][0] / closes[0][0] * 3_537_525_227 / 2_526_800_000 == pytest.approx(1.0, abs=0.01)


def test_real_bonus_dated_by_the_open(real_store) -> None:
    """300394 rose 9% on the ex-date of its 10-for-4 conversion (close 0.78 of the day before,
    short of the share ratio): the open, the ex-rights reference, dates it."""
    rows = q(real_store, "SELECT effective_date, source FROM shares WHERE code = '300394' "
                         "AND effective_date BETWEEN '2025-06-01' AND '2025-06-30' ORDER BY 1")
    assert rows == [(D(2025, 6, 9), "stock_bonus_inferred"), (D(2025, 6, 30), "tushare_total_mv_qe")]


def test_real_bonus_estimated_after_the_last_share_row(real_store) -> None:
    """After 2025-12-31 the store has bars only: 300033's session of 2026-04-10 opened at
    1/1.4 of the close before (beyond the 20% limit), so a 1.4 bonus ratio is estimated."""
    rows = q(real_store, "SELECT effective_date, total_shares, source FROM shares WHERE code = '300033' "
                         "ORDER BY effective_date DESC LIMIT 2")
    assert rows[0] == (D(2026, 4, 10), pytest.approx(rows[1][1] * 1.4, abs=1), "stock_bonus_estimated")
    assert rows[1][0] <= D(2025, 12, 31)
    # each estimate lies after its stock's last other row, and none before the share data ends
    bad = q(real_store, """SELECT count(*) FROM shares e WHERE e.source = 'stock_bonus_estimated' AND EXISTS (
                             SELECT 1 FROM shares s WHERE s.code = e.code AND s.source <> 'stock_bonus_estimated'
                             AND s.effective_date >= e.effective_date)""")
    assert bad == [(0,)]


def test_real_weights(real_store) -> None:
    sums = q(
        real_store,
        "SELECT index_code, trade_date, sum(weight), count(*) FROM official_weights GROUP BY ALL",
    )
    assert len(sums) == 28 + 70  # README: 28 snapshots of 2025, 70 CSI 300 dates 2021-06 .. 2024-10
    for index_code, day, total, _ in sums:
        assert abs(total - 1) < 1e-3, (index_code, day, total)
    sizes = {(i, d): n for i, d, _, n in sums}
    assert sizes[("399006", D(2025, 1, 27))] == 100
    assert [
        sizes[("399102", d)]
        for d in (D(2025, 1, 27), D(2025, 2, 28), D(2025, 3, 31), D(2025, 4, 30))
    ] == [
        1367,
        1369,
        1372,
        1377,
    ]


def test_real_code_change_302132(real_store) -> None:
    assert q(real_store, "SELECT * FROM code_changes") == [("300114", "302132", D(2025, 2, 17))]
    for table in ("official_weights", "index_membership", "industry", "bars", "shares"):
        assert q(real_store, f"SELECT count(*) FROM {table} WHERE code = '300114'") == [(0,)]
    w = q(
        real_store,
        "SELECT weight FROM official_weights WHERE index_code = '399006' "
        "AND trade_date = '2025-01-27' AND code = '302132'",
    )
    assert w == [(pytest.approx(0.005844),)]
    ind = q(
        real_store,
        "SELECT start_date, end_date, sw_l1_code FROM industry WHERE code = '302132' "
        "ORDER BY start_date",
    )
    assert ind == [
        (D(2021, 7, 30), D(2025, 2, 16), "650000"),
        (D(2025, 2, 17), None, "650000"),
    ]
    member = q(
        real_store,
        "SELECT index_code FROM index_membership WHERE code = '302132' "
        "AND DATE '2025-01-27' BETWEEN start_date AND end_date",
    )
    assert member == [("000905",)]


def test_real_membership_and_meta(real_store) -> None:
    members = dict(
        q(
            real_store,
            "SELECT index_code, count(*) FROM index_membership "
            "WHERE DATE '2025-01-27' BETWEEN start_date AND end_date GROUP BY 1",
        )
    )
    assert members == {"000300": 300, "000905": 500, "000852": 1000}
    # membership agrees with the official list of that day
    diff = q(
        real_store,
        "SELECT count(*) FROM official_weights w WHERE trade_date = '2025-01-27' "
        "AND index_code IN ('000300', '000905', '000852') AND NOT EXISTS (SELECT 1 FROM "
        "index_membership m WHERE m.index_code = w.index_code AND m.code = w.code "
        "AND DATE '2025-01-27' BETWEEN m.start_date AND m.end_date)",
    )
    assert diff == [(0,)]
    meta = real_store.meta
    assert meta["synthetic"] == "false"
    assert meta["source"].startswith("shared/realdata (")
    assert meta["index_membership_known_until"] == "2025-05-31"
    assert q(real_store, "SELECT count(*) FROM industry WHERE sw_l2_name_en IS NOT NULL") == [(0,)]
    # 9 items of the first files, the inferred ST, and 6 of the additions (the merged shares are one)
    assert q(real_store, "SELECT count(DISTINCT item) FROM ingest_log") == [(16,)]


def test_real_bars_clustered_by_date(real_store) -> None:
    """Bars were inserted in (date, code) order: each row group spans a few weeks only."""
    spans = q(
        real_store,
        "SELECT CAST(stats.max AS DATE) - CAST(stats.min AS DATE) FROM pragma_storage_info('bars') "
        "WHERE column_name = 'date' AND segment_type = 'DATE'",
    )
    assert len(spans) > 10
    assert max(span for (span,) in spans) <= 60  # days; unsorted would span ~5 years
    first = q(real_store, "SELECT date, code FROM bars LIMIT 3")
    assert [r[1] for r in first] == sorted(r[1] for r in first)


def test_real_st_status_inferred_from_price_limits(real_store) -> None:
    """The real dataset has no status history: ST is inferred from the 5% price limits."""
    assert real_store.meta["status_source"].startswith("inferred")
    assert real_store.meta["status_inferred_boards"] == "sh_main,sz_main"

    def st_on(day: str) -> set[str]:
        rows = q(
            real_store,
            "SELECT code FROM status WHERE start_date <= ? AND (end_date IS NULL OR end_date >= ?)",
            [day, day],
        )
        return {r[0] for r in rows}

    apr, oct_ = st_on("2024-04-30"), st_on("2024-10-31")
    assert len(apr) == 73 and len(oct_) == 78
    # long-standing risk-warning stocks (*ST明诚, ST中利) are in; none of the official CSI
    # 300 / 500 / 1000 members after the December 2024 review is
    assert {"600136", "002309"} <= oct_
    after = {
        r[0]
        for r in q(
            real_store,
            "SELECT code FROM index_membership WHERE start_date <= '2024-12-31' "
            "AND (end_date IS NULL OR end_date >= '2024-12-31')",
        )
    }
    assert len(after) == 1800 and not oct_ & after
    boards = q(
        real_store,
        "SELECT DISTINCT s.board FROM status JOIN securities s USING (code) ORDER BY 1",
    )
    assert boards == [("sh_main",), ("sz_main",)]


def test_real_rerun_skips_and_does_not_duplicate(
    real_store_path: Path, tmp_path: Path, realdata_dir: Path
) -> None:
    copy = tmp_path / "copy.duckdb"
    shutil.copy(real_store_path, copy)
    with open_store(copy, read_only=False) as store:
        before = {t: store.row_count(t) for t in ("bars", "shares", "official_weights")}
        s = ingest_files(store, realdata_dir)
        assert s.total_rows == 0 and len(s.skipped) == 16  # 15 items + inferred ST
        assert {t: store.row_count(t) for t in before} == before


# --------------------------------------------------------------------------------------
# a small folder in the real dataset's layout (force reruns without a second big ingest)


@pytest.fixture()
def mini_realdata(realdata_dir: Path, tmp_path: Path) -> Path:
    """The real layout cut to three ChiNext stocks and January 2025."""
    out = tmp_path / "mini"
    out.mkdir()
    con = duckdb.connect()
    codes = "('300750', '300059', '302132')"
    parts = {
        "bars": f"WHERE code IN {codes} AND date BETWEEN '2025-01-02' AND '2025-01-31'",
        "index_bars": "WHERE code = '399006' AND date BETWEEN '2025-01-02' AND '2025-01-31'",
        "shares": f"WHERE code IN {codes}",
        "industry_sw": "WHERE code IN ('300750', '300059', '300114', '302132')",
        "official_weights": "WHERE index_code = '399006'",
        "csi_membership": "WHERE code IN ('300750', '300114')",
    }
    for name, where in parts.items():
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{realdata_dir / (name + '.parquet')}') {where}) "
            f"TO '{out / (name + '.parquet')}' (FORMAT parquet)"
        )
    return out


def test_mini_realdata_force_rerun(mini_realdata: Path, tmp_path: Path) -> None:
    assert detect_layout(mini_realdata) == "realdata"
    with open_store(tmp_path / "mini.duckdb", read_only=False) as store:
        first = ingest_files(store, mini_realdata)
        counts = {t: store.row_count(t) for t in first.rows}
        assert counts["bars"] == first.rows["bars"] > 0
        assert counts["official_weights"] == 400
        forced = ingest_files(store, mini_realdata, force=True)
        assert forced.rows["bars"] == first.rows["bars"]
        assert forced.rows["calendar"] == 0  # a union: the days are already there
        assert {t: store.row_count(t) for t in first.rows} == counts
        assert q(store, "SELECT count(*) FROM official_weights WHERE code = '300114'") == [(0,)]


def test_realdata_bad_files(mini_realdata: Path, tmp_path: Path) -> None:
    con = duckdb.connect()
    w = mini_realdata / "official_weights.parquet"
    con.execute(
        f"COPY (SELECT * REPLACE (weight / 100 AS weight) FROM read_parquet('{w}')) "
        f"TO '{tmp_path / 'w.parquet'}' (FORMAT parquet)"
    )
    shutil.move(tmp_path / "w.parquet", w)
    with open_store(tmp_path / "bad.duckdb", read_only=False) as store:
        with pytest.raises(
            DataError, match=r"official_weights\.parquet: column 'weight'.*fractions"
        ):
            ingest_files(store, mini_realdata)
        # validated before writing: nothing landed
        assert store.row_count("bars") == 0
    b = mini_realdata / "bars.parquet"
    con.execute(
        f"COPY (SELECT * EXCLUDE (volume) FROM read_parquet('{b}')) "
        f"TO '{tmp_path / 'b.parquet'}' (FORMAT parquet)"
    )
    shutil.move(tmp_path / "b.parquet", b)
    with (
        open_store(tmp_path / "bad2.duckdb", read_only=False) as store,
        pytest.raises(DataError, match=r"bars\.parquet: column 'volume': missing"),
    ):
        ingest_files(store, mini_realdata)


# --------------------------------------------------------------------------------------
# the store's own layout


@pytest.fixture()
def user_folder(real_store, tmp_path: Path) -> Path:
    """A user folder exported from the real store: three stocks, two months, mixed formats."""
    out = tmp_path / "user"
    out.mkdir()
    codes = "('300750', '600519', '920799')"
    exports = {
        "securities.csv": f"SELECT * FROM securities WHERE code IN {codes}",
        "bars.parquet": f"SELECT * FROM bars WHERE code IN {codes} "
        "AND date BETWEEN '2024-10-01' AND '2024-11-30' ORDER BY code, date",
        "calendar.csv": "SELECT * FROM calendar WHERE date BETWEEN '2024-10-01' AND '2024-11-30'",
        "shares.csv": f"SELECT * FROM shares WHERE code IN {codes}",
        "industry.parquet": f"SELECT * FROM industry WHERE code IN {codes}",
        "index_bars.csv": "SELECT * FROM index_bars WHERE date BETWEEN '2024-10-01' AND '2024-11-30'",
        "official_weights.csv": "SELECT * FROM official_weights WHERE index_code = '399006'",
        "index_membership.parquet": "SELECT * FROM index_membership WHERE index_code = '000300'",
        "code_changes.csv": "SELECT * FROM code_changes",
    }
    # the read-only store connection cannot write files (methodology sandbox): copy through
    # an in-memory connection that holds the fetched rows
    scratch = duckdb.connect()
    for name, sql in exports.items():
        fmt = "csv" if name.endswith(".csv") else "parquet"
        rows = real_store.con.execute(sql).df()
        scratch.register("_rows", rows)
        scratch.execute(f"COPY (SELECT * FROM _rows) TO '{out / name}' (FORMAT {fmt})")
        scratch.unregister("_rows")
    scratch.close()
    (out / "status.csv").write_text(
        "code,start_date,end_date,status\n600519,2024-11-01,,ST\n", encoding="utf-8"
    )
    (out / "dividends.csv").write_text(
        "code,ex_date,cash_per_share\n600519,20240619,30.876\n300750,2024-04-29,5.028\n",
        encoding="utf-8",
    )
    return out


def test_user_layout_round_trip(user_folder: Path, real_store, tmp_path: Path) -> None:
    assert detect_layout(user_folder) == "store"
    with open_store(tmp_path / "user.duckdb", read_only=False) as store:
        s = ingest_files(store, user_folder)
        assert not s.failures
        for name in user_folder.iterdir():
            table = name.stem
            if table in ("status", "dividends"):
                continue
            reader = "read_csv" if name.suffix == ".csv" else "read_parquet"
            cols = ", ".join(c for c, _, _ in files_mod.table_columns(table))
            # every row of the file is in the store, typed as in the original store
            diff = store.con.execute(
                f"SELECT count(*) FROM (SELECT {cols} FROM {table} EXCEPT ALL "
                f"SELECT {cols} FROM {reader}('{name}'))"
            ).fetchone()
            assert diff == (0,), table
            assert store.row_count(table) == s.rows[table], table
        assert q(store, "SELECT * FROM dividends ORDER BY code") == [
            ("300750", D(2024, 4, 29), 5.028),
            ("600519", D(2024, 6, 19), 30.876),
        ]
        assert q(store, "SELECT * FROM status") == [("600519", D(2024, 11, 1), None, "ST")]
        # reruns skip; force reloads without duplicating
        assert ingest_files(store, user_folder).total_rows == 0
        counts = {t: store.row_count(t) for t in s.rows}
        ingest_files(store, user_folder, force=True)
        assert {t: store.row_count(t) for t in s.rows} == counts
        assert store.meta["source"].startswith("files (")


def test_user_layout_derives_securities_and_calendar(real_store, tmp_path: Path) -> None:
    folder = tmp_path / "bars_only"
    folder.mkdir()
    real_store.con.execute(
        "SELECT * FROM bars WHERE code IN ('000001', '688981') AND date < '2021-09-01'"
    ).df().to_csv(folder / "bars.csv", index=False)
    with open_store(tmp_path / "derived.duckdb", read_only=False) as store:
        s = ingest_files(store, folder)
        assert q(store, "SELECT code, exchange, board, list_date FROM securities ORDER BY 1") == [
            ("000001", "SZ", "sz_main", D(2021, 8, 2)),
            ("688981", "SH", "star", D(2021, 8, 2)),
        ]
        assert store.row_count("calendar") == 22
        assert any("derived" in w for w in s.warnings)


def _write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


BARS_HEAD = "code,date,open,high,low,close,amount,volume\n"
GOOD_BARS = BARS_HEAD + (
    "300750,2024-10-30,250.0,252.0,246.0,247.0,4940000000,20000000\n"
    "300750,2024-10-31,246.99,250.5,244.0,245.98,6286268416,25500279\n"
)


@pytest.mark.parametrize(
    ("name", "text", "pattern"),
    [
        (
            "bars.csv",
            "code,date,open,high,low,amount,volume\n300750,2024-10-31,1,1,1,1,1\n",
            r"bars\.csv: column 'close': missing",
        ),
        ("bars.csv", GOOD_BARS.replace("246.99", "-246.99"), r"bars\.csv: column 'open'"),
        ("bars.csv", GOOD_BARS.replace("2024-10-31", "31/10/2024"), r"bars\.csv: column 'date'"),
        ("bars.csv", GOOD_BARS.replace("300750,", "300750.SZ,"), r"bars\.csv: column 'code'"),
        ("bars.csv", GOOD_BARS.replace("250.5,", "240.5,"), r"bars\.csv: column 'high'.*below low"),
        (
            "bars.csv",
            BARS_HEAD
            + "300750,2024-10-30,250.0,252.0,246.0,247.0,494000,20000000\n"
            + "300750,2024-10-31,246.99,250.5,244.0,245.98,628626.8,25500279\n",
            r"bars\.csv: column 'amount'.*10k CNY",
        ),
        (
            "bars.csv",
            BARS_HEAD
            + "300750,2024-10-30,250.0,252.0,246.0,247.0,4940000000,200000\n"
            + "300750,2024-10-31,246.99,250.5,244.0,245.98,6286268416,255003\n",
            r"bars\.csv: column 'volume'.*lots",
        ),
        (
            "bars.csv",
            GOOD_BARS + GOOD_BARS.splitlines()[2] + "\n",
            r"bars\.csv: column 'date'.*duplicate",
        ),
        (
            "official_weights.csv",
            "index_code,trade_date,code,weight\n399006,2025-01-27,300750,20.65\n"
            "399006,2025-01-27,300059,79.35\n",
            r"official_weights\.csv: column 'weight'.*percent",
        ),
        (
            "shares.csv",
            "code,effective_date,total_shares,float_shares,free_float_shares,source\n"
            "300750,2024-06-30,438743.0,,,x\n",
            r"shares\.csv: column 'total_shares'.*10k shares",
        ),
        (
            "securities.csv",
            "code,exchange,board,name,list_date,delist_date\n300750,SZ,gem,,2018-06-11,\n",
            r"securities\.csv: column 'board'",
        ),
        (
            "status.csv",
            "code,start_date,end_date,status\n300750,2024-01-02,,delisted\n",
            r"status\.csv: column 'status'",
        ),
        (
            "index_membership.csv",
            "index_code,code,start_date,end_date\n000300,300750,2024-06-17,2024-01-01\n",
            r"index_membership\.csv: column 'end_date'",
        ),
    ],
)
def test_user_layout_bad_files(name: str, text: str, pattern: str, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    _write(
        folder,
        "securities.csv",
        "code,exchange,board,name,list_date,delist_date\n300750,SZ,chinext,CATL,2018-06-11,\n",
    )
    _write(folder, name, text)
    with open_store(tmp_path / "bad.duckdb", read_only=False) as store:
        with pytest.raises(DataError, match=pattern):
            ingest_files(store, folder)
        # every file is checked before anything is written
        assert store.row_count("securities") == 0
        assert store.row_count("ingest_log") == 0


def test_leading_zeros_restored_and_unknown_codes(tmp_path: Path) -> None:
    folder = tmp_path / "zeros"
    _write(folder, "bars.csv", GOOD_BARS.replace("300750,", "1,"))
    with open_store(tmp_path / "z.duckdb", read_only=False) as store:
        ingest_files(store, folder)
        assert q(store, "SELECT DISTINCT code FROM bars") == [("000001",)]
    _write(folder, "bars.csv", GOOD_BARS.replace("300750,", "510300,"))
    with (
        open_store(tmp_path / "z2.duckdb", read_only=False) as store,
        pytest.raises(DataError, match=r"bars\.csv: column 'code'.*not A-share stock"),
    ):
        ingest_files(store, folder)


def test_not_a_data_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with (
        open_store(tmp_path / "x.duckdb", read_only=False) as store,
        pytest.raises(DataError, match="no data files"),
    ):
        ingest_files(store, tmp_path)
    (tmp_path / "bars.parquet").write_text("not parquet")
    with (
        open_store(tmp_path / "y.duckdb", read_only=False) as store,
        pytest.raises(DataError, match=r"bars\.parquet: cannot read as Parquet"),
    ):
        ingest_files(store, tmp_path)


def test_interrupted_run_leaves_whole_tables_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "resume"
    _write(folder, "bars.csv", GOOD_BARS)
    real_insert = files_mod.insert_calendar

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(files_mod, "insert_calendar", boom)
    store_path = tmp_path / "r.duckdb"
    with open_store(store_path, read_only=False) as store:
        with pytest.raises(KeyboardInterrupt):
            ingest_files(store, folder)
        # bars and securities committed whole; the calendar rolled back
        assert store.row_count("bars") == 2
        assert store.row_count("securities") == 1
        assert store.row_count("calendar") == 0
        monkeypatch.setattr(files_mod, "insert_calendar", real_insert)
        s = ingest_files(store, folder)
        assert s.rows == {"calendar": 2}
        assert len(s.skipped) == 2
        assert store.row_count("bars") == 2


def test_cli_files_errors(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from indexrecon.cli.ingest import ingest

    folder = tmp_path / "bad"
    _write(folder, "bars.csv", "code,date\n300750,2024-10-31\n")
    out = CliRunner().invoke(ingest, ["files", str(folder), "--store", str(tmp_path / "s.duckdb")])
    assert out.exit_code == 2
    assert out.output.startswith("error: ") and "bars.csv" in out.output
    assert out.output.count("\n") == 1


def _add_new_files(realdata_dir: Path, out: Path, codes: str = "('300750', '300059', '302132', '300114')") -> None:
    con = duckdb.connect()
    for name in ("share_observations", "dual_listings", "daily_basic_snapshots", "dividends", "st_snapshots"):
        con.execute(f"COPY (SELECT * FROM read_parquet('{realdata_dir / (name + '.parquet')}') WHERE code IN {codes}) "
                    f"TO '{out / (name + '.parquet')}' (FORMAT parquet)")


def test_mini_realdata_additions(mini_realdata: Path, realdata_dir: Path, tmp_path: Path) -> None:
    _add_new_files(realdata_dir, mini_realdata)
    with open_store(tmp_path / "mini.duckdb", read_only=False) as store:
        s = ingest_files(store, mini_realdata)
        assert not [w for w in s.warnings if "ignored files" in w]
        assert any("differ by more than 1% from the estimate" in n for n in s.notes)
        # one shares history of both files, each row's source kept
        src = dict(q(store, "SELECT source, count(*) FROM shares WHERE code = '300750' GROUP BY 1"))
        assert {"base_share", "tushare_daily_basic", "em_spot"} <= set(src)
        assert dict(q(store, "SELECT code, name FROM securities")) == {
            "300750": "宁德时代", "300059": "东方财富", "302132": "中航成飞"}
        # 300750's H listing of May 2025 is dated in dual_listings
        assert q(store, "SELECT h_code, h_list_date IS NOT NULL FROM dual_listings WHERE code = '300750'") == [("03750", True)]
        assert q(store, "SELECT count(*) > 0 FROM valuation WHERE code = '300059' AND pe_ttm > 0") == [(True,)]
        assert q(store, "SELECT cash_per_share FROM dividends WHERE code = '300750' AND ex_date = '2024-04-30'") == [(5.028,)]


def test_bonus_estimated_from_bars_after_the_share_rows(mini_realdata: Path, realdata_dir: Path,
                                                        tmp_path: Path) -> None:
    """Hand-made 2026 sessions of 300059 after its last share row: one that opens at 1/1.4 of
    the close before and closes beyond the 20% limit becomes a 1.4 bonus issue; a fall beyond
    the limit whose open gap is 1.12 (a dividend-sized gap, under 1.2) does not; neither does a
    fall of 15%, inside the limit."""
    _add_new_files(realdata_dir, mini_realdata)
    bars = mini_realdata / "bars.parquet"
    days = [("2026-01-05", 20.0, 20.0), ("2026-01-06", 14.3, 14.5), ("2026-01-07", 14.6, 14.6),
            ("2026-01-08", 13.0, 11.0), ("2026-01-09", 10.0, 9.4)]
    extra = " UNION ALL ".join(
        f"SELECT '300059', 'SZ', DATE '{d}', {o}, {max(o, c)}, {min(o, c)}, {c}, 1e8, 1000000" for d, o, c in days)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT code, exchange, date, open, high, low, close, amount, volume FROM read_parquet('{bars}') "
                f"UNION ALL {extra} ORDER BY code, date) TO '{tmp_path / 'b.parquet'}' (FORMAT parquet)")
    shutil.move(tmp_path / "b.parquet", bars)
    with open_store(tmp_path / "mini.duckdb", read_only=False) as store:
        s = ingest_files(store, mini_realdata)
        last = q(store, "SELECT total_shares FROM shares WHERE code = '300059' AND effective_date < '2026-01-01' "
                        "ORDER BY effective_date DESC LIMIT 1")[0][0]
        rows = q(store, "SELECT effective_date, total_shares, source FROM shares WHERE code = '300059' "
                        "AND effective_date >= '2026-01-01'")
        assert rows == [(D(2026, 1, 6), round(last * 1.4), "stock_bonus_estimated")]
        assert any("1 bonus issue(s) of 1 stock(s) after their last share row" in w and "300059 2026-01-06 x1.4" in w
                   for w in s.warnings)


@pytest.mark.parametrize(("name", "change", "pattern"), [
    ("dividends", "cash_per_share * 10 AS cash_per_share", r"dividends\.parquet: column 'cash_per_share'.*per 10 shares"),
    ("share_observations", "total_shares // 10000 AS total_shares",
     r"share_observations\.parquet: column 'total_shares'.*10k shares"),
    ("share_observations", "total_shares // 2 AS float_shares",
     r"share_observations\.parquet: column 'free_float_shares'.*free float > float"),
])
def test_realdata_bad_additions(name: str, change: str, pattern: str, mini_realdata: Path, realdata_dir: Path,
                                tmp_path: Path) -> None:
    _add_new_files(realdata_dir, mini_realdata)
    f = mini_realdata / f"{name}.parquet"
    duckdb.connect().execute(f"COPY (SELECT * REPLACE ({change}) FROM read_parquet('{f}')) "
                             f"TO '{tmp_path / 'x.parquet'}' (FORMAT parquet)")
    shutil.move(tmp_path / "x.parquet", f)
    with open_store(tmp_path / "bad.duckdb", read_only=False) as store:
        with pytest.raises(DataError, match=pattern):
            ingest_files(store, mini_realdata)
        assert store.row_count("bars") == 0  # validated before writing


# -- issue 14, item 6: real data never goes into the demo store or any SYNTHETIC store ----
def _digest(p: Path) -> str:
    import hashlib

    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_ingest_into_the_demo_store_is_refused(demo_store_path: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, reliability_log) -> None:
    from click.testing import CliRunner

    from indexrecon.cli.main import main

    folder = tmp_path / "src"
    _write(folder, "bars.csv", GOOD_BARS)
    demo = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_store_path, demo)
    before = _digest(demo)
    # a SYNTHETIC store anywhere, and the demo store's own path (built or not)
    monkeypatch.setenv("INDEXRECON_DEMO_PATH", str(tmp_path / "not-built-yet.duckdb"))
    for target, says in ((demo, "holds SYNTHETIC demo data"), (tmp_path / "not-built-yet.duckdb", "is the embedded demo store")):
        r = CliRunner().invoke(main, ["ingest", "files", str(folder), "--store", str(target)])
        assert r.exit_code == 2, r.output
        assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert _digest(demo) == before
    assert not (tmp_path / "not-built-yet.duckdb").exists()
    with open_store(demo) as store:
        assert store.synthetic
    reliability_log("silently wrong (issue 14)", "`ingest files` into the demo store / a SYNTHETIC store",
                    "refused: one line, exit 2, store byte-identical", 2)


def test_api_ingest_into_a_synthetic_store_is_refused(tmp_path: Path) -> None:
    from factory import S, make_store
    from indexrecon.data.sources.tdx import ingest_tdx
    from indexrecon.errors import StoreError

    p = make_store(tmp_path / "syn.duckdb", [S("300001", cap=1e9)], start=D(2024, 1, 1), end=D(2024, 3, 1))
    folder = tmp_path / "src"
    _write(folder, "bars.csv", GOOD_BARS)
    with open_store(p, read_only=False) as store:
        n = store.row_count("bars")
        with pytest.raises(StoreError, match="SYNTHETIC"):
            ingest_files(store, folder)
        with pytest.raises(StoreError, match="SYNTHETIC"):
            ingest_tdx(store, folder)
        assert store.row_count("bars") == n and store.meta["synthetic"] == "true"


def test_bars_from_the_future_are_refused(tmp_path: Path, reliability_log) -> None:
    folder = tmp_path / "future"
    _write(folder, "bars.csv", GOOD_BARS + "300750,2099-01-02,246.99,250.5,244.0,245.98,6286268416,25500279\n")
    with open_store(tmp_path / "f.duckdb", read_only=False) as store:
        with pytest.raises(DataError, match=r"bars\.csv: column 'date': 1 row\(s\) dated after today .*2099-01-02"):
            ingest_files(store, folder)
        assert store.row_count("bars") == 0
    reliability_log("bad input (issue 14)", "`ingest files` with a bar dated 2099", "refused naming file and column")


# -- issue 14, "Ingest" bullet -------------------------------------------------------------
SECURITIES = "code,exchange,board,name,list_date,delist_date\n300750,SZ,chinext,宁德时代,2018-06-11,\n"


def _ingest_fails(folder: Path, store: Path, pattern: str) -> str:
    """Ingest `folder` into a new store at `store`, expecting a DataError matching `pattern`."""
    with open_store(store, read_only=False) as st, pytest.raises(DataError, match=pattern) as e:
        ingest_files(st, folder)
    return str(e.value)


def test_failed_ingest_into_a_new_path_leaves_no_file(tmp_path: Path, reliability_log) -> None:
    from click.testing import CliRunner

    from indexrecon.cli.main import main

    folder = tmp_path / "bad"
    _write(folder, "bars.csv", GOOD_BARS.replace("246.99", "-246.99"))
    target = tmp_path / "new.duckdb"
    r = CliRunner().invoke(main, ["ingest", "files", str(folder), "--store", str(target)])
    assert r.exit_code == 2 and "bars.csv" in r.stderr
    assert not target.exists() and not list(tmp_path.glob("*.duckdb*"))
    reliability_log("ingest (issue 14)", "a failed first ingest into a new path", "no store file left behind")


def test_header_only_bars_file_is_an_error(tmp_path: Path, reliability_log) -> None:
    folder = tmp_path / "hdr"
    _write(folder, "bars.csv", BARS_HEAD)
    with open_store(tmp_path / "h.duckdb", read_only=False) as store:
        with pytest.raises(DataError, match=r"bars\.csv: no rows \(a header only\)"):
            ingest_files(store, folder)
        assert store.row_count("ingest_log") == 0
    reliability_log("ingest (issue 14)", "a header-only bars.csv", "DataError naming the file (was 0 rows, exit 0)")


def test_misnamed_file_is_noted_with_the_expected_names(tmp_path: Path, reliability_log) -> None:
    folder = tmp_path / "names"
    _write(folder, "securities.csv", SECURITIES)
    _write(folder, "bar.csv", GOOD_BARS)
    with open_store(tmp_path / "n.duckdb", read_only=False) as store:
        s = ingest_files(store, folder)
    note = next(n for n in s.notes if "bar.csv" in n)
    assert "named after no table" in note and "bars" in note and ".csv or .parquet" in note
    alone = tmp_path / "alone"
    _write(alone, "bar.csv", GOOD_BARS)
    _ingest_fails(alone, tmp_path / "a.duckdb", r"no data files this tool knows .*bars\.parquet\|csv.*; found bar\.csv")
    reliability_log("ingest (issue 14)", "a misnamed bar.csv (beside other files / alone)",
                    "a note listing it and the expected names / an error naming it", 2)


def test_gbk_csv_is_decoded_and_other_encodings_named(tmp_path: Path, reliability_log) -> None:
    folder = tmp_path / "gbk"
    folder.mkdir()
    (folder / "securities.csv").write_bytes(SECURITIES.encode("gbk"))
    with open_store(tmp_path / "g.duckdb", read_only=False) as store:
        s = ingest_files(store, folder)
        assert q(store, "SELECT name FROM securities") == [("宁德时代",)]
    assert any("GBK" in n for n in s.notes)
    (folder / "securities.csv").write_bytes(SECURITIES.encode("utf-16"))
    _ingest_fails(folder, tmp_path / "u.duckdb", r"securities\.csv: not UTF-8 text .* nor GBK; save it as UTF-8")
    reliability_log("ingest (issue 14)", "a GBK-encoded and a UTF-16 CSV",
                    "GBK decoded (with a note); UTF-16 named as not UTF-8/GBK", 2)


def test_amount_in_10k_with_volume_in_lots_is_not_called_fen(tmp_path: Path, reliability_log) -> None:
    folder = tmp_path / "units"
    _write(folder, "bars.csv", BARS_HEAD  # a 10-CNY stock: 2e8 CNY is 20,000 x 10k; 2e7 shares 200,000 lots
           + "300001,2024-10-30,10.0,10.2,9.9,10.0,20000,200000\n"
           + "300001,2024-10-31,10.0,10.3,9.8,10.1,30300,300000\n")
    msg = _ingest_fails(folder, tmp_path / "w.duckdb", "amount")
    assert "amount looks like 10k CNY" in msg and "volume looks like lots of 100" in msg and "fen" not in msg
    # prices really in fen (x100) are still called so
    _write(folder, "bars.csv", BARS_HEAD + "300750,2024-10-31,24699,25050,24400,24598,6286268416,25500279\n")
    _ingest_fails(folder, tmp_path / "f.duckdb", "prices look like fen")
    reliability_log("ingest (issue 14)", "amount in 10k CNY with volume in lots; prices in fen",
                    "each diagnosed as what it is", 2)


def test_bars_after_the_given_calendar_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "cal"
    _write(folder, "bars.csv", GOOD_BARS)
    _write(folder, "calendar.csv", "date\n2024-10-29\n2024-10-30\n")
    _ingest_fails(folder, tmp_path / "c.duckdb",
                  r"bars\.csv: column 'date': 1 row\(s\) dated after the last day of calendar\.csv \(2024-10-30")
    _write(folder, "calendar.csv", "date\n2024-10-30\n2024-10-31\n")
    with open_store(tmp_path / "ok.duckdb", read_only=False) as store:
        assert ingest_files(store, folder).rows["bars"] == 2
