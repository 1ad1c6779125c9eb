"""Shared fixtures: the demo store (built once per session) and the real dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


@pytest.fixture(scope="session")
def realdata_dir() -> Path:
    if not (REALDATA / "bars.parquet").exists():
        pytest.skip(f"real dataset not found at {REALDATA} (../shared/realdata beside the project)")
    return REALDATA


@pytest.fixture(scope="session", autouse=True)
def _results_cache(tmp_path_factory: pytest.TempPathFactory):
    """The dependency results cache of this session in a folder of its own, never the user's."""
    import os

    old = os.environ.get("INDEXRECON_CACHE_DIR")
    os.environ["INDEXRECON_CACHE_DIR"] = str(tmp_path_factory.mktemp("results-cache"))
    yield
    if old is None:
        os.environ.pop("INDEXRECON_CACHE_DIR", None)
    else:
        os.environ["INDEXRECON_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def demo_store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo store built once per test session into a temp folder."""
    from indexrecon.data.sources.demo import build_demo_store

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build_demo_store(path)
    return path


@pytest.fixture(scope="session")
def demo_store(demo_store_path: Path):
    from indexrecon.data.open import open_store

    store = open_store(demo_store_path)
    yield store
    store.close()


@pytest.fixture(scope="session")
def real_store_path(realdata_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """../shared/realdata ingested once per test session into a fresh store."""
    from indexrecon.data.open import open_store
    from indexrecon.data.sources.files import ingest_files

    path = tmp_path_factory.mktemp("real") / "real.duckdb"
    with open_store(path, read_only=False) as store:
        ingest_files(store, realdata_dir)
    return path


@pytest.fixture(scope="session")
def real_store(real_store_path: Path):
    from indexrecon.data.open import open_store

    store = open_store(real_store_path)
    yield store
    store.close()


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A results cache of the test's own, switched on (the session's is shared)."""
    d = tmp_path / "cache"
    monkeypatch.setenv("INDEXRECON_CACHE_DIR", str(d))
    monkeypatch.setenv("INDEXRECON_NO_CACHE", "0")  # restored after the test, whatever --no-cache sets
    return d


@pytest.fixture()
def run(demo_store_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run the command line on the demo store: (exit code, stdout, stderr)."""
    from click.testing import CliRunner

    from indexrecon.cli.main import main

    monkeypatch.setenv("INDEXRECON_STORE", str(demo_store_path))
    runner = CliRunner()

    def _run(*args: str) -> tuple[int, str, str]:
        r = runner.invoke(main, list(args), catch_exceptions=False)
        return r.exit_code, r.stdout, r.stderr

    return _run


# -- the reliability log: hostile inputs and faults tried, written to docs/reliability.md ---
_RELIABILITY: list[tuple[str, str, str, int]] = []


@pytest.fixture(scope="session")
def reliability_log():
    """Call with (category, what was tried, outcome, count) to record it in docs/reliability.md."""

    def record(category: str, tried: str, outcome: str, count: int = 1) -> None:
        _RELIABILITY.append((category, tried, outcome, count))

    return record


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # only a run that included the whole reliability file rewrites the report
    if exitstatus != 0 or not any(r[0] == "interrupted ingest" for r in _RELIABILITY):
        return
    out = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
    lines = [
        "# Reliability: hostile inputs and faults tried",
        "",
        "Written by the test suite (`python -m pytest tests/test_reliability.py tests/test_loader.py`):",
        "every row is something a test tried, how many times, and what happened. A row is only",
        "written when the whole run passed.",
        "",
        "| category | tried | count | outcome |",
        "|---|---|---|---|",
    ]
    for cat, tried, outcome, n in sorted(_RELIABILITY):
        lines.append(f"| {cat} | {tried} | {n} | {outcome} |")
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
