"""check-data over the tables of schema version 2: planted faults are found and named, and a
store without those tables skips their checks instead of failing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

import indexrecon as ir
from factory import S, make_store
from indexrecon.data.checks import run_checks

D = dt.date


def test_new_tables_planted_faults(tmp_path: Path) -> None:
    p = tmp_path / "bad.duckdb"
    make_store(p, [S(f"300{i:03d}", cap=i * 1e9) for i in range(1, 7)], start=D(2024, 1, 1), end=D(2024, 6, 30))
    con = duckdb.connect(str(p))
    con.execute("UPDATE shares SET a_shares = total_shares * 2 WHERE code = '300001'")
    con.execute("INSERT INTO dual_listings VALUES ('300002', '02002', NULL)")
    con.execute("UPDATE shares SET a_shares = total_shares WHERE code = '300002'")
    con.execute("INSERT INTO dividends VALUES ('300003', DATE '2024-03-04', 8.0)")  # per 10 shares at a price of 10
    con.execute("INSERT INTO valuation VALUES ('300004', DATE '2024-03-01', 10, -1), ('300004', DATE '2024-03-01', 11, 2)")
    con.execute("UPDATE securities SET name = NULL WHERE code = '300005'")
    con.execute("INSERT INTO name_history VALUES ('300006', DATE '2024-03-01', '*ST Test', true)")
    con.execute("INSERT INTO shares (code, effective_date, total_shares, source) SELECT code, DATE '2024-05-06', "
                "total_shares * 1.4, 'stock_bonus_estimated' FROM shares WHERE code = '300006'")
    con.close()
    with ir.open_store(p) as store:
        found = {f["check"]: f for f in run_checks(store)}
    expect = {"a_shares_above_total": "300001", "dual_listing_a_shares": "300002", "dividend_out_of_scale": "300003",
              "duplicate_valuation": "300004", "nonpositive_pb": "300004", "no_name": "300005",
              "st_name_not_in_status": "300006", "no_free_float": "300001",
              "estimated_bonus_shares": "300006 2024-05-06 x1.4"}
    for check, code in expect.items():
        assert found[check]["count"] >= 1, check
        assert any(e.startswith(code) for e in found[check]["examples"]), (check, found[check])
    assert found["duplicate_dividends"]["count"] == 0


def test_old_store_skips_new_checks(tmp_path: Path) -> None:
    p = tmp_path / "old.duckdb"
    make_store(p, [S("300001", cap=1e9)], start=D(2024, 1, 1), end=D(2024, 3, 29))
    con = duckdb.connect(str(p))
    con.execute("DROP TABLE valuation; DROP TABLE name_history; DROP TABLE dual_listings")
    con.execute("ALTER TABLE shares DROP COLUMN a_shares")
    con.close()
    with ir.open_store(p) as store:
        names = {f["check"] for f in run_checks(store)}
    assert "duplicate_bars" in names and "no_name" in names
    assert not names & {"a_shares_above_total", "dual_listing_a_shares", "duplicate_valuation", "st_name_not_in_status"}
