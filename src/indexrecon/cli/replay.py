"""A command's whole output, kept and replayed when nothing it depends on has changed.

Asking twice (`indexrecon rebalance chinext`, then again over the same store) computes the
same bytes twice, and most of a warm run is not the review but the imports it needs: the
engine and numpy, pydantic for the methodology, rich for the tables. The first run's output
(every write to stdout and stderr, in order) is kept beside the results cache; a later run
whose key matches writes it back after importing only the store. The key is made of
everything the output can depend on:

* the command and its arguments as click parsed them (and the group's);
* the code version (indexrecon's sources and built-in methodologies, the Python and the
  installed distributions) and the store's data version (`data.sidecache`);
* the working directory, the environment (less the few variables a shell changes by
  itself), whether stdout and stderr are terminals and the terminal's size;
* the bytes of every file an argument names (an incumbents list, an AUM file) and, for a
  METHOD that is a file, of the methodology files it reads.

Kept only: a run that ends normally, with nothing written to a file (-o, --png) and nothing
read from stdin, whose output went through the text streams. Off with the results cache
(`--no-cache`, INDEXRECON_NO_CACHE=1), or alone with INDEXRECON_NO_REPLAY=1; a store open
for writing is never replayed. A terminal's spinner is replayed as it was drawn (a flash).
Not replayed: `sweep` (its workers are processes of their own) and the commands that write
their output to a file anyway (`report`, `market report`, `ingest`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

FORMAT = 1
MAX_OUTPUTS = 300  # entries kept (the older half goes beyond)
MAX_BYTES = 16_000_000  # a larger output is not kept: reading it back would not save much
MAX_FILE_BYTES = 64_000_000  # an argument's file larger than this is not hashed: not replayed
_SHELL_VARS = frozenset({"_", "OLDPWD", "PWD", "SHLVL"})  # set by the shell, not read by us
_FOLDER = "outputs"


class _Recorder:
    """A text stream that notes what is written through it (and whether anything reached
    for its binary buffer, which it cannot note)."""

    def __init__(self, stream: Any, index: int, chunks: list[tuple[int, str]]) -> None:
        self._stream = stream
        self._index = index
        self._chunks = chunks
        self.bypassed = False

    def write(self, text: str) -> int:
        n = self._stream.write(text)  # first: a write the stream refuses is not noted
        self._chunks.append((self._index, text))
        return n

    @property
    def buffer(self) -> Any:
        self.bypassed = True
        return self._stream.buffer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def replayable(*, methods: tuple[str, ...] = ("method",), writes: tuple[str, ...] = ("output",)) -> Callable[[F], F]:
    """Make a command replay its output (put it right above the command's function).
    `methods`: the parameters whose values are METHOD specs; `writes`: those naming a file
    the command writes (any given: not replayed)."""
    def wrap(f: F) -> F:
        @functools.wraps(f)
        def command(**kwargs: Any) -> None:
            specs = [x for n in methods for x in _values(kwargs.get(n))]
            run(click.get_current_context(), lambda: f(**kwargs), store_path=kwargs.get("store_path"),
                methods=specs, writes=[kwargs.get(n) for n in writes])
        return command  # type: ignore[return-value]
    return wrap


def run(ctx: click.Context, body: Callable[[], None], *, store_path: Path | None, methods: Iterable[Any] = (),
        writes: Iterable[Any] = ()) -> None:
    """Run `body` (the command's work over the store at `store_path`), or replay what an
    identical run wrote."""
    from ..data import sidecache
    from ..errors import IndexReconError
    from . import common

    if not (sidecache.enabled() and replaying()) or any(w not in (None, (), []) for w in writes):
        body()
        return
    try:
        store = common.open_store_at(store_path)
    except IndexReconError:  # said by the command itself, in its own order
        body()
        return
    common.hand_over(store_path, store)  # the command opens it again: the same connection
    try:
        _run_or_replay(ctx, body, store, methods)
    finally:  # the command ran in this process (a test, a notebook): its connection goes with it
        common.hand_over(None, None)
        store.close()


def _run_or_replay(ctx: click.Context, body: Callable[[], None], store: Any, methods: Iterable[Any]) -> None:
    k = _key(ctx, store, list(methods))
    if k is None:
        body()
        return
    chunks = _read(k)
    if chunks is not None:
        streams = (sys.stdout, sys.stderr)
        for i, text in chunks:
            streams[i].write(text)
        return
    chunks = []
    saved = sys.stdout, sys.stderr
    out, err = _Recorder(saved[0], 0, chunks), _Recorder(saved[1], 1, chunks)
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    try:
        body()
    finally:
        sys.stdout, sys.stderr = saved
    if not (out.bypassed or err.bypassed):
        _keep(k, chunks)


def replaying() -> bool:
    """Off with INDEXRECON_NO_REPLAY=1 (the results cache of reviews and dependencies stays on)."""
    return os.environ.get("INDEXRECON_NO_REPLAY", "").strip().lower() in ("", "0", "false", "no")


def _values(v: Any) -> list[Any]:
    return [x for x in (v if isinstance(v, (list, tuple)) else [v]) if x is not None]


def _key(ctx: click.Context, store: Any, methods: list[Any]) -> str | None:
    from ..data import sidecache
    from ..methodology.paths import names_file

    params: list[Any] = []
    c: click.Context | None = ctx
    while c is not None:
        params.append([c.info_name, sorted((n, _plain(v)) for n, v in c.params.items())])
        c = c.parent
    files = _argument_files(ctx.params)
    if files is None:
        return None
    specs = [m for m in methods if names_file(m)]  # a built-in is in the code version; a file is not
    if specs:
        from .common import _methodology_files

        named = _digests(_methodology_files(specs))
        if named is None:
            return None
        files.append(["METHOD", named])
    version = sidecache.data_version(store)
    if version is None:
        return None
    ttys = [s.isatty() for s in (sys.stdin, sys.stdout, sys.stderr)]
    size = list(shutil.get_terminal_size()) if any(ttys) else None
    env = sorted((k, v) for k, v in os.environ.items() if k not in _SHELL_VARS)
    blob = json.dumps([FORMAT, sidecache.code_version(), version, params, files, os.getcwd(), env, ttys, size],
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v if v is None or isinstance(v, (bool, int, float)) else str(v)


def _argument_files(params: dict[str, Any]) -> list[Any] | None:
    """[name, digest] of each argument naming a file (the store aside: its data version
    stands for it); None when one is stdin or too large to hash."""
    out: list[Any] = []
    for name, v in sorted(params.items()):
        if name == "store_path":
            continue
        for x in v if isinstance(v, (list, tuple)) else [v]:
            if not isinstance(x, (str, Path)):
                continue
            if str(x) == "-":
                return None
            if os.path.isfile(x):
                d = _digests([Path(x)])
                if d is None:
                    return None
                out.append([name, d])
    return out


def _digests(paths: Iterable[Path]) -> list[Any] | None:
    out = []
    for p in paths:
        try:
            if p.stat().st_size > MAX_FILE_BYTES:
                return None
            out.append([str(p.resolve()), hashlib.sha256(p.read_bytes()).hexdigest()])
        except OSError:
            return None
    return out


def _read(k: str) -> list[tuple[int, str]] | None:
    from ..data import sidecache

    try:
        data = json.loads(zlib.decompress((sidecache.cache_dir() / _FOLDER / f"{k}.json.z").read_bytes()))
        if not isinstance(data, dict) or data.get("key") != k:
            return None
        chunks = [(int(i), str(t)) for i, t in data["chunks"]]
    except (OSError, ValueError, KeyError, TypeError, zlib.error):
        return None
    return chunks if all(i in (0, 1) for i, _ in chunks) else None


def _keep(k: str, chunks: list[tuple[int, str]]) -> None:
    from ..data import sidecache

    if sum(len(t) for _, t in chunks) > MAX_BYTES:
        return
    blob = json.dumps({"key": k, "chunks": chunks}, ensure_ascii=False).encode()
    sidecache.write_entry(sidecache.cache_dir() / _FOLDER, f"{k}.json.z", zlib.compress(blob, 1), "*.json.z",
                          MAX_OUTPUTS)
