"""The CSI / SSE / ChiNext methodologies on the real dataset (../shared/realdata): the June and
December 2024 CSI 300 / 500 / 1000 reviews against the official lists, the dependency chain in
one call, CSI 2000 against its official 2025 lists, the ChiNext Composite against its 2025
weights. Figures asserted are those `scripts/validate_csi.py` reports (with a small margin)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from indexrecon.analysis.baskets import map_codes
from indexrecon.engine import context, members_on, run_review

D = dt.date


def after_review(store: Any, index_code: str, effective: dt.date) -> set[str]:
    snap = store.con.execute(
        "SELECT min(start_date) FROM index_membership WHERE index_code = ? AND start_date >= ?",
        [index_code, effective],
    ).fetchall()[0][0]
    return members_on(store, index_code, snap)


def official_weights(store: Any, index_code: str, day: dt.date) -> set[str]:
    df = store.con.execute(
        "SELECT code, weight FROM official_weights WHERE index_code = ? AND trade_date = ?", [index_code, day]
    ).df()
    return set(map_codes(store, df)["code"])


# overlap with the official list after the review: (review, index) -> minimum
OVERLAP = {
    ("2024-06", "csi300"): 286, ("2024-12", "csi300"): 289,
    # CSI 500: 475 / 478 with its top 300 applied to incumbents too (469 / 477 newcomers only)
    ("2024-06", "csi500"): 470, ("2024-12", "csi500"): 473,
    # CSI 1000: 937 / 946 (926 / 940 before the CSI 500 change; 904 / 926 without the 90% line)
    ("2024-06", "csi1000"): 932, ("2024-12", "csi1000"): 940,
}


@pytest.mark.parametrize("review", ["2024-06", "2024-12"])
def test_csi_reviews_with_official_incumbents(real_store: Any, review: str) -> None:
    res = {n: run_review(n, real_store, review, incumbents="official") for n in ("csi1000", "csi500", "csi300")}
    for name, r in res.items():
        code = r.methodology.index_code
        assert r.incumbents_source.startswith("official members before")
        after = after_review(real_store, code, r.dates.effective)
        assert len(r.codes) == r.methodology.selection.count
        assert len(set(r.codes) & after) >= OVERLAP[(review, name)], name
        before = set(r.incumbents)
        # the cap on changes: at most 10% of the places added
        assert len(set(r.codes) - before) <= r.methodology.selection.count // 10 + 2
    # dependencies hold: the three indices are disjoint
    c300, c500, c1000 = (set(res[n].codes) for n in ("csi300", "csi500", "csi1000"))
    assert not c300 & c500 and not c1000 & (c300 | c500)
    # the warnings say what the data cannot express (never silently passed)
    w = res["csi1000"].warnings
    # ST status is inferred at ingest (main boards only): said, and delisting arrangements not applied
    assert any("ST status is inferred" in x and "chinext" in x for x in w)
    assert any("no status data" in x and "delisting-arrangement" in x for x in w)
    # free float and A-share capital come from the observations: said, with no blanket fallback
    assert not any("no free-float share data" in x for x in w)
    assert any("ranks on A-share capital" in x for x in w)
    assert any(x.startswith("csi300: ") for x in w) and any(x.startswith("csi500: ") for x in w)


def test_csi500_top_300_deletes_incumbents(real_store: Any) -> None:
    # "在样本空间中剔除沪深300指数样本及过去一年日均总市值排名前300名的证券": no exception for
    # incumbents. 600160 (Juhua, rank 264 of the sample space) left CSI 500 in June 2024 for no
    # other index; CSI 1000 keeps its newcomers-only reading (its lists keep such incumbents).
    r = run_review("csi500", real_store, "2024-06", incumbents="official")
    assert "600160" in r.incumbents and "600160" not in r.codes
    assert "drop the top 300" in r.explain("600160")
    before, after = set(r.incumbents), after_review(real_store, "000905", r.dates.effective)
    assert len((before - set(r.codes)) & (before - after)) >= 39  # of 50 (41 measured; 35 newcomers only)


def test_csi300_december_2024_adds_and_deletes(real_store: Any) -> None:
    r = run_review("csi300", real_store, "2024-12", incumbents="official")
    before = set(r.incumbents)
    after = after_review(real_store, "000300", r.dates.effective)
    pred_del, act_del = before - set(r.codes), before - after
    pred_add, act_add = set(r.codes) - before, after - before
    # of 16: 13 with the loss-making-newcomer screen (§6.8, valuation snapshots), 14 without it
    assert len(pred_del & act_del) >= 13
    assert len(pred_add & act_add) >= 10  # of 16 (11 measured; 7 when A+H companies ranked on their total)
    # 688981 (SMIC, a STAR stock that never paid a dividend) has share counts from the
    # observations now: ranked and kept by the buffer, not kept for a gap in the data
    assert "688981" in r.codes and "a gap in the store's data" not in r.explain("688981")
    assert "retained" in r.explain("688981")


def test_chain_runs_in_one_call(real_store: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("INDEXRECON_NO_CACHE", "1")  # the sharing within one run, not the side-file cache
    ctx = context(real_store)
    ctx.cache.clear()
    res = run_review("csi1000", real_store, "2024-06", incumbents="official")
    cached = {v.methodology.name for v in ctx.cache.values()}
    assert {"csi300", "csi500"} <= cached
    # a dependency ran members-only: a whole csi500 review is one more entry, computed once,
    # with the dependency's members
    dep = next(v for k, v in ctx.cache.items() if v.methodology.name == "csi500" and k[-1] == "members")
    n = len(ctx.cache)
    c500 = run_review("csi500", real_store, "2024-06", incumbents="official")
    assert len(ctx.cache) == n + 1 and c500.codes == dep.codes and not set(c500.codes) & set(res.codes)
    assert run_review("csi500", real_store, "2024-06", incumbents="official") is c500 and len(ctx.cache) == n + 1


def test_csi2000_against_its_official_2025_lists(real_store: Any) -> None:
    res = run_review("csi2000", real_store, "2024-12", incumbents="auto")
    assert res.incumbents_source.startswith("simulated")
    ours = set(res.codes)
    assert len(ours) == 2000
    for day in (D(2025, 2, 28), D(2025, 4, 30)):
        off = official_weights(real_store, "932000", day)
        assert len(ours & off) >= 1780, day  # 1,788 (1,779 before the CSI 500 / 2000 top-N changes)
    deps = [set(run_review(n, real_store, "2024-12", incumbents="auto").codes) for n in ("csi300", "csi500", "csi1000")]
    assert not ours & set().union(*deps)


def test_sse50_draws_from_sse180(real_store: Any) -> None:
    r50 = run_review("sse50", real_store, "2024-12", incumbents="auto")
    r180 = run_review("sse180", real_store, "2024-12", incumbents="auto")
    assert len(r50.codes) == 50 and set(r50.codes) <= set(r180.codes)
    assert all(c.startswith(("60", "68")) for c in r180.codes)
    assert any("esg" in w.lower() and "skipped" in w for w in r180.warnings)  # from the 2024-12 version


def test_chinext_composite_matches_the_official_2025_lists(real_store: Any) -> None:
    for day in (D(2025, 1, 27), D(2025, 3, 31)):
        res = run_review("chinext_composite", real_store, as_of=day, incumbents="none")
        off = official_weights(real_store, "399102", day)
        known = off & {r[0] for r in real_store.con.execute("SELECT code FROM securities").fetchall()}
        assert set(res.codes) == known, day
