"""The online path: akshare's outputs converted to the store's tables and units.

akshare is optional (``pip install 'indexrecon[online]'``) and imported only when a call is
made; calls go through ``akshare_api.AkshareClient`` (signature check, timeouts, rate limit,
retry budget), the run through ``akshare_ingest.ingest_akshare``. Functions used here
(output columns and units: ``akshare_api.COLUMNS``; the others in ``akshare_more``):

* ``tool_trade_date_hist_sina()`` -> ``trade_date``
* ``stock_info_sh_name_code(symbol="主板A股" | "科创板")``, ``stock_info_sz_name_code(
  symbol="A股列表")``, ``stock_info_bj_name_code()``: the exchanges' lists (codes, names,
  listing days), called as ``stock_info_a_code_name`` calls them
* ``stock_zh_a_hist(symbol, period="daily", start_date, end_date, adjust="", timeout)`` ->
  ``日期, 股票代码, 开盘, 收盘, 最高, 最低, 成交量`` (lots of 100), ``成交额`` (CNY), ...
* ``stock_zh_a_gbjg_em(symbol="600519.SH")`` -> ``变更日期, 总股本, 流通受限股份,
  已上市流通A股`` (shares; the suffix is required: a bare 920799 is read as Shanghai)
* ``stock_fhps_detail_em(symbol)`` -> ``除权除息日``, ``现金分红-现金分红比例`` (CNY per 10)
* ``stock_industry_clf_hist_sw()`` -> ``symbol, start_date, industry_code, update_time``
* ``stock_zh_a_st_em()`` -> ``代码, 名称, ...`` (today's risk-warning board)
* ``index_stock_cons_weight_csindex(symbol)`` -> ``日期, 成分券代码, 权重`` (percent; only
  the latest file, whatever month is wanted)
* ``index_detail_hist_cni(symbol)`` -> ``日期, 样本代码, 样本简称, 所属行业, 总市值, 权重``
  (the whole monthly history; 权重 in percent; no ``date`` since akshare 1.18.10)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pandas as pd

from ...errors import DataError
from .akshare_api import AkshareClient
from .akshare_more import ExtraDatasets
from .common import CODE_CHANGES, IngestSummary, amount_unit_problem, classify_stock

SOURCE = "akshare"
DATASETS = (
    "calendar",
    "securities",
    "delisted",
    "bars",
    "shares",
    "valuation",
    "dividends",
    "industry",
    "names",
    "status",
    "suspensions",
    "weights",
    "index_valuation",
)
DEFAULT_INDICES = ("000300", "000905", "000852", "399006")

# The exchanges' stock lists, called exactly as akshare's stock_info_a_code_name calls them:
# (exchange, function, keyword arguments, code, name and listing-date columns, boards).
EXCHANGE_LISTS: tuple[tuple[str, str, dict[str, str], str, str, str, str], ...] = (
    ("SH", "stock_info_sh_name_code", {"symbol": "主板A股"}, "证券代码", "证券简称", "上市日期",
     "sh_main"),
    ("SZ", "stock_info_sz_name_code", {"symbol": "A股列表"}, "A股代码", "A股简称", "A股上市日期",
     "sz_main and chinext"),
    ("SH", "stock_info_sh_name_code", {"symbol": "科创板"}, "证券代码", "证券简称", "上市日期",
     "star"),
    ("BJ", "stock_info_bj_name_code", {}, "证券代码", "证券简称", "上市日期", "bse"),
)

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


def _yyyymmdd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _to_date(values: Any) -> pd.Series:
    return pd.to_datetime(pd.Series(values), errors="coerce").dt.date


def _code6(values: Any) -> pd.Series:
    """6-digit codes from text or numbers (Excel-sourced lists lose leading zeros)."""
    s = pd.Series(values).astype(str).str.strip().str.split(".").str[0]
    return s.str.zfill(6)


class AkshareSource(ExtraDatasets, AkshareClient):
    """akshare's outputs converted to the store's tables and units (calls: AkshareClient)."""

    def __init__(self, api: Any | None = None, **kwargs: Any) -> None:
        super().__init__(api, **kwargs)
        self.missing_lists: list[str] = []

    # -- datasets -------------------------------------------------------------------
    def calendar(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        df = self.call("tool_trade_date_hist_sina")
        self.need(df, "tool_trade_date_hist_sina", ["trade_date"])
        days = _to_date(df["trade_date"]) if not df.empty else pd.Series([], dtype=object)
        days = days[(days >= start) & (days <= end)].dropna()
        return pd.DataFrame({"date": pd.to_datetime(days.sort_values().unique())})

    def securities(self, summary: IngestSummary | None = None) -> pd.DataFrame:
        """Listed A-share stocks with exchange, board, name and listing date.

        Built from the exchanges' own lists, each on its own: one exchange down leaves its
        boards out of this run with a warning instead of failing the whole universe (what
        ``stock_info_a_code_name``, their concatenation, does). The lists are called in
        the keyword form ``stock_info_a_code_name`` uses, so akshare's lru_cache serves
        both from one download.
        """
        frames = []
        for exchange, name, kwargs, code_col, name_col, date_col, boards in EXCHANGE_LISTS:
            shown = f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
            try:
                df = self.call(name, **kwargs)
                self.need(df, shown, [code_col, name_col, date_col])
            except DataError as e:
                self.missing_lists.append(shown)
                if summary is not None:
                    summary.warnings.append(
                        f"{exchange} list {shown} failed, so {boards} are missing from this "
                        f"run (rerun to add them): {e}"
                    )
                continue
            if df.empty:
                continue
            frames.append(
                pd.DataFrame(
                    {
                        "code": _code6(df[code_col]),
                        "name": df[name_col].astype(str).str.strip(),
                        "list_date": _to_date(df[date_col]).to_numpy(),
                    }
                )
            )
        if len(self.missing_lists) == len(EXCHANGE_LISTS):
            raise DataError("akshare: every exchange's stock list failed; nothing to load")
        cols = ["code", "exchange", "board", "name", "list_date", "delist_date"]
        if not frames:
            return pd.DataFrame(columns=cols)
        listed = pd.concat(frames, ignore_index=True).drop_duplicates("code", keep="first")
        classes = [classify_stock(c) for c in listed["code"]]
        keep = [c is not None for c in classes]
        skipped = len(keep) - sum(keep)
        if skipped and summary is not None:
            summary.notes.append(f"{skipped} listed codes are not A-share stocks; ignored")
        listed = listed[keep].reset_index(drop=True)
        kept = [c for c in classes if c is not None]
        listed["exchange"] = [c[0] for c in kept]
        listed["board"] = [c[1] for c in kept]
        listed["list_date"] = [
            d if isinstance(d, dt.date) and pd.notna(d) else None for d in listed["list_date"]
        ]
        listed["delist_date"] = None
        return listed[cols]

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
        self.need(df, what, ["日期", "开盘", "收盘", "最高", "最低", "成交量", "成交额"])
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
        problem = amount_unit_problem(ratio, float(out["close"].median()) if len(out) else None)
        if problem:
            col = {"volume": "成交量", "amount": "成交额", "close": "收盘"}[problem[0]]
            raise DataError(f"akshare {what}: column {col}: {problem[1]}")
        out["volume"] = out["volume"].astype("int64")
        return out.sort_values("date").reset_index(drop=True)[cols]

    def shares(self, code: str, exchange: str) -> pd.DataFrame:
        """eastmoney's share capital change points in shares: total, listed A shares
        (float_shares) and the A-share total (listed + restricted A shares)."""
        # the suffix is required: a bare 920799 would be read as Shanghai
        what = f"stock_zh_a_gbjg_em({code}.{exchange})"
        df = self.call("stock_zh_a_gbjg_em", symbol=f"{code}.{exchange}")
        cols = ["effective_date", "total_shares", "float_shares", "a_shares"]
        if df.empty:
            return pd.DataFrame(columns=cols)
        self.need(df, what, ["变更日期", "总股本", "已上市流通A股", "流通受限股份"])
        listed_a = pd.to_numeric(df["已上市流通A股"], errors="coerce")
        out = pd.DataFrame(
            {
                "effective_date": pd.to_datetime(df["变更日期"], errors="coerce"),
                "total_shares": pd.to_numeric(df["总股本"], errors="coerce"),
                "float_shares": listed_a,
                # 流通受限股份 is eastmoney's LIMITED_A_SHARES: the restricted A shares
                "a_shares": listed_a + pd.to_numeric(df["流通受限股份"], errors="coerce"),
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
        self.need(df, what, ["除权除息日", "现金分红-现金分红比例"])
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
        self.need(df, "stock_industry_clf_hist_sw", ["symbol", "start_date", "industry_code"])
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
        self.need(df, "stock_zh_a_st_em", ["代码", "名称"])
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
        """Official weights as fractions: CSI's latest file, or CNI's monthly history.

        CNI (399xxx): ``index_detail_hist_cni(symbol)`` returns the whole monthly history
        (akshare >= 1.18.10 dropped the ``date`` argument); the month-end snapshots on or
        before `month` are kept, one per month (the last date of each month).
        """
        if index_code.startswith("399"):
            what = f"index_detail_hist_cni({index_code})"
            df = self.call("index_detail_hist_cni", symbol=index_code)
            date_col, code_col = "日期", "样本代码"
        else:
            what = f"index_stock_cons_weight_csindex({index_code})"
            df = self.call("index_stock_cons_weight_csindex", symbol=index_code)
            date_col, code_col = "日期", "成分券代码"
        cols = ["index_code", "trade_date", "code", "weight"]
        if df.empty:
            return pd.DataFrame(columns=cols)
        self.need(df, what, [date_col, code_col, "权重"])
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
        if index_code.startswith("399"):
            out = _month_end_snapshots(out, month)
        sums = out.groupby("trade_date")["weight"].sum()
        if len(sums) and sums.max() > 1.01:
            raise DataError(f"akshare {what}: column 权重 sums to {sums.max() * 100:.4g}% > 100")
        if len(out) >= 20 and len(sums) and sums.max() < 0.015:
            raise DataError(f"akshare {what}: column 权重 looks like fractions, not percent")
        return out.sort_values(["trade_date", "code"]).reset_index(drop=True)[cols]


def _month_end_snapshots(weights: pd.DataFrame, end: dt.date) -> pd.DataFrame:
    """The last snapshot date of each month on or before `end` (CNI publishes monthly)."""
    w = weights[weights["trade_date"].dt.date <= end]
    if w.empty:
        return w
    days = pd.Series(w["trade_date"].unique())
    last = days.groupby(days.dt.to_period("M")).max()
    return w[w["trade_date"].isin(set(last))]
