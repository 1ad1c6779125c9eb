"""TDX day-file reader: MANIFEST, agreement with bars.parquet, classification, ingest."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner

from indexrecon.data.open import open_store
from indexrecon.data.sources.tdx import DAY_DTYPE, classify, ingest_tdx, read_day_file, read_tdx
from indexrecon.errors import DataError


@pytest.fixture(scope="module")
def samples(realdata_dir: Path) -> Path:
    return realdata_dir / "tdx_samples"


def _manifest(samples: Path) -> list[dict[str, str]]:
    with (samples / "MANIFEST.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_files_match_manifest(samples: Path) -> None:
    rows = _manifest(samples)
    assert len(rows) == 12
    for row in rows:
        path = samples / row["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]
        rec = read_day_file(path)
        assert len(rec) == int(row["records"]), row["file"]
        assert int(rec["date"][0]) == int(row["first_date"])
        assert int(rec["date"][-1]) == int(row["last_date"])
        assert int(rec["close"][-1]) == int(row["last_close_x100"])


def test_300750_bar(samples: Path) -> None:
    stocks, _, _, _ = read_tdx(samples)
    rows = [
        r
        for r in stocks.to_pylist()
        if r["code"] == "300750" and r["date"] == dt.date(2024, 10, 31)
    ]
    assert rows == [
        {
            "code": "300750",
            "exchange": "SZ",
            "date": dt.date(2024, 10, 31),
            "open": 246.99,
            "high": 250.5,
            "low": 244.0,
            "close": 245.98,
            "amount": 6286268416.0,
            "volume": 25500279,
        }
    ]


def test_agrees_with_bars_parquet(samples: Path, realdata_dir: Path) -> None:
    """Every stock record of the samples equals bars.parquet (built from the same files)."""
    stocks, indices, kinds, _ = read_tdx(samples)
    assert kinds == {"stock": 9, "index": 3}
    con = duckdb.connect()
    con.register("stocks", stocks)
    con.register("indices", indices)
    codes = sorted(set(stocks.column("code").to_pylist()))
    diff = con.execute(
        f"""SELECT count(*) FROM (
              (SELECT code, date, open, high, low, close, amount, volume FROM stocks
               EXCEPT ALL
               SELECT code, date, open, high, low, close, amount, volume
               FROM read_parquet('{realdata_dir / "bars.parquet"}') WHERE code IN ?)
              UNION ALL
              (SELECT code, date, open, high, low, close, amount, volume
               FROM read_parquet('{realdata_dir / "bars.parquet"}') WHERE code IN ?
               EXCEPT ALL
               SELECT code, date, open, high, low, close, amount, volume FROM stocks))""",
        [codes, codes],
    ).fetchone()
    assert diff == (0,)
    # index volume is stored in lots in TDX: x100 gives bars.parquet's shares
    diff = con.execute(
        f"""SELECT count(*) FROM indices i JOIN read_parquet('{realdata_dir / "index_bars.parquet"}') p
            ON p.code = i.code AND p.date = i.date
            WHERE p.volume <> i.volume OR p.close <> i.close OR p.amount <> i.amount"""
    ).fetchone()
    assert diff == (0,)
    n = con.execute("SELECT count(*) FROM indices").fetchone()
    assert n == (3 * 1189,)


@pytest.mark.parametrize(
    ("exchange", "code", "kind"),
    [
        ("SZ", "000001", "stock"),
        ("SZ", "300750", "stock"),
        ("SZ", "302132", "stock"),
        ("SH", "600519", "stock"),
        ("SH", "688981", "stock"),
        ("BJ", "920799", "stock"),
        ("BJ", "830799", "stock"),
        ("SH", "000300", "index"),
        ("SZ", "399006", "index"),
        ("BJ", "899050", "index"),
        ("SZ", "159915", "fund"),
        ("SZ", "161725", "fund"),
        ("SH", "510300", "fund"),
        ("SH", "588000", "fund"),
        ("SH", "110043", "bond"),
        ("SZ", "123001", "bond"),
        ("SH", "204001", "bond"),
        ("SH", "900901", "b_share"),
        ("SZ", "200002", "b_share"),
        ("SH", "880001", "other"),
        ("SH", "999999", "other"),
    ],
)
def test_classify(exchange: str, code: str, kind: str) -> None:
    assert classify(exchange, code) == kind


def _write_day(path: Path, rows: list[tuple[int, ...]]) -> None:
    arr = np.array(rows, dtype=DAY_DTYPE)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr.tofile(path)


def test_vipdoc_tree_ingest_rerun_and_force(samples: Path, tmp_path: Path) -> None:
    vipdoc = tmp_path / "vipdoc"
    for f in samples.glob("*.day"):
        dest = vipdoc / f.name[:2] / "lday" / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest)
    # an ETF and a convertible bond: skipped and counted
    _write_day(vipdoc / "sh/lday/sh510300.day", [(20241031, 3900, 3950, 3880, 3920, 1e9, 10**6, 0)])
    _write_day(
        vipdoc / "sz/lday/sz123001.day", [(20241031, 12000, 12100, 11900, 12050, 1e7, 10**4, 0)]
    )
    store_path = tmp_path / "tdx.duckdb"
    with open_store(store_path, read_only=False) as store:
        s = ingest_tdx(store, vipdoc)
        assert s.rows["bars"] == 8247
        assert s.rows["index_bars"] == 3 * 1189
        assert s.rows["securities"] == 9
        assert any("1 bond" in w and "1 fund" in w for w in s.warnings)
        again = ingest_tdx(store, vipdoc)
        assert again.total_rows == 0 and len(again.skipped) == 4
        forced = ingest_tdx(store, vipdoc, force=True)
        assert forced.rows["bars"] == 8247
        assert store.row_count("bars") == 8247
        assert store.row_count("index_bars") == 3 * 1189
        boards = dict(store.con.execute("SELECT code, board FROM securities").fetchall())
        assert boards["920799"] == "bse" and boards["688981"] == "star"
        assert boards["600519"] == "sh_main" and boards["300750"] == "chinext"
        vol = store.con.execute(
            "SELECT volume FROM index_bars WHERE index_code = '399006' AND date = '2024-10-31'"
        ).fetchone()
        assert vol == (37166478600,)  # lots x 100
        assert store.meta["synthetic"] == "false"
        assert "tdx" in store.meta["source"]


def test_repeated_date_keeps_last_and_zero_volume_dropped(tmp_path: Path) -> None:
    _write_day(
        tmp_path / "sz300999.day",
        [
            (20240102, 1000, 1100, 990, 1050, 1.05e6, 100000, 0),
            (20240103, 1050, 1060, 1000, 1010, 0.0, 0, 0),  # suspended: no trade
            (20240104, 1010, 1020, 1000, 1015, 1.0e6, 99000, 0),
            (20240104, 1010, 1030, 1000, 1020, 2.0e6, 197000, 0),
        ],
    )
    stocks, _, _, warnings = read_tdx(tmp_path)
    rows = stocks.to_pylist()
    assert [r["date"] for r in rows] == [dt.date(2024, 1, 2), dt.date(2024, 1, 4)]
    assert rows[-1]["close"] == 10.2 and rows[-1]["volume"] == 197000
    assert any("repeated" in w for w in warnings) and any("zero volume" in w for w in warnings)


def test_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "sh600000.day"
    bad.write_bytes(b"\x00" * 33)
    with pytest.raises(DataError, match=r"sh600000\.day"):
        read_tdx(tmp_path)
    _write_day(bad, [(12345, 1000, 1100, 990, 1050, 1.0e6, 100000, 0)])
    with pytest.raises(DataError, match=r"sh600000\.day: column 'date'"):
        read_tdx(tmp_path)
    _write_day(bad, [(20240230, 1000, 1100, 990, 1050, 1.0e6, 100000, 0)])
    with pytest.raises(DataError, match=r"sh600000\.day: column 'date'"):
        read_tdx(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no TDX day files"):
        read_tdx(empty)


def test_cli(samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from indexrecon.cli.ingest import ingest

    runner = CliRunner()
    for cmd in ([], ["files"], ["tdx"], ["akshare"]):
        out = runner.invoke(ingest, [*cmd, "--help"])
        assert out.exit_code == 0 and "Example" in out.output
    monkeypatch.delenv("INDEXRECON_STORE", raising=False)
    out = runner.invoke(ingest, ["tdx", str(samples)])
    assert out.exit_code == 2
    assert "demo store is not an ingest target" in out.output
    assert "Traceback" not in out.output
    store = tmp_path / "cli.duckdb"
    out = runner.invoke(ingest, ["tdx", str(samples), "--store", str(store)])
    assert out.exit_code == 0, out.output
    assert "8,247" in out.output
    out = runner.invoke(ingest, ["tdx", str(tmp_path), "--store", str(store)])
    assert out.exit_code == 2 and out.output.count("\n") == 1


def test_future_dates_refused(tmp_path: Path, reliability_log) -> None:
    _write_day(tmp_path / "sz300999.day", [(20240102, 1000, 1100, 990, 1050, 1.05e6, 100000, 0),
                                           (20990102, 1000, 1100, 990, 1050, 1.05e6, 100000, 0)])
    with pytest.raises(DataError, match=r"sz300999\.day: column 'date': 1 record\(s\) dated after today"):
        read_tdx(tmp_path)
    reliability_log("bad input (issue 14)", "`ingest tdx` with a record dated 2099", "refused naming the file")


def test_empty_and_truncated_day_files(samples: Path, tmp_path: Path, reliability_log) -> None:
    from indexrecon.cli.ingest import ingest

    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(samples / "sz300750.day", folder / "sz300750.day")
    (folder / "sz300001.day").write_bytes(b"")
    (folder / "sz300002.day").write_bytes((samples / "sz300750.day").read_bytes()[:100])
    with pytest.raises(DataError, match=r"sz300001\.day: empty file \(0 bytes\).*skip_bad"):
        read_tdx(folder)
    (folder / "sz300001.day").unlink()
    with pytest.raises(DataError, match=r"sz300002\.day: 100 bytes is not a whole number"):
        read_tdx(folder)
    (folder / "sz300001.day").write_bytes(b"")
    runner = CliRunner()
    store = tmp_path / "t.duckdb"
    out = runner.invoke(ingest, ["tdx", str(folder), "--store", str(store)])
    assert out.exit_code == 2 and "sz300001.day: empty file" in out.output and not store.exists()
    out = runner.invoke(ingest, ["tdx", str(folder), "--store", str(store), "--skip-bad"])
    assert out.exit_code == 0, out.output
    assert "skipped 2 bad file(s)" in out.output and "sz300001.day (empty file" in out.output
    assert "sz300002.day (100 bytes" in out.output
    with open_store(store) as st:
        assert st.con.execute("SELECT DISTINCT code FROM bars").fetchall() == [("300750",)]
    reliability_log("ingest (issue 14)", "a zero-byte and a truncated .day file",
                    "an error naming the file; --skip-bad loads the rest and lists them", 2)
