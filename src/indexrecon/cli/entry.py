"""The console script `indexrecon`: the command line (`main`), and Ctrl-C while it is still
being imported (about a tenth of a second, before click can say "interrupted")."""

from __future__ import annotations

import sys

from ..errors import INTERRUPTED


def run() -> None:
    """Import and run the command line; Ctrl-C during the import exits 130 with one line."""
    try:
        from .main import main
    except KeyboardInterrupt:
        sys.stderr.write(INTERRUPTED + "\n")
        raise SystemExit(130) from None
    main()
