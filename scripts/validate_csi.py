"""Validate the CSI size-index methodologies on the real dataset and write the figures into
docs/validation.md (sections "## CSI 300 / 500 / 1000" and "## CSI 2000").

    python scripts/validate_csi.py --store /tmp/real.duckdb      # ingests ../shared/realdata if absent
    python scripts/validate_csi.py --store /tmp/real.duckdb --no-write   # print only

CSI 300 / 500 / 1000: the June and December 2024 reviews are simulated with the official
incumbents (the store's index_membership the day before the effective date); CSI 500 and
1000 compute what they need of CSI 300 / 500 first, in the same run. The result is compared
with the official members just after the effective date (the first membership snapshot on or
after it: the membership file is built from month-end snapshots, see the data README), and
the predicted adds and deletes with the actual ones.

CSI 2000: the December 2024 review (in force January to June 2025) is rebuilt - its own
incumbents simulated (the store has no official CSI 2000 list before 2025), CSI 300 / 500 /
1000 with their official incumbents - and compared with the official 2025 weight snapshots.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
DOC = ROOT / "docs" / "validation.md"

REVIEWS = ["2024-06", "2024-12"]
CHAIN = ["csi300", "csi500", "csi1000"]
# Published broker forecasts of these reviews (share of the actual adds / deletes they named).
BROKER = {"csi300": (0.87, 0.91), "csi500": (0.77, 0.91), "csi1000": (0.66, 0.75)}
SECTIONS = ("## CSI 300 / 500 / 1000", "## CSI 2000", "## CSI rule changes, measured")

# A+H companies the first validation (total capital incl. H shares) predicted as CSI 300 adds
AH_EARLIER_WRONG = ("601727", "601991", "600377", "601077", "601298", "688347")


def open_real_store(path: Path) -> Any:
    import indexrecon as ir

    if not path.exists():
        from indexrecon.data.sources.files import ingest_files

        print(f"ingesting {REALDATA} into {path} ...", file=sys.stderr)
        with ir.open_store(path, read_only=False) as st:
            ingest_files(st, REALDATA)
    return ir.open_store(path)


def members(store: Any, index_code: str, day: dt.date) -> set[str]:
    from indexrecon.engine import members_on

    return members_on(store, index_code, day)


def _top(counts: collections.Counter[str], n: int) -> list[tuple[str, int]]:
    """The n most common, ties by name: the same lists whatever order the sets came in."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def first_snapshot_after(store: Any, index_code: str, day: dt.date) -> dt.date:
    row = store.con.execute(
        "SELECT min(start_date) FROM index_membership WHERE index_code = ? AND start_date >= ?",
        [index_code, day],
    ).fetchall()
    return row[0][0]


def _pr(pred: set[str], actual: set[str]) -> dict[str, Any]:
    hit = len(pred & actual)
    return {
        "predicted": len(pred), "actual": len(actual), "hit": hit,
        "precision": hit / len(pred) if pred else float("nan"),
        "recall": hit / len(actual) if actual else float("nan"),
    }


def _bucket(reason: str | None) -> str:
    """A reason with its numbers taken out, for counting why predictions missed."""
    if not reason:
        return "not a candidate"
    r = reason.replace("deleted: ", "")
    r = re.sub(r"^rank \d+, ", "", r)
    r = re.sub(r": rank \d+ of \d+ \(cut at \d+\)", "", r)
    r = re.sub(r" \(screen \d+: .*\)$", "", r)
    r = re.sub(r"listed \d+ trading days \(since [\d-]+\); ", "", r)
    r = re.sub(r"\d+", "N", r)
    return r[:100]


def review_figures(store: Any, review: str, spec: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The chain's figures for one review; `spec` maps a name to the methodology to run (a
    YAML path: a rule switched off), else the built-in."""
    from indexrecon.engine import run_review

    spec = spec or {}
    out = []
    t0 = time.perf_counter()
    results = {name: run_review(spec.get(name, name), store, review, incumbents="official")
               for name in reversed(CHAIN)}
    chain_seconds = time.perf_counter() - t0  # csi1000 first: it computes csi300 and csi500 itself
    for name in CHAIN:
        res = results[name]
        code = res.methodology.index_code
        eff = res.dates.effective
        before = members(store, code, eff - dt.timedelta(days=1))
        snap = first_snapshot_after(store, code, eff)
        after = members(store, code, snap)
        ours = set(res.codes)
        adds, dels = _pr(ours - before, after - before), _pr(before - ours, before - after)
        cand = res.candidates.set_index("code")

        def why(cs: set[str], cand: Any = cand) -> list[tuple[str, int]]:
            return _top(collections.Counter(
                _bucket(cand.loc[c, "reason"] if c in cand.index else None) for c in cs
            ), 4)

        # wrong adds that CSI kept out of all three size indices, before and after the review
        everywhere = set().union(*(members(store, c, eff - dt.timedelta(days=1)) | members(store, c, snap)
                                   for c in ("000300", "000905", "000852")))
        wrong_adds = (ours - before) - (after - before)
        st_out = {c for c, r in cand["reason"].items() if isinstance(r, str) and re.match(r"(deleted: )?\*?ST (at|on) ", r)}
        out.append({
            "index": name, "code": code, "review": review, "cutoff": res.dates.cutoff, "effective": eff,
            "snapshot": snap, "overlap": len(ours & after), "size": len(after), "ours": len(ours),
            "adds": adds, "deletes": dels,
            "missed_adds": why((after - before) - (ours - before)),
            "missed_deletes": why((before - after) - (before - ours)),
            "wrong_adds": sorted(wrong_adds), "wrong_adds_outside_all": sorted(wrong_adds - everywhere),
            "chain_seconds": chain_seconds,
            # candidates the engine left out as ST: incumbents (and how many CSI deleted), and
            # how many of all of them are in the official list after the review (errors)
            "st_incumbents": len(st_out & before), "st_incumbents_deleted": len(st_out & (before - after)),
            "st_out_in_official": sorted(st_out & after),
        })
    return out


def st_checks(store: Any) -> dict[str, Any] | None:
    """How the store's ST status agrees with the official lists, review by review: stocks ST at
    the cutoff that are in CSI 300 / 500 / 1000 after the review (there should be none), and
    stocks first ST between the cutoff and the effective date (CSI's status date is later than
    the cutoff if those leave too). None when the store has no status rows."""
    import indexrecon as ir
    from indexrecon.engine import context
    from indexrecon.methodology.schedule import review_dates

    if not store.con.execute("SELECT count(*) FROM status").fetchall()[0][0]:
        return None
    cal = context(store).cal
    m = ir.load_methodology("csi300")
    known_until = dt.date.fromisoformat(store.meta.get("index_membership_known_until", "2099-12-31"))
    first = store.con.execute("SELECT min(date) FROM bars").fetchall()[0][0]

    def st_on(day: dt.date) -> set[str]:
        return {r[0] for r in store.con.execute(
            "SELECT DISTINCT code FROM status WHERE status IN ('ST', '*ST') AND start_date <= ? "
            "AND (end_date IS NULL OR end_date >= ?)", [day, day]).fetchall()}

    rows = []
    for year in range(first.year, known_until.year + 1):
        for month in (6, 12):
            if dt.date(year, month, 1) < first + dt.timedelta(days=300):
                continue  # the cutoff must lie in the data, with some history before it
            rd = review_dates(m, cal, f"{year}-{month:02d}")
            if rd.effective > known_until:
                continue
            codes = ("000300", "000905", "000852")
            before = set().union(*(members(store, c, rd.effective - dt.timedelta(days=1)) for c in codes))
            after = set().union(*(members(store, c, first_snapshot_after(store, c, rd.effective))
                                  for c in codes))
            at_cut = st_on(rd.cutoff)
            late = st_on(rd.effective - dt.timedelta(days=1)) - at_cut
            rows.append({
                "cutoff": rd.cutoff, "st": len(at_cut), "st_in_official": sorted(at_cut & after),
                "st_members_before": len(at_cut & before), "st_members_left": len(at_cut & (before - after)),
                "late_members_before": len(late & before), "late_members_left": len(late & (before - after)),
            })
    csi2000 = None
    d2000 = store.con.execute(
        "SELECT min(trade_date) FROM official_weights WHERE index_code = '932000'").fetchall()[0][0]
    if d2000 is not None:
        from indexrecon.analysis.baskets import map_codes

        rd = review_dates(ir.load_methodology("csi2000"), cal, "2024-12")
        off = set(map_codes(store, store.con.execute(
            "SELECT code, weight FROM official_weights WHERE index_code = '932000' AND trade_date = ?",
            [d2000]).df())["code"])
        at_cut = st_on(rd.cutoff)
        csi2000 = {"cutoff": rd.cutoff, "date": d2000, "st": len(at_cut), "st_in_official": sorted(at_cut & off)}
    return {"source": store.meta.get("status_source", "the store's status table"), "reviews": rows,
            "csi2000": csi2000}


def dependency_checks(store: Any) -> list[str]:
    from indexrecon.engine import run_review

    lines = []
    for review in REVIEWS:
        r = {n: set(run_review(n, store, review, incumbents="official").codes) for n in CHAIN}
        lines.append(
            f"{review}: CSI 500 ∩ CSI 300 = {len(r['csi500'] & r['csi300'])}, "
            f"CSI 1000 ∩ (CSI 300 ∪ CSI 500) = {len(r['csi1000'] & (r['csi300'] | r['csi500']))}"
        )
    return lines


def csi2000_figures(store: Any, spec: dict[str, str] | None = None) -> dict[str, Any]:
    from indexrecon.analysis.baskets import map_codes
    from indexrecon.engine import run_review

    t0 = time.perf_counter()
    res = run_review((spec or {}).get("csi2000", "csi2000"), store, "2024-12", incumbents="auto")
    seconds = time.perf_counter() - t0
    ours = set(res.codes)
    snaps = [r[0] for r in store.con.execute(
        "SELECT DISTINCT trade_date FROM official_weights WHERE index_code = '932000' ORDER BY 1").fetchall()]
    rows = []
    for d in snaps:
        off = map_codes(store, store.con.execute(
            "SELECT code, weight FROM official_weights WHERE index_code = '932000' AND trade_date = ?", [d]).df())
        codes = set(off["code"])
        known = codes & {r[0] for r in store.con.execute("SELECT code FROM securities").fetchall()}
        rows.append({"date": d, "official": len(codes), "in_store": len(known), "overlap": len(ours & codes)})
    cand = res.candidates.set_index("code")
    first = set(map_codes(store, store.con.execute(
        "SELECT code, weight FROM official_weights WHERE index_code = '932000' AND trade_date = ?",
        [snaps[0]]).df())["code"])
    missed = collections.Counter(_bucket(cand.loc[c, "reason"] if c in cand.index else None) for c in first - ours)
    extra = collections.Counter(_bucket(cand.loc[c, "reason"]) for c in ours - first)
    # where the official members we missed went instead
    return {
        "review": res.dates.review, "cutoff": res.dates.cutoff, "effective": res.dates.effective,
        "incumbents": res.incumbents_source, "ours": len(ours), "snapshots": rows, "seconds": seconds,
        "missed": _top(missed, 6), "extra": _top(extra, 4),
    }


# ---------------------------------------------------------------------------------------
# Each rule change, measured: the figures with the rule switched off alone, against the
# methodologies as encoded
# ---------------------------------------------------------------------------------------
def _no_incumbent_thresholds(ms: dict[str, dict[str, Any]]) -> None:
    for m in ms.values():
        for sc in m["screens"]:
            sc["incumbents_value"] = None


def _st_at_cutoff(ms: dict[str, dict[str, Any]]) -> None:
    for m in ms.values():
        m["universe"]["exclude_st"] = True


def _from_first_day(ms: dict[str, dict[str, Any]]) -> None:
    for m in ms.values():
        m["lookback"]["skip_listing_days"] = 0


def _no_suspension_rule(ms: dict[str, dict[str, Any]]) -> None:
    for m in ms.values():
        for rules in (m, *(v["changes"] for v in m["versions"])):
            if "screens" in rules:
                rules["screens"] = [sc for sc in rules["screens"] if sc["metric"] != "suspended_run"]


def _no_profit_screen(ms: dict[str, dict[str, Any]]) -> None:
    for m in ms.values():
        m["screens"] = [sc for sc in m["screens"] if sc["metric"] != "profitable"]


def _csi2000_launch_rules(ms: dict[str, dict[str, Any]]) -> None:
    ms["csi2000"]["versions"] = []


def _csi2000_bse_one_year(ms: dict[str, dict[str, Any]]) -> None:
    for v in ms["csi2000"]["versions"]:
        v["changes"]["universe"]["listing_age_by_board"]["bse"] = {"min_age": {"months": 12}}


def _top_n_newcomers_only(names: tuple[str, ...]) -> Any:
    """Switch off: the "top N of the sample space" exclusion of `names` for newcomers only."""
    def off(ms: dict[str, dict[str, Any]]) -> None:
        for n in names:
            for rules in (ms[n], *(v["changes"] for v in ms[n]["versions"])):
                for sc in rules.get("screens", []):
                    if sc["type"] == "drop_top_n":
                        sc["applies_to"] = "newcomers"
    return off


# (what changed, its source, how to switch it off over the methodology dicts by name, whether
# it changes CSI 300 / 500 / 1000 - else CSI 2000 alone)
RULE_CHANGES: list[tuple[str, str, Any, bool]] = [
    ("incumbent liquidity buffers", "CSI 300 §6.4: incumbents in the top 60% by turnover stay rankable "
     "(newcomers 50%); CSI 500 / 1000: top 90% (newcomers 80%)", _no_incumbent_thresholds, True),
    ("ST at the review", "status on the day before the effective date, not at the data cutoff "
     "(`exclude_st: {as_of: effective}`): CSI deletes members put under risk warning (§7.7); 12 of 12 members "
     "that became ST between cutoff and effective date left in 2022-2024", _st_at_cutoff, True),
    ("new listings from their 6th trading day", "CSI §6.2: a new listing's averages start at its sixth "
     "trading day (`lookback.skip_listing_days: 5`)", _from_first_day, True),
    ("long suspensions", "CSI §6.7: stocks suspended more than 25 consecutive trading days at the cutoff out "
     "(`max_value suspended_run 25`); excluding newcomers suspended for fewer days at the cutoff too "
     "(`value: 0, incumbents_value: 25`) cost one official CSI 300 add in 2024-12 (002028)",
     _no_suspension_rule, True),
    ("loss-making newcomers", "CSI 300 §6.8: non-STAR newcomers with a negative or missing PE (TTM) are not "
     "candidates (optional valuation table; after the liquidity ranking)", _no_profit_screen, True),
    ("CSI 2000 V1.1", "CSI 2000 methodology V1.1 (2023-12), from the 2023-12-11 review: the bottom 10% by "
     "turnover of the whole sample space (BSE and CSI 800 / 1000 members ranked) out first, then the top "
     "1500 (was: 1800 excluded, then the bottom 20% of the rest); switched off = the launch rules",
     _csi2000_launch_rules, False),
    ("CSI 2000 BSE listed two years", "within V1.1: BSE stocks listed more than two years (one year: the "
     "CSI All Share reading used before)", _csi2000_bse_one_year, False),
    ("CSI 500 top 300 for incumbents too", "\"在样本空间中剔除沪深300指数样本及过去一年日均总市值排名前300名的证券\": "
     "no exception for incumbents (switched off = newcomers only, as before); CSI 1000's top 800 stays "
     "newcomers-only, which its 2024 lists show", _top_n_newcomers_only(("csi500",)), True),
    ("CSI 2000 top 1500 for incumbents too", "V1.1 \"剔除中证800和中证1000指数样本以及过去一年日均总市值排名前"
     "1500名的证券\": no exception for incumbents (switched off = newcomers only)",
     _top_n_newcomers_only(("csi2000",)), False),
]
MEASURED = [*CHAIN, "csi2000"]


def variant(tmp: Path, switch_off: Any) -> dict[str, str]:
    """The size family with one rule switched off, as YAML files in `tmp` naming each other
    (CSI 1000 excludes the members of *this* CSI 300 and 500)."""
    import yaml

    import indexrecon as ir

    ms = {n: ir.load_methodology(n).to_dict() for n in MEASURED}
    switch_off(ms)
    paths = {n: str(tmp / f"{n}.yaml") for n in ms}
    for n, d in ms.items():
        for key in ("exclude_members_of", "members_of"):
            d["universe"][key] = [paths.get(x, x) for x in d["universe"][key]]
        Path(paths[n]).write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False))
    return paths


def rule_effects(store: Any, figs: list[dict[str, Any]], f2000: dict[str, Any]) -> list[dict[str, Any]]:
    import tempfile

    out = []
    for label, source, switch_off, chain in RULE_CHANGES:
        with tempfile.TemporaryDirectory(prefix="indexrecon-rule-") as tmp:
            spec = variant(Path(tmp), switch_off)
            off = [f for review in REVIEWS for f in review_figures(store, review, spec)] if chain else []
            off2000 = csi2000_figures(store, spec)
        out.append({"label": label, "source": source, "off": off, "on": figs if chain else [],
                    "csi2000": (off2000["snapshots"][0]["overlap"], f2000["snapshots"][0]["overlap"],
                                f2000["snapshots"][0]["date"])})
    return out


def section_rules(effects: list[dict[str, Any]], cmd: str) -> str:
    lines = [
        SECTIONS[2],
        "",
        f"Produced by `{cmd}`. Each rule change of the second reading of the published texts",
        "(issue 18), measured by switching it off alone over the methodologies as encoded now:",
        "figures *without* the rule → *with* it, official incumbents, on the visible reviews.",
        "Members matched = constituents also in the official list after the review; adds / deletes",
        "as precision / recall. CSI 2000: overlap with its first official list.",
        "",
        "| rule | review | index | members matched | adds precision / recall | deletes precision / recall |",
        "|---|---|---|---|---|---|",
    ]
    for e in effects:
        for a, b in zip(e["off"], e["on"], strict=True):
            pr = {k: f"{pct(a[k]['precision'])} / {pct(a[k]['recall'])} → {pct(b[k]['precision'])} / "
                  f"{pct(b[k]['recall'])}" for k in ("adds", "deletes")}
            lines.append(f"| {e['label']} | {b['review']} | {b['index']} | {a['overlap']} → {b['overlap']} "
                         f"| {pr['adds']} | {pr['deletes']} |")
        o, n, d = e["csi2000"]
        lines.append(f"| {e['label']} | 2024-12 | csi2000 | {o} → {n} (of 2000 on {d}) | | |")
    lines += ["", "Sources:", ""]
    lines += [f"- *{e['label']}*: {e['source']}." for e in effects]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------
def pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.0f}%"


def st_paragraph(st: dict[str, Any] | None, figs: list[dict[str, Any]]) -> list[str]:
    if st is None:
        return [
            "ST / *ST: the store has no status data, so the exclusion is warned, not applied (ingest",
            "the real data with ST inference on, the default, to apply it).",
        ]
    inferred = st["source"].startswith("inferred")
    what = ("inferred from the bars (main-board stocks held to the 5% risk-warning price limit; "
            "`indexrecon.data.sources.st_inference`)" if inferred else "from the store's status table")
    rv = st["reviews"]
    fp = sorted({c for r in rv for c in r["st_in_official"]})
    lines = [
        f"ST / *ST status is {what}. Checked against the official lists: of the stocks ST at the "
        f"cutoffs of the {len(rv)} reviews from {rv[0]['cutoff']} to {rv[-1]['cutoff']} "
        f"({min(r['st'] for r in rv)} to {max(r['st'] for r in rv)} each), "
        + (f"{len(fp)} ({', '.join(fp)}) are" if fp else "none is")
        + " in CSI 300 / 500 / 1000 after the review; "
        f"{sum(r['st_members_left'] for r in rv)} of the {sum(r['st_members_before'] for r in rv)} "
        "members among them left at the review.",
    ]
    c = st["csi2000"]
    if c:
        lines[-1] += (f" Of the {c['st']} ST at {c['cutoff']}, {len(c['st_in_official'])} are in the "
                      f"CSI 2000 list of {c['date']}.")
    late_b = sum(r["late_members_before"] for r in rv)
    late_l = sum(r["late_members_left"] for r in rv)
    st_inc = sum(f["st_incumbents"] for f in figs)
    st_del = sum(f["st_incumbents_deleted"] for f in figs)
    wrong = sorted({x for f in figs for x in f["st_out_in_official"]})
    lines += [
        f"In the two reviews above the engine left out {st_inc} incumbent(s) as ST (CSI deleted "
        f"{st_del}); " + (f"{len(wrong)} stocks it left out as ST are in the official lists after "
                          f"({', '.join(wrong)})." if wrong else "no stock it left out as ST is in an official list after."),
        f"Members that became ST only between the cutoff and the effective date: {late_l} of "
        f"{late_b} left at the review, so CSI applies the ST status of a later day than the data "
        "cutoff: the CSI methodologies read it on the day before the effective date "
        "(`exclude_st: {as_of: effective}`, measured below). Limits: ST on ChiNext and STAR (20% limits for all) and "
        "delisting arrangements are not inferred; a lifted ST is seen only at the first move beyond 5%."
        if inferred else
        f"Members that became ST only between the cutoff and the effective date: {late_l} of "
        f"{late_b} left at the review (the CSI methodologies read the status on the day before the "
        "effective date).",
    ]
    return lines


def section_300(figs: list[dict[str, Any]], deps: list[str], cmd: str,
                st: dict[str, Any] | None = None) -> str:
    lines = [
        SECTIONS[0],
        "",
        f"Produced by `{cmd}` (figures below are regenerated by it; edit the script, not them).",
        "",
        "Each review is simulated with the official incumbents (the store's `index_membership` on the",
        "day before the effective date; CSI 500 and 1000 compute what they need of CSI 300 and 500",
        "first, with official incumbents too, in the same run). The result is compared with the",
        "official members on the first membership snapshot after the effective date.",
        "",
        "| review | index | overlap | adds: right / predicted / actual | adds precision / recall "
        "| deletes: right / predicted / actual | deletes precision / recall | broker forecasts (adds / deletes) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in figs:
        a, d = f["adds"], f["deletes"]
        b = BROKER[f["index"]]
        lines.append(
            f"| {f['review']} | {f['index']} ({f['code']}) | {f['overlap']}/{f['size']} "
            f"({pct(f['overlap'] / f['size'])}) | {a['hit']} / {a['predicted']} / {a['actual']} "
            f"| {pct(a['precision'])} / {pct(a['recall'])} | {d['hit']} / {d['predicted']} / {d['actual']} "
            f"| {pct(d['precision'])} / {pct(d['recall'])} | {pct(b[0])} / {pct(b[1])} |"
        )
    tot: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for f in figs:
        t = tot[f["index"]]
        t[0] += f["adds"]["hit"]
        t[1] += f["adds"]["actual"]
        t[2] += f["deletes"]["hit"]
        t[3] += f["deletes"]["actual"]
        t[4] += f["overlap"]
        t[5] += f["size"]
    lines += ["", "Both reviews together (recall = share of the actual changes named, the brokers' measure):", ""]
    lines.append("| index | overlap | adds recall | deletes recall | broker forecasts |")
    lines.append("|---|---|---|---|---|")
    for name, t in tot.items():
        b = BROKER[name]
        lines.append(
            f"| {name} | {pct(t[4] / t[5])} | {pct(t[0] / t[1])} | {pct(t[2] / t[3])} | {pct(b[0])} / {pct(b[1])} |"
        )
    secs = {f["review"]: f["chain_seconds"] for f in figs}
    lines += [
        "",
        "Dependencies hold in every simulated review (" + "; ".join(deps) + ").",
        "The whole chain (CSI 1000 computing CSI 300 and 500 first) runs in one call: "
        + ", ".join(f"{r} in {s:.1f} s" for r, s in secs.items()) + ".",
        "",
        "Why the misses happened: the engine's reason for each actual add we did not predict and",
        "each actual delete we did not predict (numbers taken out):",
        "",
        "| review | index | actual adds missed | actual deletes missed |",
        "|---|---|---|---|",
    ]
    for f in figs:
        ma = "; ".join(f"{n}× {k}" for k, n in f["missed_adds"])
        md = "; ".join(f"{n}× {k}" for k, n in f["missed_deletes"])
        lines.append(f"| {f['review']} | {f['index']} | {ma} | {md} |")
    c300 = [f for f in figs if f["index"] == "csi300"]
    wrong = sorted({c for f in c300 for c in f["wrong_adds"]})
    outside = sorted({c for f in c300 for c in f["wrong_adds_outside_all"]})
    lines += [
        "",
        f"CSI 300 adds predicted but not made ({len(wrong)} over both reviews): {', '.join(wrong)}. "
        f"{len(outside)} of them ({', '.join(outside)}) were in none of CSI 300 / 500 / 1000 just "
        "before or just after that review, although they rank inside CSI 300 on the published rules.",
    ]
    still = [c for c in AH_EARLIER_WRONG if c in wrong]
    fixed = [c for c in AH_EARLIER_WRONG if c not in wrong]
    lines += [
        "",
        "**Honest reading.** The rules are encoded as CSI publishes them. The figures fall short of",
        "the broker forecasts, and what separates them is mostly what the shared data lacks:",
        "",
        "- *A-share market cap.* CSI ranks by A-share total market cap, and so does the store now",
        "  (`a_shares`: for A+H companies their circulating A shares, a lower bound where A shares",
        "  are restricted). Of the A+H companies that were wrong CSI 300 adds on total capital",
        f"  ({', '.join(AH_EARLIER_WRONG)}), {len(fixed)} are no longer predicted"
        + (f" ({', '.join(fixed)})" if fixed else "")
        + (f"; still predicted: {', '.join(still)}" if still else "") + ".",
        "- *Provider judgement.* The stocks above that were in none of the three indices around the",
        "  review were kept out of CSI's whole size family, not merely out of CSI 300: 600703 and",
        "  601727 since 2021 (the sample-space clauses on violations and financial-report problems,",
        "  applied by CSI's expert committee), 601127 and 601136 until December 2024. No data in the",
        "  store expresses that.",
        "- *Liquidity cut.* CSI 500 / 1000 incumbents stay rankable within the top 90% by",
        "  turnover, CSI 300's within the top 60% (`incumbents_value`; measured below). The",
        "  store lacks the stocks delisted since (survivorship), which would fill the bottom of the",
        "  turnover ranking; BSE stocks are not in the CSI 300 / 500 / 1000 sample space (no BSE",
        "  stock in their 2025 official lists, against seven in CSI 2000's). Each false delete",
        "  also spends one of the 10% change slots, hence the many \"at most N changes\" misses.",
        "  Leaving ST stocks out of the sample space (below) shrinks the liquidity pool and raises",
        "  our cut further.",
        "- *Missing share capital.* With the share observations, 569 of the 573 STAR stocks trading",
        "  on 2024-10-31 have a share count (the rest: kept without a rank as incumbents, warned).",
        "",
        "Two readings of the published rules were checked against these lists and are encoded:",
        "ChiNext stocks need a year of listing in CSI 300 / 500 (CSI's November 2021 notice) but one",
        "quarter in CSI 1000 (the 2023-2024 CSI 1000 reviews added ChiNext stocks listed 97-133 days",
        "before the cutoff; every STAR add had over a year), and the \"top N of the sample space\" exclusion of CSI 500 / 1000 / 2000 applies to",
        "newcomers (in June 2024, 41 of 53 CSI 1000 incumbents inside the top 800 stayed, 1 of 37",
        "newcomers there was added).",
        "",
        *st_paragraph(st, figs),
    ]
    return "\n".join(lines) + "\n"


def section_2000(f: dict[str, Any], cmd: str) -> str:
    lines = [
        SECTIONS[1],
        "",
        f"Produced by `{cmd}`.",
        "",
        f"Review {f['review']} (cutoff {f['cutoff']}, effective {f['effective']}), in force January to",
        "June 2025, rebuilt with CSI 300 / 500 / 1000 resolved first in the same run (official",
        f"incumbents) and CSI 2000's own incumbents {f['incumbents']} (the store has no official CSI",
        f"2000 list before 2025). {f['ours']} constituents; the run took {f['seconds']:.0f} s.",
        "",
        "| official snapshot | official constituents | of them in the store | overlap with the rebuild |",
        "|---|---|---|---|",
    ]
    for r in f["snapshots"]:
        lines.append(
            f"| {r['date']} | {r['official']} | {r['in_store']} | {r['overlap']} ({pct(r['overlap'] / r['official'])}) |"
        )
    lines += [
        "",
        "Official members of the first snapshot that the rebuild misses, by the engine's reason: "
        + "; ".join(f"{n}× {k}" for k, n in f["missed"]) + ".",
        "Rebuilt members not in it: " + "; ".join(f"{n}× {k}" for k, n in f["extra"]) + ".",
        "",
        "BSE constituents (7 in 2025) appear under their old codes in the weight file and have no",
        "share capital in the store; ST stocks on ChiNext and STAR cannot be excluded (their ST",
        "status cannot be inferred from price limits), which matters most for the smallest caps;",
        "and the data-gap effects of the CSI 300 / 500 / 1000 section carry over (CSI 2000 excludes",
        "their members), as does the four-review roll-forward of its own incumbents.",
    ]
    return "\n".join(lines) + "\n"


def write_sections(sections: dict[str, str]) -> None:
    """Replace (or append) our sections of docs/validation.md, re-reading it right before
    writing: another section of the file is written by someone else."""
    text = DOC.read_text() if DOC.exists() else "# Validation on real data\n"
    for heading, body in sections.items():
        pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
        if pattern.search(text):
            text = pattern.sub(lambda _m, b=body: b + "\n", text, count=1)
        else:
            text = text.rstrip("\n") + "\n\n" + body
    DOC.write_text(text.rstrip("\n") + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, default=Path("/tmp/indexrecon_real.duckdb"),
                    help="real-data store (built from ../shared/realdata when missing)")
    ap.add_argument("--no-write", action="store_true", help="print the sections, leave docs/validation.md alone")
    args = ap.parse_args(argv)
    cmd = "python scripts/validate_csi.py --store STORE"
    store = open_real_store(args.store)
    figs = [f for review in REVIEWS for f in review_figures(store, review)]
    deps = dependency_checks(store)
    s300 = section_300(figs, deps, cmd, st_checks(store))
    f2000 = csi2000_figures(store)
    s2000 = section_2000(f2000, cmd)
    srules = section_rules(rule_effects(store, figs, f2000), cmd)
    print(s300)
    print(s2000)
    print(srules)
    if not args.no_write:
        write_sections({SECTIONS[0]: s300, SECTIONS[1]: s2000, SECTIONS[2]: srules})
        print(f"wrote {DOC.relative_to(ROOT)}: {', '.join(SECTIONS)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
