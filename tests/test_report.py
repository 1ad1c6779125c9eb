"""The HTML report, the PNG charts, the notebook view and the finished command line
(help examples, completion, spinners, Ctrl-C), on the SYNTHETIC demo store."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from indexrecon.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
HAS_MPL = importlib.util.find_spec("matplotlib") is not None
REVIEW = "2025-12"
SECTIONS = ("summary", "changes", "industry", "weights", "coverage", "borderline", "constituents", "methodology")
CHARTS = ("industry_mix", "top_weights", "cumulative_weight", "coverage", "coverage_curve")
# Anything the page would fetch: src/href/url()/@import pointing at a scheme or //host.
EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|xlink:href|action|poster|data)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//))"""
    r"""|(?:url\(\s*["']?\s*(?:https?:|//))|@import""",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def incumbents_file(demo_store, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pure-rule members of the review before, so the report has adds and deletes
    without rolling the whole history forward (fast)."""
    import indexrecon as ir

    prev = ir.rebuild("chinext", demo_store, review="2025-06", incumbents="none")
    path = tmp_path_factory.mktemp("inc") / "incumbents.txt"
    path.write_text("\n".join(prev.codes) + "\n")
    return path


@pytest.fixture(scope="module")
def res(demo_store, incumbents_file: Path):
    import indexrecon as ir

    return ir.rebuild("chinext", demo_store, review=REVIEW, incumbents=str(incumbents_file))


@pytest.fixture()
def run(demo_store_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INDEXRECON_STORE", str(demo_store_path))
    runner = CliRunner()

    def _run(*args: str, **kw) -> tuple[int, str, str]:
        r = runner.invoke(main, list(args), catch_exceptions=False, **kw)
        return r.exit_code, r.stdout, r.stderr

    return _run


# ---------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------
def test_report_command_writes_a_self_contained_page(run, tmp_path: Path, incumbents_file: Path) -> None:
    out, png = tmp_path / "report.html", tmp_path / "png"
    args = ["report", "chinext", "--review", REVIEW, "--incumbents", str(incumbents_file), "-o", str(out)]
    if HAS_MPL:
        args += ["--png", str(png)]
    code, stdout, stderr = run(*args)
    assert code == 0, stderr
    assert f"wrote {out}" in stdout and "SYNTHETIC" in stdout
    # no spinner when stderr is not a terminal: only the review's warnings, one plain line each
    assert all(ln.startswith("warning: ") for ln in stderr.splitlines()) and "ESG" in stderr
    html = out.read_text(encoding="utf-8")

    # self-contained: nothing fetched at view time
    assert not EXTERNAL.findall(html), EXTERNAL.findall(html)[:5]
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "<img" not in html and "<iframe" not in html
    assert re.search(r"<script[^>]*\bsrc=", html) is None
    assert html.count("<style>") == 1 and html.count("<script>") == 1

    for s in SECTIONS:
        assert f'<section id="{s}">' in html, s
    assert '<section id="backtest">' not in html  # no range given
    for c in CHARTS:
        assert f'data-chart="{c}"' in html, c
    # the data label, prominently: title, badge and banner
    assert "[SYNTHETIC]</title>" in html
    assert re.search(r'id="data-label">SYNTHETIC demo data', html)
    # summary facts
    for fact in ("2025-10-31", "2025-12-15", "ChiNext Index (399006)", f"codes from the file {incumbents_file}"):
        assert fact in html, fact
    # constituents: a sortable table of 100 rows with raw values for sorting
    cons = html.split('<section id="constituents">')[1].split("</section>")[0]
    assert "class=sortable" in cons and cons.count("<tr>") == 101
    assert 'data-col="weight" data-type="num"' in cons
    # adds and deletes with their reasons
    changes = html.split('<section id="changes">')[1].split("</section>")[0]
    assert "Adds (" in changes and "Deletes (" in changes
    assert "added (newcomer within" in changes or "added to fill" in changes
    assert "deleted" in changes
    border = html.split('<section id="borderline">')[1].split("</section>")[0]
    assert "not added: newcomers must rank within" in border or "kept by incumbent buffer" in border

    if HAS_MPL:
        files = sorted(p.name for p in png.iterdir())
        assert files == ["coverage.png", "cumulative_weight.png", "industry_mix.png", "top_weights.png"]
        for p in png.iterdir():
            data = p.read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, p


def test_report_is_byte_stable(res, tmp_path: Path) -> None:
    from indexrecon.present.html import write_report

    a = write_report(res, tmp_path / "a.html").read_bytes()
    b = write_report(res, tmp_path / "b.html").read_bytes()
    assert a == b
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write leaves nothing behind


def test_report_labels_real_data(res) -> None:
    from indexrecon.present.html import render_report

    real = dataclasses.replace(res, synthetic=False, store_label="market data (files ../shared/realdata)")
    html = render_report(real)
    assert "SYNTHETIC" not in html
    assert re.search(r'id="data-label">Real data: market data \(files', html)
    assert "REAL DATA" in html


def test_report_backtest_section_with_levels(res) -> None:
    """The backtest section takes a levels table (date, level) and an official series; the
    official line is rebased to the rebuilt level on the first common day."""
    from indexrecon.present.html import render_report

    days = pd.bdate_range("2025-01-02", "2025-06-30").date
    rng = np.random.default_rng(1)
    rebuilt = pd.DataFrame({"date": days, "level": 1000 * np.cumprod(1 + rng.normal(0, 0.01, len(days)))})
    official = pd.DataFrame({"date": days[3:], "level": 2000 * np.cumprod(1 + rng.normal(0, 0.01, len(days) - 3))})
    html = render_report(res, backtest=rebuilt, official=official)
    sec = html.split('<section id="backtest">')[1].split("</section>")[0]
    assert 'data-chart="backtest_level"' in sec and 'data-chart="backtest_drawdown"' in sec
    assert "official 399006" in sec and "rebased to the rebuilt level on 2025-01-07" in sec
    assert "tracking error" in sec and "max drawdown" in sec
    assert '<a href="#backtest">' in html

    from indexrecon.analysis.chart_data import backtest_series, drawdown

    bt = backtest_series(rebuilt, official)
    first = bt.official["date"].iloc[0]
    assert bt.official["level"].iloc[0] == pytest.approx(rebuilt.set_index("date").loc[first, "level"])
    assert drawdown(pd.Series([1.0, 2.0, 1.0, 3.0])).tolist() == [0.0, 0.0, -0.5, 0.0]
    # without an official series: the rebuilt line alone, said in words
    alone = render_report(res, backtest=rebuilt)
    assert "no official levels" in alone and "tracking error" not in alone


def test_report_with_a_real_backtest(run, tmp_path: Path, incumbents_file: Path) -> None:
    if importlib.util.find_spec("indexrecon.analysis.backtest") is None:
        pytest.skip("indexrecon.analysis.backtest is not in this checkout")
    out = tmp_path / "bt.html"
    code, _, err = run("report", "chinext", "--review", REVIEW, "--incumbents", str(incumbents_file),
                       "--backtest-start", "2025-07-01", "--backtest-end", "2025-12-31", "-o", str(out))
    assert code == 0, err
    html = out.read_text(encoding="utf-8")
    assert 'data-chart="backtest_level"' in html and "2025-07-01" in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--backtest-end", "2025-12-31"), "--backtest-end needs --backtest-start"),
        (("--backtest-start", "2025-13-01"), "no such day"),
        (("--review", "2019-12", "--incumbents", "none"), "store starts"),
    ],
)
def test_report_errors_are_one_line(run, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    code, _, err = run("report", "chinext", "-o", str(tmp_path / "x.html"), *args)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.html").exists()


def test_png_without_matplotlib_is_a_one_line_error(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    code, _, err = run("report", "chinext", "--review", REVIEW, "--png", str(tmp_path / "png"),
                       "-o", str(tmp_path / "r.html"))
    assert code == 2 and err.strip() == "error: --png needs matplotlib: python -m pip install matplotlib"


# ---------------------------------------------------------------------------------------
# Notebooks
# ---------------------------------------------------------------------------------------
def test_repr_html_is_a_labelled_table(res) -> None:
    html = res._repr_html_()
    assert "SYNTHETIC" in html and "ChiNext Index" in html and REVIEW in html
    assert html.count("<tr>") == len(res.constituents) + 1
    assert "<script" not in html
    assert "300" in html and "%" in html  # codes and weights as percentages
    real = dataclasses.replace(res, synthetic=False, store_label="market data (x)")
    assert "SYNTHETIC" not in real._repr_html_()


@pytest.mark.skipif(not HAS_MPL, reason="matplotlib is not installed (charts as images need it)")
def test_plot_accessor_returns_figures(res, tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    for fig in (res.plot.industry_mix(), res.plot.weights(10), res.plot.cumulative_weight(),
                res.plot.coverage()):
        assert isinstance(fig, Figure) and fig.axes
        fig.savefig(tmp_path / "x.png")
    assert "SYNTHETIC" in res.plot.weights().texts[0].get_text()  # the suptitle says so
    assert "industry_mix()" in repr(res.plot)


def test_api_docs_are_generated_from_docstrings() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_api_docs
    finally:
        sys.path.pop(0)
    text = gen_api_docs.render()
    for needle in ("## indexrecon", "ir.rebuild(", "class `ReviewResult`", "`ReviewResult.plot` *(property)*",
                   "class `PlotAccessor`", "write_report(", "render_report("):
        assert needle in text, needle
    assert " at 0x" not in text  # no object addresses: the output is stable
    # the committed reference documents what the code has now (by name: how a signature
    # is printed may vary with the Python version)
    def names(md: str) -> set[str]:
        return set(re.findall(r"^#+ .*?`([\w.]+)", md, flags=re.M))

    committed = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert names(committed) == names(text), "docs/api.md is out of date: run python scripts/gen_api_docs.py"


# ---------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------
def _all_commands():
    from click import Group

    stack = [((), main)]
    while stack:
        path, cmd = stack.pop()
        yield path, cmd
        if isinstance(cmd, Group):
            stack += [((*path, name), sub) for name, sub in sorted(cmd.commands.items())]


def test_every_command_has_help_with_an_example(run) -> None:
    seen = []
    for path, _cmd in _all_commands():
        code, out, _ = run(*path, "--help")
        assert code == 0, path
        assert "Example" in out, f"indexrecon {' '.join(path)} --help has no example"
        seen.append(" ".join(path))
    assert {"report", "completion", "validate", "schema", "ingest files"} <= set(seen)


def test_version(run) -> None:
    from indexrecon import __version__

    code, out, _ = run("--version")
    assert code == 0 and out.strip() == f"indexrecon, version {__version__}"


@pytest.mark.parametrize(("shell", "marker"), [("bash", "complete -o nosort -F"), ("zsh", "#compdef indexrecon"),
                                               ("fish", "complete --no-files --command indexrecon")])
def test_completion_scripts(run, shell: str, marker: str) -> None:
    code, out, _ = run("completion", shell)
    assert code == 0 and marker in out and "_INDEXRECON_COMPLETE" in out


def test_completion_completes_commands_and_methodologies(run) -> None:
    def complete(words: str) -> list[str]:
        env = {"_INDEXRECON_COMPLETE": "bash_complete", "COMP_WORDS": words,
               "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
        r = CliRunner().invoke(main, [], prog_name="indexrecon", env=env)
        return [line.split(",", 1)[1] for line in r.stdout.splitlines() if "," in line]

    assert {"rebuild", "rebalance", "report"} <= set(complete("indexrecon re"))
    methods = complete("indexrecon rebuild chi")
    assert "chinext" in methods and all(m.startswith("chi") for m in methods)
    assert "csi300" in complete("indexrecon report csi")


def test_validate_and_schema(run) -> None:
    code, out, _ = run("validate", str(ROOT / "methodologies" / "chinext.yaml"))
    assert code == 0 and "chinext.yaml: OK" in out and "Selection:" in out
    code, out, err = run("validate", "/nonexistent/m.yaml")
    assert code == 2 and len(err.strip().splitlines()) == 1
    code, out, _ = run("schema")
    doc = json.loads(out)
    assert code == 0 and doc["type"] == "object" and {"universe", "selection", "weighting"} <= set(doc["properties"])


def test_machine_readable_outputs_are_stable(run, tmp_path: Path) -> None:
    for fmt in ("json", "csv"):
        a, b = (tmp_path / f"{n}.{fmt}" for n in "ab")
        for p in (a, b):
            assert run("stats", "chinext", "--review", REVIEW, "--incumbents", "none", "--format", fmt, "-o", str(p))[0] == 0
        assert a.read_bytes() == b.read_bytes()
    assert json.loads((tmp_path / "a.json").read_text())["synthetic"] is True


def _spawn_with_tty_stderr(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, list[bytes], threading.Thread]:
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks: list[bytes] = []

    def pump() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    return proc, chunks, t


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_spinner_on_a_terminal_and_ctrl_c_exits_130(demo_store_path: Path) -> None:
    """On a terminal stderr the long step shows a spinner; stdout stays a clean pipe; Ctrl-C
    mid-run exits with 130 and one line, no traceback."""
    exe = str(Path(sys.executable).with_name("indexrecon"))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    # computed, not read from a results cache that earlier tests warmed: a run read back ends
    # before the signal lands
    env.update(INDEXRECON_STORE=str(demo_store_path), TERM="xterm-256color", COLUMNS="100", INDEXRECON_NO_CACHE="1")
    proc, chunks, pump = _spawn_with_tty_stderr(
        [exe, "rebalance", "chinext", "--review", "2026-06", "--incumbents", "simulate"], env)
    deadline = time.monotonic() + 60
    while b"simulating" not in b"".join(chunks) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert b"simulating" in b"".join(chunks), b"".join(chunks)[-500:]
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    pump.join(timeout=10)
    err = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 130, err[-800:]
    assert "interrupted" in err and "Traceback" not in err
    assert out == b""


def test_tables_have_no_colour_codes_in_a_pipe(demo_store_path: Path) -> None:
    exe = str(Path(sys.executable).with_name("indexrecon"))
    env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    r = subprocess.run([exe, "stats", "chinext", "--review", REVIEW, "--incumbents", "none",
                        "--store", str(demo_store_path)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "\x1b[" not in r.stdout and "\x1b[" not in r.stderr
    assert "Industry mix" in r.stdout and "SYNTHETIC" in r.stdout


def test_levels_frame_reads_the_shapes_a_backtest_returns() -> None:
    from indexrecon.analysis.chart_data import levels_frame

    days = [dt.date(2025, 1, 2), dt.date(2025, 1, 3)]
    want = pd.DataFrame({"date": days, "level": [1000.0, 1010.0]})
    by_df = levels_frame(pd.DataFrame({"date": pd.to_datetime(days), "level": [1000, 1010], "x": [1, 2]}))
    by_series = levels_frame(pd.Series([1000.0, 1010.0], index=days))
    by_obj = levels_frame(type("R", (), {"levels": want})())
    for got in (by_df, by_series, by_obj):
        pd.testing.assert_frame_equal(got, want)
