"""User-facing errors: each renders as one clear line, and the CLI exits with code 2."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

# what the command line says on Ctrl-C (exit code 130)
INTERRUPTED = "interrupted"


class IndexReconError(Exception):
    """Base class for errors a user can act on (bad input, missing data)."""

    exit_code = 2


class MethodologyError(IndexReconError):
    """A methodology file or dict is malformed; the message names file, line and key."""


class UnknownMethodologyError(IndexReconError):
    """No built-in methodology or file by that name."""


class StoreError(IndexReconError):
    """The store is missing, busy, lacks a table, or a date lies outside its data."""


class DataError(IndexReconError):
    """Input data (a file, a response) has the wrong shape or units."""


class DependencyCycleError(MethodologyError):
    """Methodologies that exclude each other's members in a loop."""


class EmptyIndexError(IndexReconError):
    """A review left the index with no constituents; the message names the rule that emptied
    it. Exit code 3: the input was valid, the result is empty."""

    exit_code = 3


@contextlib.contextmanager
def writing(out: Path | None) -> Iterator[None]:
    """Name FILE in any error writing it: a failed write (/dev/full, /proc/version) raises
    an OSError without a filename."""
    try:
        yield
    except OSError as e:
        if out is None or isinstance(e, BrokenPipeError):
            raise
        reason = e.strerror or str(e).splitlines()[0]
        raise IndexReconError(f"cannot write {e.filename or out}: {reason}") from None
