"""The embedded demo universe: a deterministic, SYNTHETIC Chinese A-share market.

Nothing here is real market data. The generator draws a whole market from one seed:
about 5,500 stocks on the five boards with realistic codes, IPOs, delistings, ST episodes,
suspensions, cash dividends, bonus shares, placements, lock-up expiries, Shenwan (SW2021)
industries and raw daily bars that obey each board's price limits. It is calibrated so
that on 2024-10-31 the ChiNext board looks like the real one (about 1,350 stocks, about
11.5 trillion CNY total market cap, the top 100 holding about half of it), which makes the
built-in methodologies behave plausibly on it.

Same seed, scale and window give identical table contents: no wall-clock time is stored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING

import duckdb
import numpy as np

from ..store import open_path as open_store

# Every command on the demo store imports this module (its path), only the first one builds
# the store: pyarrow is imported where the store is written.
if TYPE_CHECKING:
    import pyarrow as pa

DEMO_SEED: int = 20241031
DEMO_START = dt.date(2023, 1, 3)
DEMO_END = dt.date(2026, 5, 29)
# Bump whenever the generator's output changes: stores built by another version are rebuilt.
DEMO_VERSION = "1"

# The calibration day (last session of October 2024); shares are solved so that market
# caps on this day follow the target distributions exactly.
_ANCHOR = dt.date(2024, 10, 31)

# Weekday closures of the SSE/SZSE/BSE. 2023 to mid-2026 are the real closures; the rest of
# 2026 is the published schedule as far as known (Mid-Autumn/National Day approximated).
_HOLIDAYS: tuple[str, ...] = (
    # 2023
    "2023-01-02", "2023-01-23", "2023-01-24", "2023-01-25", "2023-01-26", "2023-01-27",
    "2023-04-05", "2023-05-01", "2023-05-02", "2023-05-03", "2023-06-22", "2023-06-23",
    "2023-09-29", "2023-10-02", "2023-10-03", "2023-10-04", "2023-10-05", "2023-10-06",
    # 2024
    "2024-01-01", "2024-02-09", "2024-02-12", "2024-02-13", "2024-02-14", "2024-02-15",
    "2024-02-16", "2024-04-04", "2024-04-05", "2024-05-01", "2024-05-02", "2024-05-03",
    "2024-06-10", "2024-09-16", "2024-09-17", "2024-10-01", "2024-10-02", "2024-10-03",
    "2024-10-04", "2024-10-07",
    # 2025
    "2025-01-01", "2025-01-28", "2025-01-29", "2025-01-30", "2025-01-31", "2025-02-03",
    "2025-02-04", "2025-04-04", "2025-05-01", "2025-05-02", "2025-05-05", "2025-06-02",
    "2025-10-01", "2025-10-02", "2025-10-03", "2025-10-06", "2025-10-07", "2025-10-08",
    # 2026
    "2026-01-01", "2026-01-02", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19",
    "2026-02-20", "2026-02-23", "2026-04-06", "2026-05-01", "2026-05-04", "2026-05-05",
    "2026-06-19", "2026-09-25", "2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06",
    "2026-10-07",
)  # fmt: skip

# Shenwan SW2021 level 1: code, Chinese name, English name, 2-character short name used in
# the fake stock names, stock counts per board (sh_main, sz_main, chinext, star, bse) that
# set the board's industry mix, and a log market-cap shift (banks are large, etc.).
_L1: tuple[tuple[str, str, str, str, tuple[int, int, int, int, int], float], ...] = (
    ("110000", "农林牧渔", "Agriculture, Forestry, Animal Husbandry & Fishery", "农业", (35, 45, 19, 2, 9), 0.0),
    ("220000", "基础化工", "Basic Chemicals", "化工", (131, 124, 107, 28, 27), 0.0),
    ("230000", "钢铁", "Steel", "钢铁", (24, 18, 2, 1, 0), 0.2),
    ("240000", "有色金属", "Non-ferrous Metals", "有色", (52, 55, 19, 6, 3), 0.3),
    ("270000", "电子", "Electronics", "电子", (67, 100, 146, 140, 16), 0.1),
    ("280000", "汽车", "Automobiles", "汽车", (113, 79, 66, 7, 22), 0.1),
    ("330000", "家用电器", "Household Appliances", "家电", (29, 42, 20, 4, 7), 0.2),
    ("340000", "食品饮料", "Food & Beverage", "食品", (64, 47, 11, 0, 4), 0.5),
    ("350000", "纺织服饰", "Textiles & Apparel", "纺织", (45, 43, 15, 0, 2), -0.2),
    ("360000", "轻工制造", "Light Industry Manufacturing", "轻工", (63, 59, 32, 0, 9), -0.2),
    ("370000", "医药生物", "Pharmaceuticals & Biotech", "医药", (108, 111, 140, 108, 20), 0.0),
    ("410000", "公用事业", "Utilities", "公用", (72, 51, 7, 0, 2), 0.5),
    ("420000", "交通运输", "Transportation", "交运", (82, 36, 4, 0, 2), 0.5),
    ("430000", "房地产", "Real Estate", "地产", (55, 47, 1, 0, 0), 0.0),
    ("450000", "商贸零售", "Retail & Trade", "商贸", (52, 33, 13, 0, 0), -0.1),
    ("460000", "社会服务", "Social Services", "服务", (26, 23, 24, 1, 3), 0.0),
    ("480000", "银行", "Banks", "银行", (33, 9, 0, 0, 0), 2.0),
    ("490000", "非银金融", "Non-bank Financials", "金融", (51, 28, 2, 0, 0), 0.9),
    ("510000", "综合", "Conglomerates", "综合", (9, 8, 0, 0, 0), -0.3),
    ("610000", "建筑材料", "Building Materials", "建材", (25, 35, 10, 1, 2), 0.0),
    ("620000", "建筑装饰", "Construction & Decoration", "建筑", (65, 50, 41, 0, 7), 0.1),
    ("630000", "电力设备", "Power Equipment", "电力", (87, 84, 122, 56, 27), 0.2),
    ("640000", "机械设备", "Machinery & Equipment", "机械", (126, 119, 187, 86, 56), -0.1),
    ("650000", "国防军工", "Defense & Military", "军工", (28, 33, 40, 32, 3), 0.3),
    ("710000", "计算机", "Computers", "计算", (45, 67, 152, 68, 22), 0.0),
    ("720000", "传媒", "Media", "传媒", (49, 34, 45, 0, 1), 0.0),
    ("730000", "通信", "Telecommunications", "通信", (26, 27, 56, 14, 4), 0.3),
    ("740000", "煤炭", "Coal", "煤炭", (31, 6, 0, 0, 0), 0.7),
    ("750000", "石油石化", "Petroleum & Petrochemicals", "石化", (21, 21, 5, 0, 1), 0.6),
    ("760000", "环保", "Environmental Protection", "环保", (38, 28, 49, 18, 4), -0.2),
    ("770000", "美容护理", "Beauty & Personal Care", "美容", (10, 7, 13, 1, 2), 0.0),
)  # fmt: skip

# Level 2: code, Chinese name, English name, relative frequency inside its level 1.
_L2_TABLE = """
110100 种植业 Crop Farming 22
110200 渔业 Fishery 9
110400 饲料 Animal Feed 18
110500 农产品加工 Agricultural Processing 27
110700 养殖业 Livestock Breeding 24
110800 动物保健Ⅱ Animal Health 14
220200 化学原料 Chemical Raw Materials 63
220300 化学制品 Chemical Products 184
220400 化学纤维 Chemical Fibres 29
220500 塑料 Plastics 82
220600 橡胶 Rubber 23
220800 农化制品 Agrochemicals 61
230300 冶钢原料 Steelmaking Raw Materials 9
230400 普钢 Ordinary Steel 23
230500 特钢Ⅱ Special Steel 12
240200 金属新材料 New Metal Materials 35
240300 工业金属 Industrial Metals 61
240400 贵金属 Precious Metals 14
240500 小金属 Minor Metals 30
240600 能源金属 Energy Metals 13
270100 半导体 Semiconductors 178
270200 元件 Electronic Components 66
270300 光学光电子 Optoelectronics 99
270400 其他电子Ⅱ Other Electronics 35
270500 消费电子 Consumer Electronics 102
270600 电子化学品Ⅱ Electronic Chemicals 35
280200 汽车零部件 Auto Parts 271
280300 汽车服务 Auto Services 15
280400 摩托车及其他 Motorcycles & Other Vehicles 17
280500 乘用车 Passenger Vehicles 8
280600 商用车 Commercial Vehicles 14
330100 白色家电 White Goods 11
330200 黑色家电 Audio-Visual Appliances 10
330300 小家电 Small Appliances 24
330400 厨卫电器 Kitchen & Bathroom Appliances 9
330600 家电零部件Ⅱ Appliance Components 35
340400 食品加工 Food Processing 27
340500 白酒Ⅱ Baijiu 20
340600 非白酒 Beer & Other Alcohol 16
340700 饮料乳品 Soft Drinks & Dairy 28
340800 休闲食品 Snack Foods 22
340900 调味发酵品Ⅱ Condiments 15
350100 纺织制造 Textile Manufacturing 36
350200 服装家纺 Apparel & Home Textiles 66
350300 饰品 Jewellery & Accessories 18
360100 造纸 Paper 24
360200 包装印刷 Packaging & Printing 48
360300 家居用品 Home Furnishings 77
360500 文娱用品 Leisure Products 22
370100 化学制药 Chemical Pharmaceuticals 167
370200 中药Ⅱ Traditional Chinese Medicine 75
370300 生物制品 Biological Products 56
370400 医药商业 Pharmaceutical Distribution 33
370500 医疗器械 Medical Devices 140
370600 医疗服务 Healthcare Services 54
410100 电力 Power Generation 104
410300 燃气Ⅱ Gas Utilities 31
420800 物流 Logistics 50
420900 铁路公路 Railways & Highways 33
421000 航空机场 Airlines & Airports 12
421100 航运港口 Shipping & Ports 36
430100 房地产开发 Real Estate Development 108
430300 房地产服务 Real Estate Services 12
450200 贸易Ⅱ Trading 17
450300 一般零售 General Retail 64
450400 专业连锁Ⅱ Specialty Chains 8
450600 互联网电商 E-commerce 20
460800 专业服务 Professional Services 35
460900 酒店餐饮 Hotels & Restaurants 10
461000 旅游及景区 Tourism & Scenic Spots 26
461100 教育 Education 19
480200 国有大型银行Ⅱ State-owned Banks 6
480300 股份制银行Ⅱ Joint-stock Banks 9
480400 城商行Ⅱ City Commercial Banks 17
480500 农商行Ⅱ Rural Commercial Banks 10
490100 证券Ⅱ Securities 52
490200 保险Ⅱ Insurance 7
490300 多元金融 Diversified Financials 36
510100 综合Ⅱ Conglomerates 33
610100 水泥 Cement 22
610200 玻璃玻纤 Glass & Fibreglass 16
610300 装修建材 Decoration Materials 39
620100 房屋建设Ⅱ Building Construction 8
620200 装修装饰Ⅱ Decoration Works 27
620300 基础建设 Infrastructure 48
620400 专业工程 Specialised Engineering 44
620600 工程咨询服务Ⅱ Engineering Consulting 47
630100 电机Ⅱ Electric Motors 28
630300 其他电源设备Ⅱ Other Power Source Equipment 33
630500 光伏设备 Photovoltaic Equipment 71
630600 风电设备 Wind Power Equipment 30
630700 电池 Batteries 112
630800 电网设备 Grid Equipment 144
640100 通用设备 General Machinery 251
640200 专用设备 Special Machinery 205
640500 轨交设备Ⅱ Rail Transit Equipment 35
640600 工程机械 Construction Machinery 35
640700 自动化设备 Automation Equipment 91
650100 航天装备Ⅱ Aerospace Equipment 10
650200 航空装备Ⅱ Aviation Equipment 51
650300 地面兵装Ⅱ Ground Equipment 12
650400 航海装备Ⅱ Naval Equipment 11
650500 军工电子Ⅱ Defence Electronics 66
710100 计算机设备 Computer Hardware 95
710300 IT服务Ⅱ IT Services 138
710400 软件开发 Software Development 142
720400 游戏Ⅱ Games 33
720500 广告营销 Advertising & Marketing 34
720600 影视院线 Film & Cinemas 22
720700 数字媒体 Digital Media 14
720900 出版 Publishing 29
721000 电视广播Ⅱ TV & Broadcasting 15
730100 通信服务 Telecom Services 43
730200 通信设备 Telecom Equipment 96
740100 煤炭开采 Coal Mining 33
740200 焦炭Ⅱ Coke 7
750100 油气开采Ⅱ Oil & Gas Extraction 5
750200 油服工程 Oilfield Services 14
750300 炼化及贸易 Refining & Trading 31
760100 环境治理 Environmental Remediation 113
760200 环保设备Ⅱ Environmental Equipment 28
770100 个护用品 Personal Care Products 12
770200 化妆品 Cosmetics 15
770300 医疗美容 Medical Aesthetics 4
"""


def _parse_l2() -> list[tuple[str, str, str, float]]:
    rows = []
    for line in _L2_TABLE.strip().splitlines():
        parts = line.split()
        rows.append((parts[0], parts[1], " ".join(parts[2:-1]), float(parts[-1])))
    return rows


_L2 = _parse_l2()


@dataclass(frozen=True)
class _BoardSpec:
    """Per-board parameters at scale 1 (counts, code ranges, limits, calibration targets)."""

    board: str
    exchange: str
    n: int  # securities listed at any time in the window
    n_ipo: int  # of which listed inside the window
    n_delist: int
    first_list: str  # earliest listing date of the stocks listed before the window
    list_skew: float  # > 1 favours recent listing dates
    # Code ranges in the order they were historically used, then synthetic overflow
    # ranges that are only used when the real ones run short (scale > 1).
    code_ranges: tuple[tuple[int, int], ...]
    overflow_ranges: tuple[tuple[int, int], ...]
    limit: float
    cap_total: float  # total market cap of the board on the anchor day, CNY
    cap_sigma: float
    cap_skew: float  # right-tail fattening of the log-cap distribution
    cap_max: float  # the largest stock (forced for ChiNext, a ceiling elsewhere)
    price: float  # median price at the start
    vol: float  # daily idiosyncratic vol of a 5 bn CNY stock
    beta: float
    turnover: float  # median daily turnover as a fraction of float cap
    amount: float  # board turnover on the anchor day, CNY
    st_share: float
    payer_share: float
    bonus_prob: float
    ipo_price: float
    ipo_jump: float  # median first-day log return


_BOARD_SPECS: tuple[_BoardSpec, ...] = (
    _BoardSpec("sh_main", "SH", 1700, 90, 16, "1990-12-19", 2.0,
               ((600000, 600999), (601000, 601299), (603000, 603999), (605000, 605399)),
               ((606000, 609999), (610000, 649999)),
               0.10, 52.0e12, 1.15, 0.14, 2.3e12, 10.0, 0.019, 0.9, 0.013, 500e9,
               0.04, 0.78, 0.03, 14.0, 0.75),
    _BoardSpec("sz_main", "SZ", 1500, 55, 16, "1991-04-03", 1.8,
               ((1, 999), (2001, 2999), (3001, 3050), (1201, 1399)),
               ((4000, 9999), (10000, 99999)),
               0.10, 21.0e12, 1.0, 0.12, 0.85e12, 9.0, 0.021, 0.95, 0.017, 480e9,
               0.045, 0.72, 0.04, 16.0, 0.8),
    _BoardSpec("chinext", "SZ", 1420, 168, 9, "2009-10-30", 2.2,
               ((300001, 300999), (301001, 301699)), ((303000, 309999), (310000, 329999)),
               0.20, 11.5e12, 0.78, 0.25, 0.95e12, 18.0, 0.026, 1.15, 0.03, 380e9,
               0.015, 0.62, 0.07, 25.0, 0.9),
    _BoardSpec("star", "SH", 600, 100, 2, "2019-07-22", 1.3,
               ((688001, 688799),), ((689000, 689999), (680000, 687999), (690000, 699999)),
               0.20, 5.3e12, 0.95, 0.12, 0.32e12, 28.0, 0.028, 1.2, 0.022, 100e9,
               0.006, 0.5, 0.06, 35.0, 0.7),
    _BoardSpec("bse", "BJ", 300, 120, 1, "2021-11-15", 1.0,
               ((920000, 920999),), ((921000, 929999),),
               0.30, 0.42e12, 0.75, 0.1, 0.045e12, 15.0, 0.032, 1.3, 0.03, 25e9,
               0.0, 0.45, 0.05, 9.0, 0.9),
)  # fmt: skip

_MAIN = (0, 1)  # board indices of the two main boards
_ST_LIMIT = 0.05  # main-board ST/*ST limit (ChiNext/STAR keep 20%, BSE 30%)
_NEW_LISTING_DAYS = 5  # the first 5 sessions of a new listing have no price limit
_DELISTING_DAYS = 15  # the delisting consolidation period before the last session
_BONUS_FACTORS = (1.2, 1.3, 1.4, 1.45, 1.5, 1.6, 1.8, 2.0)
_BONUS_WEIGHTS = (0.12, 0.2, 0.2, 0.08, 0.16, 0.08, 0.06, 0.1)

# Log level of the common market factor at key dates (shape of 2023-2026: 2023 drift down,
# the Jan/Feb 2024 small-cap crash, the late-September 2024 rally, the April 2025 tariff
# dip, the 2025 recovery). Between knots the path is a Brownian bridge.
_MARKET_KNOTS: tuple[tuple[str, float], ...] = (
    ("2023-01-03", 0.0), ("2023-04-18", 0.06), ("2023-10-23", -0.12),
    ("2024-02-05", -0.36), ("2024-05-17", -0.22), ("2024-09-23", -0.30),
    ("2024-10-08", 0.04), ("2024-10-31", -0.02), ("2025-04-08", -0.08),
    ("2025-08-29", 0.16), ("2025-11-28", 0.24), ("2026-05-29", 0.28),
)  # fmt: skip
# Log of market-wide trading activity at key dates (turnover multiplier).
_ACTIVITY_KNOTS: tuple[tuple[str, float], ...] = (
    ("2023-01-03", 0.0), ("2023-06-30", 0.05), ("2024-02-05", 0.15), ("2024-09-20", -0.35),
    ("2024-10-08", 0.45), ("2024-10-31", 0.45), ("2025-03-31", 0.3), ("2025-06-30", 0.1),
    ("2025-09-15", 0.55), ("2026-05-29", 0.35),
)  # fmt: skip


# -- paths and the lazily built default store ---------------------------------------------
def _package_version() -> str:
    try:
        return metadata.version("indexrecon")
    except metadata.PackageNotFoundError:
        return "0"


def demo_store_path() -> Path:
    """Where the embedded demo store lives.

    $INDEXRECON_DEMO_PATH if set; else data/demo.duckdb in a source checkout (the repo's
    data/ folder exists and is writable); else ~/.cache/indexrecon/demo-<version>.duckdb.
    """
    env = os.environ.get("INDEXRECON_DEMO_PATH")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[4]
    data = repo / "data"
    if data.is_dir() and (repo / "pyproject.toml").is_file() and os.access(data, os.W_OK):
        return data / "demo.duckdb"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "indexrecon" / f"demo-{_package_version()}.duckdb"


_BUSY = "<busy>"


def _store_version(path: Path) -> str | None:
    """The demo_version recorded in an existing store, None if absent or unreadable, or
    _BUSY if another connection holds it (never rebuild a store somebody is writing to)."""
    if not path.is_file():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.ConnectionException:
        return _BUSY  # open in this process with another configuration
    except duckdb.IOException as e:
        return _BUSY if "lock" in str(e).lower() else None
    except duckdb.Error:
        return None
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'demo_version'").fetchone()
        return str(row[0]) if row else None
    except duckdb.Error:
        return None
    finally:
        con.close()


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def ensure_demo_store(path: Path) -> None:
    """Build the demo store at `path` unless one of the current generator version is there.

    The build goes to a temp file beside `path` and is moved into place with os.replace,
    under an exclusive lock file, so a concurrent process either waits or sees the
    finished store, never a half-written one. Nothing is printed to stdout.
    """
    path = Path(path).expanduser()
    if _store_version(path) in (DEMO_VERSION, _BUSY):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            # Another process may have finished the build while we waited for the lock.
            if _store_version(path) in (DEMO_VERSION, _BUSY):
                return
            print(
                "indexrecon: building the SYNTHETIC demo store (first use, a few seconds)...",
                file=sys.stderr,
            )
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            _remove(tmp)
            _remove(tmp.with_name(tmp.name + ".wal"))
            try:
                build_demo_store(tmp)
                # A WAL left over from the old file would be replayed onto the new one.
                _remove(path.with_name(path.name + ".wal"))
                os.replace(tmp, path)
            finally:
                _remove(tmp)
                _remove(tmp.with_name(tmp.name + ".wal"))
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


# -- small helpers --------------------------------------------------------------------------
def _d64(s: str | dt.date) -> np.datetime64:
    return np.datetime64(s, "D")


def _trading_days(start: dt.date, end: dt.date) -> np.ndarray:
    """Weekdays from start to end without the exchange holidays, as datetime64[D]."""
    days = np.arange(_d64(start), _d64(end) + 1, dtype="datetime64[D]")
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    holidays = np.array(_HOLIDAYS, dtype="datetime64[D]")
    return days[(weekday < 5) & ~np.isin(days, holidays)]


def _next_weekday(days: np.ndarray) -> np.ndarray:
    """Move Saturdays and Sundays to the following Monday."""
    weekday = (days.astype(np.int64) + 3) % 7
    return days + np.where(weekday >= 5, 7 - weekday, 0).astype("timedelta64[D]")


def _norm_ppf(q: np.ndarray) -> np.ndarray:
    nd = NormalDist()
    return np.array([nd.inv_cdf(float(x)) for x in q])


def _bridge_path(
    rng: np.random.Generator,
    days: np.ndarray,
    knots: Sequence[tuple[str, float]],
    sd: float,
) -> np.ndarray:
    """A log-level path through the knots with Brownian-bridge noise between them."""
    n = len(days)
    x = days.astype(np.int64)
    kx = np.array([_d64(k).astype(np.int64) for k, _ in knots])
    ky = np.array([v for _, v in knots])
    base = np.interp(x, kx, ky)
    walk = np.cumsum(rng.normal(0.0, sd, n))
    kidx = np.unique(np.concatenate([[0, n - 1], np.clip(np.searchsorted(x, kx), 0, n - 1)]))
    walk -= np.interp(np.arange(n), kidx, walk[kidx])
    return base + walk


def _rows_before(days: np.ndarray, d: np.datetime64) -> int:
    """Index of the last trading day on or before d (0 if d precedes the window)."""
    return max(0, int(np.searchsorted(days, d, side="right")) - 1)


# -- the generator ------------------------------------------------------------------------
class _DemoMarket:
    """Draws the whole synthetic market in numpy arrays; `write` puts it into a store.

    Stocks are kept in code order and days in calendar order so that a day's bars come out
    of the matrices already sorted by (date, code).
    """

    def __init__(self, seed: int, scale: float, start: dt.date, end: dt.date) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.seed = seed
        self.scale = scale
        self.rng = np.random.default_rng(seed)
        self.days = _trading_days(start, end)
        if len(self.days) < 60:
            raise ValueError("the demo window needs at least 60 trading days")
        self.D = len(self.days)
        anchor = _d64(_ANCHOR)
        if not (self.days[0] <= anchor <= self.days[-1]):
            anchor = self.days[self.D // 2]
        self.a_idx = _rows_before(self.days, anchor)
        self.l2_codes = np.array([r[0] for r in _L2])
        self.l2_l1 = np.array([[c for c, *_ in _L1].index(r[0][:2] + "0000") for r in _L2])
        self.l2_weight = np.array([r[3] for r in _L2])

    # -- universe -------------------------------------------------------------------------
    def universe(self) -> None:
        rng, days, D = self.rng, self.days, self.D
        start = days[0]
        board, list_date, list_idx, codes = [], [], [], []
        for b, spec in enumerate(_BOARD_SPECS):
            n = max(1, round(spec.n * self.scale))
            n_ipo = min(n - 1, round(spec.n_ipo * self.scale))
            n_pre = n - n_ipo
            # Listing dates before the window, denser in recent years.
            first = _d64(spec.first_list)
            last = start - np.timedelta64(14, "D")
            span = (last - first).astype(np.int64)
            u = rng.uniform(0, 1, n_pre) ** (1 / spec.list_skew)
            offset = (u * span).astype(np.int64).astype("timedelta64[D]")
            pre = _next_weekday(np.minimum(first + offset, last))
            # IPO sessions inside the window: busy 2023 to August, then the slowdown.
            year = days.astype("datetime64[Y]").astype(np.int64) + 1970
            month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
            w = np.select(
                [(year == 2023) & (month <= 8), year == 2023, year == 2024, year == 2025],
                [1.0, 0.45, 0.22, 0.3],
                0.35,
            )
            w[0] = 0.0
            ipo_idx = np.sort(rng.choice(D, size=n_ipo, p=w / w.sum()))
            dates = np.concatenate([np.sort(pre), days[ipo_idx]])
            idx = np.concatenate([np.full(n_pre, -1), ipo_idx])
            # Codes are handed out in listing order from the historical ranges.
            pool = self._code_pool(spec, n)
            picks = np.sort(rng.choice(len(pool), size=n, replace=False))
            codes.extend(f"{c:06d}" for c in pool[picks])
            board.extend([b] * n)
            list_date.append(dates)
            list_idx.append(idx)
        self.code = np.array(codes)
        self.board = np.array(board)
        self.list_date = np.concatenate(list_date)
        self.list_idx = np.concatenate(list_idx)
        self.code_changes: list[tuple[str, str, np.datetime64]] = []
        self._code_changes()
        order = np.argsort(self.code, kind="stable")
        for name in ("code", "board", "list_date", "list_idx"):
            setattr(self, name, getattr(self, name)[order])
        self.N = len(self.code)
        self.pre = self.list_idx < 0
        self.first_idx = np.maximum(self.list_idx, 0)
        self.is_main = np.isin(self.board, _MAIN)

    @staticmethod
    def _code_pool(spec: _BoardSpec, n: int) -> np.ndarray:
        """The board's real code ranges, plus as much overflow as n stocks need."""
        parts = [np.arange(lo, hi + 1) for lo, hi in spec.code_ranges]
        room = sum(len(p) for p in parts)
        for lo, hi in spec.overflow_ranges:
            if room >= 1.1 * n:
                break
            parts.append(np.arange(lo, hi + 1))
            room += hi - lo + 1
        return np.concatenate(parts)

    def _code_changes(self) -> None:
        """Rename one old ChiNext and one old BSE stock; history stays under the new code."""
        rng = self.rng
        for b, prefix, new_prefix, when in (
            (2, "300", "302", "2025-02-17"),
            (4, "920", "83", "2025-10-09"),
        ):
            cand = np.flatnonzero(
                (self.board == b) & (self.list_idx < 0) & np.char.startswith(self.code, prefix)
            )
            if len(cand) == 0:
                continue
            i = int(rng.choice(cand))
            old = self.code[i]
            if new_prefix == "302":
                new = "302" + old[3:]
            else:
                # BSE: the old 83xxxx code became the 920xxx code the store uses.
                new, old = old, "83" + old[2:]
            d = self.days[min(self.D - 1, int(np.searchsorted(self.days, _d64(when))))]
            self.code[i] = new
            self.code_changes.append((old, new, d))
        self.changed_codes = {new for _, new, _ in self.code_changes}

    # -- delistings, industries, sizes ----------------------------------------------------
    def delistings(self) -> None:
        rng, D, N = self.rng, self.D, self.N
        self.delist_idx = np.full(N, D)  # D = still listed at the end
        self.doomed = np.zeros(N, dtype=bool)
        old = self.pre & (self.list_date < self.days[0] - np.timedelta64(365, "D"))
        for b, spec in enumerate(_BOARD_SPECS):
            cand = np.flatnonzero(
                (self.board == b) & old & ~np.isin(self.code, list(self.changed_codes))
            )
            k = min(len(cand), round(spec.n_delist * self.scale))
            if k <= 0:
                continue
            pick = rng.choice(cand, size=k, replace=False)
            self.delist_idx[pick] = rng.integers(45, D - 1, size=k)
            self.doomed[pick] = True
        self.alive = (np.arange(D)[:, None] >= self.first_idx[None, :]) & (
            np.arange(D)[:, None] < self.delist_idx[None, :]
        )
        self.alive_a = self.alive[self.a_idx]

    def industries(self) -> None:
        rng, N = self.rng, self.N
        mix = np.array([w for *_, w, _ in _L1], dtype=float)  # (31, 5)
        self.l1 = np.empty(N, dtype=np.int64)
        for b in range(len(_BOARD_SPECS)):
            sel = np.flatnonzero(self.board == b)
            p = mix[:, b] / mix[:, b].sum()
            self.l1[sel] = rng.choice(len(_L1), size=len(sel), p=p)
        self.l2 = np.empty(N, dtype=np.int64)
        for j in range(len(_L1)):
            sel = np.flatnonzero(self.l1 == j)
            cand = np.flatnonzero(self.l2_l1 == j)
            w = self.l2_weight[cand]
            self.l2[sel] = rng.choice(cand, size=len(sel), p=w / w.sum())

    def _draw_l2(self, l1: int, exclude: int = -1) -> int:
        cand = np.flatnonzero((self.l2_l1 == l1) & (np.arange(len(_L2)) != exclude))
        if len(cand) == 0:
            cand = np.flatnonzero(self.l2_l1 == l1)
        w = self.l2_weight[cand]
        return int(self.rng.choice(cand, p=w / w.sum()))

    def sizes(self) -> None:
        """Market cap targets, price levels, volatilities, turnover and free-float ratios."""
        rng, N = self.rng, self.N
        shift = np.array([s for *_, s in _L1])[self.l1]
        days0 = self.days[0]
        cap = np.zeros(N)
        for b, spec in enumerate(_BOARD_SPECS):
            on = np.flatnonzero((self.board == b) & self.alive_a & ~self.doomed)
            n = len(on)
            if n:
                # Stratified normal scores keep the distribution's shape stable per seed;
                # older listings tend to get the larger ones.
                age = (days0 - self.list_date[on]).astype(np.float64) / 3650
                rank = np.argsort(np.argsort(-(age + rng.normal(0, 1.0, n))))
                z = _norm_ppf(1 - (rank + rng.uniform(0.2, 0.8, n)) / n)
                lc = spec.cap_sigma * z + spec.cap_skew * np.maximum(z, 0) ** 2
                c = np.exp(lc + shift[on] + rng.normal(0, 0.1, n))
                total = spec.cap_total * self.scale
                cap[on] = self._fit_total(c, total, spec.cap_max, force_max=spec.board == "chinext")
                med, sig = np.median(np.log(cap[on])), spec.cap_sigma
            else:
                med, sig = np.log(spec.cap_total / max(1, spec.n)), spec.cap_sigma
            # New listings after the anchor day are drawn smaller than the incumbents.
            off = np.flatnonzero((self.board == b) & ~self.alive_a & ~self.doomed)
            cap[off] = np.exp(med - 0.3 + 0.7 * sig * rng.standard_normal(len(off)))
        doomed = np.flatnonzero(self.doomed)
        cap[doomed] = np.exp(rng.normal(np.log(1.6e9), 0.4, len(doomed)))
        self.cap = cap

        # The ChiNext giant is a battery maker, like the real board's largest stock.
        cx = np.flatnonzero((self.board == 2) & self.alive_a)
        self.giants = set()
        for b in range(len(_BOARD_SPECS)):
            on = np.flatnonzero((self.board == b) & self.alive_a)
            self.giants.update(on[np.argsort(-cap[on])[: max(1, len(on) // 20)]].tolist())
        if len(cx):
            g = cx[np.argmax(cap[cx])]
            self.l1[g] = [c for c, *_ in _L1].index("630000")
            self.l2[g] = int(np.flatnonzero(self.l2_codes == "630700")[0])
        self.big = np.zeros(N, dtype=bool)
        self.big[list(self.giants)] = True

        spec_price = np.array([s.price for s in _BOARD_SPECS])[self.board]
        spec_vol = np.array([s.vol for s in _BOARD_SPECS])[self.board]
        spec_beta = np.array([s.beta for s in _BOARD_SPECS])[self.board]
        spec_turn = np.array([s.turnover for s in _BOARD_SPECS])[self.board]
        ipo_price = np.array([s.ipo_price for s in _BOARD_SPECS])[self.board]
        rel = np.log(cap / 5e9)
        logp = np.log(spec_price) + 0.3 * rel + rng.normal(0, 0.45, N)
        p0 = np.clip(np.exp(logp), 2.0, 500.0)
        p0[self.doomed] = rng.uniform(1.3, 3.5, self.doomed.sum())
        issue = np.clip(np.exp(np.log(ipo_price) + 0.2 * rel + rng.normal(0, 0.45, N)), 3, 150)
        self.p0 = np.where(self.pre, p0, issue)
        self.vol = np.clip(spec_vol * np.exp(-0.12 * rel + rng.normal(0, 0.15, N)), 0.008, 0.06)
        self.beta = spec_beta + rng.normal(0, 0.15, N)
        self.gamma = 1 + rng.normal(0, 0.25, N)
        self.turn = spec_turn * np.exp(-0.3 * rel + rng.normal(0, 0.35, N))
        jump = np.array([s.ipo_jump for s in _BOARD_SPECS])[self.board]
        self.ipo_jump = np.clip(jump + rng.normal(0, 0.5, N), -0.35, 3.0)
        # Free float as a share of total capital: 15%..100%, lower for big caps (state
        # holders), so that the CSI tiered inclusion factors actually vary.
        q = rng.beta(2.2, 1.8, N)
        fr = np.clip(0.12 + 0.88 * q - 0.05 * np.clip(rel, 0, None), 0.13, 1.0)
        fr[(rng.uniform(0, 1, N) < 0.04) & ~self.big] = 1.0
        self.free_ratio = fr
        # Float ratio >= free ratio; A+H style large caps float only part of their capital.
        phi = np.where(rng.uniform(0, 1, N) < 0.8, 1.0, rng.uniform(0.6, 1.0, N))
        ah = self.big & (rng.uniform(0, 1, N) < 0.3)
        phi[ah] = rng.uniform(0.25, 0.8, ah.sum())
        self.float_ratio = phi
        self.free_ratio = np.minimum(self.free_ratio, phi)

    @staticmethod
    def _fit_total(c: np.ndarray, total: float, cap_max: float, force_max: bool) -> np.ndarray:
        """Scale caps to the board total under the size ceiling (or with a forced largest)."""
        cap_max = min(cap_max, 0.3 * total)
        c = c.copy()
        top = int(np.argmax(c))
        rest = np.ones(len(c), dtype=bool)
        if force_max and len(c) > 1:
            c[top] = cap_max
            rest[top] = False
            ceiling = 0.45 * cap_max
            budget = total - cap_max
        else:
            ceiling = cap_max
            budget = total
        for _ in range(8):
            c[rest] *= budget / c[rest].sum()
            c[rest] = np.minimum(c[rest], ceiling)
        return c

    # -- status: ST episodes, delisting periods, suspensions --------------------------------
    def statuses(self) -> None:
        rng, D, N, days = self.rng, self.D, self.N, self.days
        self.status_rows: list[tuple[int, np.datetime64, np.datetime64 | None, str]] = []
        self.st = np.zeros((D, N), dtype=bool)
        self.susp = np.zeros((D, N), dtype=bool)
        self.doom_start = np.full(N, D)

        def pre_window_date(back_days: int) -> np.datetime64:
            d = days[0] - np.timedelta64(int(back_days), "D")
            return _next_weekday(np.array([d]))[0]

        for i in np.flatnonzero(self.doomed):
            last = self.delist_idx[i] - 1
            dl_start = max(0, last - _DELISTING_DAYS + 1)
            st_len = int(rng.integers(120, 400))
            st_start = dl_start - st_len
            self.doom_start[i] = max(0, dl_start - 200)
            if dl_start > 0:
                sd = days[st_start] if st_start >= 0 else pre_window_date(rng.integers(30, 400))
                self.status_rows.append((i, sd, days[dl_start - 1], "*ST"))
                self.st[max(0, st_start) : dl_start, i] = True
            self.status_rows.append((i, days[dl_start], days[last], "delisting"))

        # ST / *ST episodes of ordinary stocks, some already running when the window opens.
        st_share = np.array([s.st_share for s in _BOARD_SPECS])[self.board]
        cand = ~self.doomed & ~self.big & (self.list_date < days[0] - np.timedelta64(365, "D"))
        chosen = np.flatnonzero(cand & (rng.uniform(0, 1, N) < st_share * 1.6))
        for i in chosen:
            before = rng.uniform() < 0.35
            s = 0 if before else int(rng.integers(0, D - 60))
            e = s + int(rng.integers(100, 450))
            kind = "*ST" if rng.uniform() < 0.55 else "ST"
            sd = pre_window_date(rng.integers(30, 500)) if before else days[s]
            self.st[s : min(e + 1, D), i] = True
            split = kind == "*ST" and not before and rng.uniform() < 0.3
            if split:  # the delisting risk is lifted halfway: *ST becomes ST
                mid = (s + e) // 2
                if mid < D:
                    self.status_rows.append((i, sd, days[mid - 1], "*ST"))
                    sd, kind = days[mid], "ST"
            self.status_rows.append((i, sd, days[e] if e < D else None, kind))

        # Suspensions: short ones are common, a few last longer than three months.
        n_long = max(1, round(12 * self.scale))
        lengths = [int(x) for x in rng.integers(1, 11, size=round(0.1 * N))]
        lengths += [int(x) for x in rng.integers(11, 61, size=round(0.012 * N))]
        lengths += [int(x) for x in rng.integers(70, 200, size=n_long)]
        who = rng.choice(np.flatnonzero(~self.big), size=len(lengths))
        for i, n in zip(who, lengths, strict=True):
            lo = self.first_idx[i] + _NEW_LISTING_DAYS + 1
            hi = min(self.delist_idx[i] - _DELISTING_DAYS - 2, D - 2) - n
            if hi <= lo:
                continue
            s = int(rng.integers(lo, hi))
            e = s + n - 1
            if self.susp[max(0, s - 2) : e + 3, i].any():
                continue
            self.susp[s : e + 1, i] = True
            self.status_rows.append((i, days[s], days[e], "suspended"))
        self.trade = self.alive & ~self.susp

    # -- corporate actions -----------------------------------------------------------------
    def corporate_actions(self) -> None:
        """Dividends and bonus shares (ex-date events) and placements (share changes)."""
        rng, D, N, days = self.rng, self.D, self.N, self.days
        payer = ~self.doomed & (
            rng.uniform(0, 1, N) < np.array([s.payer_share for s in _BOARD_SPECS])[self.board]
        )
        yld = np.exp(rng.normal(np.log(0.012), 0.6, N))
        rich = np.isin(self.l1, [i for i, r in enumerate(_L1) if r[0] in ("480000", "740000")])
        yld[rich] *= 3.5
        bonus_p = np.array([s.bonus_prob for s in _BOARD_SPECS])[self.board]
        bonus_p = bonus_p * np.where(self.p0 > 40, 2.5, 1.0)
        ev_d, ev_i, ev_y, ev_f = [], [], [], []
        years = range(int(str(days[0])[:4]), int(str(days[-1])[:4]) + 1)
        for y in years:
            for lo, hi, frac, mult in (
                (f"{y}-05-15", f"{y}-07-31", 1.0, 1.0),
                (f"{y}-10-10", f"{y + 1}-01-20", 0.12, 0.5),
            ):
                i0, i1 = np.searchsorted(days, [_d64(lo), _d64(hi)])
                if i1 - i0 < 5:
                    continue
                who = np.flatnonzero(payer & (rng.uniform(0, 1, N) < frac))
                d = rng.integers(max(i0, 1), i1, size=len(who))
                ok, d = self._valid_ex_dates(who, d)
                who, d = who[ok], d[ok]
                seasoned = self.list_date[who] <= days[d] - np.timedelta64(240, "D")
                who, d = who[seasoned], d[seasoned]
                f = np.ones(len(who))
                if mult == 1.0:
                    gets = rng.uniform(0, 1, len(who)) < bonus_p[who]
                    f[gets] = rng.choice(_BONUS_FACTORS, size=gets.sum(), p=_BONUS_WEIGHTS)
                y_ = yld[who] * mult * np.exp(rng.normal(0, 0.2, len(who)))
                y_[(f > 1) & (rng.uniform(0, 1, len(who)) < 0.15)] = 0.0  # bonus only
                ev_d.append(d)
                ev_i.append(who)
                ev_y.append(y_)
                ev_f.append(f)
        ev_d_a = np.concatenate(ev_d) if ev_d else np.zeros(0, dtype=np.int64)
        order = np.lexsort((np.concatenate(ev_i), ev_d_a)) if ev_d else np.zeros(0, dtype=int)
        self.ev_d = ev_d_a[order]
        self.ev_i = np.concatenate(ev_i)[order] if ev_d else np.zeros(0, dtype=np.int64)
        self.ev_y = np.concatenate(ev_y)[order] if ev_d else np.zeros(0)
        self.ev_f = np.concatenate(ev_f)[order] if ev_d else np.zeros(0)
        self.ev_cash = np.zeros(len(self.ev_d))

        # Placements: ~8% of stocks issue 5-25% new shares, locked up for six months.
        cand = np.flatnonzero(~self.doomed & (rng.uniform(0, 1, N) < 0.08))
        pd_ = rng.integers(1, D - 1, size=len(cand))
        earliest = np.where(self.pre[cand], 1, self.first_idx[cand] + 250)
        keep = (pd_ >= earliest) & (pd_ < self.delist_idx[cand] - 60)
        self.pl_i, self.pl_d = cand[keep], pd_[keep]
        self.pl_x = rng.uniform(0.05, 0.25, len(self.pl_i))

    def _valid_ex_dates(self, who: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Move each ex-date to the first session (within 10) where the stock trades on it
        and on the session before and is not ST; drop the rest."""
        ok = np.zeros(len(who), dtype=bool)
        out = d.copy()
        for k in range(11):
            dd = np.minimum(d + k, self.D - 1)
            good = (
                ~ok
                & (dd >= 1)
                & self.trade[dd, who]
                & self.trade[np.maximum(dd - 1, 0), who]
                & ~self.st[dd, who]
                & (dd < self.delist_idx[who] - _DELISTING_DAYS - 5)
            )
            out[good] = dd[good]
            ok |= good
        return ok, out

    # -- prices ------------------------------------------------------------------------------
    def prices(self) -> None:
        """Simulate raw daily OHLC in cents, day by day, vectorised over stocks."""
        rng, D, N, days = self.rng, self.D, self.N, self.days
        n_l1 = len(_L1)
        mkt = np.diff(_bridge_path(rng, days, _MARKET_KNOTS, 0.009), prepend=0.0)
        ind = rng.normal(0, 0.008, (D, n_l1))
        brd = rng.normal(0, 0.003, (D, len(_BOARD_SPECS)))
        act = np.exp(_bridge_path(rng, days, _ACTIVITY_KNOTS, 0.05)) * (1 + 5 * np.abs(mkt))
        limit = np.array([s.limit for s in _BOARD_SPECS])[self.board]
        kappa = 0.004  # mean reversion of the idiosyncratic level: keeps prices in range

        self.O = np.zeros((D, N), dtype=np.int32)
        self.H = np.zeros((D, N), dtype=np.int32)
        self.L = np.zeros((D, N), dtype=np.int32)
        self.C = np.zeros((D, N), dtype=np.int32)
        self.tr = np.zeros((D, N), dtype=np.float32)
        last = np.round(self.p0 * 100)  # cents; for IPOs the issue price
        u = np.zeros(N)
        pending = np.zeros(N)
        ev_start = np.searchsorted(self.ev_d, np.arange(D + 1))
        self.close_a = np.zeros(N)
        sig = self.vol
        for t in range(D):
            trade = self.trade[t]
            ref = last.copy()
            # Ex-dates: the reference price drops by the cash dividend and by the bonus factor.
            e0, e1 = ev_start[t], ev_start[t + 1]
            if e1 > e0:
                ei = self.ev_i[e0:e1]
                cash = np.round(self.ev_y[e0:e1] * ref[ei] / 100, 3)
                cash = np.minimum(cash, np.floor(ref[ei] * 0.1) / 100)
                self.ev_cash[e0:e1] = cash
                ref[ei] = np.round((ref[ei] - cash * 100) / self.ev_f[e0:e1])
            eps = rng.standard_t(4, N) / np.sqrt(2.0)
            du = -kappa * u + sig * eps
            u += du
            r = self.beta * mkt[t] + self.gamma * ind[t, self.l1] + brd[t, self.board] + du
            r -= 0.0004 * self.st[t]
            r -= 0.004 * ((t >= self.doom_start) & (t < self.delist_idx))
            age = t - self.list_idx
            new = (self.list_idx >= 0) & (age >= 0) & (age < _NEW_LISTING_DAYS)
            first = self.list_idx == t
            want = r + pending
            want[first] = self.ipo_jump[first]
            want[new & ~first] = np.clip(want[new & ~first] * 1.8, -0.3, 0.45)
            lim = limit.copy()
            lim[self.is_main & self.st[t]] = _ST_LIMIT
            # Limit prices round half-up to the fen; the epsilon absorbs binary noise (x.5).
            up = np.floor(ref * (1 + lim) + 0.5 + 1e-7)
            dn = np.maximum(np.floor(ref * (1 - lim) + 0.5 + 1e-7), 1)
            up[new] = np.inf
            dn[new] = 1
            c = np.clip(np.round(ref * np.exp(want)), dn, up)
            real = np.log(c / ref)
            gap = 0.35 * real + 0.4 * sig * rng.standard_normal(N)
            gap[first] = real[first] * rng.uniform(0.3, 1.0, first.sum())
            o = np.clip(np.round(ref * np.exp(gap)), dn, up)
            spread = 0.55 * sig * (1 + 2 * new)
            h = np.clip(
                np.round(np.maximum(o, c) * np.exp(np.abs(rng.standard_normal(N)) * spread)), dn, up
            )
            lo = np.clip(
                np.round(np.minimum(o, c) * np.exp(-np.abs(rng.standard_normal(N)) * spread)),
                dn,
                up,
            )
            h = np.maximum(h, np.maximum(o, c))
            lo = np.minimum(lo, np.minimum(o, c))
            # Turnover as a fraction of float cap: busier on big moves and early sessions.
            tr = (
                self.turn
                * act[t]
                * np.exp(0.4 * rng.standard_normal(N) - 0.08)
                * (1 + 4 * np.abs(real))
            )
            tr[new] = np.array([0.7, 0.45, 0.32, 0.25, 0.2])[age[new]] * rng.uniform(
                0.7, 1.3, new.sum()
            )
            # The clipped part of a move carries over (limit streaks, catch-up after a halt).
            pending = np.where(trade, 0.6 * (want - real), pending + r)
            pending[first] = 0.0
            pending = np.clip(pending, -1.0, 1.0)
            # Whole rows are stored; bar_blocks only reads the cells where `trade` is set.
            self.O[t], self.H[t], self.L[t], self.C[t], self.tr[t] = o, h, lo, c, tr
            last = np.where(trade, c, last)
            if t == self.a_idx:
                self.close_a = last.copy()
        # Close on each stock's anchor day: the calibration day if listed then, else the
        # first session (IPOs after it, stocks delisted before it).
        first_close = self.C[self.first_idx, np.arange(N)].astype(float)
        traded = self.trade[self.first_idx, np.arange(N)] & (first_close > 0)
        first_close = np.where(traded, first_close, np.round(self.p0 * 100))
        self.anchor_close = np.where(self.alive_a, self.close_a, first_close) / 100
        self.anchor_idx = np.where(self.alive_a, self.a_idx, self.first_idx)

    # -- share capital ----------------------------------------------------------------------
    def share_capital(self) -> None:
        """Change points of total/float/free-float shares; solved so caps hit the targets."""
        rng, D, days = self.rng, self.D, self.days
        start64 = days[0]

        def to_day(d: np.datetime64) -> tuple[np.datetime64, int] | None:
            """Snap a date to a session inside the window (index) or a weekday before it."""
            if d < start64:
                weekday = (int(d.astype(np.int64)) + 3) % 7
                return d + np.timedelta64(7 - weekday if weekday >= 5 else 0, "D"), -1
            k = int(np.searchsorted(days, d))
            return (days[k], k) if k < D else None

        bonus_by_stock: dict[int, list[tuple[int, float]]] = {}
        for d, i, f in zip(self.ev_d, self.ev_i, self.ev_f, strict=True):
            if f > 1:
                bonus_by_stock.setdefault(int(i), []).append((int(d), float(f)))
        pl_by_stock: dict[int, list[tuple[int, float]]] = {}
        for i, d, x in zip(self.pl_i, self.pl_d, self.pl_x, strict=True):
            pl_by_stock.setdefault(int(i), []).append((int(d), float(x)))

        recent = _d64("2020-01-01")
        rows_i, rows_date, rows_idx, rows_tot, rows_flt, rows_free, rows_src = (
            [] for _ in range(7)
        )
        self.units_a = np.ones(self.N)
        for i in range(self.N):
            ld = self.list_date[i]
            # events: (date, priority, kind, value, pool id); priority orders same-day events
            ev: list[tuple[np.datetime64, int, str, float, int]] = []
            pools: dict[int, list[float]] = {}  # id -> [amount, free fraction]
            fr, phi = self.free_ratio[i], self.float_ratio[i]
            ipo_like = self.list_idx[i] >= 0 or ld >= recent
            if ipo_like:
                f0 = float(np.clip(rng.normal(0.25 if self.is_main[i] else 0.22, 0.04), 0.12, 0.4))
                total, flt, free = 1.0, f0, f0 * float(rng.uniform(0.85, 1.0))
                rest = 1.0 - f0 - 0.30
                ff = float(np.clip((fr - free - 0.288) / rest, 0.0, 1.0))
                for k, (amount, frac, after) in enumerate(
                    ((0.18, 1.0, 182), (0.12, 0.9, 365), (rest, ff, 1096))
                ):
                    pools[k] = [amount, frac]
                    ev.append((ld + np.timedelta64(after, "D"), 1, "unlock", 0.0, k))
                src0 = "ipo" if self.list_idx[i] >= 0 else "listing"
            else:
                total, flt, free = 1.0, phi, fr
                if rng.uniform() < 0.1 and phi > 0.3:
                    # Restricted shares from an earlier placement that unlock in the window.
                    amt = float(rng.uniform(0.05, 0.2))
                    flt, free = phi - amt, min(fr, phi - amt)
                    pools[0] = [amt, float(rng.uniform(0.5, 1.0))]
                    when = days[int(rng.integers(5, min(D, 400)))]
                    ev.append((when, 1, "unlock", 0.0, 0))
                src0 = "listing"
            for d, f in bonus_by_stock.get(i, []):
                ev.append((days[d], 2, "bonus", f, -1))
            for d, x in pl_by_stock.get(i, []):
                k = len(pools) + 10
                ev.append((days[d], 3, "placement", x, k))
                ev.append((days[d] + np.timedelta64(182, "D"), 1, "unlock", 0.0, k))
            ev.sort(key=lambda e: (e[0], e[1]))
            # Walk the events in date order, writing the state after each day's events.
            points: list[tuple[np.datetime64, int, float, float, float, str]] = []
            snapped = to_day(ld) if self.list_idx[i] < 0 else (ld, int(self.list_idx[i]))
            assert snapped is not None
            points.append((snapped[0], snapped[1], total, flt, free, src0))
            bonus_days = {d for d, _ in bonus_by_stock.get(i, [])}
            for d, _, kind, val, pid in ev:
                where = to_day(d)
                if where is not None and kind != "bonus" and where[1] in bonus_days:
                    # Keep ex-dates pure so their share ratios equal the bonus factor.
                    k = where[1] + 1
                    where = (days[k], k) if k < D else None
                if where is None or where[1] >= self.delist_idx[i]:
                    continue
                if kind == "bonus":
                    total, flt, free = total * val, flt * val, free * val
                    for p in pools.values():
                        p[0] *= val
                    src = "bonus_conversion"
                elif kind == "placement":
                    pools[pid] = [total * val, 0.6]
                    total += total * val
                    src = "placement"
                else:
                    amount, frac = pools.pop(pid, [0.0, 0.0])
                    if amount <= 0:
                        continue
                    flt += amount
                    free += amount * frac
                    src = "lockup_expiry"
                free = min(free, flt)
                if points[-1][0] == where[0]:
                    prev_src = points[-1][5]
                    src = prev_src if prev_src in ("ipo", "listing", "bonus_conversion") else src
                    points[-1] = (where[0], where[1], total, flt, free, src)
                else:
                    points.append((where[0], where[1], total, flt, free, src))
            for d, k, tot, fl, fre, src in points:
                if k <= self.anchor_idx[i]:
                    self.units_a[i] = tot
                rows_i.append(i)
                rows_date.append(d)
                rows_idx.append(k)
                rows_tot.append(tot)
                rows_flt.append(fl)
                rows_free.append(fre)
                rows_src.append(src)
        s0 = self.cap / (self.anchor_close * self.units_a)
        ri = np.array(rows_i)
        self.sh_i = ri
        self.sh_date = np.array(rows_date, dtype="datetime64[D]")
        self.sh_idx = np.array(rows_idx)
        self.sh_total = np.rint(s0[ri] * np.array(rows_tot))
        self.sh_float = np.minimum(np.rint(s0[ri] * np.array(rows_flt)), self.sh_total)
        self.sh_free = np.minimum(np.rint(s0[ri] * np.array(rows_free)), self.sh_float)
        self.sh_src = np.array(rows_src)

    # -- bars --------------------------------------------------------------------------------
    def bar_blocks(self, rows_per_block: int = 2_500_000) -> Iterator[pa.Table]:
        """Arrow tables of the bars in (date, code) order, a block of days at a time."""
        import pyarrow as pa

        D, N = self.D, self.N
        # Float shares per stock as they change through the window: the state before the
        # window, then the in-window change points session by session.
        flt = self._float_on(-1)
        order = np.argsort(self.sh_idx, kind="stable")
        sh_idx, sh_i, sh_float = self.sh_idx[order], self.sh_i[order], self.sh_float[order]
        starts = np.searchsorted(sh_idx, np.arange(D + 1))

        # Per-board scale so that each board's turnover on the anchor day hits its target.
        t = self.a_idx
        on = np.flatnonzero(self.trade[t])
        raw = self.tr[t, on] * self.C[t, on] / 100 * self._float_on(t)[on]
        k = np.ones(len(_BOARD_SPECS))
        for b, spec in enumerate(_BOARD_SPECS):
            s = raw[self.board[on] == b].sum()
            if s > 0:
                k[b] = spec.amount * self.scale / s
        kb = k[self.board]

        code_dict = pa.array(self.code.tolist(), type=pa.string())
        days_per_block = max(1, rows_per_block // max(1, N))
        for t0 in range(0, D, days_per_block):
            t1 = min(D, t0 + days_per_block)
            fl = np.empty((t1 - t0, N))
            for t in range(t0, t1):
                flt[sh_i[starts[t] : starts[t + 1]]] = sh_float[starts[t] : starts[t + 1]]
                fl[t - t0] = flt
            # Row-major boolean selection yields the rows in (date, code) order.
            flat = np.flatnonzero(self.trade[t0:t1])
            tt, ii = np.divmod(flat, N)

            def cells(
                m: np.ndarray, t0: int = t0, t1: int = t1, flat: np.ndarray = flat
            ) -> np.ndarray:
                return m[t0:t1].reshape(-1).take(flat)

            o, h, lo, c = (cells(m) for m in (self.O, self.H, self.L, self.C))
            vwap = (o + h + lo + c) * 0.0025  # CNY, between low and high
            amount = (kb[ii] * 0.01) * cells(self.tr) * c * fl.reshape(-1).take(flat)
            lots = np.maximum(1, np.rint(amount / vwap * 0.01))
            volume = (lots * 100).astype(np.int64)
            amount = np.rint(lots * vwap * 100)
            yield (
                pa.table(
                    {
                        "code": pa.DictionaryArray.from_arrays(
                            pa.array(ii.astype(np.int32)), code_dict
                        ),
                        "date": pa.array(self.days[t0 + tt]),
                        "open": o / 100,
                        "high": h / 100,
                        "low": lo / 100,
                        "close": c / 100,
                        "amount": amount,
                        "volume": volume,
                    }
                )
            )

    def _float_on(self, t: int) -> np.ndarray:
        """Float shares of every stock in force on session t (-1: before the window)."""
        # Share rows are ordered by (stock, date): the row in force is the last one of its
        # stock with a session index <= t.
        i, k = self.sh_i, self.sh_idx
        nxt_i = np.append(i[1:], -1)
        nxt_k = np.append(k[1:], np.iinfo(np.int64).max)
        last = (k <= t) & ((nxt_i != i) | (nxt_k > t))
        flt = np.zeros(self.N)
        flt[i[last]] = self.sh_float[last]
        return flt

    # -- industry history -------------------------------------------------------------------
    def industry_rows(self) -> list[tuple[int, np.datetime64, np.datetime64 | None, int]]:
        """Intervals (stock, start, end, l2 index); a handful of stocks are reclassified."""
        rng, D, days = self.rng, self.D, self.days
        rows: list[tuple[int, np.datetime64, np.datetime64 | None, int]] = []
        movers = set(
            rng.choice(
                np.flatnonzero(~self.big & ~self.doomed & self.pre),
                size=max(1, round(30 * self.scale)),
                replace=False,
            ).tolist()
        )
        for i in range(self.N):
            l2 = int(self.l2[i])
            if i in movers:
                k = int(rng.integers(40, D - 40))
                if rng.uniform() < 0.6:
                    new = self._draw_l2(int(self.l2_l1[l2]), exclude=l2)
                else:
                    mix = np.array([w[self.board[i]] for *_, w, _ in _L1], dtype=float)
                    mix[self.l2_l1[l2]] = 0
                    new = self._draw_l2(int(rng.choice(len(_L1), p=mix / mix.sum())))
                if new != l2:
                    rows.append((i, self.list_date[i], days[k - 1], l2))
                    rows.append((i, days[k], None, new))
                    continue
            rows.append((i, self.list_date[i], None, l2))
        return rows

    # -- writing -----------------------------------------------------------------------------
    def build(self) -> None:
        self.universe()
        self.delistings()
        self.industries()
        self.sizes()
        self.statuses()
        self.corporate_actions()
        self.prices()
        self.share_capital()

    def write(self, con: duckdb.DuckDBPyConnection) -> None:
        import pyarrow as pa

        days, code = self.days, self.code
        l1c = [r[0] for r in _L1]

        def insert(table: str, data: dict[str, pa.Array | np.ndarray | list], order: str) -> None:
            tbl = pa.table(data)
            con.register("_demo_rows", tbl)
            cols = ", ".join(data)
            con.execute(
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _demo_rows ORDER BY {order}"
            )
            con.unregister("_demo_rows")

        def dates(values: Sequence[np.datetime64 | None]) -> pa.Array:
            mask = np.array([v is None for v in values])
            arr = np.array([v if v is not None else days[0] for v in values], dtype="datetime64[D]")
            return pa.array(arr, mask=mask)

        insert("calendar", {"date": pa.array(days)}, "date")
        exch = np.array([s.exchange for s in _BOARD_SPECS])[self.board]
        boards = np.array([s.board for s in _BOARD_SPECS])[self.board]
        short = np.array([r[3] for r in _L1])[self.l1]
        names = [f"演示{s}{k + 1:04d}" for k, s in enumerate(short)]
        delist = [days[d] if d < self.D else None for d in self.delist_idx]
        insert(
            "securities",
            {
                "code": code.tolist(),
                "exchange": exch.tolist(),
                "board": boards.tolist(),
                "name": names,
                "list_date": pa.array(self.list_date),
                "delist_date": dates(delist),
            },
            "code",
        )
        insert(
            "shares",
            {
                "code": code[self.sh_i].tolist(),
                "effective_date": pa.array(self.sh_date),
                "total_shares": self.sh_total,
                "float_shares": self.sh_float,
                "free_float_shares": self.sh_free,
                "source": self.sh_src.tolist(),
            },
            "code, effective_date",
        )
        div = self.ev_cash > 0
        insert(
            "dividends",
            {
                "code": code[self.ev_i[div]].tolist(),
                "ex_date": pa.array(days[self.ev_d[div]]),
                "cash_per_share": self.ev_cash[div],
            },
            "code, ex_date",
        )
        st = self.status_rows
        insert(
            "status",
            {
                "code": [code[i] for i, *_ in st],
                "start_date": dates([s for _, s, _, _ in st]),
                "end_date": dates([e for _, _, e, _ in st]),
                "status": [k for *_, k in st],
            },
            "code, start_date, status",
        )
        ind = self.industry_rows()
        l2i = [k for *_, k in ind]
        # A plausible level-3 code under the level 2 (not a real SW2021 mapping).
        l3 = [_L2[k][0][:4] + f"{1 + int(code[i][-1]) % 3:02d}" for i, *_, k in ind]
        l1i = [l1c.index(_L2[k][0][:2] + "0000") for k in l2i]
        insert(
            "industry",
            {
                "code": [code[i] for i, *_ in ind],
                "start_date": dates([s for _, s, _, _ in ind]),
                "end_date": dates([e for _, _, e, _ in ind]),
                "sw_l1_code": [_L1[j][0] for j in l1i],
                "sw_l1_name": [_L1[j][1] for j in l1i],
                "sw_l1_name_en": [_L1[j][2] for j in l1i],
                "sw_l2_code": [_L2[k][0] for k in l2i],
                "sw_l2_name": [_L2[k][1] for k in l2i],
                "sw_l2_name_en": [_L2[k][2] for k in l2i],
                "sw_l3_code": l3,
            },
            "code, start_date",
        )
        insert(
            "code_changes",
            {
                "old_code": [o for o, _, _ in self.code_changes],
                "new_code": [n for _, n, _ in self.code_changes],
                "change_date": dates([d for *_, d in self.code_changes]),
            },
            "change_date, old_code",
        )
        for tbl in self.bar_blocks():
            con.register("_demo_bars", tbl)
            # Blocks arrive in (date, code) order; insertion order is the physical order.
            con.execute(
                "INSERT INTO bars SELECT code::VARCHAR, date, open, high, low, close, amount, "
                "volume FROM _demo_bars"
            )
            con.unregister("_demo_bars")
        meta = {
            "synthetic": "true",
            "source": f"indexrecon demo universe (SYNTHETIC, seed {self.seed})",
            "demo_version": DEMO_VERSION,
            "created_by": "indexrecon.data.sources.demo",
            "demo_seed": str(self.seed),
            "demo_scale": repr(float(self.scale)),
            "demo_start": str(days[0]),
            "demo_end": str(days[-1]),
        }
        con.executemany(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [[k, v] for k, v in meta.items()],
        )


def build_demo_store(
    path: Path,
    *,
    seed: int = DEMO_SEED,
    scale: float = 1.0,
    start: dt.date = DEMO_START,
    end: dt.date = DEMO_END,
) -> None:
    """Write a complete SYNTHETIC demo store to `path` (created with the schema).

    Fills every table except official_weights, index_membership, index_bars and
    ingest_log. `scale` multiplies the number of securities (1.0 is about 5,500).
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; the demo store is only built into a new file")
    market = _DemoMarket(seed, scale, start, end)
    market.build()
    store = open_store(path, read_only=False)
    try:
        with store.transaction() as con:
            market.write(con)
        store.con.execute("CHECKPOINT")
    finally:
        store.close()
