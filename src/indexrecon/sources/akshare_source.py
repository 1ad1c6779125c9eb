"""The online path: fetch the universe from akshare into the store.

akshare is optional (``pip install 'indexrecon[online]'``) and imported only when a call is
made. Every call goes through one rate limiter (a minimum interval between calls) and is
retried with exponential backoff. Bars are incremental (only dates after the store's last
bar of the code), each stock's data is written in its own transaction and logged in
``ingest_log``, and one failing stock is reported without losing the others, so a rerun
resumes where the last one stopped.

akshare functions used (names, parameters and output columns as in akshare's source):

* ``tool_trade_date_hist_sina()`` -> ``trade_date``
* ``stock_info_a_code_name()`` -> ``code``, ``name``
* ``stock_info_sz_name_code("A股列表")`` -> ``A股代码``, ``A股上市日期``, ...;
  ``stock_info_sh_name_code("主板A股" | "科创板")`` -> ``证券代码``, ``上市日期``, ...;
  ``stock_info_bj_name_code()`` -> ``证券代码``, ``上市日期``, ...
* ``stock_zh_a_hist(symbol, period="daily", start_date, end_date, adjust="")`` ->
  ``日期, 股票代码, 开盘, 收盘, 最高, 最低, 成交量`` (lots of 100), ``成交额`` (CNY), ...
* ``stock_zh_a_gbjg_em(symbol="600519.SH")`` -> ``变更日期, 总股本, 已上市流通A股`` (shares)
* ``stock_fhps_detail_em(symbol)`` -> ``除权除息日``, ``现金分红-现金分红比例`` (CNY per 10)
* ``stock_industry_clf_hist_sw()`` -> ``symbol, start_date, industry_code, update_time``
* ``stock_zh_a_st_em()`` -> ``代码, 名称, ...`` (today's risk-warning board)
* ``index_stock_cons_weight_csindex(symbol)`` -> ``日期, 成分券代码, 权重`` (percent)
* ``index_detail_hist_cni(symbol, date="YYYYMM")`` -> ``日期, 样本代码, 权重`` (percent)
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import duckdb
import pandas as pd

from ..errors import DataError, IndexReconError, StoreError
from ..store import BOARDS, Store
from .files import (
    CODE_CHANGES,
    IngestSummary,
    Progress,
    already_loaded,
    amount_unit_problem,
    classify_stock,
    insert_calendar,
    log_item,
    note_source,
    one,
    record_ingest,
    replace_rows,
    upsert_securities,
)

SOURCE = "akshare"
DATASETS = (
    "calendar",
    "securities",
    "bars",
    "shares",
    "dividends",
    "industry",
    "status",
    "weights",
)
DEFAULT_INDICES = ("000300", "000905", "000852", "399006")

# Shenwan 2021 level-1 industries (code -> Chinese name, English name).
SW2021_L1: dict[str, tuple[str, str]] = {
    "110000": ("农林牧渔", "Agriculture, Forestry, Animal Husbandry & Fishery"),
    "220000": ("基础化工", "Basic Chemicals"),
    "230000": ("钢铁", "Steel"),
    "240000": ("有色金属", "Non-ferrous Metals"),
    "270000": ("电子", "Electronics"),
    "280000": ("汽车", "Automobiles"),
    "330000": ("家用电器", "Household Appliances"),
    "340000": ("食品饮料", "Food & Beverage"),
    "350000": ("纺织服饰", "Textiles & Apparel"),
    "360000": ("轻工制造", "Light Industry Manufacturing"),
    "370000": ("医药生物", "Pharmaceuticals & Biotech"),
    "410000": ("公用事业", "Utilities"),
    "420000": ("交通运输", "Transportation"),
    "430000": ("房地产", "Real Estate"),
    "450000": ("商贸零售", "Retail & Trade"),
    "460000": ("社会服务", "Social Services"),
    "480000": ("银行", "Banks"),
    "490000": ("非银金融", "Non-bank Financials"),
    "510000": ("综合", "Conglomerates"),
    "610000": ("建筑材料", "Building Materials"),
    "620000": ("建筑装饰", "Construction & Decoration"),
    "630000": ("电力设备", "Power Equipment"),
    "640000": ("机械设备", "Machinery & Equipment"),
    "650000": ("国防军工", "Defense & Military"),
    "710000": ("计算机", "Computers"),
    "720000": ("传媒", "Media"),
    "730000": ("通信", "Telecommunications"),
    "740000": ("煤炭", "Coal"),
    "750000": ("石油石化", "Petroleum & Petrochemicals"),
    "760000": ("环保", "Environmental Protection"),
    "770000": ("美容护理", "Beauty & Personal Care"),
}
SW2021_START = dt.date(2021, 7, 30)


def require_akshare() -> Any:
    """The akshare module, or a one-line error saying how to install it."""
    try:
        import akshare  # type: ignore[import-not-found]
    except ImportError:
        raise IndexReconError(
            "akshare is not installed: pip install 'indexrecon[online]'"
        ) from None
    return akshare


def _yyyymmdd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _to_date(values: Any) -> pd.Series:
    return pd.to_datetime(pd.Series(values), errors="coerce").dt.date


def _code6(values: Any) -> pd.Series:
    """6-digit codes from text or numbers (Excel-sourced lists lose leading zeros)."""
    s = pd.Series(values).astype(str).str.strip().str.split(".").str[0]
    return s.str.zfill(6)


class AkshareSource:
    """akshare behind a rate limiter and retries, converting outputs to the store's units.

    `api` is the akshare module or anything with the same functions (tests pass a fake);
    by default akshare is imported on first use.
    """

    def __init__(
        self,
        api: Any | None = None,
        *,
        min_interval: float = 0.5,
        max_retries: int = 3,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self.min_interval = min_interval
        self.max_retries = max_retries
        self.backoff = backoff
        self._sleep = sleep
        self._clock = clock
        self._last_call: float | None = None
        self.calls = 0

    @property
    def api(self) -> Any:
        if self._api is None:
            self._api = require_akshare()
        return self._api

    # -- calling ------------------------------------------------------------------
    def call(self, name: str, *args: Any, **kwargs: Any) -> pd.DataFrame:
        """Call akshare `name`, spaced by min_interval and retried with backoff."""
        fn = getattr(self.api, name, None)
        if fn is None:
            raise IndexReconError(
                f"akshare has no function {name}; upgrade it: pip install -U akshare"
            )
        shown = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
        for attempt in range(self.max_retries + 1):
            self._wait()
            try:
                self.calls += 1
                result = fn(*args, **kwargs)
            except (TypeError, AttributeError) as e:
                # a changed signature, not a flaky network: retrying cannot help
                raise DataError(f"akshare {name}({shown}): {type(e).__name__}: {e}") from None
            except Exception as e:
                if attempt == self.max_retries:
                    msg = str(e).splitlines()[0] if str(e) else ""
                    raise DataError(
                        f"akshare {name}({shown}) failed after {attempt + 1} attempts: "
                        f"{type(e).__name__}: {msg}"
                    ) from None
                self._sleep(self.backoff * 2**attempt)
                continue
            if result is None:
                return pd.DataFrame()
            if not isinstance(result, pd.DataFrame):
                raise DataError(f"akshare {name}({shown}) returned {type(result).__name__}")
            return result
        raise AssertionError("unreachable")

    def _wait(self) -> None:
        now = self._clock()
        if self._last_call is not None and self.min_interval > 0:
            gap = self._last_call + self.min_interval - now
            if gap > 0:
                self._sleep(gap)
                now = self._clock()
        self._last_call = now

    @staticmethod
    def _need(df: pd.DataFrame, what: str, columns: Iterable[str]) -> None:
        missing = [c for c in columns if c not in df.columns]
        if missing and not df.empty:
            raise DataError(
                f"akshare {what}: missing column {', '.join(missing)} "
                f"(got: {', '.join(map(str, df.columns))})"
            )

    # -- datasets -------------------------------------------------------------------
    def calendar(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        df = self.call("tool_trade_date_hist_sina")
        self._need(df, "tool_trade_date_hist_sina", ["trade_date"])
        days = _to_date(df["trade_date"]) if not df.empty else pd.Series([], dtype=object)
        days = days[(days >= start) & (days <= end)].dropna()
        return pd.DataFrame({"date": pd.to_datetime(days.sort_values().unique())})

    def securities(self, summary: IngestSummary | None = None) -> pd.DataFrame:
        """Listed A-share stocks with exchange, board, name and listing date."""
        names = self.call("stock_info_a_code_name")
        self._need(names, "stock_info_a_code_name", ["code", "name"])
        codes = _code6(names["code"])
        listed = self.listing_dates(summary)
        rows = []
        skipped = 0
        for code, name in zip(codes, names["name"], strict=True):
            cls = classify_stock(code)
            if cls is None:
                skipped += 1
                continue
            rows.append(
                {
                    "code": code,
                    "exchange": cls[0],
                    "board": cls[1],
                    "name": str(name).strip() if pd.notna(name) else None,
                    "list_date": listed.get(code),
                    "delist_date": None,
                }
            )
        if skipped and summary is not None:
            summary.notes.append(f"{skipped} listed codes are not A-share stocks; ignored")
        out = pd.DataFrame(
            rows, columns=["code", "exchange", "board", "name", "list_date", "delist_date"]
        )
        return out.drop_duplicates("code").reset_index(drop=True)

    def listing_dates(self, summary: IngestSummary | None = None) -> dict[str, dt.date]:
        """code -> listing date from the three exchanges' lists (a failed list is a warning)."""
        # positional first argument: older akshare calls it `indicator`, newer `symbol`
        lists = [
            ("stock_info_sz_name_code", ("A股列表",), "A股代码", "A股上市日期"),
            ("stock_info_sh_name_code", ("主板A股",), "证券代码", "上市日期"),
            ("stock_info_sh_name_code", ("科创板",), "证券代码", "上市日期"),
            ("stock_info_bj_name_code", (), "证券代码", "上市日期"),
        ]
        out: dict[str, dt.date] = {}
        for name, args, code_col, date_col in lists:
            try:
                df = self.call(name, *args)
                self._need(df, name, [code_col, date_col])
            except DataError as e:
                if summary is not None:
                    summary.warnings.append(f"no listing dates from {name}{args}: {e}")
                continue
            if df.empty:
                continue
            for code, day in zip(_code6(df[code_col]), _to_date(df[date_col]), strict=True):
                if pd.notna(day):
                    out[code] = day
        return out

    def bars(self, code: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Raw daily bars in store units: volume lots -> shares, amount CNY."""
        what = f"stock_zh_a_hist({code})"
        df = self.call(
            "stock_zh_a_hist",
            symbol=code,
            period="daily",
            start_date=_yyyymmdd(start),
            end_date=_yyyymmdd(end),
            adjust="",
        )
        cols = ["code", "date", "open", "high", "low", "close", "amount", "volume"]
        if df.empty:
            return pd.DataFrame(columns=cols)
        self._need(df, what, ["日期", "开盘", "收盘", "最高", "最低", "成交量", "成交额"])
        if "股票代码" in df.columns:
            other = set(_code6(df["股票代码"])) - {code}
            if other:
                raise DataError(f"akshare {what}: rows for another code {sorted(other)[0]}")
        out = pd.DataFrame(
            {
                "code": code,
                "date": pd.to_datetime(df["日期"], errors="coerce"),
                "open": pd.to_numeric(df["开盘"], errors="coerce"),
                "high": pd.to_numeric(df["最高"], errors="coerce"),
                "low": pd.to_numeric(df["最低"], errors="coerce"),
                "close": pd.to_numeric(df["收盘"], errors="coerce"),
                "amount": pd.to_numeric(df["成交额"], errors="coerce"),
                # Eastmoney reports volume in lots (手) of 100 shares
                "volume": (pd.to_numeric(df["成交量"], errors="coerce") * 100).round(),
            }
        )
        if out["date"].isna().any() or out["close"].isna().any():
            raise DataError(f"akshare {what}: column 日期/收盘 has unreadable values")
        out = out[(out["date"].dt.date >= start) & (out["date"].dt.date <= end)]
        out = out[out["volume"] > 0].drop_duplicates("date", keep="last")
        if (out[["open", "high", "low", "close"]] <= 0).any().any():
            raise DataError(f"akshare {what}: zero or negative prices")
        traded = out[(out["amount"] > 0) & (out["close"] > 0)]
        ratio = (
            float((traded["amount"] / (traded["volume"] * traded["close"])).median())
            if len(traded)
            else None
        )
        if ratio is not None and 0.003 <= ratio < 0.03:
            # 100x too much volume: this api version already gives shares
            raise DataError(
                f"akshare {what}: column 成交量 looks like shares, but akshare documents lots "
                "(手) of 100; check the akshare version"
            )
        problem = amount_unit_problem(ratio)
        if problem:
            col = {"volume": "成交量", "amount": "成交额", "close": "收盘"}[problem[0]]
            raise DataError(f"akshare {what}: column {col}: {problem[1]}")
        out["volume"] = out["volume"].astype("int64")
        return out.sort_values("date").reset_index(drop=True)[cols]

    def shares(self, code: str, exchange: str) -> pd.DataFrame:
        """Share capital change points: total and listed A-share float, in shares."""
        what = f"stock_zh_a_gbjg_em({code}.{exchange})"
        df = self.call("stock_zh_a_gbjg_em", symbol=f"{code}.{exchange}")
        cols = [
            "code",
            "effective_date",
            "total_shares",
            "float_shares",
            "free_float_shares",
            "source",
        ]
        if df.empty:
            return pd.DataFrame(columns=cols)
        self._need(df, what, ["变更日期", "总股本"])
        float_col = (
            pd.to_numeric(df["已上市流通A股"], errors="coerce")
            if "已上市流通A股" in df.columns
            else None
        )
        out = pd.DataFrame(
            {
                "code": code,
                "effective_date": pd.to_datetime(df["变更日期"], errors="coerce"),
                "total_shares": pd.to_numeric(df["总股本"], errors="coerce"),
                "float_shares": float_col,
                "free_float_shares": None,
                "source": "akshare:stock_zh_a_gbjg_em",
            }
        )
        out = out.dropna(subset=["effective_date", "total_shares"])
        out = out[out["total_shares"] > 0]
        if len(out) and out["total_shares"].median() < 1e6:
            raise DataError(
                f"akshare {what}: column 总股本 looks like 10k shares (万股); expected shares"
            )
        # the newest report of a day wins (the list comes newest first)
        out = out.drop_duplicates("effective_date", keep="first")
        return out.sort_values("effective_date").reset_index(drop=True)[cols]

    def dividends(self, code: str) -> pd.DataFrame:
        """Cash dividends per share (pre-tax CNY) on their ex-dates."""
        what = f"stock_fhps_detail_em({code})"
        df = self.call("stock_fhps_detail_em", symbol=code)
        cols = ["code", "ex_date", "cash_per_share"]
        if df.empty:
            return pd.DataFrame(columns=cols)
        self._need(df, what, ["除权除息日", "现金分红-现金分红比例"])
        out = pd.DataFrame(
            {
                "code": code,
                "ex_date": pd.to_datetime(df["除权除息日"], errors="coerce"),
                # published per 10 shares (10派X元)
                "cash_per_share": pd.to_numeric(df["现金分红-现金分红比例"], errors="coerce") / 10,
            }
        )
        out = out.dropna()
        out = out[out["cash_per_share"] > 0]
        out = out.groupby(["code", "ex_date"], as_index=False)["cash_per_share"].sum()
        return out.sort_values("ex_date").reset_index(drop=True)[cols]

    def industry(self, codes: Iterable[str], summary: IngestSummary | None = None) -> pd.DataFrame:
        """Shenwan 2021 intervals (end = day before the next record) of `codes`."""
        df = self.call("stock_industry_clf_hist_sw")
        self._need(df, "stock_industry_clf_hist_sw", ["symbol", "start_date", "industry_code"])
        cols = [
            "code",
            "start_date",
            "end_date",
            "sw_l1_code",
            "sw_l1_name",
            "sw_l1_name_en",
            "sw_l2_code",
            "sw_l2_name",
            "sw_l2_name_en",
            "sw_l3_code",
        ]
        if df.empty:
            return pd.DataFrame(columns=cols)
        h = pd.DataFrame(
            {
                "code": _code6(df["symbol"]),
                "start_date": _to_date(df["start_date"]),
                "sw_l3_code": df["industry_code"].astype(str).str.strip().str.zfill(6),
            }
        ).dropna()
        h["code"] = h["code"].replace({old: new for old, (new, _) in CODE_CHANGES.items()})
        h = h[h["code"].isin(set(codes))]
        h = h.sort_values(["code", "start_date"]).drop_duplicates(
            ["code", "start_date"], keep="last"
        )
        nxt = h.groupby("code")["start_date"].shift(-1)
        h["end_date"] = [
            (n - dt.timedelta(days=1)) if isinstance(n, dt.date) else None for n in nxt
        ]
        h["sw_l1_code"] = h["sw_l3_code"].str[:2] + "0000"
        h["sw_l2_code"] = h["sw_l3_code"].str[:4] + "00"
        # keep SW2021 intervals: in force on/after the switch, with a SW2021 level-1 code
        live = h["end_date"].isna() | (
            h["end_date"].map(lambda d: d is not None and d >= SW2021_START)
        )
        sw21 = h["sw_l1_code"].isin(SW2021_L1.keys())
        dropped = int((~(live & sw21)).sum())
        if dropped and summary is not None:
            summary.notes.append(
                f"{dropped} industry intervals ended before SW2021 ({SW2021_START}) or carry "
                "pre-SW2021 codes; dropped"
            )
        h = h[live & sw21].copy()
        h["sw_l1_name"] = h["sw_l1_code"].map(lambda c: SW2021_L1[c][0])
        h["sw_l1_name_en"] = h["sw_l1_code"].map(lambda c: SW2021_L1[c][1])
        h["sw_l2_name"] = None
        h["sw_l2_name_en"] = None
        return h.reset_index(drop=True)[cols]

    def risk_warning(self) -> dict[str, str]:
        """code -> 'ST' or '*ST' for today's risk-warning board."""
        df = self.call("stock_zh_a_st_em")
        self._need(df, "stock_zh_a_st_em", ["代码", "名称"])
        out: dict[str, str] = {}
        if df.empty:
            return out
        for code, name in zip(_code6(df["代码"]), df["名称"].astype(str), strict=True):
            name = name.replace(" ", "").upper()
            if name.startswith("*ST"):
                out[code] = "*ST"
            elif name.startswith("ST"):
                out[code] = "ST"
        return out

    def index_weights(self, index_code: str, month: dt.date) -> pd.DataFrame:
        """Official weights as fractions: CSI from csindex, 399xxx from CNI for `month`."""
        if index_code.startswith("399"):
            what = f"index_detail_hist_cni({index_code}, {month:%Y%m})"
            df = self.call("index_detail_hist_cni", symbol=index_code, date=f"{month:%Y%m}")
            date_col, code_col = "日期", "样本代码"
        else:
            what = f"index_stock_cons_weight_csindex({index_code})"
            df = self.call("index_stock_cons_weight_csindex", symbol=index_code)
            date_col, code_col = "日期", "成分券代码"
        cols = ["index_code", "trade_date", "code", "weight"]
        if df.empty:
            return pd.DataFrame(columns=cols)
        self._need(df, what, [date_col, code_col, "权重"])
        out = pd.DataFrame(
            {
                "index_code": index_code,
                "trade_date": pd.to_datetime(df[date_col], errors="coerce"),
                "code": _code6(df[code_col]).replace(
                    {old: new for old, (new, _) in CODE_CHANGES.items()}
                ),
                # published in percent
                "weight": pd.to_numeric(df["权重"], errors="coerce") / 100.0,
            }
        ).dropna()
        sums = out.groupby("trade_date")["weight"].sum()
        if len(sums) and sums.max() > 1.01:
            raise DataError(f"akshare {what}: column 权重 sums to {sums.max() * 100:.4g}% > 100")
        if len(out) >= 20 and len(sums) and sums.max() < 0.015:
            raise DataError(f"akshare {what}: column 权重 looks like fractions, not percent")
        return out.reset_index(drop=True)[cols]


# --------------------------------------------------------------------------------------
# writing


def _write_frame(
    store: Store,
    table: str,
    frame: pd.DataFrame,
    item: str,
    order_by: str | None = None,
) -> int:
    """Replace the frame's keys in `table` and log `item`, in one transaction."""
    con = store.con
    con.register("_ak_frame", frame)
    try:
        with store.transaction() as c:
            n = replace_rows(c, table, _typed(table, set(frame.columns)), order_by=order_by) if len(frame) else 0
            log_item(c, SOURCE, item, n)
        if table == "shares":
            from .. import pit_shares

            pit_shares.forget(con)  # the point-in-time series is rebuilt on the next read
        return n
    except duckdb.Error as e:
        raise StoreError(f"writing {table} ({item}) failed: {str(e).splitlines()[0]}") from None
    finally:
        con.unregister("_ak_frame")


def _typed(table: str, have: set[str]) -> str:
    """A SELECT over the registered frame casting to the table's column types (NULL for an
    optional column the frame lacks, e.g. a_shares)."""
    from .files import table_columns

    cols = ", ".join(f"CAST({c} AS {t}) AS {c}" if c in have or req else f"NULL::{t} AS {c}"
                     for c, t, req in table_columns(table))
    return f"(SELECT {cols} FROM _ak_frame)"


def _first_missing_day(store: Store, code: str, start: dt.date) -> dt.date:
    """The day to fetch a stock's bars from: after its last bar and after ranges already
    fetched from `start` on (a suspended stock returns no rows, but was still fetched)."""
    first = start
    row = one(store.con, "SELECT max(date) FROM bars WHERE code = ?", [code])
    if row and row[0] is not None:
        first = max(first, row[0] + dt.timedelta(days=1))
    items = store.con.execute(
        "SELECT item FROM ingest_log WHERE source = ? AND item LIKE ?", [SOURCE, f"bars {code} %"]
    ).fetchall()
    for (item,) in items:
        lo, _, hi = item.split(" ")[2].partition("..")
        if dt.date.fromisoformat(lo) <= first:
            first = max(first, dt.date.fromisoformat(hi) + dt.timedelta(days=1))
    return first


def _update_status(store: Store, current: dict[str, str], codes: set[str], today: dt.date) -> int:
    """Extend an ST history from today's snapshot: open new intervals, close ended ones."""
    con = store.con
    open_rows = con.execute(
        "SELECT code, status FROM status WHERE end_date IS NULL AND status IN ('ST', '*ST')"
    ).fetchall()
    open_now = {(c, s) for c, s in open_rows if c in codes}
    yesterday = today - dt.timedelta(days=1)
    n = 0
    with store.transaction() as c:
        for code, status in open_now:
            if current.get(code) != status:
                c.execute(
                    "UPDATE status SET end_date = ? WHERE code = ? AND status = ? "
                    "AND end_date IS NULL AND start_date <= ?",
                    [yesterday, code, status, yesterday],
                )
                c.execute(
                    "DELETE FROM status WHERE code = ? AND status = ? AND end_date IS NULL",
                    [code, status],
                )
                n += 1
        for code, status in sorted(current.items()):
            if code in codes and (code, status) not in open_now:
                c.execute("INSERT INTO status VALUES (?, ?, NULL, ?)", [code, today, status])
                n += 1
        log_item(c, SOURCE, f"status snapshot {today}", n)
    return n


def ingest_akshare(
    store: Store,
    start: dt.date,
    end: dt.date,
    boards: Sequence[str] | None = None,
    api: Any | None = None,
    progress: Progress | None = None,
    *,
    codes: Sequence[str] | None = None,
    datasets: Sequence[str] = DATASETS,
    indices: Sequence[str] = DEFAULT_INDICES,
    min_interval: float = 0.5,
    max_retries: int = 3,
    backoff: float = 1.0,
    force: bool = False,
    source: AkshareSource | None = None,
    today: dt.date | None = None,
) -> IngestSummary:
    """Fetch [start, end] of the chosen boards (or `codes`) from akshare into `store`.

    Bars are incremental per stock; each stock's bars, shares and dividends are written in
    their own transactions and logged, so an interrupted run resumes where it stopped. A
    stock that keeps failing is listed in the summary's failures; the others still load.
    """
    t0 = time.perf_counter()
    if start > end:
        raise IndexReconError(f"start {start} is after end {end}")
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise IndexReconError(f"unknown dataset {unknown[0]} (known: {', '.join(DATASETS)})")
    bad_boards = [b for b in boards or () if b not in BOARDS]
    if bad_boards:
        raise IndexReconError(f"unknown board {bad_boards[0]} (known: {', '.join(BOARDS)})")
    if store.read_only:
        raise StoreError(f"store {store.path} is open read-only")
    today = today or dt.date.today()
    src = source or AkshareSource(
        api, min_interval=min_interval, max_retries=max_retries, backoff=backoff
    )
    summary = IngestSummary(source=f"akshare {start}..{end}")
    store.con.execute("SET enable_progress_bar = false")

    def step(label: str, i: int, n: int) -> None:
        if progress:
            progress(label, i, n)

    # -- calendar
    if "calendar" in datasets:
        step("trading calendar", 0, 1)
        cal = src.calendar(start, end)
        store.con.register("_ak_cal", cal)
        try:
            with store.transaction() as c:
                n = insert_calendar(c, "(SELECT CAST(date AS DATE) AS date FROM _ak_cal)")
                log_item(c, SOURCE, f"calendar {start}..{end}", n)
        finally:
            store.con.unregister("_ak_cal")
        summary.add_rows("calendar", n)

    # -- universe
    step("stock list", 0, 1)
    universe = src.securities(summary)
    if boards:
        universe = universe[universe["board"].isin(list(boards))]
    if codes:
        wanted = {str(c).zfill(6) for c in codes}
        missing = sorted(wanted - set(universe["code"]))
        if missing:
            summary.warnings.append(f"not in the listed universe: {', '.join(missing)}")
        universe = universe[universe["code"].isin(wanted)]
    universe = universe.reset_index(drop=True)
    if "securities" in datasets and len(universe):
        store.con.register("_ak_sec", universe)
        try:
            with store.transaction() as c:
                rel = (
                    "(SELECT code, exchange, board, name, CAST(list_date AS DATE) AS list_date, "
                    "CAST(delist_date AS DATE) AS delist_date FROM _ak_sec)"
                )
                n = upsert_securities(c, rel)
                log_item(c, SOURCE, f"securities as of {today}", n)
        finally:
            store.con.unregister("_ak_sec")
        summary.add_rows("securities", n)
        summary.notes.append(
            "securities are today's listed stocks (stock_info_a_code_name): stocks delisted "
            "before today are missing"
        )
    universe_codes = set(universe["code"])

    # -- per stock
    per_stock = [d for d in ("bars", "shares", "dividends") if d in datasets]
    total = len(universe) * max(len(per_stock), 1)
    done = 0
    up_to_date = 0
    for row in universe.itertuples(index=False):
        code, exchange = str(row.code), str(row.exchange)
        listed = row.list_date if isinstance(row.list_date, dt.date) else None
        for ds in per_stock:
            step(f"{code} {ds}", done, total)
            done += 1
            try:
                if ds == "bars":
                    if listed is not None and listed > end:
                        continue
                    first = start if force else _first_missing_day(store, code, start)
                    if first > end:
                        up_to_date += 1
                        continue
                    frame = src.bars(code, first, end)
                    item = f"bars {code} {first}..{end}"
                    n = _write_frame(store, "bars", frame, item, order_by="date, code")
                elif ds == "shares":
                    item = f"shares {code} as of {today}"
                    if not force and already_loaded(store.con, SOURCE, item):
                        continue
                    n = _write_frame(store, "shares", src.shares(code, exchange), item)
                else:
                    item = f"dividends {code} as of {today}"
                    if not force and already_loaded(store.con, SOURCE, item):
                        continue
                    n = _write_frame(store, "dividends", src.dividends(code), item)
                summary.add_rows(ds, n)
            except IndexReconError as e:
                summary.failures.append(f"{code} {ds}: {e}")
    if up_to_date:
        summary.notes.append(f"{up_to_date} stocks' bars were already up to date through {end}")

    # -- market-wide tables
    if "industry" in datasets and universe_codes:
        step("Shenwan industries", 0, 1)
        try:
            frame = src.industry(universe_codes, summary)
            summary.add_rows(
                "industry",
                _write_frame(
                    store, "industry", frame, f"industry as of {today}", "code, start_date"
                ),
            )
        except IndexReconError as e:
            summary.failures.append(f"industry: {e}")
    if "status" in datasets and universe_codes:
        step("ST board", 0, 1)
        try:
            n = _update_status(store, src.risk_warning(), universe_codes, today)
            summary.add_rows("status", n)
            summary.notes.append(
                f"ST status is today's risk-warning board ({today}); earlier ST periods are "
                "not available from akshare, so history builds up run by run"
            )
        except IndexReconError as e:
            summary.failures.append(f"status: {e}")
    if "weights" in datasets:
        for i, index_code in enumerate(indices):
            step(f"weights {index_code}", i, len(indices))
            try:
                frame = src.index_weights(index_code, end)
                days = sorted({d.date() for d in frame["trade_date"]}) if len(frame) else []
                item = f"weights {index_code} {days[0] if days else end}"
                n = _write_frame(
                    store, "official_weights", frame, item, "index_code, trade_date, code"
                )
                summary.add_rows("official_weights", n)
            except IndexReconError as e:
                summary.failures.append(f"weights {index_code}: {e}")

    if summary.total_rows:
        note_source(store, "akshare")
    summary.notes.append(f"{src.calls} akshare calls")
    step("done", 1, 1)
    summary.seconds = time.perf_counter() - t0
    if summary.total_rows:
        record_ingest(store, summary)
    return summary
