"""The ChiNext Index (399006) rebuilt from its official weights on real data.

From the official weights of 2025-01-27 (the December 2024 review's list), implied weighting
shares carried forward and priced with raw closes must follow the official close to
2025-04-30 with an annualised tracking error under 1%. Skipped without ../shared/realdata.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from indexrecon.analysis.levels import official_weights_on
from indexrecon.analysis.tracking import track

pytestmark = pytest.mark.realdata

D = dt.date


@pytest.fixture(scope="module")
def tracked(real_store: Any) -> Any:
    return track("chinext", real_store, D(2025, 1, 27), D(2025, 4, 30))


def test_chinext_tracks_the_official_close(tracked: Any) -> None:
    s = tracked.stats
    assert s["index_code"] == "399006"
    assert s["days"] == 60  # trading days after the snapshot, to 2025-04-30
    assert s["tracking_error"] < 0.01
    assert s["correlation"] > 0.999
    assert abs(s["final_gap"]) < 0.005
    lv = tracked.levels
    assert lv["level"].iloc[0] == pytest.approx(2063.82)  # starts on the official close
    assert lv["official"].iloc[-1] == pytest.approx(1948.03)
    assert lv["constituents"].iloc[1:].eq(100).all()  # every constituent priced, 302132 included


def test_weights_drift_like_the_official_snapshots(tracked: Any, real_store: Any) -> None:
    drift = tracked.drift.set_index("date")
    assert list(drift.index) == [D(2025, 2, 28), D(2025, 3, 31), D(2025, 4, 30)]
    assert (drift["in_both"] == 100).all()  # no constituent changes between reviews
    assert (drift["weight_distance"] < 0.01).all()
    # the largest gaps name their stocks (issue 16: names in every output on real data)
    assert "宁德时代" in drift.loc[D(2025, 2, 28), "largest_gaps"]
    # 302132 (ex-300114) is listed under its new code from 2025-02-28; its merger issuance did
    # not enter the official weight, and the implied shares do not add it either.
    w = official_weights_on(real_store, "399006", D(2025, 1, 27), D(2025, 2, 28)).set_index("code")["weight"]
    official = real_store.con.execute(
        "SELECT weight FROM official_weights WHERE index_code = '399006' AND trade_date = DATE '2025-02-28' "
        "AND code = '302132'"
    ).fetchall()[0][0]
    assert w["302132"] == pytest.approx(official, rel=0.02)


def test_all_share_changes_track_worse(real_store: Any, tracked: Any) -> None:
    """Carrying the store's estimated total-share changes (302132's estimate jumps 4.6x on
    2025-03-28) moves weights the official index never moved."""
    alt = track("chinext", real_store, D(2025, 1, 27), D(2025, 4, 30), share_changes="all")
    assert alt.stats["tracking_error"] > tracked.stats["tracking_error"]
    assert alt.drift.set_index("date").loc[D(2025, 3, 31), "weight_distance"] > 0.01


def test_total_return_tracks_399606(real_store: Any, tracked: Any) -> None:
    """The total-return level (the store's cash dividends reinvested on the ex-date) from the
    399006 weights against the official total-return index 399606, to its last day."""
    tr = track("chinext", real_store, D(2025, 1, 27), D(2025, 6, 12), total_return=True)
    s = tr.stats
    assert s["index_code"] == "399606" and s["weights_of"] == "399006" and s["total_return"]
    assert s["end"] == D(2025, 6, 12)
    # issue 16's target; 0.48% before 300394's bonus issue of 2025-06-09 was dated by its open
    assert s["tracking_error"] < 0.002
    assert tr.levels["level"].iloc[0] == pytest.approx(tr.levels["official"].iloc[0])
    # dividends lift the total-return level above the price level over the same days
    price = track("chinext", real_store, D(2025, 1, 27), D(2025, 6, 12))
    tr_growth = tr.levels["level"].iloc[-1] / tr.levels["level"].iloc[0]
    px_growth = price.levels["level"].iloc[-1] / price.levels["level"].iloc[0]
    assert tr_growth > px_growth


# -- issue 14, item 11: the end of a track is never clipped or misreported -------------------
def test_track_end_outside_the_data_is_refused(real_store: Any, real_store_path: Any, reliability_log) -> None:
    from click.testing import CliRunner

    from indexrecon.cli.main import main
    from indexrecon.errors import IndexReconError

    with pytest.raises(IndexReconError, match=r"end 2025-01-01 is before the snapshot from_official 2025-01-27"):
        track("chinext", real_store, D(2025, 1, 27), D(2025, 1, 1))
    with pytest.raises(IndexReconError, match=r"end 2099-01-01 is after the store's last day 2026-07-01"):
        track("chinext", real_store, D(2025, 1, 27), D(2099, 1, 1))
    r = CliRunner().invoke(main, ["track", "chinext", "--from-official", "2025-01-27", "--end", "2025-01-01",
                                  "--store", str(real_store_path)])
    assert r.exit_code == 2 and "--end 2025-01-01 is before the snapshot --from-official 2025-01-27" in r.stderr
    reliability_log("untrue messages (issue 14)", "`track --end` before the snapshot / in 2099",
                    "refused naming the dates (never clipped)", 2)


def test_track_through_reviews_says_the_basket_is_frozen(real_store: Any) -> None:
    res = track("chinext", real_store, D(2025, 1, 27), D(2025, 12, 31))
    frozen = [w for w in res.warnings if "held unchanged" in w]
    assert len(frozen) == 1 and "2025-06-16, 2025-12-15" in frozen[0]
    assert not [w for w in track("chinext", real_store, D(2025, 1, 27), D(2025, 4, 30)).warnings if "held unchanged" in w]
