"""A results cache for dependency chains, in side files that can never be stale.

CSI 2000 excludes the members of CSI 300, 500 and 1000, each of which excludes the ones
before it: every process rebuilding CSI 2000 would recompute that chain from the bars. What
a review takes from a dependency is only its member codes and its warnings, so those are
kept in a small JSON file per dependency review, under a key made of

* the dependency's methodology content (every dated version and user change: its rules in
  force follow from it), its review label or day, the incumbents mode it ran with, and the
  data cutoff of a forecast context;
* the store's data version: the file's identity, size and modification time (and its
  write-ahead log's), every table's row count and the ingest log's newest entry, so a store
  that changes in any way invalidates every entry made from it;
* the code version: a hash of indexrecon's own source files and built-in methodologies, so
  a changed engine never reads what an older one wrote.

A review's whole table (every candidate's metrics, stage, reason, rank and weight) is kept
the same way, compressed, in `tables/` (`get_table` / `put_table`, at most MAX_TABLES
entries): a later process asking for the same review over the same data reads it instead of
running the pipeline. Only tables of plain column types are kept (numbers, text, booleans,
dates), so what is read back equals what was computed, value for value.

Entries live in `$INDEXRECON_CACHE_DIR`, else `$XDG_CACHE_HOME/indexrecon/results` (else
`~/.cache/...`). The cache is off with `INDEXRECON_NO_CACHE=1` or a command's `--no-cache`;
an unwritable folder or an unreadable entry just means computing the result. Outputs are
byte-identical with and without it (the cached codes and warnings are exactly those the
computation returns).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import weakref
import zlib
from typing import Any

from ..data.sidecache import cache_dir, code_version, data_version, disable, enabled, write_entry
from ..data.store import Store

__all__ = ["cache_dir", "code_version", "data_version", "disable", "enabled", "get", "get_table", "key",
           "key_of", "put", "put_table", "remember"]

FORMAT = 1  # bump when the entry layout changes
MAX_ENTRIES = 5000  # beyond this, writing an entry removes the older half (by modification time)
MAX_TABLES = 300  # review tables are larger (up to a few MB before compression): fewer of them
# column types a JSON entry gives back exactly (floats by their shortest repr, NaN included)
_PLAIN_TYPES = frozenset({"BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "DOUBLE", "VARCHAR"})


def key(store: Store, *parts: Any) -> str | None:
    """The entry key of a result computed from `store` and `parts`, None if not cacheable."""
    if not enabled():
        return None
    version = data_version(store)
    if version is None:
        return None
    blob = json.dumps([FORMAT, code_version(), version, *parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def get(k: str | None) -> Any:
    if k is None:
        return None
    try:
        data = json.loads((cache_dir() / f"{k}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("value") if isinstance(data, dict) and data.get("key") == k else None


def put(k: str | None, value: Any) -> None:
    """Write an entry atomically (a reader sees a whole entry or none); failures are ignored:
    the cache only saves time."""
    if k is None:
        return
    try:
        blob = json.dumps({"key": k, "value": value}).encode()
    except (TypeError, ValueError):  # a value JSON cannot hold exactly: computed, not cached
        return
    write_entry(cache_dir(), f"{k}.json", blob, "*.json", MAX_ENTRIES)


_TABLE_KEYS: dict[int, tuple[weakref.ref[Any], str]] = {}


def remember(table: Any, k: str | None) -> None:
    """Note that `table` is the one computed (or read) under key `k`, so that what is
    computed from it (a forecast's probabilities) can be cached under a key of its own."""
    if k is None:
        return
    if len(_TABLE_KEYS) > 10_000:  # a long backtest: forget the tables gone since
        for i in [i for i, (ref, _) in _TABLE_KEYS.items() if ref() is None]:
            del _TABLE_KEYS[i]
    _TABLE_KEYS[id(table)] = (weakref.ref(table), k)


def key_of(table: Any) -> str | None:
    """The key `remember` noted for this very table object (None for any other table, e.g.
    a trimmed or edited copy)."""
    hit = _TABLE_KEYS.get(id(table))
    return hit[1] if hit is not None and hit[0]() is table else None


def get_table(k: str | None) -> tuple[tuple[str, ...], tuple[str, ...], list[tuple[Any, ...]], list[str]] | None:
    """A review table written by `put_table` (columns, types, rows, warnings), or None."""
    if k is None:
        return None
    try:
        data = json.loads(zlib.decompress((cache_dir() / "tables" / f"{k}.json.z").read_bytes()))
        if not isinstance(data, dict) or data.get("key") != k:
            return None
        columns, types, rows, warnings = (data[f] for f in ("columns", "types", "rows", "warnings"))
        dates = [i for i, t in enumerate(types) if t == "DATE"]
        if dates:
            fromiso = dt.date.fromisoformat
            for r in rows:
                for i in dates:
                    if r[i] is not None:
                        r[i] = fromiso(r[i])
        return tuple(columns), tuple(types), [tuple(r) for r in rows], list(warnings)
    except (OSError, ValueError, KeyError, TypeError, zlib.error):
        return None


def put_table(k: str | None, columns: tuple[str, ...], types: tuple[str, ...], rows: list[tuple[Any, ...]],
              warnings: list[str]) -> None:
    """Keep a review table (see the module docstring); a table with a column type JSON does
    not give back exactly (a decimal, a list) is not kept."""
    if k is None or not all(t in _PLAIN_TYPES or t == "DATE" for t in types):
        return
    try:
        blob = json.dumps({"key": k, "columns": columns, "types": types, "rows": rows, "warnings": warnings},
                          default=_iso, ensure_ascii=False).encode()
    except (TypeError, ValueError):
        return
    write_entry(cache_dir() / "tables", f"{k}.json.z", zlib.compress(blob, 1), "*.json.z", MAX_TABLES)


def _iso(v: Any) -> str:
    if isinstance(v, dt.date):
        return v.isoformat()
    raise TypeError(f"not kept in the cache: {type(v).__name__}")
