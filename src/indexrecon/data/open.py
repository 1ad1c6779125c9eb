"""Opening a store by name: a path, else $INDEXRECON_STORE, else the embedded demo store.

The one place the demo store is built on first use, so `store` (the schema and the connection)
never reaches for the generator that writes it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .store import Store, default_store_path, open_path

__all__ = ["demo_store_path", "open_store"]


def demo_store_path() -> Path:
    """Where the embedded demo store lives (built on first use)."""
    # the generator (and numpy with it) is imported only when the demo store is asked for
    from .sources.demo import demo_store_path as path

    return path()


def open_store(path: str | os.PathLike[str] | None = None, *, read_only: bool = True) -> Store:
    """Open a store: `path`, else $INDEXRECON_STORE, else the embedded demo store.

    A store opened for writing is created (with the schema) if it does not exist.
    """
    p = path if path is not None else default_store_path()
    if p is None:
        from .sources.demo import ensure_demo_store

        p = demo_store_path()
        ensure_demo_store(p)
    return open_path(p, read_only=read_only)
