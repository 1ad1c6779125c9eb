"""The demo store: where it lives, building it once (locked, atomic), and `build_demo_store`."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import sys
from importlib import metadata
from pathlib import Path

import duckdb

from ...store import open_path as open_store
from .calibration import DEMO_END, DEMO_SEED, DEMO_START, DEMO_VERSION
from .market import DemoMarket


def _package_version() -> str:
    try:
        return metadata.version("indexrecon")
    except metadata.PackageNotFoundError:
        return "0"


def demo_store_path() -> Path:
    """Where the embedded demo store lives.

    $INDEXRECON_DEMO_PATH if set; else data/demo.duckdb in a source checkout (the repo's
    data/ folder exists and is writable); else ~/.cache/indexrecon/demo-<version>.duckdb.
    """
    env = os.environ.get("INDEXRECON_DEMO_PATH")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[5]  # src/indexrecon/data/sources/demo/store.py
    data = repo / "data"
    if data.is_dir() and (repo / "pyproject.toml").is_file() and os.access(data, os.W_OK):
        return data / "demo.duckdb"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "indexrecon" / f"demo-{_package_version()}.duckdb"


_BUSY = "<busy>"


def _store_version(path: Path) -> str | None:
    """The demo_version recorded in an existing store, None if absent or unreadable, or
    _BUSY if another connection holds it (never rebuild a store somebody is writing to)."""
    if not path.is_file():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.ConnectionException:
        return _BUSY  # open in this process with another configuration
    except duckdb.IOException as e:
        return _BUSY if "lock" in str(e).lower() else None
    except duckdb.Error:
        return None
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'demo_version'").fetchone()
        return str(row[0]) if row else None
    except duckdb.Error:
        return None
    finally:
        con.close()


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def ensure_demo_store(path: Path) -> None:
    """Build the demo store at `path` unless one of the current generator version is there.

    The build goes to a temp file beside `path` and is moved into place with os.replace,
    under an exclusive lock file, so a concurrent process either waits or sees the
    finished store, never a half-written one. Nothing is printed to stdout.
    """
    path = Path(path).expanduser()
    if _store_version(path) in (DEMO_VERSION, _BUSY):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            # Another process may have finished the build while we waited for the lock.
            if _store_version(path) in (DEMO_VERSION, _BUSY):
                return
            print(
                "indexrecon: building the SYNTHETIC demo store (first use, a few seconds)...",
                file=sys.stderr,
            )
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            _remove(tmp)
            _remove(tmp.with_name(tmp.name + ".wal"))
            try:
                build_demo_store(tmp)
                # A WAL left over from the old file would be replayed onto the new one.
                _remove(path.with_name(path.name + ".wal"))
                os.replace(tmp, path)
            finally:
                _remove(tmp)
                _remove(tmp.with_name(tmp.name + ".wal"))
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)



def build_demo_store(
    path: Path,
    *,
    seed: int = DEMO_SEED,
    scale: float = 1.0,
    start: dt.date = DEMO_START,
    end: dt.date = DEMO_END,
) -> None:
    """Write a complete SYNTHETIC demo store to `path` (created with the schema).

    Fills every table except official_weights, index_membership, index_bars and
    ingest_log. `scale` multiplies the number of securities (1.0 is about 5,500).
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; the demo store is only built into a new file")
    market = DemoMarket(seed, scale, start, end)
    market.build()
    store = open_store(path, read_only=False)
    try:
        with store.transaction() as con:
            market.write(con)
        store.con.execute("CHECKPOINT")
    finally:
        store.close()
