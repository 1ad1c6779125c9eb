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


@pytest.fixture(scope="session")
def demo_store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo store built once per test session into a temp folder."""
    from indexrecon.sources.demo import build_demo_store

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build_demo_store(path)
    return path


@pytest.fixture(scope="session")
def demo_store(demo_store_path: Path):
    from indexrecon.store import open_store

    store = open_store(demo_store_path)
    yield store
    store.close()


@pytest.fixture(scope="session")
def real_store_path(realdata_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """../shared/realdata ingested once per test session into a fresh store."""
    from indexrecon.sources.files import ingest_files
    from indexrecon.store import open_store

    path = tmp_path_factory.mktemp("real") / "real.duckdb"
    with open_store(path, read_only=False) as store:
        ingest_files(store, realdata_dir)
    return path


@pytest.fixture(scope="session")
def real_store(real_store_path: Path):
    from indexrecon.store import open_store

    store = open_store(real_store_path)
    yield store
    store.close()
