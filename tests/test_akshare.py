"""The akshare source, offline: a fake api serving recorded fixtures shaped like akshare."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from indexrecon.data.open import open_store
from indexrecon.data.sources.akshare_api import COLUMNS as COLUMNS_OF
from indexrecon.data.sources.akshare_ingest import ingest_akshare
from indexrecon.data.sources.akshare_source import AkshareSource
from indexrecon.errors import DataError, IndexReconError

FIXTURES = Path(__file__).parent / "fixtures" / "akshare"
D = dt.date
START, END = D(2024, 10, 21), D(2024, 11, 8)
TODAY = D(2025, 1, 27)
CODES = ["000001", "300750", "600519", "688981", "920799"]


def _read(
    name: str, text_cols: tuple[str, ...] = (), date_cols: tuple[str, ...] = ()
) -> pd.DataFrame:
    """A fixture as akshare returns it: codes as text, dates as datetime.date."""
    path = FIXTURES / f"{name}.csv"
    if not path.exists():
        return pd.DataFrame()
    df = pd.read_csv(path, dtype=dict.fromkeys(text_cols, str))
    for col in date_cols:
        df[col] = pd.to_datetime(df[col].astype(str), errors="coerce").dt.date
    return df


class FakeAkshare:
    """The akshare functions the source uses, with akshare's signatures.

    `fail` maps (function, symbol) to how many calls fail before one succeeds (-1: always).
    """

    def __init__(self, fail: dict[tuple[str, str], int] | None = None) -> None:
        self.fail = dict(fail or {})
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _call(self, name: str, symbol: str = "", **kwargs: Any) -> None:
        self.calls.append((name, {"symbol": symbol, **kwargs}))
        left = self.fail.get((name, symbol), 0)
        if left:
            self.fail[(name, symbol)] = left - 1 if left > 0 else left
            raise ConnectionError("Remote end closed connection without response")

    def tool_trade_date_hist_sina(self) -> pd.DataFrame:
        self._call("tool_trade_date_hist_sina")
        return _read("tool_trade_date_hist_sina", date_cols=("trade_date",))

    def stock_info_sz_name_code(self, symbol: str = "A股列表") -> pd.DataFrame:
        self._call("stock_info_sz_name_code", symbol)
        return _read("stock_info_sz_name_code", text_cols=("A股代码",))

    def stock_info_sh_name_code(self, symbol: str = "主板A股") -> pd.DataFrame:
        self._call("stock_info_sh_name_code", symbol)
        return _read(f"stock_info_sh_name_code_{symbol}", ("证券代码",), ("上市日期",))

    def stock_info_bj_name_code(self) -> pd.DataFrame:
        self._call("stock_info_bj_name_code")
        return _read("stock_info_bj_name_code", ("证券代码",), ("上市日期", "报告日期"))

    def stock_zh_a_hist(
        self,
        symbol: str = "000001",
        period: str = "daily",
        start_date: str = "19700101",
        end_date: str = "20500101",
        adjust: str = "",
        timeout: float | None = None,
    ) -> pd.DataFrame:
        self._call(
            "stock_zh_a_hist",
            symbol,
            period=period,
            start_date=start_date,
            end_date=end_date,
            adjust=adjust,
            timeout=timeout,
        )
        assert period == "daily" and adjust == ""
        df = _read(f"stock_zh_a_hist_{symbol}", ("股票代码",), ("日期",))
        if df.empty:
            return df
        lo, hi = pd.Timestamp(start_date).date(), pd.Timestamp(end_date).date()
        return df[(df["日期"] >= lo) & (df["日期"] <= hi)].reset_index(drop=True)

    def stock_zh_a_gbjg_em(self, symbol: str = "603392.SH") -> pd.DataFrame:
        self._call("stock_zh_a_gbjg_em", symbol)
        return _read(f"stock_zh_a_gbjg_em_{symbol.split('.')[0]}", date_cols=("变更日期",))

    def stock_fhps_detail_em(self, symbol: str = "300073") -> pd.DataFrame:
        self._call("stock_fhps_detail_em", symbol)
        if not (FIXTURES / f"stock_fhps_detail_em_{symbol}.csv").exists():
            # akshare 1.19.5 on eastmoney's {"result": null} (a stock without dividends):
            # data_json["result"]["pages"]
            raise TypeError("'NoneType' object is not subscriptable")
        dates = ("报告期", "业绩披露日期", "预案公告日", "股权登记日", "除权除息日", "最新公告日期")
        return _read(f"stock_fhps_detail_em_{symbol}", date_cols=dates)

    def stock_industry_clf_hist_sw(self) -> pd.DataFrame:
        self._call("stock_industry_clf_hist_sw")
        return _read(
            "stock_industry_clf_hist_sw",
            ("symbol", "industry_code"),
            ("start_date", "update_time"),
        )

    def stock_zh_a_st_em(self) -> pd.DataFrame:
        self._call("stock_zh_a_st_em")
        return _read("stock_zh_a_st_em", text_cols=("代码",))

    def index_stock_cons_weight_csindex(self, symbol: str = "000300") -> pd.DataFrame:
        self._call("index_stock_cons_weight_csindex", symbol)
        df = _read(f"index_stock_cons_weight_csindex_{symbol}", ("日期", "指数代码", "成分券代码"))
        if not df.empty:
            df["日期"] = pd.to_datetime(df["日期"], format="%Y%m%d").dt.date
        return df

    def index_detail_hist_cni(self, symbol: str = "399001") -> pd.DataFrame:
        self._call("index_detail_hist_cni", symbol)
        return _read(f"index_detail_hist_cni_{symbol}", text_cols=("样本代码",))

    def stock_zh_index_value_csindex(self, symbol: str = "H30374") -> pd.DataFrame:
        self._call("stock_zh_index_value_csindex", symbol)
        return _read(f"stock_zh_index_value_csindex_{symbol}", ("指数代码",), ("日期",))

    def stock_index_pe_lg(self, symbol: str = "沪深300") -> pd.DataFrame:
        self._call("stock_index_pe_lg", symbol)
        return _read(f"stock_index_pe_lg_{symbol}", date_cols=("日期",))

    def stock_index_pb_lg(self, symbol: str = "上证50") -> pd.DataFrame:
        self._call("stock_index_pb_lg", symbol)
        return _read(f"stock_index_pb_lg_{symbol}", date_cols=("日期",))

    # -- the datasets beyond bars

    def stock_share_change_cninfo(
        self, symbol: str = "002594", start_date: str = "20091227", end_date: str = "20241021"
    ) -> pd.DataFrame:
        self._call("stock_share_change_cninfo", symbol, start_date=start_date, end_date=end_date)
        if not (FIXTURES / f"stock_share_change_cninfo_{symbol}.csv").exists():
            raise KeyError("公告日期")  # akshare 1.19.5 on cninfo's empty records
        df = _read(
            f"stock_share_change_cninfo_{symbol}",
            ("证券代码", "变动原因编码"),
            ("公告日期", "变动日期"),
        )
        lo, hi = pd.Timestamp(start_date).date(), pd.Timestamp(end_date).date()
        return df[(df["变动日期"] >= lo) & (df["变动日期"] <= hi)].reset_index(drop=True)

    def stock_value_em(self, symbol: str = "300766") -> pd.DataFrame:
        self._call("stock_value_em", symbol)
        if not (FIXTURES / f"stock_value_em_{symbol}.csv").exists():
            raise TypeError("'NoneType' object is not subscriptable")
        return _read(f"stock_value_em_{symbol}", date_cols=("数据日期",))

    def stock_info_sh_delist(self, symbol: str = "全部") -> pd.DataFrame:
        self._call("stock_info_sh_delist", symbol)
        return _read("stock_info_sh_delist", ("公司代码",), ("上市日期", "暂停上市日期"))

    def stock_info_sz_delist(self, symbol: str = "终止上市公司") -> pd.DataFrame:
        self._call("stock_info_sz_delist", symbol)
        return _read("stock_info_sz_delist", ("证券代码",), ("上市日期", "终止上市日期"))

    def stock_tfp_em(self, date: str = "20240426") -> pd.DataFrame:
        self._call("stock_tfp_em", date)
        if not (FIXTURES / f"stock_tfp_em_{date}.csv").exists():
            raise TypeError("'NoneType' object is not subscriptable")
        return _read(
            f"stock_tfp_em_{date}", ("代码",), ("停牌时间", "停牌截止时间", "预计复牌时间")
        )

    def stock_info_sz_change_name(self, symbol: str = "全称变更") -> pd.DataFrame:
        self._call("stock_info_sz_change_name", symbol)
        return _read(f"stock_info_sz_change_name_{symbol}", ("证券代码",), ("变更日期",))

    def stock_fhps_em(self, date: str = "20231231") -> pd.DataFrame:
        self._call("stock_fhps_em", date)
        if not (FIXTURES / f"stock_fhps_em_{date}.csv").exists():
            raise TypeError("'NoneType' object is not subscriptable")
        dates = ("预案公告日", "股权登记日", "除权除息日", "最新公告日期")
        return _read(f"stock_fhps_em_{date}", ("代码",), dates)


def q(store, sql: str) -> list[tuple]:
    return store.con.execute(sql).fetchall()


def _ingest(store, api: FakeAkshare, start: dt.date = START, end: dt.date = END, **kw: Any):
    kw.setdefault("min_interval", 0)
    kw.setdefault("backoff", 0)
    kw.setdefault("today", TODAY)
    return ingest_akshare(store, start, end, None, api=api, **kw)


@pytest.fixture()
def store(tmp_path: Path):
    with open_store(tmp_path / "ak.duckdb", read_only=False) as s:
        yield s


def test_importing_indexrecon_does_not_import_akshare() -> None:
    code = (
        "import sys, indexrecon, indexrecon.cli.ingest, indexrecon.data.sources.akshare_ingest\n"
        "import indexrecon.data.sources.akshare_plan\n"
        "assert 'akshare' not in sys.modules, 'akshare imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_akshare_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "akshare", None)  # import akshare -> ImportError
    with pytest.raises(IndexReconError, match=r"pip install 'indexrecon\[online\]'"):
        AkshareSource().call("stock_info_a_code_name")


def test_full_ingest(store) -> None:
    api = FakeAkshare()
    s = _ingest(store, api)
    assert not s.failures, s.failures
    # universe: five stocks + the ST sample, and the delisted A shares (not the B share)
    secs = {
        r[0]: r[1:]
        for r in q(store, "SELECT code, exchange, board, name, list_date FROM securities")
    }
    assert set(secs) == {*CODES, "000004", "600001", "603999", "000003", "300999"}
    assert q(
        store, "SELECT code, delist_date FROM securities WHERE delist_date IS NOT NULL ORDER BY 1"
    ) == [
        ("000003", D(2002, 6, 14)),
        ("300999", D(2024, 10, 25)),
        ("600001", D(2009, 12, 29)),
        ("603999", D(2024, 11, 4)),
    ]
    assert secs["300750"] == ("SZ", "chinext", "宁德时代", D(2018, 6, 11))
    assert secs["600519"] == ("SH", "sh_main", "贵州茅台", D(2001, 8, 27))
    assert secs["688981"][:2] == ("SH", "star") and secs["920799"][:2] == ("BJ", "bse")
    # bars: lots x 100 -> shares, amount CNY, raw prices
    # bars of the listed stocks, and of 603999 until it left (300999: none to be had)
    assert q(store, "SELECT code, count(*), max(date) FROM bars GROUP BY 1 ORDER BY 1")[-3:] == [
        ("603999", 10, D(2024, 11, 1)),
        ("688981", 15, END),
        ("920799", 15, END),
    ]
    assert store.row_count("bars") == 15 * 5 + 10
    bar = q(
        store,
        "SELECT open, high, low, close, amount, volume FROM bars "
        "WHERE code = '300750' AND date = '2024-10-31'",
    )
    assert bar == [(246.99, 250.5, 244.0, 245.98, 6286268416.0, 25500300)]
    hist = [kw for name, kw in api.calls if name == "stock_zh_a_hist"]
    assert {kw["start_date"] for kw in hist} == {"20241021"}
    assert {kw["end_date"] for kw in hist if kw["symbol"] == "603999"} == {"20241104"}
    assert store.row_count("calendar") == 15
    # shares in shares, float = listed A shares
    sh = q(
        store,
        "SELECT total_shares, float_shares FROM shares WHERE code = '600519' "
        "ORDER BY effective_date DESC LIMIT 1",
    )
    assert sh == [(1255120000.0, 1129608000.0)]
    # eastmoney's and cninfo's change points merged (10k shares -> shares); a_shares is the
    # A-share total: all of Moutai's capital, SMIC's without its H shares (the correction
    # announced later wins)
    assert q(
        store,
        "SELECT effective_date, total_shares, a_shares, float_shares, source FROM shares "
        "WHERE code = '600519' AND effective_date >= '2015-01-01' ORDER BY 1",
    ) == [
        (D(2015, 7, 17), 1256200000.0, 1256200000.0, 1130580000.0, "akshare:stock_zh_a_gbjg_em"),
        (
            D(2024, 10, 28),
            1255120000.0,
            1255120000.0,
            1129608000.0,
            "akshare:stock_share_change_cninfo",
        ),
        (D(2025, 4, 3), 1255120000.0, 1255120000.0, 1129608000.0, "akshare:stock_zh_a_gbjg_em"),
    ]
    assert q(
        store,
        "SELECT effective_date, total_shares, a_shares, float_shares FROM shares "
        "WHERE code = '688981' ORDER BY 1",
    ) == [
        (D(2023, 12, 31), 7946941600.0, 1985673100.0, 1985673100.0),
        (D(2024, 9, 30), 7976379500.0, 1989578200.0, 1989578200.0),
    ]
    # eastmoney reads a bare code by its first digit (920799 as Shanghai): the suffix is sent
    gbjg = {kw["symbol"] for name, kw in api.calls if name == "stock_zh_a_gbjg_em"}
    assert {"920799.BJ", "688981.SH", "300750.SZ"} <= gbjg
    assert q(store, "SELECT count(free_float_shares) FROM shares") == [(0,)]
    assert any("free_float_shares stays empty" in n for n in s.notes)
    # valuation: PE (TTM) and PB of the range's days
    assert q(
        store, "SELECT count(*), min(date), max(date) FROM valuation WHERE code = '600519'"
    ) == [(15, START, END)]
    assert q(
        store, "SELECT pe_ttm, pb FROM valuation WHERE code = '300750' AND date = '2024-10-31'"
    ) == [(pytest.approx(245.98 / 11.03, abs=1e-4), pytest.approx(245.98 / 52.92, abs=1e-4))]
    # dividends per share from per-10-shares, implemented ones only
    assert q(
        store, "SELECT code, ex_date, cash_per_share FROM dividends ORDER BY code, ex_date"
    ) == [
        ("000001", D(2024, 6, 14), pytest.approx(0.719)),
        ("000001", D(2024, 10, 10), pytest.approx(0.246)),
        ("600519", D(2024, 6, 19), pytest.approx(30.876)),
    ]
    # Shenwan: SW2021 intervals only, names of level 1, 302132 not in this universe
    ind = q(
        store,
        "SELECT code, start_date, end_date, sw_l1_code, sw_l1_name, sw_l2_code, "
        "sw_l3_code FROM industry WHERE code = '000001'",
    )
    assert ind == [("000001", D(2021, 7, 30), None, "480000", "银行", "480300", "480301")]
    assert q(store, "SELECT count(*) FROM industry WHERE code = '302132'") == [(0,)]
    assert any("ended before SW2021" in n for n in s.notes)
    # dividends came market-wide, one call per report period
    periods = [kw["symbol"] for name, kw in api.calls if name == "stock_fhps_em"]
    assert periods == ["20230630", "20230930", "20231231", "20240331", "20240630", "20240930"]
    assert not [c for c in api.calls if c[0] == "stock_fhps_detail_em"]
    # status: ST history from Shenzhen's name changes (today's board agrees), a two-day
    # suspension (the intraday halt of 688981 is not one)
    assert q(store, "SELECT * FROM status ORDER BY code, start_date") == [
        ("000004", D(2023, 5, 4), D(2024, 4, 29), "ST"),
        ("000004", D(2024, 4, 30), None, "*ST"),
        ("000004", D(2024, 10, 28), D(2024, 10, 29), "suspended"),
    ]
    assert len([c for c in api.calls if c[0] == "stock_tfp_em"]) == 15
    # official weights as fractions
    w = dict(q(store, "SELECT code, weight FROM official_weights WHERE index_code = '000300'"))
    assert w["300750"] == pytest.approx(0.03397)
    assert q(
        store, "SELECT DISTINCT trade_date FROM official_weights WHERE index_code = '000300'"
    ) == [(D(2025, 1, 27),)]
    # CNI: the whole monthly history in one call (no date since akshare 1.18.10), kept to
    # the month-end snapshots up to --end
    cni = [kw for name, kw in api.calls if name == "index_detail_hist_cni"]
    assert cni == [{"symbol": "399006"}]
    assert q(
        store,
        "SELECT trade_date, count(*), round(sum(weight), 6) FROM official_weights "
        "WHERE index_code = '399006' GROUP BY 1 ORDER BY 1",
    ) == [(D(2024, 9, 30), 3, 0.324053), (D(2024, 10, 31), 3, 0.331185)]
    assert store.meta["synthetic"] == "false" and "akshare" in store.meta["source"]


def test_boards_and_codes_filter(store) -> None:
    api = FakeAkshare()
    s = ingest_akshare(
        store,
        START,
        END,
        ["chinext", "star"],
        api=api,
        min_interval=0,
        datasets=["securities", "bars"],
        today=TODAY,
    )
    assert q(store, "SELECT code FROM securities ORDER BY 1") == [("300750",), ("688981",)]
    assert s.rows["bars"] == 30
    with pytest.raises(IndexReconError, match="unknown board gem"):
        ingest_akshare(store, START, END, ["gem"], api=api)


def test_incremental_bars_and_resume(store) -> None:
    api = FakeAkshare()
    _ingest(store, api, end=D(2024, 10, 31), datasets=["securities", "bars"])
    assert store.row_count("bars") == 9 * 5
    api.calls.clear()
    s = _ingest(store, api, datasets=["securities", "bars"])
    hist = [kw for name, kw in api.calls if name == "stock_zh_a_hist"]
    # 000004 (no bars at all) was fetched through 10-31 too: not asked for 10-21 again
    assert {kw["start_date"] for kw in hist} == {"20241101"}
    assert len(hist) == 6
    assert s.rows["bars"] == 6 * 5
    assert store.row_count("bars") == 15 * 5
    # a third run has nothing to fetch
    api.calls.clear()
    s = _ingest(store, api, datasets=["securities", "bars"])
    assert [c for c in api.calls if c[0] == "stock_zh_a_hist"] == []
    assert s.rows.get("bars", 0) == 0


def test_one_failing_stock_does_not_stop_the_others(store) -> None:
    api = FakeAkshare(fail={("stock_zh_a_hist", "600519"): -1})
    s = _ingest(store, api, datasets=["securities", "bars"], max_retries=2)
    assert len(s.failures) == 1 and s.failures[0].startswith("600519 bars")
    assert "after 3 attempts" in s.failures[0] and "ConnectionError" in s.failures[0]
    assert q(store, "SELECT count(DISTINCT code) FROM bars") == [(4,)]
    assert "FAILED: 600519 bars" in str(s)
    # the rerun fetches only what is missing
    api.fail.clear()
    api.calls.clear()
    s = _ingest(store, api, datasets=["securities", "bars"])
    fetched = [kw["symbol"] for name, kw in api.calls if name == "stock_zh_a_hist"]
    assert fetched == ["600519"]
    assert not s.failures and store.row_count("bars") == 15 * 5


def test_retry_with_backoff_and_jitter_then_success() -> None:
    api = FakeAkshare(fail={("stock_zh_a_hist", "300750"): 2})
    sleeps: list[float] = []
    src = AkshareSource(api, min_interval=0, max_retries=3, backoff=1.0, sleep=sleeps.append)
    bars = src.bars("300750", START, END)
    assert len(bars) == 15
    # exponential backoff 1, 2 s, each spread by a random factor in [0.5, 1.5]
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.5 and 1.0 <= sleeps[1] <= 3.0
    assert sleeps != [1.0, 2.0]
    assert [n for n, _ in api.calls].count("stock_zh_a_hist") == 3
    api.fail[("stock_zh_a_hist", "300750")] = 2
    with pytest.raises(DataError, match="failed after 2 attempts"):
        AkshareSource(api, min_interval=0, max_retries=1, backoff=0).bars("300750", START, END)


def test_the_retry_budget_bounds_the_whole_run(store) -> None:
    always = {("stock_zh_a_hist", c): -1 for c in CODES}
    s = _ingest(store, FakeAkshare(fail=always), datasets=["securities", "bars"], retry_budget=3)
    failed = sorted(f.split(" ")[0] for f in s.failures)
    assert failed == sorted(CODES)
    # three retries in all, not three per stock: the later stocks failed at once
    assert "3 retries (budget 3)" in " ".join(s.notes)
    assert sum("retry budget of 3 spent" in f for f in s.failures) == len(CODES) - 1
    assert any("retry budget of 3 was spent" in w for w in s.warnings)
    resume = [w for w in s.warnings if w.startswith("resume:")]
    assert resume and f"--codes {','.join(sorted(CODES))}" in resume[0]


class _Stalled(FakeAkshare):
    """stock_fhps_detail_em (no timeout parameter) never answers until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def stock_fhps_detail_em(self, symbol: str = "300073") -> pd.DataFrame:
        self.release.wait(30)
        return super().stock_fhps_detail_em(symbol)


def test_timeouts_are_passed_and_stalled_calls_give_up() -> None:
    api = _Stalled()
    src = AkshareSource(api, min_interval=0, backoff=0, max_retries=1, timeout=7, deadline=0.05)
    try:
        src.bars("300750", START, END)
        hist = [kw for name, _, kw in src.made if name == "stock_zh_a_hist"]
        assert hist and hist[0]["timeout"] == 7  # passed where the function has it
        with pytest.raises(DataError, match=r"TimeoutError: no answer within 0\.05 s"):
            src.dividends("000001")
        assert src.stats.timeouts == 2 and "timeout" not in src.made[-1][2]
    finally:
        api.release.set()


def test_a_stock_without_dividends_is_no_rows_not_a_failure(store) -> None:
    # 300750 has no fixture: the fake raises akshare's TypeError on result null
    s = _ingest(store, FakeAkshare(), datasets=["securities", "dividends"], dividends_by="stock")
    assert not s.failures, s.failures
    assert q(store, "SELECT DISTINCT code FROM dividends ORDER BY 1") == [("000001",), ("600519",)]
    assert q(store, "SELECT count(*) FROM ingest_log WHERE item LIKE 'dividends 300750 %'") == [
        (1,)
    ]  # logged as loaded with no rows: not fetched again on the next run


def test_a_changed_signature_is_named_and_not_retried() -> None:
    class Renamed(FakeAkshare):
        def stock_fhps_detail_em(self, stock: str = "300073") -> pd.DataFrame:  # type: ignore[override]
            raise AssertionError("must not be called")

    api = Renamed()
    src = AkshareSource(api, min_interval=0, backoff=0)
    with pytest.raises(DataError, match=r"signature is stock_fhps_detail_em\(stock:"):
        src.dividends("000001")
    assert src.calls == 0 and src.stats.retries == 0


def test_one_exchange_down_leaves_the_others(store) -> None:
    api = FakeAkshare(fail={("stock_info_sz_name_code", "A股列表"): -1})
    s = _ingest(store, api, datasets=["securities", "bars"], max_retries=0)
    assert q(store, "SELECT code FROM securities ORDER BY 1") == [
        ("600519",),
        ("688981",),
        ("920799",),
    ]
    assert any(
        "SZ list stock_info_sz_name_code(symbol='A股列表') failed, so sz_main and chinext are "
        "missing" in w
        for w in s.warnings
    )
    assert not s.failures and s.rows["bars"] == 45


def test_exchange_lists_are_called_as_stock_info_a_code_name_calls_them(store) -> None:
    """akshare caches the lists with lru_cache, keyed on the call's form: the keyword form
    of stock_info_a_code_name shares one download, a positional call makes a second."""
    src = AkshareSource(FakeAkshare(), min_interval=0)
    src.securities()
    made = [(n, a, k) for n, a, k in src.made]
    assert made == [
        ("stock_info_sh_name_code", (), {"symbol": "主板A股"}),
        ("stock_info_sz_name_code", (), {"symbol": "A股列表"}),
        ("stock_info_sh_name_code", (), {"symbol": "科创板"}),
        ("stock_info_bj_name_code", (), {}),
    ]
    ak = pytest.importorskip("akshare")
    import ast
    import inspect as insp

    tree = ast.parse(insp.getsource(insp.unwrap(ak.stock_info_a_code_name)))
    theirs = [
        (
            node.func.id,
            tuple(ast.literal_eval(a) for a in node.args),
            {k.arg: ast.literal_eval(k.value) for k in node.keywords},
        )
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id.startswith("stock_info_")
    ]
    assert sorted(theirs, key=repr) == sorted(made, key=repr)


def test_csindex_weights_are_labelled_with_the_files_date(store) -> None:
    s = _ingest(store, FakeAkshare(), datasets=["weights"], indices=["000300"])
    assert q(store, "SELECT DISTINCT trade_date FROM official_weights") == [(D(2025, 1, 27),)]
    assert q(store, "SELECT item FROM ingest_log WHERE item LIKE 'weights%'") == [
        ("weights 000300 2025-01-27",)
    ]
    assert any(
        "serves only the latest weights file, dated 2025-01-27" in w
        and "the weights of 2024-11 (--end) are not available" in w
        for w in s.warnings
    )
    s = _ingest(store, FakeAkshare(), end=D(2025, 1, 31), datasets=["weights"], indices=["000300"])
    assert not s.warnings and any("the latest weights file, dated 2025-01-27" in n for n in s.notes)


def test_rate_limit_spaces_calls() -> None:
    now = [100.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    src = AkshareSource(FakeAkshare(), min_interval=0.5, sleep=sleep, clock=lambda: now[0])
    src.call("tool_trade_date_hist_sina")
    now[0] += 0.2
    src.call("tool_trade_date_hist_sina")
    now[0] += 1.0
    src.call("tool_trade_date_hist_sina")
    assert sleeps == [pytest.approx(0.3)]


class _WrongUnits(FakeAkshare):
    def stock_zh_a_hist(self, symbol: str = "000001", **kw: Any) -> pd.DataFrame:
        df = super().stock_zh_a_hist(symbol, **kw)
        if symbol == "300750":
            df["成交量"] = df["成交量"] * 100  # shares where akshare documents lots
        if symbol == "600519":
            df = df.drop(columns=["成交额"])
        return df


def test_unit_and_shape_errors_are_reported_per_stock(store) -> None:
    s = _ingest(store, _WrongUnits(), datasets=["securities", "bars"])
    failed = {f.split(" ")[0]: f for f in s.failures}
    assert set(failed) == {"300750", "600519"}
    assert "成交量" in failed["300750"]
    assert "missing column 成交额" in failed["600519"]
    assert q(store, "SELECT count(DISTINCT code) FROM bars") == [(3,)]


def test_st_history_builds_up(store) -> None:
    api = FakeAkshare()
    _ingest(store, api, datasets=["securities", "status"])
    assert q(store, "SELECT * FROM status") == [("000004", TODAY, None, "*ST")]

    class Recovered(FakeAkshare):
        def stock_zh_a_st_em(self) -> pd.DataFrame:
            df = super().stock_zh_a_st_em()
            return df[df["代码"] != "000004"]

    later = D(2025, 3, 3)
    _ingest(store, Recovered(), datasets=["securities", "status"], today=later)
    assert q(store, "SELECT * FROM status") == [("000004", TODAY, D(2025, 3, 2), "*ST")]


def test_bad_arguments(store) -> None:
    with pytest.raises(IndexReconError, match="after end"):
        ingest_akshare(store, END, START, None, api=FakeAkshare())
    with pytest.raises(IndexReconError, match="unknown dataset"):
        ingest_akshare(store, START, END, None, api=FakeAkshare(), datasets=["prices"])


def test_cni_history_keeps_the_last_snapshot_of_each_month_up_to_end() -> None:
    class TwoInAMonth(FakeAkshare):
        def index_detail_hist_cni(self, symbol: str = "399001") -> pd.DataFrame:
            df = super().index_detail_hist_cni(symbol)
            extra = df[df["日期"] == "2025-02-28"].assign(日期="2025-02-14")
            return pd.concat([df, extra], ignore_index=True)

    src = AkshareSource(TwoInAMonth(), min_interval=0)
    w = src.index_weights("399006", D(2025, 2, 28))
    days = sorted({d.date() for d in w["trade_date"]})
    assert days == [
        D(2024, 9, 30),
        D(2024, 10, 31),
        D(2024, 11, 29),
        D(2025, 1, 27),
        D(2025, 2, 28),
    ]
    assert w[w["trade_date"] == "2025-01-27"].set_index("code")["weight"].to_dict() == {
        "300059": pytest.approx(0.089573),
        "300750": pytest.approx(0.206509),
        "300760": pytest.approx(0.038926),
    }
    assert AkshareSource(TwoInAMonth(), min_interval=0).index_weights("399006", D(2024, 9, 1)).empty


# --------------------------------------------------------------------------------------
# the fake against the installed akshare: signatures and output columns


def _installed_akshare() -> Any:
    return pytest.importorskip("akshare", reason="akshare not installed (pip install '.[online]')")


# How the installed source builds each function's output columns (default: the last
# column list it writes: ``df.columns = [...]``, ``df = df[[...]]`` or ``columns=[...]``).
_HOW = {
    "stock_info_sz_name_code": "first",  # the symbol="A股列表" branch comes first
    "stock_industry_clf_hist_sw": "rename",  # the xlsx's columns, renamed
    "stock_share_change_cninfo": "rename-ignore",  # cols_map's values but ignore_cols
    "stock_info_sz_delist": "read",  # the exchange's xlsx as is: the columns it reads
    "stock_info_sz_change_name": "read",
}


def _columns_in_source(fn: Any, how: str) -> list[str]:
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(inspect.unwrap(fn)))

    def strings(node: ast.AST) -> list[str] | None:
        if (
            isinstance(node, ast.List)
            and node.elts
            and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
        ):
            return [e.value for e in node.elts]  # type: ignore[attr-defined]
        return None

    lists: list[tuple[int, list[str]]] = []
    dicts: dict[str, list[str]] = {}
    read: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            target = node.targets[0]
            found = None
            if isinstance(target, ast.Attribute) and target.attr == "columns":
                found = strings(node.value)
            elif isinstance(node.value, ast.Subscript):
                found = strings(node.value.slice)
            if found:
                lists.append((node.lineno, found))
            if isinstance(target, ast.Name):
                if isinstance(node.value, ast.Dict):
                    dicts[target.id] = [getattr(v, "value", None) for v in node.value.values]
                elif strings(node.value):
                    dicts[target.id] = strings(node.value) or []
        elif isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "columns" and strings(kw.value):
                    lists.append((node.lineno, strings(kw.value) or []))
                if kw.arg == "columns" and isinstance(kw.value, ast.Dict):
                    dicts["rename"] = [getattr(v, "value", None) for v in kw.value.values]
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
            and isinstance(node.value, ast.Name)
            and node.value.id.endswith("_df")
        ):
            read.append(node.slice.value)
    lists.sort()
    if how == "first":
        return lists[0][1]
    if how == "rename":
        return dicts["rename"]
    if how == "rename-ignore":
        return [c for c in dicts["cols_map"] if c not in dicts["ignore_cols"]]
    if how == "read":
        return list(dict.fromkeys(read))
    return lists[-1][1]


@pytest.fixture(scope="module")
def every_call(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, tuple, dict]]:
    """Every (function, args, kwargs) of full runs over the fake, each dataset and path."""
    tmp_path = tmp_path_factory.mktemp("calls")
    made: list[tuple[str, tuple, dict[str, Any]]] = []
    runs: list[dict[str, Any]] = [{}, {"codes": ["000001", "600519"]}]
    for i, kw in enumerate(runs):
        src = AkshareSource(FakeAkshare(), min_interval=0, backoff=0)
        with open_store(tmp_path / f"calls{i}.duckdb", read_only=False) as s:
            _ingest(s, None, source=src, **kw)  # type: ignore[arg-type]
        made += src.made
    return made


def test_every_call_binds_to_the_installed_akshare(every_call: list) -> None:
    import inspect

    ak = _installed_akshare()
    from indexrecon.data.sources.akshare_api import COLUMNS

    made = every_call
    names = {name for name, _, _ in made}
    assert {"stock_zh_a_hist", "index_detail_hist_cni", "stock_fhps_detail_em"} <= names
    for name, args, kwargs in made:
        fn = getattr(ak, name, None)
        assert fn is not None, f"akshare {ak.__version__} has no {name}"
        inspect.signature(fn).bind(*args, **kwargs)  # TypeError names the bad call
        assert name in COLUMNS, f"{name}: no stored column list"


def test_the_fake_has_the_installed_signatures() -> None:
    import inspect

    ak = _installed_akshare()
    for name, method in inspect.getmembers(FakeAkshare, inspect.isfunction):
        if name.startswith("_"):
            continue
        ours = list(inspect.signature(method).parameters.values())[1:]
        theirs = list(inspect.signature(getattr(ak, name)).parameters.values())
        assert [(p.name, p.default) for p in ours] == [(p.name, p.default) for p in theirs], name


def test_stored_columns_match_the_installed_source() -> None:
    ak = _installed_akshare()
    from indexrecon.data.sources.akshare_api import COLUMNS

    for name, cols in COLUMNS.items():
        how = _HOW.get(name, "last")
        found = _columns_in_source(getattr(ak, name), how)
        if how == "read":
            assert set(found) <= set(cols), (name, found)
        elif how.startswith("rename"):
            assert set(found) == set(cols), (name, found)
        else:
            assert found == list(cols), (name, found)


def test_fixtures_have_the_installed_functions_columns(every_call: list) -> None:
    """Each recorded response has the columns of the function's output (COLUMNS, itself
    checked against the installed source above), and every function called has one."""
    from indexrecon.data.sources.akshare_api import COLUMNS

    seen = set()
    for path in sorted(FIXTURES.glob("*.csv")):
        name = next(
            (n for n in sorted(COLUMNS, key=len, reverse=True) if path.stem.startswith(n)), None
        )
        assert name is not None, f"{path.name}: which akshare function is it?"
        header = list(pd.read_csv(path, nrows=0).columns)
        assert header == list(COLUMNS[name]), path.name
        seen.add(name)
    called = {name for name, _, _ in every_call}
    assert called <= seen, f"no recorded response of {sorted(called - seen)}"


def test_suspensions_resume_and_merge_into_one_spell(store) -> None:
    ds = ["calendar", "securities", "suspensions"]
    _ingest(store, FakeAkshare(), end=D(2024, 10, 28), datasets=ds)
    assert q(store, "SELECT * FROM status") == [
        ("000004", D(2024, 10, 28), D(2024, 10, 28), "suspended")
    ]
    api = FakeAkshare()
    _ingest(store, api, datasets=ds)
    days = [kw["symbol"] for name, kw in api.calls if name == "stock_tfp_em"]
    assert days[0] == "20241029" and len(days) == 9  # the days done before are not asked again
    assert q(store, "SELECT * FROM status") == [
        ("000004", D(2024, 10, 28), D(2024, 10, 29), "suspended")
    ]


def test_valuation_checks_the_stores_share_counts(store) -> None:
    class Diluted(FakeAkshare):
        def stock_value_em(self, symbol: str = "300766") -> pd.DataFrame:
            df = super().stock_value_em(symbol)
            df["总股本"] = df["总股本"] * 1.2
            return df

    s = _ingest(store, Diluted(), datasets=["securities", "shares", "valuation"])
    off = [w for w in s.warnings if "total shares differ by more than 1%" in w]
    assert (
        off
        and "for 2 of 2 stocks" in off[0]
        and "600519 (1,255,120,000 vs 1,507,440,000 on 2024-11-08)" in off[0]
    )
    assert not _ingest(store, FakeAkshare(), datasets=["valuation"], force=True).warnings


def test_dry_run_counts_the_calls_a_run_makes(store) -> None:
    from indexrecon.data.sources.akshare_plan import plan_akshare
    from indexrecon.data.sources.akshare_source import DATASETS

    _ingest(store, FakeAkshare(), datasets=["calendar"])
    plan = plan_akshare(
        store, START, END, None, CODES, DATASETS, ["000300", "399006"], None, 0.5, TODAY
    )
    src = AkshareSource(FakeAkshare(), min_interval=0, backoff=0)
    s = _ingest(store, None, codes=CODES, indices=["000300", "399006"], source=src)
    assert not s.failures, s.failures
    ran = src.stats.calls
    planned = {r.function.split("(")[0]: 0 for r in plan.rows}
    for r in plan.rows:
        planned[r.function.split("(")[0]] += r.calls
    assert planned == ran
    assert plan.calls == src.calls and plan.seconds == pytest.approx(0.5 * src.calls)
    assert "at least" in str(plan) and "5 stocks, from --codes" in str(plan)
    # a second plan sees what the store has: bars through END, shares of today, days done
    again = plan_akshare(
        store, START, END, None, CODES, DATASETS, ["000300", "399006"], None, 0.5, TODAY
    )
    left = {r.function: r.calls for r in again.rows}
    assert left["stock_zh_a_hist"] == 0 and left["stock_tfp_em"] == 0
    assert left["stock_zh_a_gbjg_em"] == 0


def test_dry_run_command_needs_no_akshare_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from indexrecon.cli.ingest import ingest

    monkeypatch.setitem(sys.modules, "akshare", None)
    path = tmp_path / "none.duckdb"
    args = ["akshare", "--start", "2024-01-01", "--end", "2024-12-31", "--dry-run"]
    res = CliRunner().invoke(ingest, [*args, "--store", str(path), "--boards", "chinext"])
    assert res.exit_code == 0, res.output
    assert "stock_zh_a_hist" in res.output and "stock_fhps_em" in res.output
    assert "1,390 stocks, from approximate board sizes" in res.output
    assert not path.exists()
    res = CliRunner().invoke(ingest, [*args, "--dividends-by", "stock", "--datasets", "dividends"])
    assert res.exit_code == 0 and "stock_fhps_detail_em" in res.output


class _Answer:
    """A requests response carrying `payload` as JSON."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload
        self.text = str(payload)
        self.content = b""
        self.status_code = 200

    def json(self) -> Any:
        return self.payload


@pytest.mark.parametrize(
    ("module", "verb", "payload", "name", "kwargs"),
    [
        # eastmoney's answer for a stock without dividends
        (
            "stock_feature.stock_fhps_em",
            "get",
            {"result": None},
            "stock_fhps_detail_em",
            {"symbol": "300750"},
        ),
        # a report period nobody has reported yet
        (
            "stock_feature.stock_fhps_em",
            "get",
            {"result": {"pages": 0, "data": []}},
            "stock_fhps_em",
            {"date": "20991231"},
        ),
        # a day without suspensions
        (
            "stock_feature.stock_tfp_em",
            "get",
            {"result": {"pages": 0, "data": []}},
            "stock_tfp_em",
            {"date": "20241026"},
        ),
        (
            "stock_feature.stock_value_em",
            None,
            {"result": None},
            "stock_value_em",
            {"symbol": "920799"},
        ),
        # cninfo without records for the stock
        (
            "stock.stock_share_changes_cninfo",
            "post",
            {"records": []},
            "stock_share_change_cninfo",
            {"symbol": "920799", "start_date": "19900101", "end_date": "20250127"},
        ),
    ],
)
def test_the_installed_akshare_answering_no_rows_is_no_rows(
    monkeypatch: pytest.MonkeyPatch,
    module: str,
    verb: str | None,
    payload: Any,
    name: str,
    kwargs: dict[str, Any],
) -> None:
    """The real functions, fed the sites' empty answers (no network), fail inside in the
    ways NO_ROWS knows: the call gives an empty frame, not a failure or a retry."""
    import importlib

    _installed_akshare()
    mod = importlib.import_module(f"akshare.{module}")
    answer = _Answer(payload)
    if verb is None:  # through akshare's own retrying helper
        monkeypatch.setattr(mod, "make_request_with_retry_json", lambda *a, **k: payload)
    else:
        monkeypatch.setattr(mod.requests, verb, lambda *a, **k: answer)
    src = AkshareSource(None, min_interval=0, backoff=0, max_retries=2)
    assert src.call(name, **kwargs).empty
    assert src.stats.retries == 0 and src.calls == 1


def test_the_installed_akshare_parses_into_our_units(monkeypatch: pytest.MonkeyPatch) -> None:
    """eastmoney's raw answers (no network) through the real akshare functions, then our
    conversion: volume lots -> shares, the A-share total from listed + restricted A."""
    import importlib

    _installed_akshare()
    hist = importlib.import_module("akshare.stock_feature.stock_hist_em")
    gbjg = importlib.import_module("akshare.stock_fundamental.stock_gbjg_em")
    kline = "2024-10-31,246.99,245.98,250.5,244.0,255003,6286268416.0,2.6,-0.3,-0.74,0.6"
    seen: dict[str, Any] = {}

    def get(url: str, params: dict | None = None, **kw: Any) -> _Answer:
        seen.setdefault(url.split("/")[2], []).append({**(params or {}), **kw})
        if "kline" in url:
            return _Answer({"data": {"klines": [kline]}})
        row = {
            "END_DATE": "2024-12-11 00:00:00",
            "TOTAL_SHARES": 4403466458,
            "LISTED_A_SHARES": 3891475050,
            "LIMITED_A_SHARES": 511991408,
            "FREE_SHARES": 3891475050,
            "CHANGE_REASON": "定期报告",
            "LIMITED_OTHARS": None,
            "LIMITED_DOMESTIC_NOSTATE": None,
            "LIMITED_DOMESTIC_NATURAL": None,
        }
        return _Answer({"result": {"pages": 1, "data": [row]}})

    monkeypatch.setattr(hist.requests, "get", get)
    monkeypatch.setattr(gbjg.requests, "get", get)
    src = AkshareSource(None, min_interval=0, timeout=9)
    bars = src.bars("300750", D(2024, 10, 31), D(2024, 10, 31))
    assert bars.iloc[0][["close", "amount", "volume"]].tolist() == [245.98, 6286268416.0, 25500300]
    assert seen["push2his.eastmoney.com"][0]["timeout"] == 9  # our timeout reached requests
    shares = src.shares("300750", "SZ")
    assert shares.iloc[0][["total_shares", "float_shares", "a_shares"]].tolist() == [
        4403466458,
        3891475050,
        4403466458,
    ]
    assert 'SECUCODE="300750.SZ"' in seen["datacenter.eastmoney.com"][0]["filter"]
    # why the suffix is sent: a bare Beijing code is taken for Shanghai
    assert gbjg._normalize_em_secu_code("920799") == "920799.SH"


def test_cli_run_names_failed_items_and_how_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    import indexrecon.data.sources.akshare_api as ak_api
    from indexrecon.cli.ingest import ingest

    fake = FakeAkshare(
        fail={("stock_zh_a_hist", "600519"): -1, ("stock_info_bj_name_code", ""): -1}
    )
    monkeypatch.setattr(ak_api, "require_akshare", lambda: fake)
    args = [
        "akshare",
        "--start",
        "2024-10-21",
        "--end",
        "2024-11-08",
        "--datasets",
        "securities,bars",
        "--min-interval",
        "0",
        "--retries",
        "1",
        "--timeout",
        "5",
        "--store",
        str(tmp_path / "cli.duckdb"),
    ]
    res = CliRunner().invoke(ingest, args)
    assert res.exit_code == 0, res.output
    assert "FAILED: 600519 bars" in res.stdout
    assert "resume: rerun the same command" in res.stderr and "--codes 600519" in res.stderr
    # redirected output: the warnings reach stderr too
    assert "warning: BJ list stock_info_bj_name_code() failed, so bse are missing" in res.stderr
    hist = [kw for name, kw in fake.calls if name == "stock_zh_a_hist"]
    assert {kw["timeout"] for kw in hist} == {5.0}
    fake.fail.clear()
    res = CliRunner().invoke(ingest, args)
    assert res.exit_code == 0 and "FAILED" not in res.output and "resume" not in res.output


def test_the_installed_lists_download_once_for_both_call_forms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Our universe, then akshare's stock_info_a_code_name: each exchange list is fetched
    once (lru_cache keys on the call's form; a positional call would fetch it again)."""
    import io
    import json

    ak = _installed_akshare()
    info = __import__("akshare.stock.stock_info", fromlist=["requests"])
    fetched: list[str] = []
    sz = io.BytesIO()
    pd.DataFrame(
        [["创业板", 300750, "宁德时代", "2018-06-11", 1, 1, "C 制造业"]],
        columns=list(COLUMNS_OF["stock_info_sz_name_code"]),
    ).to_excel(sz, index=False)
    bj_row = {f"k{i}": "" for i in range(48)}
    bj_row.update(k0="20211115", k38="920799", k40="艾融软件")
    bj_text = "x" + json.dumps([{"totalPages": 1, "content": [bj_row]}]) + ")"

    class Answer(_Answer):
        def __init__(self, payload: Any = None, content: bytes = b"", text: str = "") -> None:
            super().__init__(payload)
            self.content, self.text = content, text

    def get(url: str, params: dict | None = None, **kw: Any) -> Answer:
        if "szse" in url:
            fetched.append("sz")
            return Answer(content=sz.getvalue())
        kind = (params or {}).get("STOCK_TYPE")
        fetched.append(f"sh{kind}")
        row = {
            "A_STOCK_CODE": "688981" if kind == "8" else "600519",
            "SEC_NAME_CN": "样例",
            "SEC_NAME_FULL": "",
            "COMPANY_ABBR": "",
            "FULL_NAME": "",
            "LIST_DATE": "20200716",
        }
        return Answer({"result": [row]})

    def post(url: str, data: dict | None = None, **kw: Any) -> Answer:
        fetched.append("bj")
        return Answer(text=bj_text)

    monkeypatch.setattr(info.requests, "get", get)
    monkeypatch.setattr(info.requests, "post", post)
    lists = [
        ak.stock_info_sh_name_code,
        ak.stock_info_sz_name_code,
        ak.stock_info_bj_name_code,
        ak.stock_info_a_code_name,
    ]
    for fn in lists:
        fn.cache_clear()
    try:
        secs = AkshareSource(None, min_interval=0).securities()
        assert sorted(secs["code"]) == ["300750", "600519", "688981", "920799"]
        assert len(ak.stock_info_a_code_name()) == 4
        # (Beijing: one request for the page count, one per page)
        assert sorted(fetched) == ["bj", "bj", "sh1", "sh8", "sz"]
        ak.stock_info_sh_name_code("主板A股")  # the positional form misses the cache
        assert fetched.count("sh1") == 2
    finally:
        for fn in lists:
            fn.cache_clear()


def test_a_store_that_cannot_take_a_shares_is_one_error(tmp_path: Path) -> None:
    from indexrecon.errors import StoreError

    with open_store(tmp_path / "views.duckdb", read_only=False) as s:
        s.con.execute("DROP TABLE shares")
        s.con.execute("DROP TABLE IF EXISTS valuation")  # an older store: neither is there yet
        s.con.execute(
            "CREATE VIEW shares AS SELECT '300750' AS code, DATE '2024-01-02' AS effective_date, "
            "1e9 AS total_shares, NULL::DOUBLE AS float_shares, "
            "NULL::DOUBLE AS free_float_shares, 'x' AS source"
        )
        with pytest.raises(StoreError, match=r"cannot add valuation / shares\.a_shares"):
            _ingest(s, FakeAkshare(), datasets=["securities", "shares"])
        assert not s.has_table("valuation")  # nothing half added


def test_codes_may_name_delisted_stocks(store) -> None:
    s = _ingest(
        store,
        FakeAkshare(),
        codes=["603999", "600519", "123456"],
        datasets=["securities", "delisted", "bars"],
    )
    assert q(store, "SELECT code, count(*) FROM bars GROUP BY 1 ORDER BY 1") == [
        ("600519", 15),
        ("603999", 10),
    ]
    assert [w for w in s.warnings if "not among" in w] == [
        "not among the stocks listed today or delisted: 123456"
    ]


def test_many_no_rows_answers_are_suspect(store) -> None:
    class Refusing(FakeAkshare):
        def stock_fhps_detail_em(self, symbol: str = "300073") -> pd.DataFrame:
            raise TypeError("'NoneType' object is not subscriptable")

    src = AkshareSource(Refusing(), min_interval=0)
    for code in [f"{i:06d}" for i in range(1, 25)]:
        assert src.dividends(code).empty
    s = _ingest(store, Refusing(), datasets=["securities"], source=src)
    assert any(
        "stock_fhps_detail_em answered 'no rows' 24 times in 24 calls" in w for w in s.warnings
    )
    assert not _ingest(store, FakeAkshare(), datasets=["securities", "dividends"]).warnings


def test_index_valuation_from_csindex_and_legulegu(store) -> None:
    """Each index's own PE/PB: CSI's file (PE by calculation shares, no PB) and legulegu's
    cap-weighted TTM PE and PB, in [start, end], kept apart by source; resumable."""
    store.con.execute("DROP TABLE index_valuation")  # a store from before the table
    api = FakeAkshare()
    idx = ["000300", "399006", "000905"]
    s = _ingest(store, api, end=TODAY, datasets=["index_valuation"], indices=idx)
    assert not s.failures, s.failures
    assert any("table index_valuation" in n for n in s.notes)
    assert [(n, kw["symbol"]) for n, kw in api.calls if "index" in n] == [
        ("stock_zh_index_value_csindex", "000300"),
        ("stock_index_pe_lg", "沪深300"),
        ("stock_index_pb_lg", "沪深300"),
        ("stock_zh_index_value_csindex", "000905"),
        ("stock_index_pe_lg", "中证500"),
        ("stock_index_pb_lg", "中证500"),
    ]
    rows = q(
        store,
        "SELECT source, count(*), min(date), max(date), count(pb) FROM index_valuation "
        "WHERE index_code = '000300' GROUP BY 1 ORDER BY 1",
    )
    # csindex: recent days, no PB; legulegu: 2024-10-18 is before --start, 10-25 has no PB
    assert rows == [
        ("akshare:csindex", 6, D(2025, 1, 20), D(2025, 1, 27), 0),
        ("akshare:legulegu", 15, START, END, 14),
    ]
    assert q(
        store,
        "SELECT source, pe_ttm, pb FROM index_valuation WHERE index_code = '000300' "
        "AND date IN ('2024-10-21', '2025-01-20') ORDER BY 1",
    ) == [("akshare:csindex", 12.91, None), ("akshare:legulegu", 12.45, 1.38)]
    assert any("no akshare source publishes 399006" in w for w in s.warnings)
    assert any("000905 (csindex): no days" in w for w in s.warnings)
    # a rerun fetches nothing again; --force replaces the rows, not adds to them
    again = FakeAkshare()
    _ingest(store, again, end=TODAY, datasets=["index_valuation"], indices=idx)
    assert [n for n, _ in again.calls if "index" in n] == []
    _ingest(store, FakeAkshare(), end=TODAY, datasets=["index_valuation"], indices=idx, force=True)
    assert store.row_count("index_valuation") == 21
    # an --end before csindex's recent days: said, not silently empty
    s = _ingest(store, FakeAkshare(), datasets=["index_valuation"], indices=["000300"])
    assert any("csindex serves recent days only" in w for w in s.warnings)
