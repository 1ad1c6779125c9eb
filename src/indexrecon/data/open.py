"""Opening a store by name: a path, else $INDEXRECON_STORE, else the embedded demo store.

The one place the demo store is built on first use, so `store` (the schema and the connection)
never reaches for the generator that writes it.
"""

from __future__ import annotations

import os

from .sources.demo import demo_store_path, ensure_demo_store
from .store import Store, default_store_path, open_path

__all__ = ["demo_store_path", "open_store"]


def open_store(path: str | os.PathLike[str] | None = None, *, read_only: bool = True) -> Store:
    """Open a store: `path`, else $INDEXRECON_STORE, else the embedded demo store.

    A store opened for writing is created (with the schema) if it does not exist.
    """
    p = path if path is not None else default_store_path()
    if p is None:
        p = demo_store_path()
        ensure_demo_store(p)
    return open_path(p, read_only=read_only)
