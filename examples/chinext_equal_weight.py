"""Equal-weight ChiNext 100: the ChiNext Index's constituents, each at 1%.

Same selection rules (liquidity screen, top 100 by average total market cap, buffers), but
every constituent gets the same weight at each review and drifts with its price until the
next one. Compares constituents, industry mix, concentration and a point-in-time backtest
with the cap-weighted original.

    python examples/chinext_equal_weight.py
    python examples/chinext_equal_weight.py --store real.duckdb --start 2022-06-13
"""

from __future__ import annotations

from _compare import compare, parse_args

import indexrecon as ir


def main() -> None:
    args = parse_args(__doc__)
    chinext = ir.load_methodology("chinext")
    # Equal weights take no inclusion factors and no caps, now or in the 2025 rules.
    versions = [
        {**v.model_dump(mode="python"),
         "changes": {k: x for k, x in v.changes.items() if k != "weighting"}}
        for v in chinext.versions
    ]
    equal = chinext.with_changes(
        name="chinext_equal100",
        title="ChiNext 100, equal weight",
        index_code=None,
        weighting={"method": "equal", "inclusion_factor": [], "caps": {"single_pct": None}},
        versions=versions,
    )
    compare(chinext, equal, args)


if __name__ == "__main__":
    main()
