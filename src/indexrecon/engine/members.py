"""The official members of an index on a day, under the codes the store keys history by."""

from __future__ import annotations

import datetime as dt

from ..data.store import Store
from ..plan.incumbents import official_members
from .context import _map_codes, context


def members_on(store: Store, index_code: str, day: dt.date) -> set[str]:
    """The official members of `index_code` on `day` (see `official_members`), under the codes
    the store keys their history by; empty if the store has no official list of it."""
    codes = official_members(store, index_code, day + dt.timedelta(days=1)) or []
    return set(_map_codes(context(store), codes))
