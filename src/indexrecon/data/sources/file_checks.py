"""What a folder ingest checks about its files before DuckDB reads them: the text encoding of
a CSV (Chinese exports are often GBK) and files whose names match no table."""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from pathlib import Path

from ...errors import DataError

PROBE_BYTES = 1 << 20
CHUNK_BYTES = 1 << 22
DATA_SUFFIXES = (".csv", ".parquet", ".tsv", ".txt", ".xlsx", ".xls", ".json")


def _decodes(data: bytes, encoding: str) -> UnicodeDecodeError | None:
    """None if `data` (possibly cut mid-character at its end) decodes as `encoding`."""
    try:
        codecs.getincrementaldecoder(encoding)().decode(data, final=False)
    except UnicodeDecodeError as e:
        return e
    return None


def csv_encoding(path: Path) -> str:
    """'utf-8' or 'gb18030' (a superset of GBK and GB2312) from the file's first megabyte;
    a DataError naming the file and the offending byte if it is neither."""
    with open(path, "rb") as fh:
        head = fh.read(PROBE_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8"
    err = _decodes(head, "utf-8")
    if err is None:
        return "utf-8"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _decodes(head, "gb18030") is not None:
        raise DataError(
            f"{path}: not UTF-8 text (byte 0x{head[err.start]:02x} at offset {err.start}) nor GBK; "
            "save it as UTF-8"
        )
    return "gb18030"


def utf8_copy(path: Path, encoding: str, folder: Path) -> Path:
    """`path` re-encoded as UTF-8 into `folder` (streamed: a large file is never held whole)."""
    out = folder / path.name
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open(path, "rb") as src, open(out, "w", encoding="utf-8", newline="") as dst:
            while chunk := src.read(CHUNK_BYTES):
                dst.write(decoder.decode(chunk))
            dst.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: looked like {encoding.upper()} but is not ({e.reason}); save it as UTF-8") from None
    return out


def unrecognised_files(folder: Path, tables: Iterable[str]) -> list[str]:
    """Data-looking files in `folder` named after no table (bar.csv for bars.csv)."""
    known = {f"{t}{ext}" for t in tables for ext in (".csv", ".parquet")}
    return sorted(
        p.name for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in DATA_SUFFIXES and p.name not in known and not p.name.startswith(".")
    )
