"""Compare every table of two DuckDB stores: same tables, same rows, same physical order.

    python scripts/compare_stores.py before.duckdb after.duckdb

Per table: the row counts, EXCEPT ALL both ways (exact values, floats included) and a hash of
each row keyed by its position (rowid), so a reordering shows too. Used when a generator is
moved (the demo store of issue 15): exit 0 only if every table is identical.
"""

from __future__ import annotations

import argparse
import sys

import duckdb


def tables(con: duckdb.DuckDBPyConnection, db: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_type = 'BASE TABLE' "
        "ORDER BY 1", [db]).fetchall()]


def compare(a: str, b: str) -> list[str]:
    con = duckdb.connect()
    con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
    ta, tb = tables(con, "a"), tables(con, "b")
    bad = [f"tables differ: {sorted(set(ta) ^ set(tb))}"] if ta != tb else []
    for t in sorted(set(ta) & set(tb)):
        na = con.execute(f"SELECT count(*) FROM a.{t}").fetchone()[0]  # type: ignore[index]
        nb = con.execute(f"SELECT count(*) FROM b.{t}").fetchone()[0]  # type: ignore[index]
        only_a = con.execute(f"SELECT count(*) FROM (FROM a.{t} EXCEPT ALL FROM b.{t})").fetchone()[0]  # type: ignore[index]
        only_b = con.execute(f"SELECT count(*) FROM (FROM b.{t} EXCEPT ALL FROM a.{t})").fetchone()[0]  # type: ignore[index]
        ha, hb = (con.execute(f"SELECT bit_xor(hash(rowid, r)) FROM {db}.{t} AS r").fetchone()[0]  # type: ignore[index]
                  for db in ("a", "b"))
        same = na == nb and only_a == only_b == 0 and ha == hb
        print(f"{t:16} rows {na:>9} / {nb:>9}  only-first {only_a}  only-second {only_b}  "
              f"ordered hash {'equal' if ha == hb else 'DIFFERENT'}  {'ok' if same else 'DIFFERENT'}")
        if not same:
            bad.append(t)
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("first")
    ap.add_argument("second")
    a = ap.parse_args()
    bad = compare(a.first, a.second)
    print("identical" if not bad else f"DIFFERENT: {', '.join(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
