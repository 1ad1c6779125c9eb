"""Provider ratings as grades: each provider's scale in an explicit order, and the SQL that
turns a stored grade into its place on that scale.

Ratings live in an optional store table `esg_ratings(code VARCHAR, date DATE, provider VARCHAR,
grade VARCHAR)`: a rating holds from its date until the provider's next one. A screen
`{type: min_grade, metric: esg_grade_cni, grade: B}` keeps stocks rated B or better by CNI;
a stock the provider has not rated is kept (the published rules exclude stocks *rated* below
a grade), and a store without the table skips the screen with a warning.
"""

from __future__ import annotations

RATINGS_TABLE = "esg_ratings"  # (code VARCHAR, date DATE, provider VARCHAR, grade VARCHAR)

# Best first. Both providers publish nine-notch letter scales AAA ... C as we read their
# rating descriptions (CNI: 国证ESG评级; CSI: 中证ESG评价); neither rating manual could be read
# in full, so a grade outside these lists is not guessed at: it counts as unrated, warned.
GRADE_SCALES: dict[str, tuple[str, ...]] = {
    "CNI": ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C"),
    "CSI": ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C"),
}

# metric name -> provider whose grades it reads
GRADE_METRICS: dict[str, str] = {f"esg_grade_{p.lower()}": p for p in GRADE_SCALES}


def place(provider: str, grade: str) -> int:
    """A grade's place on its provider's scale, 1 = best."""
    return GRADE_SCALES[provider].index(grade) + 1


def source_sql(provider: str) -> str:
    """(code, date, value) of a provider's ratings, value = the grade's place (NULL if the
    grade is not on the scale)."""
    whens = " ".join(f"WHEN '{g}' THEN {i}" for i, g in enumerate(GRADE_SCALES[provider], start=1))
    return (f"SELECT code, date, CAST(CASE upper(trim(grade)) {whens} END AS DOUBLE) AS value "
            f"FROM {RATINGS_TABLE} WHERE provider = '{provider}'")


def off_scale_sql(provider: str) -> str:
    """How many of a provider's ratings up to $cutoff have a grade not on its scale."""
    grades = ", ".join(f"'{g}'" for g in GRADE_SCALES[provider])
    return (f"SELECT count(*) FROM {RATINGS_TABLE} WHERE provider = '{provider}' AND date <= $cutoff "
            f"AND upper(trim(grade)) NOT IN ({grades})")
