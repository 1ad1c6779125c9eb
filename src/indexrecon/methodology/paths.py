"""Which file a methodology spec names: a YAML path, else a built-in by its name. Apart
from the loader (and pydantic) so that what only needs the file, such as a replayed
command's key (`cli/replay.py`), does not import the schema."""

from __future__ import annotations

import difflib
import os
from importlib import resources
from pathlib import Path

from ..errors import UnknownMethodologyError

__all__ = ["builtin_dir", "builtin_names", "methodology_path", "names_file"]


def builtin_dir() -> Path:
    """The folder of the built-in methodologies."""
    return Path(str(resources.files("indexrecon.methodologies")))


def builtin_names() -> list[str]:
    """The built-in methodologies' names, sorted."""
    return sorted(p.stem for p in builtin_dir().glob("*.yaml"))


def methodology_path(spec: str | os.PathLike[str]) -> Path:
    """The file a methodology spec names: a YAML path as given, else the built-in of that name
    (an unknown name is refused with the built-in names)."""
    text_spec = str(spec)
    path = Path(text_spec)
    if not names_file(spec):
        path = builtin_dir() / f"{text_spec}.yaml"
        if not path.exists():
            names = builtin_names()
            hint = difflib.get_close_matches(text_spec, names, n=1)
            sugg = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise UnknownMethodologyError(
                f"unknown methodology '{text_spec}'{sugg}; built-in: {', '.join(names)} (or give a .yaml path)"
            )
    return path


def names_file(spec: str | os.PathLike[str]) -> bool:
    """Whether a spec names a YAML file (a .yaml / .yml path, or any path that exists)
    rather than a built-in."""
    path = Path(str(spec))
    return path.suffix in {".yaml", ".yml"} or path.exists()
