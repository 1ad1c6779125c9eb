"""The metric vocabulary a methodology may name, and the SQL that computes each one.

Every metric is one aggregate over the stock's bars inside the lookback window (ending at
the data cutoff), with share capital joined point in time (ASOF). Defined once here, used by
screens, selection, tie-breaks and weighting alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from .grades import GRADE_METRICS


def exact_avg(expr: str, scale: int = 4) -> str:
    """An average summed in DECIMAL: exact, so parallel scans give bit-identical results."""
    return f"CAST(avg(CAST({expr} AS DECIMAL(38, {scale}))) AS DOUBLE)"


@dataclass(frozen=True)
class Metric:
    name: str
    sql: str  # aggregate over the CTE `w` (window bars with shares joined)
    description: str
    unit: str = "CNY"
    needs: str | None = None  # optional store column/table this metric depends on


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("avg_amount", exact_avg("amount"), "average daily turnover (amount) over the window"),
        # CSI and CNI rank by the A-share total market cap ("A股总市值"): for a company with
        # H shares that excludes them. a_sh is the A-share capital where the store has it
        # (shares.a_shares, point in time), else the total; the company total is avg_company_cap.
        Metric(
            "avg_total_cap",
            exact_avg("close * a_sh", 2),
            "average daily total market cap of the A shares over the window (company total where "
            "the store has no A-share capital)",
        ),
        Metric(
            "avg_company_cap",
            exact_avg("close * total_shares", 2),
            "average daily total market cap of the company (every share class, H shares included)",
        ),
        Metric(
            "avg_float_cap",
            exact_avg("close * float_sh", 2),
            "average daily float market cap over the window",
            needs="float_shares",
        ),
        Metric(
            "avg_free_float_cap",
            exact_avg("close * ff_sh", 2),
            "average daily free-float market cap over the window",
            needs="free_float_shares",
        ),
        Metric(
            "total_cap",
            "arg_max(close * a_sh, date)",
            "A-share total market cap on the last trading day up to the cutoff (as avg_total_cap)",
        ),
        Metric(
            "company_cap",
            "arg_max(close * total_shares, date)",
            "company total market cap (every share class) on the last trading day up to the cutoff",
        ),
        Metric(
            "float_cap",
            "arg_max(close * float_sh, date)",
            "float market cap on the last trading day up to the cutoff",
            needs="float_shares",
        ),
        Metric(
            "free_float_cap",
            "arg_max(close * ff_sh, date)",
            "free-float market cap on the last trading day up to the cutoff",
            needs="free_float_shares",
        ),
        Metric(
            "avg_turnover_rate",
            exact_avg("volume / nullif(float_sh, 0)", 12),
            "average daily turnover rate (volume / float shares)",
            unit="fraction",
        ),
        Metric("traded_days", "count(*)", "days with a bar in the window", unit="days"),
        Metric("last_close", "arg_max(close, date)", "last close up to the cutoff"),
    ]
}

# Provider data the store's core tables do not hold: each is read, when present, from an
# optional table (the latest value on or before the data cutoff). A screen on one of these
# whose data the store lacks is skipped WITH A WARNING, never silently treated as applied.
#   name -> (description, optional tables holding it)
EXTERNAL_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "esg_score": (
        "latest ESG score on or before the cutoff (optional table esg_scores, or stock_attributes)",
        ("esg_scores", "stock_attributes"),
    ),
    "stock_connect": (
        "1 if the stock is in Shanghai/Shenzhen-Hong Kong Stock Connect at the cutoff, else 0 "
        "(optional table stock_attributes)",
        ("stock_attributes",),
    ),
    "quality_flag": (
        "1 if the provider's financial-quality / compliance screen passes at the cutoff, else 0 "
        "(optional table stock_attributes)",
        ("stock_attributes",),
    ),
    # CNI factor and fundamental data of the ChiNext family (chinext_growth, chinext_large):
    # financial statements and analyst forecasts the store's sources do not carry.
    "growth_tilt": (
        "CNI's tilt factor of the ChiNext Growth Index at the review, from its composite score "
        "of earnings growth and expected earnings (optional table stock_attributes)",
        ("stock_attributes",),
    ),
    "growth_momentum_score": (
        "CNI's growth-and-momentum score of the ChiNext Momentum Growth rules of 2019-2023 "
        "(revenue, profit and EBIT growth; 52-week high, 12-month and excess return; higher is "
        "better; optional table stock_attributes)",
        ("stock_attributes",),
    ),
    "pledge_ratio": (
        "percent of the major shareholders' holdings pledged at the cutoff (optional table "
        "stock_attributes)",
        ("stock_attributes",),
    ),
    "goodwill_ratio": (
        "goodwill as a percent of net assets in the latest report at the cutoff (optional table "
        "stock_attributes)",
        ("stock_attributes",),
    ),
}

# Provider ratings as grades (see grades.py): the metric's value is the grade's place on the
# provider's scale (1 = best), screened with `min_grade`.
EXTERNAL_METRICS.update({
    name: (f"latest {provider} ESG grade on or before the cutoff, as its place on {provider}'s scale "
           "(1 = AAA; optional table esg_ratings)", ("esg_ratings",))
    for name, provider in GRADE_METRICS.items()
})

# Profitability from an optional valuation(code, date, pe_ttm, pb) table of PE (TTM)
# snapshots: a row whose PE is negative or missing marks a loss-maker.
EXTERNAL_METRICS["profitable"] = (
    "1 if the latest PE (TTM) on or before the cutoff is positive, 0 if negative or missing "
    "(loss-making; optional table valuation)", ("valuation",))
VALUATION_TABLE = "valuation"  # (code VARCHAR, date DATE, pe_ttm DOUBLE, pb DOUBLE)

# The optional table of point-in-time provider attributes behind EXTERNAL_METRICS.
ATTRIBUTES_TABLE = "stock_attributes"  # (code VARCHAR, date DATE, attribute VARCHAR, value DOUBLE)

# Metrics that rank on A-share capital when the store has it (a review says so).
A_SHARE_METRICS = ("avg_total_cap", "total_cap")

# Metrics computed outside the window aggregate (from securities / calendar), in the engine.
DERIVED_METRICS = {
    "listing_days": "trading days from listing to the data cutoff",
    "suspended_days": "trading days in the window (since listing) without a bar",
    "suspended_run": "trading days without a bar since the stock's last one: how long it has been suspended at the cutoff",
    "composite_rank": "weighted average of the ranks named in selection.composite (1 = best)",
    **{k: v[0] for k, v in EXTERNAL_METRICS.items()},
}

METRIC_NAMES: tuple[str, ...] = (*METRICS, *DERIVED_METRICS)
