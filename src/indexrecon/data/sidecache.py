"""The side files' shared ground: where they live, whether they are on, and the two
versions every key is made of, that of the code and that of a store's data.

Light on purpose (no engine, numpy or pydantic): a command whose whole output is already
kept (`cli/replay.py`) reads it after importing only this and the store.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from .store import Store


def enabled() -> bool:
    return os.environ.get("INDEXRECON_NO_CACHE", "").strip().lower() in ("", "0", "false", "no")


def disable() -> None:
    """Switch the cache off for this process (and the worker processes it starts)."""
    os.environ["INDEXRECON_NO_CACHE"] = "1"


def cache_dir() -> Path:
    env = os.environ.get("INDEXRECON_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "indexrecon" / "results"


@functools.cache
def code_version() -> str:
    """A hash of the package's Python sources and built-in methodologies, of the Python that
    runs them and of the distributions installed beside it (an upgraded DuckDB or rich may
    compute or print a result differently)."""
    from importlib import resources

    root = Path(__file__).resolve().parents[1]  # the whole package, not this folder
    h = hashlib.sha256(sys.version.encode())
    for name in _distributions():
        h.update(name.encode())
    for p in sorted([*root.rglob("*.py"), *root.rglob("*.yaml")]):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    # the built-in methodologies ship as their own package (outside src/ in a checkout)
    builtin = Path(str(resources.files("indexrecon.methodologies")))
    if builtin.resolve() != root and root not in builtin.resolve().parents:
        for p in sorted(builtin.glob("*.yaml")):
            h.update(f"methodologies/{p.name}".encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _distributions() -> list[str]:
    """The name and version of every installed distribution on the path, from its metadata
    folder's name (`duckdb-2.0.1.dist-info`): one directory listing, not importlib.metadata."""
    names: set[str] = set()
    for entry in sys.path:
        with contextlib.suppress(OSError):
            names.update(n for n in os.listdir(entry or ".") if n.endswith((".dist-info", ".egg-info")))
    return sorted(names)


_VERSIONS: dict[int, tuple[Any, str | None]] = {}


def data_version(store: Store) -> str | None:
    """The store's data version, or None when it cannot be pinned down (a store open for
    writing, an in-memory database such as a backtest's working copy, a table that is a
    view over files): no cache then. Read once per connection: a read-only connection
    cannot change the data, and no other process can write while it is open."""
    cached = _VERSIONS.get(id(store))
    if cached is not None and cached[0] is store.con:
        return cached[1]
    version = _data_version(store)
    _VERSIONS[id(store)] = (store.con, version)
    return version


def _data_version(store: Store) -> str | None:
    if not store.read_only:  # its own connection may change it between two reviews
        return None
    con = store.con
    try:
        files = [r[0] for r in con.execute(
            "SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()]
    except Exception:
        return None
    if not files or not files[0]:
        return None
    path = Path(files[0])
    parts: list[Any] = []
    for p in (path, path.with_name(path.name + ".wal")):
        try:
            st = p.stat()
            parts.append([str(p.resolve()), st.st_size, st.st_mtime_ns, st.st_ino])
        except OSError:
            parts.append([str(p), None])
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' ORDER BY 1").fetchall()]
    views = [r[0] for r in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT internal ORDER BY 1").fetchall()]
    if views:
        return None  # a table that is a view over files can change without the store changing
    if tables:  # every table's row count in one statement
        counts = " UNION ALL ".join(f'SELECT {i} AS i, count(*) AS n FROM "{t}"' for i, t in enumerate(tables))
        n = dict(con.execute(f"SELECT i, n FROM ({counts}) ORDER BY i").fetchall())
        parts += [[t, n[i]] for i, t in enumerate(tables)]
    if "ingest_log" in tables:
        row = con.execute("SELECT * FROM ingest_log ORDER BY ALL DESC LIMIT 1").fetchone()
        parts.append(["ingest_log", [str(v) for v in row] if row else None])
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:24]


def write_entry(d: Path, name: str, blob: bytes, pattern: str, limit: int) -> None:
    """`blob` into `d/name` through a temporary file and a rename, then `d` pruned to `limit`
    files of `pattern`; an OSError leaves no temporary file behind and is otherwise ignored."""
    tmp = d / f".{name}.{os.getpid()}.tmp"
    try:
        d.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(blob)
        os.replace(tmp, d / name)
        _prune(d, pattern, limit)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _prune(d: Path, pattern: str, limit: int) -> None:
    """Keep the folder bounded: every code or data change makes new keys, never reused."""
    entries = list(d.glob(pattern))
    if len(entries) <= limit:
        return
    entries.sort(key=lambda p: p.stat().st_mtime_ns)
    for p in entries[: len(entries) // 2]:
        with contextlib.suppress(OSError):
            p.unlink()
