"""The HTML report in a real headless browser (Debian's chromium): it loads without a
script error, draws every chart, sorts its tables, and a screenshot is not blank.

Skipped, with the reason, when no chromium is found (set $INDEXRECON_CHROMIUM to use
another binary). Install it on Debian with: apt-get install chromium fonts-noto-cjk (the CJK
font draws the Chinese names)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def _chromium() -> str | None:
    env = os.environ.get("INDEXRECON_CHROMIUM")
    if env:
        return env
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not found (apt-get install chromium, or set INDEXRECON_CHROMIUM)"
)
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--mute-audio", "--enable-logging=stderr", "--v=0",
]
CHARTS = 7  # industry mix, top weights, cumulative weight, coverage bars + curve, level, drawdown


def _browse(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="ir-chromium-") as profile:
        assert CHROMIUM is not None
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True, text=True, timeout=90,
        )


@pytest.fixture(scope="module")
def report(demo_store, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report with every section, the backtest drawn from a levels table with an official
    series (so both lines and the drawdown show)."""
    import indexrecon as ir
    from indexrecon.present.html import write_report

    prev = ir.rebuild("chinext", demo_store, review="2025-06", incumbents="none")
    res = ir.rebuild("chinext", demo_store, review="2025-12", incumbents=prev.codes)
    days = pd.bdate_range("2025-01-02", "2025-12-31").date
    rng = np.random.default_rng(7)
    rebuilt = pd.DataFrame({"date": days, "level": 1000 * np.cumprod(1 + rng.normal(3e-4, 0.012, len(days)))})
    official = pd.DataFrame({"date": days, "level": 2100 * np.cumprod(1 + rng.normal(3e-4, 0.012, len(days)))})
    return write_report(res, tmp_path_factory.mktemp("browser") / "report.html", backtest=rebuilt, official=official)


# ---------------------------------------------------------------------------------------
# A small PNG reader (8-bit, non-interlaced; what chromium writes), so the test needs no
# imaging library.
# ---------------------------------------------------------------------------------------
def read_png(data: bytes) -> np.ndarray:
    """Pixels as a (height, width, channels) uint8 array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and interlace == 0 and colour in (0, 2, 4, 6), header
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    stride = width * bpp
    rows = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), np.uint8)
    prev = np.zeros(stride, np.int64)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int64)
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: a running sum along the row, per channel
            cur = (np.cumsum(line.reshape(width, bpp), axis=0) & 255).reshape(-1)
        elif kind == 2:  # Up
            cur = (line + prev) & 255
        else:  # Average, Paeth: each byte needs the one to its left
            vals, up = line.tolist(), prev.tolist()
            res = [0] * stride
            for i in range(stride):
                a = res[i - bpp] if i >= bpp else 0
                b = up[i]
                if kind == 3:
                    res[i] = (vals[i] + ((a + b) >> 1)) & 255
                else:
                    c = up[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    res[i] = (vals[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            cur = np.array(res, np.int64)
        out[y] = cur
        prev = cur
    return out.reshape(height, width, bpp)


def test_png_reader_on_a_known_image() -> None:
    # 2x2 RGB: rows filtered with None and Up
    raw = bytes([0, 255, 0, 0, 0, 0, 255]) + bytes([2, 0, 255, 0, 255, 0, 0])
    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    px = read_png(png)
    assert px.tolist() == [[[255, 0, 0], [0, 0, 255]], [[255, 255, 0], [255, 0, 255]]]


# ---------------------------------------------------------------------------------------
# The page in the browser
# ---------------------------------------------------------------------------------------
def test_page_runs_its_script_and_draws_every_chart(report: Path) -> None:
    r = _browse(report.as_uri() + "#selftest", "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    root = re.search(r"<html[^>]*>", dom)
    assert root, dom[:500]
    tag = root.group(0)
    assert 'data-report-js="ok"' in tag, tag  # the script ran without an exception
    assert f'data-charts-drawn="{CHARTS}"' in tag, tag  # each chart has a size and marks
    assert 'data-selftest="ok"' in tag, tag  # clicking headers sorted the rows
    assert dom.count('data-drawn="1"') == CHARTS
    assert len(re.findall(r"<svg class=\"chart\"", dom)) == CHARTS
    assert "Uncaught" not in r.stderr and "SyntaxError" not in r.stderr
    # the sortable headers were made keyboard-focusable by the script
    assert 'tabindex="0"' in dom


def test_screenshot_is_not_blank_and_shows_the_charts(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    r = _browse(report.as_uri(), f"--screenshot={shot}", "--window-size=1280,2300")
    assert shot.exists(), r.stderr[-2000:]
    px = read_png(shot.read_bytes())[..., :3].astype(int)
    assert px.shape[:2] == (2300, 1280)
    ink = (px < 235).any(axis=2)
    assert ink.mean() > 0.03, f"only {ink.mean():.2%} of the page is not white: a blank page?"

    def near(rgb: tuple[int, int, int], tol: int = 12) -> int:
        return int((np.abs(px - np.array(rgb)).max(axis=2) <= tol).sum())

    assert near((0x1F, 0x6F, 0xB4)) > 3000, "no blue industry-mix bars drawn"
    assert near((0xFF, 0xF4, 0xD6)) > 20000, "no SYNTHETIC banner"
    # rows of text everywhere down the page, not one block at the top
    bands = [ink[y:y + 250].mean() for y in range(0, 2300, 250)]
    assert sum(b > 0.005 for b in bands) >= len(bands) - 1, bands
    if os.environ.get("INDEXRECON_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["INDEXRECON_KEEP_SCREENSHOT"])


def test_tables_fit_a_1280_pixel_window(report: Path) -> None:
    """No table needs a horizontal scroll at 1280 px: long text wraps, the weight stays in view."""
    r = _browse(report.as_uri(), "--dump-dom", "--window-size=1280,2000")
    assert r.returncode == 0, r.stderr[-2000:]
    tag = re.search(r"<html[^>]*>", r.stdout).group(0)
    assert 'data-tables-scroll=""' in tag, tag


CJK_PROBE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><canvas id=c width=64 height=32></canvas>
<script>
var ctx = document.getElementById("c").getContext("2d");
function ink(s) {
  ctx.clearRect(0, 0, 64, 32); ctx.font = "24px " + FONT; ctx.fillStyle = "#000"; ctx.fillText(s, 2, 26);
  return Array.prototype.join.call(ctx.getImageData(0, 0, 64, 32).data, ",");
}
var box = ink("\\u{10FFFD}");  // a code point no font has: the missing-glyph box
var out = [];
TEXT.split("").forEach(function (ch) { if (ink(ch) === box) out.push(ch); });
document.documentElement.setAttribute("data-boxes", out.length ? out.join("") : "none");
</script></body></html>"""


def test_chinese_names_are_drawn_not_boxes(report: Path, tmp_path: Path) -> None:
    """The report's font stack draws the Chinese names it holds (needs a CJK font, e.g.
    Debian's fonts-noto-cjk, which .ci/run installs with chromium)."""
    from indexrecon.present.page import FONT_STACK

    names = re.findall(r"演示[\u4e00-\u9fff]+", report.read_text())
    assert names, "the demo report shows Chinese names"
    text = "".join(sorted(set("".join(names))))
    page = tmp_path / "probe.html"
    page.write_text(CJK_PROBE.replace("FONT", json.dumps(FONT_STACK), 1).replace("TEXT", json.dumps(text), 1),
                    encoding="utf-8")
    r = _browse(page.as_uri(), "--dump-dom")
    tag = re.search(r"<html[^>]*>", r.stdout).group(0)
    if "data-boxes" not in tag:
        pytest.fail(f"the probe did not run: {r.stderr[-1000:]}")
    assert 'data-boxes="none"' in tag, f"drawn as boxes (no CJK font installed?): {tag}"
