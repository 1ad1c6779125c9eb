"""ChiNext with a 10% single-stock cap, against the ChiNext Index as published.

The ChiNext Index is dominated by a handful of very large stocks (CATL alone is about a fifth
of it on real data). A 10% cap keeps the same 100 constituents but spreads the weight: this
script compares the two on constituents, industry mix, concentration and a point-in-time
backtest of every review in the range.

    python examples/chinext_cap10.py                       # the SYNTHETIC demo store
    python examples/chinext_cap10.py --store real.duckdb   # real data (indexrecon ingest files ...)
"""

from __future__ import annotations

from _compare import compare, parse_args

import indexrecon as ir


def main() -> None:
    args = parse_args(__doc__)
    chinext = ir.load_methodology("chinext")
    # The 2025 rules add a 20% cap through `versions`; the variant's cap replaces it at every date.
    versions = [
        {**v.model_dump(mode="python"), "changes": {**v.changes, "weighting": {"caps": {"single_pct": 10}}}}
        for v in chinext.versions
    ]
    cap10 = chinext.with_changes(
        name="chinext_cap10",
        title="ChiNext, 10% single-stock cap",
        index_code=None,
        weighting={"caps": {"single_pct": 10}},
        versions=versions,
    )
    compare(chinext, cap10, args)


if __name__ == "__main__":
    main()
