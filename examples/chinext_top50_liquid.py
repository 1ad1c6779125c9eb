"""Top 50 ChiNext stocks by free-float market cap after a 20% liquidity screen.

A tighter design than the ChiNext Index: drop the least liquid 20% (by average daily
turnover) instead of 10%, then take the 50 largest by average free-float market cap, with the
same buffers scaled to 50 (newcomers within 45, incumbents within 55), at most 10% changes,
free-float weights and a 15% single-stock cap. Compares it with the ChiNext Index.

On the real dataset the store has no free-float shares, so free-float metrics fall back to
total shares (with a warning); on the demo store they are used as published.

    python examples/chinext_top50_liquid.py
    python examples/chinext_top50_liquid.py --store real.duckdb
"""

from __future__ import annotations

from _compare import compare, parse_args

import indexrecon as ir


def main() -> None:
    args = parse_args(__doc__)
    chinext = ir.load_methodology("chinext")
    screens = [{"type": "drop_bottom_pct", "metric": "avg_amount", "value": 20}]
    top50 = chinext.with_changes(
        name="chinext_top50_liquid",
        title="ChiNext top 50 free-float cap, 20% liquidity screen",
        index_code=None,
        screens=screens,
        selection={
            "rank_by": "avg_free_float_cap",
            "count": 50,
            "buffer": {"newcomers_within": 45, "incumbents_within": 55},
            "tie_break": ["avg_amount"],
        },
        weighting={"caps": {"single_pct": 15}},
        # the published rules' 2025 changes (ESG screen, 20% cap) are not part of this design
        versions=[],
    )
    compare(chinext, top50, args)


if __name__ == "__main__":
    main()
