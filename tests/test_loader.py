"""Methodology loading: built-ins, versions, and errors that point at file, line and key."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

import indexrecon as ir
from indexrecon.errors import MethodologyError, UnknownMethodologyError
from indexrecon.methodology.loader import load_methodology
from indexrecon.methodology.paths import builtin_names

GOOD = """\
name: mini
title: Mini index
universe:
  boards: [chinext]
lookback: {months: 6}
screens:
  - {type: drop_bottom_pct, metric: avg_amount, value: 10}
selection:
  rank_by: avg_total_cap
  count: 10
weighting:
  method: total_cap
"""


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_builtin_chinext_loads_with_versions() -> None:
    assert "chinext" in builtin_names()
    m = load_methodology("chinext")
    assert m.index_code == "399006" and m.selection.count == 100
    assert m.selection.buffer is not None and m.selection.buffer.incumbents_within == 110
    before = m.for_date(dt.date(2024, 12, 16))
    after = m.for_date(dt.date(2025, 6, 16))
    assert before.weighting.caps.single_pct is None
    assert after.weighting.caps.single_pct == 20
    assert [s.metric for s in after.screens] == ["quality_flag", "avg_amount", "esg_grade_cni"]
    assert after.versions == []


def test_good_file_and_dict_load(tmp_path: Path) -> None:
    m = load_methodology(write(tmp_path, GOOD))
    assert m.name == "mini" and m.screens[0].value == 10
    assert load_methodology(m.to_dict()) == m


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("cuont", "m.yaml:10: selection.cuont: unknown key (did you mean 'count'?); allowed: rank_by, count,"),
        ("zzz", "m.yaml:10: selection.zzz: unknown key; allowed: rank_by, count,"),  # no close match
    ],
)
def test_unknown_key_names_line_path_suggestion_and_allowed_keys(tmp_path: Path, key: str, expected: str) -> None:
    with pytest.raises(MethodologyError) as e:
        load_methodology(write(tmp_path, GOOD.replace("  count: 10", f"  {key}: 10")))
    msg = str(e.value)
    assert expected in msg and "buffer" in msg
    assert "\n" not in msg


def test_bad_value_lists_allowed_values(tmp_path: Path) -> None:
    text = GOOD.replace("boards: [chinext]", "boards: [chinxt]")
    with pytest.raises(MethodologyError) as e:
        load_methodology(write(tmp_path, text))
    msg = str(e.value)
    assert "m.yaml:4" in msg and "universe.boards.0" in msg and "'chinext'" in msg


def test_bad_metric_name(tmp_path: Path) -> None:
    text = GOOD.replace("metric: avg_amount", "metric: avg_amout")
    with pytest.raises(MethodologyError) as e:
        load_methodology(write(tmp_path, text))
    assert "screens.0.metric" in str(e.value) and "avg_amount" in str(e.value)


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        ("  method: total_cap", "  method: total_cap\n  caps: {single_pct: 120}", "less than or equal to 100"),
        ("  count: 10", "  count: -5", "greater than 0"),
        ("  count: 10", "  count: 10\n  buffer: {newcomers_within: 8, incumbents_within: 9}", "must be at least count"),
        ("  method: total_cap", "  method: total_cap\n  caps: {single_pct: 5}", "caps cannot sum to 100%"),
        ("value: 10}", "value: 100}", "0 < value < 100"),
        ("lookback: {months: 6}", "lookback: {months: 6, trading_days: 20}", "exactly one"),
    ],
)
def test_impossible_values_refused(tmp_path: Path, old: str, new: str, expect: str) -> None:
    assert old in GOOD
    with pytest.raises(MethodologyError) as e:
        load_methodology(write(tmp_path, GOOD.replace(old, new)))
    assert expect in str(e.value)


def test_invalid_yaml_reports_line(tmp_path: Path) -> None:
    with pytest.raises(MethodologyError) as e:
        load_methodology(write(tmp_path, GOOD + "extra: [1, 2\n"))
    assert "m.yaml:" in str(e.value) and "invalid YAML" in str(e.value)


def test_python_tags_refused(tmp_path: Path) -> None:
    text = GOOD + "description: !!python/object/apply:os.system ['echo hacked']\n"
    with pytest.raises(MethodologyError):
        load_methodology(write(tmp_path, text))


def test_billion_laughs_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    t0 = time.perf_counter()
    with pytest.raises(MethodologyError) as e:
        load_methodology(write(tmp_path, "\n".join(lines) + "\n"))
    assert time.perf_counter() - t0 < 5
    assert "aliases" in str(e.value) or "expands" in str(e.value)


def test_version_errors_point_at_version(tmp_path: Path) -> None:
    text = GOOD + "versions:\n  - effective_from: 2025-01-01\n    changes:\n      selection: {count: 0}\n"
    with pytest.raises(MethodologyError) as e:
        load_methodology(write(tmp_path, text))
    assert "versions.0.changes" in str(e.value)


def test_unknown_methodology_suggests() -> None:
    with pytest.raises(UnknownMethodologyError) as e:
        load_methodology("chinxt")
    assert "did you mean 'chinext'" in str(e.value)


def test_with_changes_derives_and_validates() -> None:
    m = ir.load_methodology("chinext")
    v = m.with_changes(name="chinext_cap10", weighting={"caps": {"single_pct": 10}})
    assert v.weighting.caps.single_pct == 10 and v.weighting.method == "free_float_cap"
    assert m.weighting.caps.single_pct is None  # the original is untouched
    with pytest.raises(MethodologyError):
        m.with_changes(selection={"count": 100, "buffer": {"newcomers_within": 120, "incumbents_within": 130}})


# -- issue 14, item 10: one line naming file, line and key -----------------------------------
VERSIONED = GOOD + """\
versions:
  - effective_from: 2025-06-16
    changes: {selection: {count: 20}}
"""


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        (GOOD.replace("title: Mini index", "title: Mini index\nbase_date: 2010-02-30"),
         r"m\.yaml:3: base_date: '2010-02-30' is not a date"),
        (VERSIONED.replace("2025-06-16", "2025-02-30"),
         r"m\.yaml:14: versions\.0\.effective_from: '2025-02-30' is not a date"),
        (GOOD.replace("count: 10", "count: true"), r"m\.yaml:10: selection\.count: true is a boolean, not a number"),
        (GOOD.replace("value: 10}", "value: false}"), r"m\.yaml:7: screens\.0\.value: false is a boolean"),
        (GOOD.replace("lookback: {months: 6}", "lookback: {months: yes}"), r"lookback\.months: true is a boolean"),
        (GOOD.replace("title: Mini index", "title: Mini index\ntitle: Again"),
         r"m\.yaml:3: title: duplicate key \(first at line 2\)"),
        (GOOD.replace("  count: 10", "  count: 10\n  rank_by: avg_amount"),
         r"m\.yaml:11: selection\.rank_by: duplicate key \(first at line 9\)"),
        (GOOD.replace("  method: total_cap", "  method: total_cap\n  caps: {single_pct: 5}"),
         r"m\.yaml:13: weighting\.caps\.single_pct: caps cannot sum to 100%: 10 stocks"),
        ("name: deep\nuniverse: " + "[" * 20_000 + "]" * 20_000 + "\n", r"m\.yaml:2: YAML nested more than 100 levels"),
        ("name: deep\nuniverse:" + "".join(f"\n{'  ' * i}k{i}:" for i in range(1, 500)) + " 1\n",
         r"m\.yaml:\d+: YAML nested more than 100 levels"),
    ],
    ids=["base_date 2010-02-30", "effective_from 2025-02-30", "count true", "screen value false", "months yes",
         "a top-level key twice", "a nested key twice", "an infeasible single cap", "flow lists 20,000 deep",
         "block mappings 500 deep"],
)
def test_bad_methodology_is_one_line_at_its_key(tmp_path: Path, text: str, expect: str, reliability_log,
                                                request: pytest.FixtureRequest) -> None:
    p = write(tmp_path, text)
    with pytest.raises(MethodologyError, match=expect) as e:
        load_methodology(p)
    assert "\n" not in str(e.value)
    reliability_log("hostile methodology (issue 14)", f"a methodology with {request.node.callspec.id}",
                    "one line naming file, line and key (no traceback, no RecursionError)")


def test_validate_resolves_members_of(tmp_path: Path, reliability_log) -> None:
    from indexrecon.methodology.loader import check_references

    p = write(tmp_path, GOOD.replace("boards: [chinext]", "boards: [chinext]\n  exclude_members_of: [chinext, csi30]"))
    load_methodology(p)  # the names themselves are not checked at load time
    with pytest.raises(MethodologyError, match=r"m\.yaml:5: universe\.exclude_members_of\.1: unknown methodology "
                                               r"'csi30' \(did you mean 'csi300'\?\)"):
        check_references(p)
    a = write(tmp_path, GOOD.replace("name: mini", "name: a").replace(
        "boards: [chinext]", f"boards: [chinext]\n  members_of: ['{tmp_path / 'b.yaml'}']"), "a.yaml")
    write(tmp_path, a.read_text().replace("name: a", "name: b").replace("b.yaml", "a.yaml"), "b.yaml")
    with pytest.raises(MethodologyError, match=r"a\.yaml:5: universe\.members_of\.0: .*cycle: a -> b -> a"):
        check_references(a)
    v = write(tmp_path, VERSIONED.replace("changes: {selection: {count: 20}}",
                                          "changes: {universe: {members_of: [nosuch]}}"), "v.yaml")
    with pytest.raises(MethodologyError, match=r"v\.yaml:15: versions\.0\.changes\.universe\.members_of\.0: unknown"):
        check_references(v)
    assert check_references("csi500").name == "csi500"  # built-ins resolve
    reliability_log("hostile methodology (issue 14)", "`validate` with a missing / cyclic members_of",
                    "one line naming the referring file, line and key", 3)
