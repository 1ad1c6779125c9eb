"""ST status inferred from the 5% price limits (sources/st_inference.py), on synthetic bars
built to the exchange's rounding, and through `ingest files`."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from indexrecon.data.open import open_store
from indexrecon.data.sources import st_inference
from indexrecon.data.sources.files import ingest_files

D = dt.date
START = D(2024, 1, 2)


def days(n: int) -> list[dt.date]:
    out, d = [], START
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def limit(prev: float, pct: int) -> float:
    """The exchange's limit price: previous close x (1 + pct%), rounded half up to the fen."""
    x = Decimal(str(prev)) * (Decimal(100 + pct) / 100)
    return float(x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def path(moves: list[int | float], start: float = 10.0) -> list[tuple[float, float, float]]:
    """(high, low, close) per day; a move of +5 / -5 closes at the 5% limit price (high or low
    at it too), 10 / -10 at the 10% limit (beyond 5%), a float is a plain move in percent
    (high and low within half of it)."""
    out, prev = [], start
    for m in moves:
        if isinstance(m, int) and abs(m) in (5, 10):
            close = limit(prev, m)
        else:
            close = round(prev * (1 + m / 100), 2)
        high, low = max(prev, close), min(prev, close)
        out.append((high, low, close))
        prev = close
    return out


QUIET = [0.5, -0.4, 0.3, -0.2, 0.6, -0.5, 0.1, -0.3]


def scenario() -> dict[str, tuple[str, list[tuple[float, float, float]]]]:
    """code -> (board, daily (high, low, close)); 60 trading days each."""
    st_onset = QUIET * 2 + [0.2, -5, -5, -5, -5, 1.0, 2.0] + QUIET * 4 + [5, -1.0, 1.0] + QUIET
    lifted = [0.3, -5, -5, -5, 1.0, -1.0] + QUIET * 2 + [10, 3.0] + QUIET * 5 + [0.4] * 10
    ten_mover = [*QUIET, 10, -10, 4.9, -4.9] * 5
    chance = QUIET * 2 + [5, 6.0, -5, 7.0] + QUIET * 5 + [0.2] * 4
    return {
        "600001": ("sh_main", path((st_onset + QUIET * 3)[:60])),  # becomes ST on day 19
        "000002": ("sz_main", path(lifted[:60])),  # ST from day 3, lifted: a 10% day on day 22
        "600003": ("sh_main", path(ten_mover[:60])),  # a 10%-mover: never ST
        "600004": ("sh_main", path(chance[:60])),  # two limit closes by chance, broken each time
        "300005": ("chinext", path((st_onset + QUIET * 3)[:60])),  # 20% board: nothing inferred
        "600006": ("sh_main", path([-5] * 5 + QUIET * 7, start=0.3)),  # 5% is under 3 ticks
    }


def make_con(
    data: dict[str, tuple[str, list[tuple[float, float, float]]]],
) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE securities (code VARCHAR, board VARCHAR)")
    con.execute(
        "CREATE TABLE bars (code VARCHAR, date DATE, high DOUBLE, low DOUBLE, close DOUBLE)"
    )
    for code, (board, rows) in data.items():
        con.execute("INSERT INTO securities VALUES (?, ?)", [code, board])
        con.executemany(
            "INSERT INTO bars VALUES (?, ?, ?, ?, ?)",
            [[code, d, h, lo, c] for d, (h, lo, c) in zip(days(len(rows)), rows, strict=True)],
        )
    return con


def intervals(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for code, s, e, status in con.execute(
        f"SELECT * FROM ({st_inference.inferred_st_sql()}) ORDER BY code, start_date"
    ).fetchall():
        assert status == "ST"
        out.setdefault(code, []).append((s, e))
    return out


def st_on(iv: dict[str, list[tuple]], day: dt.date) -> set[str]:
    return {c for c, spans in iv.items() for s, e in spans if s <= day and (e is None or e >= day)}


def test_limit_rounding_matches_the_exchange() -> None:
    # 10.10 x 1.05 = 10.605 -> 10.61 (half up; a float round would give 10.60)
    assert limit(10.10, 5) == 10.61
    data = {"600001": ("sh_main", [(10.1, 10.1, 10.1)] + [(10.61, 10.1, 10.61)] * 3)}
    # 10.10 -> 10.61 is a limit close, 10.61 -> 10.61 is not: not ST
    assert intervals(make_con(data)) == {}
    data = {"600001": ("sh_main", path([0.0, 5, 5, 5], start=10.10))}
    assert [r[2] for r in data["600001"][1]] == [10.1, 10.61, 11.14, 11.7]
    assert intervals(make_con(data)) == {"600001": [(days(4)[3], None)]}


def test_flags_five_percent_stocks_and_not_ten_percent_movers() -> None:
    d = days(60)
    iv = intervals(make_con(scenario()))
    # the onset: limit-downs on days 17-20 (0-based); flagged from the third, open to the end
    assert iv["600001"] == [(d[19], None)]
    # ST from the third limit-down (day 3; day 0 has no previous close); the 10% day (22)
    # ends it: the interval stops the day before
    assert iv["000002"] == [(d[3], d[22] - dt.timedelta(days=1))]
    assert "600003" not in iv  # limit-ups at 10% break the 5% regime every time
    assert "600004" not in iv  # a +5.00% close followed by a move beyond 5% resets
    assert "300005" not in iv  # ChiNext: 20% for ST and the rest alike
    assert "600006" not in iv  # at 0.30 CNY, 5% is one or two ticks: no evidence


def test_fewer_closes_flag_earlier_and_a_chance_pair_needs_three() -> None:
    con = make_con(scenario())
    two = con.execute(
        f"SELECT code, min(start_date) FROM ({st_inference.inferred_st_sql(min_closes=2)}) GROUP BY code"
    ).fetchall()
    assert dict(two)["600001"] == days(60)[18]
    assert st_inference.MIN_LIMIT_CLOSES == 3


@pytest.mark.parametrize("cut", [10, 18, 19, 20, 21, 22, 35, 50])
def test_point_in_time(cut: int) -> None:
    """The state of every day up to `cut` is the same when the bars after it do not exist."""
    data = scenario()
    full = intervals(make_con(data))
    short = intervals(make_con({c: (b, rows[: cut + 1]) for c, (b, rows) in data.items()}))
    for day in days(cut + 1):
        assert st_on(full, day) == st_on(short, day), day


# --------------------------------------------------------------------------------------
# through `ingest files`


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A store-layout folder: bars of the scenario (securities derived from the codes)."""
    out = tmp_path / "data"
    out.mkdir()
    data = scenario()
    lines = ["code,date,open,high,low,close,amount,volume"]
    for code, (_board, rows) in data.items():
        for d, (h, lo, c) in zip(days(len(rows)), rows, strict=True):
            lines.append(f"{code},{d},{c},{h},{lo},{c},{c * 1e6:.2f},1000000")
    (out / "bars.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def test_ingest_writes_marks_and_removes_inferred_rows(folder: Path, tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb", read_only=False) as store:
        s = ingest_files(store, folder)  # the store's layout: off unless asked
        assert store.row_count("status") == 0 and "status" not in s.rows
        s = ingest_files(store, folder, infer_st=True)
        assert s.rows["status"] == 2 and any("inferred" in w for w in s.warnings)
        assert st_inference.status_is_inferred(store.meta)
        rows = store.con.execute("SELECT DISTINCT code FROM status ORDER BY 1").fetchall()
        assert rows == [("000002",), ("600001",)]
        # a rerun skips; force rewrites without duplicating
        assert ingest_files(store, folder, infer_st=True).total_rows == 0
        ingest_files(store, folder, infer_st=True, force=True)
        assert store.row_count("status") == 2
        # off: the inferred rows and their marker go
        s = ingest_files(store, folder, infer_st=False)
        assert store.row_count("status") == 0 and "status_source" not in store.meta
        assert any("removed 2 inferred" in n for n in s.notes)
        # and on again: not skipped as already loaded
        assert ingest_files(store, folder, infer_st=True).rows["status"] == 2


def test_status_from_a_source_wins(folder: Path, tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb", read_only=False) as store:
        ingest_files(store, folder)
        store.con.execute("INSERT INTO status VALUES ('600003', DATE '2024-01-10', NULL, '*ST')")
        s = ingest_files(store, folder, infer_st=True)
        assert any("another source" in n for n in s.notes)
        assert store.con.execute("SELECT code, status FROM status").fetchall() == [
            ("600003", "*ST")
        ]
    (folder / "status.csv").write_text(
        "code,start_date,end_date,status\n600004,2024-01-10,,ST\n", encoding="utf-8"
    )
    with open_store(tmp_path / "t.duckdb", read_only=False) as store:
        s = ingest_files(store, folder, infer_st=True)
        assert any("status file" in n for n in s.notes)
        assert store.con.execute("SELECT code FROM status").fetchall() == [("600004",)]


def test_cli_switch(folder: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from indexrecon.cli.main import main

    store = tmp_path / "c.duckdb"
    r = CliRunner().invoke(main, ["ingest", "files", str(folder), "--store", str(store), "--infer-st"])
    assert r.exit_code == 0, r.output
    with open_store(store) as st:
        assert st.row_count("status") == 2
    r = CliRunner().invoke(main, ["ingest", "files", str(folder), "--store", str(store), "--no-infer-st"])
    assert r.exit_code == 0, r.output
    with open_store(store) as st:
        assert st.row_count("status") == 0
