"""The README's Python blocks run as written on the default store (issue 14, item 12).

The default store is the demo store; INDEXRECON_DEMO_PATH points it at the session's demo
store in a temp folder, so the test never builds one in the user's cache."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_has_python_blocks() -> None:
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert blocks and "ir.open_store()" in blocks[0]


def test_readme_python_blocks_run_on_the_default_store(demo_store_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path, reliability_log) -> None:
    import matplotlib

    matplotlib.use("Agg")  # the README draws a figure: no display in CI
    monkeypatch.delenv("INDEXRECON_STORE", raising=False)
    monkeypatch.setenv("INDEXRECON_DEMO_PATH", str(demo_store_path))
    monkeypatch.chdir(tmp_path)  # whatever a block writes lands here
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    namespace: dict[str, object] = {"__name__": "readme"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
    store = namespace["store"]
    assert Path(store.path) == demo_store_path and store.synthetic  # type: ignore[attr-defined]
    sim = namespace["sim"]
    assert len(sim.view("retained")) + len(sim.view("added")) == 100  # type: ignore[attr-defined]
    reliability_log("README (issue 14)", f"the README's {len(blocks)} Python block(s), run as written on the demo store",
                    "all ran")


def test_api_errors_speak_api(demo_store) -> None:
    import indexrecon as ir

    with pytest.raises(ir.StoreError) as e:
        ir.simulate_review("chinext", demo_store, review="2026-06", incumbents="official")
    msg = str(e.value)
    assert 'use incumbents="simulate"' in msg and msg.index('incumbents="simulate"') < msg.index("--incumbents")


def test_quick_start_makes_a_virtual_environment_first() -> None:
    text = README.read_text(encoding="utf-8")
    quick = text[text.index("## Quick start"):text.index("## What you can do")]
    assert quick.index("python3 -m venv .venv && . .venv/bin/activate") < quick.index("pip install")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.index("python3 -m venv") < ci.index("pip install")


def test_readme_says_where_the_demo_store_lives(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from indexrecon.data.sources.demo import store as demo

    text = " ".join(README.read_text(encoding="utf-8").split())
    monkeypatch.delenv("INDEXRECON_DEMO_PATH", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(demo, "__file__", str(tmp_path / "site-packages" / "indexrecon" / "data" / "sources" / "demo" / "store.py"))
    where = demo.demo_store_path()  # an installed package: the user cache folder
    assert where.parent == tmp_path / "indexrecon" and where.name.startswith("demo-")
    assert "~/.cache/indexrecon/demo-<version>.duckdb" in text and "$INDEXRECON_DEMO_PATH" in text
    assert "`universe.members_of` | a list" in text


def test_every_command_is_in_the_readme() -> None:
    from indexrecon.cli.main import main

    text = README.read_text(encoding="utf-8")
    for name in main.commands:
        assert f"indexrecon {name}" in text, name
