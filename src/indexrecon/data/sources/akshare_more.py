"""akshare datasets beyond bars: A-share capital, valuation, delisted stocks, suspensions,
name-based ST history and market-wide dividends, each converted to the store's units.

Functions and units (akshare 1.19.5 source; columns in ``akshare_api.COLUMNS``):

* ``stock_share_change_cninfo(symbol, start_date, end_date)``: every share-capital change;
  counts in 10k shares (万股): 总股本, 人民币普通股 (listed A shares), 境内上市外资股-B股,
  境外上市外资股-H股, 其中：限售B股, 其中：限售H股, ...
* ``stock_value_em(symbol)``: daily PE(TTM), PE(静), 市净率, 总股本 (shares), 总市值 (CNY);
  one page of the newest 5,000 days (about 20 years)
* ``stock_info_sh_delist(symbol="全部")``: 公司代码, 上市日期, 暂停上市日期 (the delisting day)
* ``stock_info_sz_delist(symbol="终止上市公司")``: 证券代码, 上市日期, 终止上市日期
* ``stock_tfp_em(date)``: the stocks suspended on `date` (停牌时间, 停牌期限, ...)
* ``stock_info_sz_change_name(symbol="简称变更")``: dated short-name changes (Shenzhen only)
* ``stock_zh_index_value_csindex(symbol)``: CSI's indicator file of a CSI index (000300,
  000905, 930xxx, H3xxxx; not CNI's 399xxx): 日期, 市盈率1 (by total shares), 市盈率2 (by the
  index's calculation shares), 股息率1/2 (percent); recent days only (about a month)
* ``stock_index_pe_lg(symbol)`` / ``stock_index_pb_lg(symbol)``: legulegu's daily history of
  12 named indices (``LEGULEGU_INDICES``): 滚动市盈率 (cap-weighted TTM PE; legulegu's
  addTtmPe) and 市净率 (cap-weighted PB; addPb), beside equal-weight and median variants
* ``stock_fhps_em(date)``: every stock's dividend plan for report period `date` (YYYYMMDD);
  现金分红-现金分红比例 in CNY per 10 shares
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from ...errors import DataError
from .common import classify_stock

TEN_THOUSAND = 10_000.0


# The indices stock_index_pe_lg / stock_index_pb_lg serve (akshare 1.19.5's symbol_map):
# index code -> the symbol they take.
LEGULEGU_INDICES: dict[str, str] = {
    "000016": "上证50",
    "000300": "沪深300",
    "000009": "上证380",
    "399673": "创业板50",
    "000905": "中证500",
    "000010": "上证180",
    "399324": "深证红利",
    "399330": "深证100",
    "000852": "中证1000",
    "000015": "上证红利",
    "000903": "中证100",
    "000906": "中证800",
}
INDEX_VALUATION_COLUMNS = ["index_code", "date", "pe_ttm", "pb", "source"]


def index_valuation_calls(index_code: str) -> list[str]:
    """The akshare functions the index_valuation dataset calls for `index_code`: csindex's
    file for a CSI index (not CNI's 399xxx), legulegu's PE and PB where it has the index."""
    calls = [] if index_code.startswith("399") else ["stock_zh_index_value_csindex"]
    if index_code in LEGULEGU_INDICES:
        calls += ["stock_index_pe_lg", "stock_index_pb_lg"]
    return calls


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series(0.0, index=df.index)
    return pd.to_numeric(df[col], errors="coerce")


def _dates(values: Any) -> pd.Series:
    return pd.to_datetime(pd.Series(values), errors="coerce")


def _codes(values: Any) -> pd.Series:
    s = pd.Series(values).astype(str).str.strip().str.split(".").str[0]
    return s.str.zfill(6)


def report_periods(start: dt.date, end: dt.date) -> list[str]:
    """Quarter-end report periods whose dividends can go ex in [start, end].

    A plan goes ex months after its period ends (annual reports: the next spring and
    summer, some later), so periods from 18 months before `start` on are asked for.
    """
    first = pd.Timestamp(start) - pd.DateOffset(months=18)
    ends = pd.date_range(first, pd.Timestamp(end), freq="QE")
    return [d.strftime("%Y%m%d") for d in ends]


def name_status(name: str) -> str | None:
    """The risk status a short name carries: *ST, ST, or delisting (退市 / 退)."""
    n = str(name).replace(" ", "").upper()
    if n.startswith(("*ST", "S*ST")):
        return "*ST"
    if n.startswith(("ST", "SST")):
        return "ST"
    if n.startswith("退市") or n.endswith("退"):
        return "delisting"
    return None


class ExtraDatasets:
    """Mixed into AkshareSource: needs its `call` and `need`."""

    call: Callable[..., pd.DataFrame]
    need: Callable[[pd.DataFrame, str, Iterable[str]], None]

    # -- share capital ---------------------------------------------------------------
    def share_changes(self, code: str, end: dt.date) -> pd.DataFrame:
        """cninfo's share-capital changes in shares: total, A-share total and listed A.

        a_shares = 总股本 - B shares - H shares (listed and restricted): the A-share total
        CSI and CNI rank by; float_shares = 人民币普通股, the listed (tradable) A shares.
        """
        what = f"stock_share_change_cninfo({code})"
        df = self.call(
            "stock_share_change_cninfo",
            symbol=code,
            start_date="19900101",
            end_date=end.strftime("%Y%m%d"),
        )
        cols = ["effective_date", "announced", "total_shares", "a_shares", "float_shares"]
        if df.empty:
            return pd.DataFrame(columns=cols)
        self.need(df, what, ["变动日期", "总股本", "人民币普通股"])
        total = _num(df, "总股本")
        if total.median() > 1e8:  # 1e8 x 10k = 10^12 shares: more than any company has
            raise DataError(f"akshare {what}: column 总股本 looks like shares; expected 10k shares")
        other = sum(
            _num(df, c).fillna(0.0)
            for c in ("境内上市外资股-B股", "境外上市外资股-H股", "其中：限售B股", "其中：限售H股")
        )
        out = pd.DataFrame(
            {
                "effective_date": _dates(df["变动日期"]),
                "announced": _dates(df["公告日期"]) if "公告日期" in df.columns else pd.NaT,
                # whole shares: 万股 figures carry four decimals
                "total_shares": (total * TEN_THOUSAND).round(),
                "a_shares": ((total - other) * TEN_THOUSAND).round(),
                "float_shares": (_num(df, "人民币普通股") * TEN_THOUSAND).round(),
            }
        ).dropna(subset=["effective_date", "total_shares"])
        out = out[out["total_shares"] > 0]
        # a correction announced later replaces the first report of the same change
        out = out.sort_values(["effective_date", "announced"]).drop_duplicates(
            "effective_date", keep="last"
        )
        return out.reset_index(drop=True)[cols]

    # -- valuation -------------------------------------------------------------------
    def valuation(self, code: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Daily PE (TTM) and PB (MRQ) from eastmoney, [start, end]; plus its 总股本 (shares)
        as `total_shares` to check the store's share counts against."""
        what = f"stock_value_em({code})"
        df = self.call("stock_value_em", symbol=code)
        cols = ["code", "date", "pe_ttm", "pb", "pe_static", "total_mv", "total_shares"]
        if df.empty:
            return pd.DataFrame(columns=cols)
        self.need(df, what, ["数据日期", "PE(TTM)", "市净率", "总股本"])
        out = pd.DataFrame(
            {
                "code": code,
                "date": _dates(df["数据日期"]),
                "pe_ttm": _num(df, "PE(TTM)"),
                "pb": _num(df, "市净率"),
                "pe_static": _num(df, "PE(静)"),
                "total_mv": _num(df, "总市值"),
                "total_shares": _num(df, "总股本"),
            }
        ).dropna(subset=["date"])
        days = out["date"].dt.date
        out = out[(days >= start) & (days <= end)].drop_duplicates("date", keep="last")
        return out.sort_values("date").reset_index(drop=True)[cols]

    # -- index valuation ---------------------------------------------------------------
    def index_valuation_csindex(self, index_code: str) -> pd.DataFrame:
        """CSI's own PE of a CSI index, recent days: 市盈率2, weighted by the calculation
        shares the index itself uses (市盈率1 weights by total shares); CSI gives no PB."""
        what = f"stock_zh_index_value_csindex({index_code})"
        df = self.call("stock_zh_index_value_csindex", symbol=index_code)
        if df.empty:
            return pd.DataFrame(columns=INDEX_VALUATION_COLUMNS)
        self.need(df, what, ["日期", "市盈率2"])
        out = pd.DataFrame(
            {
                "index_code": index_code,
                "date": _dates(df["日期"]),
                "pe_ttm": _num(df, "市盈率2"),
                "pb": float("nan"),
                "source": "akshare:csindex",
            }
        ).dropna(subset=["date"])
        return out.drop_duplicates("date", keep="last").reset_index(drop=True)

    def index_valuation_legulegu(self, index_code: str) -> pd.DataFrame:
        """legulegu's daily cap-weighted TTM PE (滚动市盈率) and PB (市净率) of one of the
        12 indices it covers, joined on the day (a day either lacks is NULL there)."""
        symbol = LEGULEGU_INDICES[index_code]
        pe = self.call("stock_index_pe_lg", symbol=symbol)
        pb = self.call("stock_index_pb_lg", symbol=symbol)
        parts = []
        for df, fn, col, to in ((pe, "stock_index_pe_lg", "滚动市盈率", "pe_ttm"),
                                (pb, "stock_index_pb_lg", "市净率", "pb")):
            if df.empty:
                continue
            self.need(df, f"{fn}({symbol})", ["日期", col])
            parts.append(
                pd.DataFrame({"date": _dates(df["日期"]), to: _num(df, col)})
                .dropna(subset=["date"])
                .drop_duplicates("date", keep="last")
                .set_index("date")
            )
        if not parts:
            return pd.DataFrame(columns=INDEX_VALUATION_COLUMNS)
        out = pd.concat(parts, axis=1).reset_index()
        for col in ("pe_ttm", "pb"):
            if col not in out.columns:
                out[col] = float("nan")
        out["index_code"] = index_code
        out["source"] = "akshare:legulegu"
        return out.sort_values("date").reset_index(drop=True)[INDEX_VALUATION_COLUMNS]

    # -- delisted stocks -------------------------------------------------------------
    def delisted(self, warn: Callable[[str], None]) -> pd.DataFrame:
        """Delisted A-share stocks of Shanghai and Shenzhen with listing and delisting days.

        Beijing publishes no delisting list through akshare: its delisted stocks stay
        missing (warned).
        """
        lists = (
            ("stock_info_sh_delist", {"symbol": "全部"}, "公司代码", "公司简称", "暂停上市日期"),
            (
                "stock_info_sz_delist",
                {"symbol": "终止上市公司"},
                "证券代码",
                "证券简称",
                "终止上市日期",
            ),
        )
        frames = []
        for name, kwargs, code_col, name_col, end_col in lists:
            try:
                df = self.call(name, **kwargs)
                self.need(df, name, [code_col, "上市日期", end_col])
            except DataError as e:
                warn(f"no delisted stocks from {name}: {e}")
                continue
            if df.empty:
                continue
            frames.append(
                pd.DataFrame(
                    {
                        "code": _codes(df[code_col]),
                        "name": df[name_col].astype(str).str.strip()
                        if name_col in df.columns
                        else None,
                        "list_date": _dates(df["上市日期"]).dt.date,
                        "delist_date": _dates(df[end_col]).dt.date,
                    }
                )
            )
        cols = ["code", "exchange", "board", "name", "list_date", "delist_date"]
        if not frames:
            return pd.DataFrame(columns=cols)
        out = pd.concat(frames, ignore_index=True).dropna(subset=["delist_date"])
        classes = [classify_stock(c) for c in out["code"]]
        out = out[[c is not None for c in classes]].copy()
        kept = [c for c in classes if c is not None]
        out["exchange"] = [c[0] for c in kept]
        out["board"] = [c[1] for c in kept]
        out["list_date"] = [d if pd.notna(d) else None for d in out["list_date"]]
        # a code reused after a delisting: the latest delisting is the one that matters
        out = out.sort_values(["code", "delist_date"]).drop_duplicates("code", keep="last")
        return out.reset_index(drop=True)[cols]

    # -- suspensions -----------------------------------------------------------------
    def suspended_on(self, day: dt.date) -> tuple[list[str], int]:
        """Codes suspended on `day` for the whole session, and how many intraday halts
        (停牌期限 in hours or 盘中) were left out."""
        what = f"stock_tfp_em({day:%Y%m%d})"
        df = self.call("stock_tfp_em", date=day.strftime("%Y%m%d"))
        if df.empty:
            return [], 0
        self.need(df, what, ["代码", "停牌时间", "停牌期限"])
        term = df["停牌期限"].astype(str)
        intraday = term.str.contains("小时|分钟|盘中", regex=True)
        start = _dates(df["停牌时间"]).dt.date
        began = start.map(lambda d: pd.isna(d) or d <= day)
        codes = _codes(df.loc[~intraday & began, "代码"])
        keep = sorted({c for c in codes if classify_stock(c) is not None})
        return keep, int(intraday.sum())

    # -- names -----------------------------------------------------------------------
    def sz_name_status(self) -> pd.DataFrame:
        """ST / *ST / delisting intervals of Shenzhen stocks from their dated short-name
        changes: a status holds from the change that gave the name to the next change."""
        what = "stock_info_sz_change_name(symbol='简称变更')"
        df = self.call("stock_info_sz_change_name", symbol="简称变更")
        cols = ["code", "start_date", "end_date", "status"]
        if df.empty:
            return pd.DataFrame(columns=cols)
        self.need(df, what, ["变更日期", "证券代码", "变更后简称"])
        ch = pd.DataFrame(
            {
                "code": _codes(df["证券代码"]),
                "day": _dates(df["变更日期"]).dt.date,
                "status": df["变更后简称"].map(name_status),
            }
        ).dropna(subset=["day"])
        ch = ch[[classify_stock(c) is not None for c in ch["code"]]]
        ch = ch.sort_values(["code", "day"]).drop_duplicates(["code", "day"], keep="last")
        nxt = ch.groupby("code")["day"].shift(-1)
        ch["end_date"] = [n - dt.timedelta(days=1) if pd.notna(n) else None for n in nxt]
        out = ch.dropna(subset=["status"]).rename(columns={"day": "start_date"})
        return out.reset_index(drop=True)[cols]

    # -- dividends, market-wide --------------------------------------------------------
    def dividends_of_period(self, period: str) -> pd.DataFrame:
        """Every stock's implemented cash dividend of report period `period` (YYYYMMDD),
        per share (pre-tax CNY) on its ex-date."""
        what = f"stock_fhps_em({period})"
        df = self.call("stock_fhps_em", date=period)
        cols = ["code", "ex_date", "cash_per_share"]
        if df.empty:
            return pd.DataFrame(columns=cols)
        self.need(df, what, ["代码", "现金分红-现金分红比例", "除权除息日"])
        out = pd.DataFrame(
            {
                "code": _codes(df["代码"]),
                "ex_date": _dates(df["除权除息日"]),
                # published per 10 shares (10派X元)
                "cash_per_share": _num(df, "现金分红-现金分红比例") / 10,
            }
        ).dropna()
        out = out[
            (out["cash_per_share"] > 0) & out["code"].map(lambda c: classify_stock(c) is not None)
        ]
        out = out.groupby(["code", "ex_date"], as_index=False)["cash_per_share"].sum()
        return out.sort_values(["code", "ex_date"]).reset_index(drop=True)[cols]


def merge_capital(gbjg: pd.DataFrame, cninfo: pd.DataFrame, code: str) -> pd.DataFrame:
    """One change-point series from eastmoney's and cninfo's share capital (both in shares).

    Every date either source reports is a change point. On it, each source's values are
    those of its last report on or before that date; the source with the more recent
    report gives the row (eastmoney on a tie), and a value it lacks (eastmoney has no
    A-share total before it reports restricted A shares) comes from the other.
    """
    cols = [
        "code",
        "effective_date",
        "total_shares",
        "float_shares",
        "free_float_shares",
        "source",
        "a_shares",
    ]
    names = ("stock_zh_a_gbjg_em", "stock_share_change_cninfo")
    parts = [
        (f[["effective_date", "total_shares", "float_shares", "a_shares"]], tag)
        for f, tag in zip((gbjg, cninfo), names, strict=True)
        if len(f)
    ]
    if not parts:
        return pd.DataFrame(columns=cols)
    grid = pd.DataFrame(
        {"effective_date": sorted(set(pd.concat([f["effective_date"] for f, _ in parts])))}
    )
    filled = []
    for f, tag in parts:
        f = f.assign(reported=f["effective_date"], tag=tag).sort_values("effective_date")
        filled.append(pd.merge_asof(grid, f, on="effective_date", direction="backward"))
    best = filled[0].copy()
    for other in filled[1:]:
        newer = other["reported"].notna() & (
            best["reported"].isna() | (other["reported"] > best["reported"])
        )
        for col in ("total_shares", "float_shares", "a_shares"):
            best[col] = (
                other[col].where(newer, best[col]).fillna(best[col].where(newer, other[col]))
            )
        best["tag"] = other["tag"].where(newer, best["tag"])
        best["reported"] = other["reported"].where(newer, best["reported"])
    out = best.dropna(subset=["total_shares"]).copy()
    out["code"] = code
    out["source"] = "akshare:" + out["tag"]
    out["free_float_shares"] = None
    return out.reset_index(drop=True)[cols]
