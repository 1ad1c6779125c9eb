"""What the demo market is calibrated to: board specs, industries, holidays, the market's path.

The figures are the real market's, rounded, as of the calibration day (2024-10-31, the last
session of October 2024): per board the number of listed stocks, IPOs and delistings over the
window, the historical code ranges, the price limits, the total market cap and its spread,
typical prices, volatility and turnover; the Shenwan SW2021 level-1 and level-2 industries with
their stock counts per board; the exchanges' weekday closures; and the shape of the market's
2023-2026 path. The generator (the other modules of this package) draws around them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DEMO_SEED: int = 20241031
DEMO_START = dt.date(2023, 1, 3)
DEMO_END = dt.date(2026, 5, 29)
# Bump whenever the generator's output changes: stores built by another version are rebuilt.
DEMO_VERSION = "1"

# The calibration day (last session of October 2024); shares are solved so that market
# caps on this day follow the target distributions exactly.
ANCHOR = dt.date(2024, 10, 31)

# Weekday closures of the SSE/SZSE/BSE. 2023 to mid-2026 are the real closures; the rest of
# 2026 is the published schedule as far as known (Mid-Autumn/National Day approximated).
HOLIDAYS: tuple[str, ...] = (
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
L1: tuple[tuple[str, str, str, str, tuple[int, int, int, int, int], float], ...] = (
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
L2_TABLE = """
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
    for line in L2_TABLE.strip().splitlines():
        parts = line.split()
        rows.append((parts[0], parts[1], " ".join(parts[2:-1]), float(parts[-1])))
    return rows


L2 = _parse_l2()


@dataclass(frozen=True)
class BoardSpec:
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


BOARD_SPECS: tuple[BoardSpec, ...] = (
    BoardSpec("sh_main", "SH", 1700, 90, 16, "1990-12-19", 2.0,
               ((600000, 600999), (601000, 601299), (603000, 603999), (605000, 605399)),
               ((606000, 609999), (610000, 649999)),
               0.10, 52.0e12, 1.15, 0.14, 2.3e12, 10.0, 0.019, 0.9, 0.013, 500e9,
               0.04, 0.78, 0.03, 14.0, 0.75),
    BoardSpec("sz_main", "SZ", 1500, 55, 16, "1991-04-03", 1.8,
               ((1, 999), (2001, 2999), (3001, 3050), (1201, 1399)),
               ((4000, 9999), (10000, 99999)),
               0.10, 21.0e12, 1.0, 0.12, 0.85e12, 9.0, 0.021, 0.95, 0.017, 480e9,
               0.045, 0.72, 0.04, 16.0, 0.8),
    BoardSpec("chinext", "SZ", 1420, 168, 9, "2009-10-30", 2.2,
               ((300001, 300999), (301001, 301699)), ((303000, 309999), (310000, 329999)),
               0.20, 11.5e12, 0.78, 0.25, 0.95e12, 18.0, 0.026, 1.15, 0.03, 380e9,
               0.015, 0.62, 0.07, 25.0, 0.9),
    BoardSpec("star", "SH", 600, 100, 2, "2019-07-22", 1.3,
               ((688001, 688799),), ((689000, 689999), (680000, 687999), (690000, 699999)),
               0.20, 5.3e12, 0.95, 0.12, 0.32e12, 28.0, 0.028, 1.2, 0.022, 100e9,
               0.006, 0.5, 0.06, 35.0, 0.7),
    BoardSpec("bse", "BJ", 300, 120, 1, "2021-11-15", 1.0,
               ((920000, 920999),), ((921000, 929999),),
               0.30, 0.42e12, 0.75, 0.1, 0.045e12, 15.0, 0.032, 1.3, 0.03, 25e9,
               0.0, 0.45, 0.05, 9.0, 0.9),
)  # fmt: skip

MAIN_BOARDS = (0, 1)  # board indices of the two main boards
ST_LIMIT = 0.05  # main-board ST/*ST limit (ChiNext/STAR keep 20%, BSE 30%)
NEW_LISTING_DAYS = 5  # the first 5 sessions of a new listing have no price limit
DELISTING_DAYS = 15  # the delisting consolidation period before the last session
BONUS_FACTORS = (1.2, 1.3, 1.4, 1.45, 1.5, 1.6, 1.8, 2.0)
BONUS_WEIGHTS = (0.12, 0.2, 0.2, 0.08, 0.16, 0.08, 0.06, 0.1)

# Log level of the common market factor at key dates (shape of 2023-2026: 2023 drift down,
# the Jan/Feb 2024 small-cap crash, the late-September 2024 rally, the April 2025 tariff
# dip, the 2025 recovery). Between knots the path is a Brownian bridge.
MARKET_KNOTS: tuple[tuple[str, float], ...] = (
    ("2023-01-03", 0.0), ("2023-04-18", 0.06), ("2023-10-23", -0.12),
    ("2024-02-05", -0.36), ("2024-05-17", -0.22), ("2024-09-23", -0.30),
    ("2024-10-08", 0.04), ("2024-10-31", -0.02), ("2025-04-08", -0.08),
    ("2025-08-29", 0.16), ("2025-11-28", 0.24), ("2026-05-29", 0.28),
)  # fmt: skip
# Log of market-wide trading activity at key dates (turnover multiplier).
ACTIVITY_KNOTS: tuple[tuple[str, float], ...] = (
    ("2023-01-03", 0.0), ("2023-06-30", 0.05), ("2024-02-05", 0.15), ("2024-09-20", -0.35),
    ("2024-10-08", 0.45), ("2024-10-31", 0.45), ("2025-03-31", 0.3), ("2025-06-30", 0.1),
    ("2025-09-15", 0.55), ("2026-05-29", 0.35),
)  # fmt: skip

