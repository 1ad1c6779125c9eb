"""Hostile methodologies, bad data, interrupted and concurrent work.

Every test records what it tried in the reliability log (docs/reliability.md)."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import indexrecon as ir
from factory import S, make_store
from indexrecon.data.checks import run_checks
from indexrecon.errors import IndexReconError, StoreError

D = dt.date


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    p = tmp_path_factory.mktemp("rel") / "s.duckdb"
    stocks = [S(f"300{i:03d}", cap=(41 - i) * 1e9, amount=((i * 7) % 40 + 1) * 1e6, ff_ratio=0.1 + (i % 9) / 10,
                industry=["630000", "270000", "370000", "710000"][i % 4]) for i in range(1, 41)]
    make_store(p, stocks, start=D(2024, 1, 1), end=D(2024, 12, 31))
    store = ir.open_store(p)
    yield store
    store.close()


# -- methodologies are data, never code ---------------------------------------------------
@pytest.mark.parametrize(
    ("sql", "what"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "read a file"),
        ("COPY (SELECT 1) TO '/tmp/indexrecon_evil.csv'", "write a file"),
        ("ATTACH '/tmp/indexrecon_evil.duckdb' AS evil", "attach a database"),
        ("INSTALL httpfs", "install an extension"),
        ("SELECT * FROM read_parquet('https://example.com/x.parquet')", "reach the network"),
        ("SET enable_external_access = true", "change settings back"),
        ("DELETE FROM bars", "delete stored data"),
    ],
)
def test_engine_connection_is_sandboxed(small_store: Any, sql: str, what: str, reliability_log) -> None:
    with pytest.raises(duckdb.Error):
        small_store.con.execute(sql)
    assert not Path("/tmp/indexrecon_evil.csv").exists()
    reliability_log("sandbox (engine connection)", f"try to {what}: `{sql}`", "refused by DuckDB")


def test_methodology_strings_cannot_inject_sql(small_store: Any, reliability_log) -> None:
    before = small_store.con.execute("SELECT count(*) FROM bars").fetchone()[0]
    evil = ["300001'); DROP TABLE bars; --", "' OR 1=1 --", "300002"]
    m = {"name": "evil", "title": "x'); DROP TABLE bars; --", "universe": {"boards": ["chinext"], "exclude_codes": evil},
         "lookback": {"months": 3}, "selection": {"rank_by": "avg_total_cap", "count": 5},
         "weighting": {"method": "equal"}}
    res = ir.rebuild(m, small_store, "2024-06", incumbents="none")
    assert "300002" not in res.codes and "300001" in res.codes  # the literal string matched nothing
    assert small_store.con.execute("SELECT count(*) FROM bars").fetchone()[0] == before
    reliability_log("hostile methodology", "SQL injection in exclude_codes and title", "treated as literal strings")
    for bad in [{"name": "x; DROP TABLE bars"}, {"selection": {"rank_by": "amount); DROP TABLE bars; --"}},
                {"screens": [{"type": "min_value", "metric": "1=1 OR close", "value": 1}]}]:
        with pytest.raises(ir.MethodologyError):
            ir.load_methodology({**m, **bad})
    reliability_log("hostile methodology", "SQL in name, rank_by or a screen metric", "refused: not an allowed value", 3)


def test_oversized_yaml_refused(tmp_path: Path, reliability_log) -> None:
    f = tmp_path / "big.yaml"
    f.write_text("description: '" + "x" * 1_200_000 + "'\n")
    with pytest.raises(ir.MethodologyError, match="larger than"):
        ir.load_methodology(f)
    reliability_log("hostile YAML", "a 1.2 MB methodology file", "refused: file larger than 1000 kB")


# -- the fuzz: every generated methodology runs with the invariants, or is refused clearly --
screens = st.lists(
    st.fixed_dictionaries({
        "type": st.sampled_from(["drop_bottom_pct", "keep_top_pct", "keep_top_n", "drop_top_n", "min_value", "max_value"]),
        "metric": st.sampled_from(["avg_amount", "avg_total_cap", "total_cap", "traded_days", "avg_turnover_rate"]),
        # mostly sensible values, sometimes impossible ones
        "value": st.one_of(st.integers(1, 30), st.floats(0.5, 99), st.floats(-10, 150, allow_nan=False)),
    }),
    max_size=3,
)
methodologies = st.fixed_dictionaries({
    "name": st.just("fuzz"),
    "title": st.just("Fuzz"),
    "universe": st.fixed_dictionaries({"boards": st.just(["chinext"])},
                                      optional={"max_suspended_days": st.integers(-1, 100)}),
    "lookback": st.fixed_dictionaries({"months": st.one_of(st.integers(1, 9), st.integers(0, 14))}),
    "screens": screens,
    "selection": st.fixed_dictionaries(
        {"rank_by": st.sampled_from(["avg_total_cap", "avg_amount", "avg_free_float_cap"]),
         "count": st.one_of(st.integers(1, 40), st.integers(-2, 50))},
        optional={
            "order": st.sampled_from(["asc", "desc"]),
            "buffer": st.fixed_dictionaries({"newcomers_within": st.integers(0, 60),
                                             "incumbents_within": st.integers(0, 80)}),
            "max_changes_pct": st.one_of(st.floats(1, 100), st.floats(-1, 120, allow_nan=False)),
        }),
    "weighting": st.fixed_dictionaries(
        {"method": st.sampled_from(["free_float_cap", "float_cap", "total_cap", "equal"])},
        optional={"caps": st.fixed_dictionaries({}, optional={
            "single_pct": st.one_of(st.floats(5, 100), st.floats(0, 130, allow_nan=False)),
            "industry_pct": st.one_of(st.floats(30, 100), st.floats(0, 100, allow_nan=False)),
            "top_k": st.fixed_dictionaries({"k": st.integers(0, 6), "pct": st.floats(1, 100)}),
        })}),
})

_FUZZ = {"ran": 0, "refused": 0}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(m=methodologies)
def test_fuzzed_methodologies_run_or_are_refused(small_store: Any, m: dict[str, Any]) -> None:
    try:
        res = ir.rebuild(m, small_store, "2024-12", incumbents="none")
    except IndexReconError as e:
        msg = str(e)
        assert msg and "\n" not in msg and "Traceback" not in msg
        _FUZZ["refused"] += 1
        return
    _FUZZ["ran"] += 1
    cons = res.constituents
    meth = res.methodology
    eligible = int(res.candidates["rank"].notna().sum())
    assert len(cons) == min(meth.selection.count, eligible)
    if len(cons):
        w = cons["weight"].to_numpy()
        assert abs(w.sum() - 1) < 1e-9 and (w > 0).all()
        caps = meth.weighting.caps
        if caps.single_pct:
            assert w.max() <= caps.single_pct / 100 + 1e-9
        if caps.industry_pct:
            assert cons.groupby("sw_l1_code")["weight"].sum().max() <= caps.industry_pct / 100 + 1e-9
        if caps.top_k:
            assert np.sort(w)[::-1][: caps.top_k.k].sum() <= caps.top_k.pct / 100 + 1e-9
        assert list(cons["rank"]) == sorted(cons["rank"])


def test_fuzz_outcomes_recorded(reliability_log) -> None:
    total = _FUZZ["ran"] + _FUZZ["refused"]
    if total:
        reliability_log("fuzzed methodologies (hypothesis)", "random rules, counts, buffers, caps, screens",
                        f"{_FUZZ['ran']} ran with weights summing to 1, caps and counts holding; "
                        f"{_FUZZ['refused']} refused with a one-line error; 0 tracebacks", total)


# -- bad data ---------------------------------------------------------------------------
def test_check_data_finds_planted_faults(tmp_path: Path, reliability_log) -> None:
    p = tmp_path / "bad.duckdb"
    make_store(p, [S(f"300{i:03d}", cap=i * 1e9) for i in range(1, 8)], start=D(2024, 1, 1), end=D(2024, 6, 30))
    con = duckdb.connect(str(p))
    con.execute("INSERT INTO bars SELECT * FROM bars WHERE code = '300001' AND date = DATE '2024-03-01'")
    con.execute("UPDATE bars SET close = -1, low = -1 WHERE code = '300002' AND date = DATE '2024-03-04'")
    con.execute("UPDATE bars SET high = low - 1 WHERE code = '300003' AND date = DATE '2024-03-05'")
    con.execute("UPDATE bars SET amount = amount * 10000 WHERE code = '300004'")
    con.execute("UPDATE shares SET total_shares = 0 WHERE code = '300005'")
    con.execute("DELETE FROM industry WHERE code = '300006'")
    con.execute("DELETE FROM bars WHERE code = '300007' AND date > DATE '2024-04-30'")
    con.close()
    with ir.open_store(p) as store:
        found = {f["check"]: f for f in run_checks(store)}
    expect = {"duplicate_bars": "300001", "nonpositive_prices": "300002", "ohlc_inconsistent": "300003",
              "amount_out_of_scale": "300004", "nonpositive_shares": "300005", "no_industry": "300006",
              "stale_bars": "300007"}
    for check, code in expect.items():
        assert found[check]["count"] >= 1, check
        assert any(e.startswith(code) for e in found[check]["examples"]), (check, found[check])
        reliability_log("bad data (check-data)", f"planted {check} on {code}", "found, counted and named")
    assert found["bars_off_calendar"]["count"] == 0


def test_engine_names_the_stock_it_cannot_weight(tmp_path: Path, reliability_log) -> None:
    p = tmp_path / "w.duckdb"
    make_store(p, [S(f"300{i:03d}", cap=i * 1e9) for i in range(1, 6)], start=D(2024, 1, 1), end=D(2024, 12, 31))
    con = duckdb.connect(str(p))
    con.execute("UPDATE bars SET close = 0 WHERE code = '300005' AND date = DATE '2024-10-31'")
    con.close()
    with ir.open_store(p) as store:
        res = ir.rebuild({"name": "w", "title": "w", "universe": {"boards": ["chinext"]}, "lookback": {"months": 3},
                          "selection": {"rank_by": "avg_total_cap", "count": 5}, "weighting": {"method": "total_cap"}},
                         store, "2024-12", incumbents="none")
    assert any("300005" in w for w in res.warnings)  # warned, with the stock named
    w = res.constituents.set_index("code")["weight"]
    assert abs(w.drop("300005").sum() - 1) < 1e-9
    reliability_log("bad data (engine)", "a constituent with a zero price at the cutoff",
                    "warned with the stock named; the others' weights sum to 1")


# -- interrupted and concurrent work ------------------------------------------------------
def _user_folder(folder: Path, n_stocks: int = 400, n_days: int = 1500) -> dict[str, int]:
    folder.mkdir()
    days = pd.bdate_range("2019-01-01", periods=n_days).date
    codes = [f"{600000 + i}" for i in range(n_stocks)]
    pd.DataFrame({"code": codes, "exchange": "SH", "board": "sh_main", "name": None,
                  "list_date": D(2018, 1, 2), "delist_date": None}).to_parquet(folder / "securities.parquet")
    rng = np.random.default_rng(1)
    close = np.round(10 + rng.random(n_stocks * n_days), 2)
    vol = rng.integers(1000, 10**6, n_stocks * n_days)
    bars = pd.DataFrame({"code": np.repeat(codes, n_days), "date": np.tile(days, n_stocks),
                         "open": close, "high": close, "low": close, "close": close,
                         "amount": vol * close, "volume": vol})
    bars.to_parquet(folder / "bars.parquet")
    pd.DataFrame({"code": codes, "effective_date": D(2018, 1, 2), "total_shares": 1e9, "float_shares": None,
                  "free_float_shares": None, "source": "test"}).to_parquet(folder / "shares.parquet")
    pd.DataFrame({"date": days}).to_parquet(folder / "calendar.parquet")
    return {"securities": n_stocks, "bars": len(bars), "shares": n_stocks, "calendar": n_days}


def _counts(path: Path) -> dict[str, int]:
    with ir.open_store(path) as store:
        return {t: store.row_count(t) for t in ("securities", "bars", "shares", "calendar")}


def test_ingest_killed_at_random_points_leaves_whole_tables(tmp_path: Path, reliability_log) -> None:
    expected = _user_folder(tmp_path / "in")
    exe = Path(sys.executable).with_name("indexrecon")

    def cmd(store: Path) -> list[str]:
        return [str(exe), "ingest", "files", str(tmp_path / "in"), "--store", str(store)]

    # the kill points are fractions of a whole run timed here, so a fast machine is still hit
    # mid-run (fixed sleeps ended after a quick ingest and killed nothing)
    t0 = time.perf_counter()
    subprocess.run(cmd(tmp_path / "timed.duckdb"), capture_output=True, timeout=300, check=True)
    whole = time.perf_counter() - t0
    rng = random.Random(7)
    kills = 0
    for i in range(5):
        store = tmp_path / f"store{i}.duckdb"
        proc = subprocess.Popen(cmd(store), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.4, 0.95) * whole)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        if store.exists():
            got = _counts(store)  # the store always opens
            for table, n in got.items():
                assert n in (0, expected[table]), (table, n)  # whole batches only
        r = subprocess.run(cmd(store), capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr  # the next run resumes and completes
        assert _counts(store) == expected
    assert kills >= 1, "no run was killed mid-run: the test tried nothing"
    reliability_log("interrupted ingest", "SIGKILL of `indexrecon ingest files` at random points of a run",
                    f"{kills} killed mid-run: the store always opened, held whole tables only, "
                    "and the next run completed", 5)


def test_reader_during_a_write_is_told_the_store_is_busy(tmp_path: Path, reliability_log) -> None:
    p = tmp_path / "busy.duckdb"
    make_store(p, [S("300001", cap=1e9)], start=D(2024, 1, 1), end=D(2024, 3, 31))
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, time, sys; c = duckdb.connect(sys.argv[1]); c.execute('BEGIN');"
        "c.execute(\"INSERT INTO meta VALUES ('x', 'y')\"); print('ready', flush=True); time.sleep(30)"), str(p)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="busy"):
            ir.open_store(p)
        exe = Path(sys.executable).with_name("indexrecon")
        r = subprocess.run([str(exe), "check-data", "--store", str(p)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "busy" in r.stderr and "Traceback" not in r.stderr
    finally:
        holder.kill()
        holder.wait()
    with ir.open_store(p) as store:  # the uncommitted write is gone, the store intact
        assert store.row_count("bars") > 0 and "x" not in store.meta
    reliability_log("concurrent access", "open a store while another process writes to it",
                    "one-line 'store is busy' error (exit 2); the store intact afterwards")


def test_missing_table_and_non_store_files(tmp_path: Path, reliability_log) -> None:
    p = tmp_path / "empty.duckdb"
    duckdb.connect(str(p)).close()
    with pytest.raises(StoreError, match="not an indexrecon store"):
        ir.open_store(p)
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(StoreError):
        ir.open_store(junk)
    q = tmp_path / "partial.duckdb"
    with ir.open_store(q, read_only=False) as s:
        s.con.execute("DROP TABLE shares")
    with ir.open_store(q) as s, pytest.raises(StoreError, match="no table shares"):
        ir.rebuild("chinext", s, "2024-12")
    reliability_log("bad store", "an empty DuckDB file, random bytes, a store missing a table",
                    "one-line StoreError naming the file or table", 3)


def test_parquet_lake_store_reads_only_the_allowed_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store whose bars are a view over partitioned Parquet runs reviews when the lake's
    directory is allowed (INDEXRECON_ALLOWED_DIRS), and still refuses every other file."""
    stocks = [S(f"3000{i:02d}", cap=(20 - i) * 1e9) for i in range(1, 13)]
    full, thin, lake = tmp_path / "full.duckdb", tmp_path / "thin.duckdb", tmp_path / "lake"
    make_store(full, stocks)
    make_store(thin, stocks)
    con = duckdb.connect(str(thin))
    con.execute(f"COPY bars TO '{lake}' (FORMAT parquet, PARTITION_BY (code))")
    con.execute("DROP TABLE bars")
    con.execute(f"CREATE VIEW bars AS SELECT * FROM read_parquet('{lake}/*/*.parquet', hive_partitioning = true, hive_types_autocast = false)")
    con.close()
    with ir.open_store(full) as st:
        expected = ir.rebuild("chinext", st, "2024-12", incumbents="none").codes
    with ir.open_store(thin) as st, pytest.raises(IndexReconError):  # not allowed: refused
        ir.rebuild("chinext", st, "2024-12", incumbents="none")
    monkeypatch.setenv("INDEXRECON_ALLOWED_DIRS", str(lake))
    with ir.open_store(thin) as st:
        assert ir.rebuild("chinext", st, "2024-12", incumbents="none").codes == expected
        for sql in ("SELECT * FROM read_csv('/etc/passwd')", "SET enable_external_access = true"):
            with pytest.raises(duckdb.Error):
                st.con.execute(sql)


def test_writer_blocked_by_a_reader_is_told_who(tmp_path: Path, reliability_log) -> None:
    p = tmp_path / "read.duckdb"
    make_store(p, [S("300001", cap=1e9)], start=D(2024, 1, 1), end=D(2024, 3, 31), synthetic=False)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, time, sys; c = duckdb.connect(sys.argv[1], read_only=True); print('ready', flush=True);"
        "time.sleep(30)"), str(p)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match=rf"busy: process {holder.pid} \(python[\d.]*\) has it open \(reading or writing\)"):
            ir.open_store(p, read_only=False)
    finally:
        holder.kill()
        holder.wait()
    reliability_log("concurrent access", "write to a store another process is reading",
                    "one line naming the reader's PID: it has the store open (not 'is writing')")
