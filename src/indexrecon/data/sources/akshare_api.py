"""Calling akshare: signatures checked first, timeouts, a rate limit and a run-wide retry budget.

Every call the online path makes goes through `AkshareClient.call`:

* the arguments are bound to the function's signature before the call, so a changed
  signature is told from a failure inside the function (a TypeError raised *inside*, such
  as eastmoney's ``result: null`` for a stock without dividends, is data: no rows);
* ``timeout`` is passed wherever the function has that parameter; a function without one
  runs under a deadline in a worker thread, so a stalled connection cannot hang the run;
* calls are spaced by `min_interval` and failures retried with exponential backoff and
  jitter, drawing on one retry budget for the whole run (a dead site fails fast instead of
  retrying every stock).

`COLUMNS` lists, per function, the output columns of the installed akshare (1.19.5) as its
source builds them; the tests check the list against the installed source and the recorded
fixtures against the list.
"""

from __future__ import annotations

import inspect
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...errors import DataError, IndexReconError

# Output columns per function (akshare 1.19.5 source; units in the comments).
COLUMNS: dict[str, tuple[str, ...]] = {
    "tool_trade_date_hist_sina": ("trade_date",),
    "stock_info_sz_name_code": (  # symbol="A股列表"; 总股本/流通股本 in shares
        "板块",
        "A股代码",
        "A股简称",
        "A股上市日期",
        "A股总股本",
        "A股流通股本",
        "所属行业",
    ),
    "stock_info_sh_name_code": (
        "证券代码",
        "证券简称",
        "证券全称",
        "公司简称",
        "公司全称",
        "上市日期",
    ),
    "stock_info_bj_name_code": (
        "证券代码",
        "证券简称",
        "总股本",
        "流通股本",
        "上市日期",
        "所属行业",
        "地区",
        "报告日期",
    ),
    "stock_zh_a_hist": (  # 成交量 in lots (手) of 100 shares, 成交额 CNY, prices CNY
        "日期",
        "股票代码",
        "开盘",
        "收盘",
        "最高",
        "最低",
        "成交量",
        "成交额",
        "振幅",
        "涨跌幅",
        "涨跌额",
        "换手率",
    ),
    "stock_zh_a_gbjg_em": (  # shares
        "变更日期",
        "总股本",
        "流通受限股份",
        "其他内资持股(受限)",
        "境内法人持股(受限)",
        "境内自然人持股(受限)",
        "已流通股份",
        "已上市流通A股",
        "变动原因",
    ),
    "stock_share_change_cninfo": (  # share counts in 10k shares (万股)
        "证券代码",
        "证券简称",
        "机构名称",
        "公告日期",
        "变动日期",
        "变动原因编码",
        "变动原因",
        "总股本",
        "未流通股份",
        "发起人股份",
        "国家持股",
        "国有法人持股",
        "境内法人持股",
        "境外法人持股",
        "自然人持股",
        "募集法人股",
        "内部职工股",
        "转配股",
        "其他流通受限股份",
        "优先股",
        "其他未流通股",
        "已流通股份",
        "人民币普通股",
        "境内上市外资股-B股",
        "境外上市外资股-H股",
        "高管股",
        "其他流通股",
        "流通受限股份",
        "配售法人股",
        "战略投资者持股",
        "证券投资基金持股",
        "一般法人持股",
        "国家持股-受限",
        "国有法人持股-受限",
        "其他内资持股-受限",
        "其中：境内法人持股",
        "其中：境内自然人持股",
        "外资持股-受限",
        "其中：境外法人持股",
        "其中：境外自然人持股",
        "其中：限售高管股",
        "其中：限售B股",
        "其中：限售H股",
        "控股股东、实际控制人",
    ),
    "stock_fhps_detail_em": (  # 现金分红比例: CNY per 10 shares
        "报告期",
        "业绩披露日期",
        "送转股份-送转总比例",
        "送转股份-送股比例",
        "送转股份-转股比例",
        "现金分红-现金分红比例",
        "现金分红-现金分红比例描述",
        "现金分红-股息率",
        "每股收益",
        "每股净资产",
        "每股公积金",
        "每股未分配利润",
        "净利润同比增长",
        "总股本",
        "预案公告日",
        "股权登记日",
        "除权除息日",
        "方案进度",
        "最新公告日期",
    ),
    "stock_fhps_em": (  # per report period, every stock; 现金分红比例: CNY per 10 shares
        "代码",
        "名称",
        "送转股份-送转总比例",
        "送转股份-送转比例",
        "送转股份-转股比例",
        "现金分红-现金分红比例",
        "现金分红-股息率",
        "每股收益",
        "每股净资产",
        "每股公积金",
        "每股未分配利润",
        "净利润同比增长",
        "总股本",
        "预案公告日",
        "股权登记日",
        "除权除息日",
        "方案进度",
        "最新公告日期",
    ),
    "stock_value_em": (  # 总市值/流通市值 CNY, 总股本/流通股本 shares, PE/PB ratios
        "数据日期",
        "当日收盘价",
        "当日涨跌幅",
        "总市值",
        "流通市值",
        "总股本",
        "流通股本",
        "PE(TTM)",
        "PE(静)",
        "市净率",
        "PEG值",
        "市现率",
        "市销率",
    ),
    # index valuation: ratios (times); 股息率 in percent; 指数 the index level
    "stock_zh_index_value_csindex": (  # 市盈率1 by total shares, 市盈率2 by calculation shares
        "日期",
        "指数代码",
        "指数中文全称",
        "指数中文简称",
        "指数英文全称",
        "指数英文简称",
        "市盈率1",
        "市盈率2",
        "股息率1",
        "股息率2",
    ),
    "stock_index_pe_lg": (  # 滚动/静态市盈率: cap-weighted (legulegu's addTtmPe / addLyrPe)
        "日期",
        "指数",
        "等权静态市盈率",
        "静态市盈率",
        "静态市盈率中位数",
        "等权滚动市盈率",
        "滚动市盈率",
        "滚动市盈率中位数",
    ),
    "stock_index_pb_lg": ("日期", "指数", "市净率", "等权市净率", "市净率中位数"),
    "stock_industry_clf_hist_sw": ("symbol", "start_date", "industry_code", "update_time"),
    "stock_zh_a_st_em": (
        "序号",
        "代码",
        "名称",
        "最新价",
        "涨跌幅",
        "涨跌额",
        "成交量",
        "成交额",
        "振幅",
        "最高",
        "最低",
        "今开",
        "昨收",
        "量比",
        "换手率",
        "市盈率-动态",
        "市净率",
    ),
    "index_stock_cons_weight_csindex": (  # 权重 in percent; 日期 = the file's date
        "日期",
        "指数代码",
        "指数名称",
        "指数英文名称",
        "成分券代码",
        "成分券名称",
        "成分券英文名称",
        "交易所",
        "交易所英文名称",
        "权重",
    ),
    "index_detail_hist_cni": (  # 总市值 in 100 million CNY (亿元), 权重 in percent
        "日期",
        "样本代码",
        "样本简称",
        "所属行业",
        "总市值",
        "权重",
    ),
    "stock_info_sh_delist": ("公司代码", "公司简称", "上市日期", "暂停上市日期"),
    # passed through from the exchange's xlsx: the columns the source reads, plus the
    # others the file carries today
    "stock_info_sz_delist": ("证券代码", "证券简称", "上市日期", "终止上市日期"),
    "stock_tfp_em": (
        "序号",
        "代码",
        "名称",
        "停牌时间",
        "停牌截止时间",
        "停牌期限",
        "停牌原因",
        "所属市场",
        "预计复牌时间",
    ),
    "stock_info_sz_change_name": ("变更日期", "证券代码", "证券简称", "变更前简称", "变更后简称"),
}


def require_akshare() -> Any:
    """The akshare module, or a one-line error saying how to install it."""
    try:
        import akshare  # type: ignore[import-not-found]
    except ImportError:
        raise IndexReconError(
            "akshare is not installed: pip install 'indexrecon[online]'"
        ) from None
    return akshare



@dataclass
class RetryBudget:
    """Retries left for the whole run; once spent, failures are not retried."""

    total: int = 200
    used: int = 0
    exhausted_at: str | None = None

    def take(self, what: str) -> bool:
        if self.used >= self.total:
            if self.exhausted_at is None:
                self.exhausted_at = what
            return False
        self.used += 1
        return True


@dataclass
class CallStats:
    """What the client did: calls per function, retries, timeouts."""

    calls: dict[str, int] = field(default_factory=dict)
    no_rows: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    timeouts: int = 0

    def count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1


def _run_with_deadline(fn: Callable[..., Any], args: tuple, kwargs: dict, seconds: float) -> Any:
    """fn(*args, **kwargs), or TimeoutError after `seconds` (the call is left to finish in
    a daemon thread: akshare gives no way to cancel a request it made without a timeout)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e

    worker = threading.Thread(target=target, name="akshare-call", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError(f"no answer within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


# How a function fails inside when the site has no rows for the arguments (after the
# signature check, so a TypeError here is data): eastmoney's ``result: null`` makes
# ``data_json["result"][...]`` a TypeError; cninfo's empty ``records`` a KeyError on its
# first renamed column; a zero-page answer a "Length mismatch" when columns are named.
NO_ROWS: dict[str, tuple[type[Exception], str]] = {
    "stock_share_change_cninfo": (KeyError, "公告日期"),
    "stock_tfp_em": (ValueError, "Length mismatch"),
    "stock_fhps_em": (ValueError, "Length mismatch"),
}
_NULL_RESULT = (TypeError, "'NoneType' object is not subscriptable")


def _is_no_rows(name: str, e: Exception) -> bool:
    """A failure inside akshare that means the site had no rows for these arguments."""
    for kind, text in (_NULL_RESULT, NO_ROWS.get(name, _NULL_RESULT)):
        if isinstance(e, kind) and text in str(e):
            return True
    return False


def describe_call(name: str, args: Iterable[Any], kwargs: dict[str, Any]) -> str:
    shown = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
    return f"{name}({shown})"


class AkshareClient:
    """akshare behind a signature check, timeouts, a rate limiter and a retry budget.

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
        timeout: float = 30.0,
        deadline: float | None = None,
        retry_budget: int = 200,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._api = api
        self.min_interval = min_interval
        self.max_retries = max_retries
        self.backoff = backoff
        self.timeout = timeout
        # a function without a timeout parameter may page through several requests
        self.deadline = deadline if deadline is not None else 4 * timeout
        self.budget = RetryBudget(retry_budget)
        self.stats = CallStats()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._last_call: float | None = None
        self.calls = 0
        # (function, args, kwargs) exactly as called: what the signature test binds
        self.made: list[tuple[str, tuple, dict[str, Any]]] = []

    @property
    def api(self) -> Any:
        if self._api is None:
            self._api = require_akshare()
        return self._api

    def bound(
        self, name: str, *args: Any, **kwargs: Any
    ) -> tuple[Callable[..., Any], tuple, dict[str, Any]]:
        """The function and its arguments bound to its signature (plus timeout).

        Raises DataError naming the call when the installed akshare lacks the function or
        its signature no longer takes these arguments: retrying cannot help.
        """
        fn = getattr(self.api, name, None)
        what = describe_call(name, args, kwargs)
        if fn is None:
            raise DataError(
                f"akshare has no function {name}; upgrade it: pip install -U 'indexrecon[online]'"
            )
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):  # a builtin without a signature: call as is
            return fn, args, kwargs
        if "timeout" in sig.parameters and "timeout" not in kwargs:
            kwargs = {**kwargs, "timeout": self.timeout}
        try:
            sig.bind(*args, **kwargs)
        except TypeError as e:
            raise DataError(
                f"akshare {what}: the installed akshare's signature is {name}{sig} ({e}); "
                "the online path needs an update for this akshare version"
            ) from None
        # called as written, not in the bound form: akshare's lru_cache keys on the form
        return fn, args, kwargs

    def call(self, name: str, *args: Any, **kwargs: Any) -> pd.DataFrame:
        """Call akshare `name`: checked, spaced, timed out and retried; an empty frame
        when the site has no rows for these arguments."""
        fn, call_args, bound = self.bound(name, *args, **kwargs)
        with_timeout = "timeout" in bound
        what = describe_call(name, args, kwargs)
        self.made.append((name, call_args, dict(bound)))
        attempt = 0
        while True:
            self._wait()
            self.calls += 1
            self.stats.count(name)
            try:
                if with_timeout or self.deadline <= 0:
                    result = fn(*call_args, **bound)
                else:
                    result = _run_with_deadline(fn, call_args, bound, self.deadline)
            except Exception as e:
                if _is_no_rows(name, e):
                    self.stats.no_rows[name] = self.stats.no_rows.get(name, 0) + 1
                    return pd.DataFrame()
                if isinstance(e, TimeoutError) or "timed out" in str(e).lower():
                    self.stats.timeouts += 1
                msg = str(e).splitlines()[0] if str(e) else ""
                if attempt >= self.max_retries or not self.budget.take(what):
                    spent = (
                        ""
                        if attempt >= self.max_retries
                        else f" (run's retry budget of {self.budget.total} spent)"
                    )
                    raise DataError(
                        f"akshare {what} failed after {attempt + 1} attempts{spent}: "
                        f"{type(e).__name__}: {msg}"
                    ) from None
                self.stats.retries += 1
                # jitter spreads the retries of a run so they do not hit the site in step
                self._sleep(self.backoff * 2**attempt * self._rng.uniform(0.5, 1.5))
                attempt += 1
                continue
            if result is None:
                return pd.DataFrame()
            if not isinstance(result, pd.DataFrame):
                raise DataError(f"akshare {what} returned {type(result).__name__}")
            return result

    def _wait(self) -> None:
        now = self._clock()
        if self._last_call is not None and self.min_interval > 0:
            gap = self._last_call + self.min_interval - now
            if gap > 0:
                self._sleep(gap)
                now = self._clock()
        self._last_call = now

    @staticmethod
    def need(df: pd.DataFrame, what: str, columns: Iterable[str]) -> None:
        """DataError naming the missing columns of a non-empty answer."""
        missing = [c for c in columns if c not in df.columns]
        if missing and not df.empty:
            raise DataError(
                f"akshare {what}: missing column {', '.join(missing)} "
                f"(got: {', '.join(map(str, df.columns))})"
            )
