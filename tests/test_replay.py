"""A command's output replayed (`cli/replay.py`): byte for byte what the computation writes,
and never when anything the output depends on has changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from factory import S, make_store, meth
from indexrecon.cli import review as review_cli
from indexrecon.cli.main import main
from indexrecon.cli.replay import replayable


@pytest.fixture()
def reviews(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The methods the review commands actually ran (a replay runs none)."""
    ran: list[str] = []
    real = review_cli._review

    def counted(method: str, *args: object, **kwargs: object) -> object:
        ran.append(method)
        return real(method, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(review_cli, "_review", counted)
    return ran


def _outputs(d: Path) -> list[Path]:
    return sorted((d / "outputs").glob("*.json.z")) if (d / "outputs").exists() else []


def _invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def _small(tmp_path: Path, caps: list[float]) -> Path:
    (tmp_path / "s.duckdb").unlink(missing_ok=True)
    return make_store(tmp_path / "s.duckdb", [S(f"3000{i:02d}", cap=c) for i, c in enumerate(caps)])


def _yaml(path: Path, **over: object) -> Path:
    path.write_text(yaml.safe_dump(meth(**over), sort_keys=False), encoding="utf-8")
    return path


def test_a_second_identical_run_replays_the_output_byte_for_byte(cache: Path, reviews: list[str],
                                                                  demo_store_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["rebuild", "chinext", "--review", "2025-06", "--format", "csv", "--store", str(demo_store_path)]
    plain = _invoke(*args, "--no-cache")
    assert plain[0] == 0 and plain[1] and _outputs(cache) == []  # --no-cache keeps nothing
    monkeypatch.setenv("INDEXRECON_NO_CACHE", "0")
    cold = _invoke(*args)
    assert len(reviews) == 2 and len(_outputs(cache)) == 1
    warm = _invoke(*args)
    assert len(reviews) == 2  # replayed: no review ran
    assert cold == plain and warm == plain
    assert "warning:" in warm[2]  # the warnings (stderr) are part of what is replayed
    monkeypatch.setenv("INDEXRECON_TEST_SHELL", "another")  # the environment is part of the key
    assert _invoke(*args) == plain and len(reviews) == 3
    monkeypatch.setenv("INDEXRECON_NO_REPLAY", "1")  # computed each time, the results cache still on
    assert _invoke(*args) == plain and _invoke(*args) == plain and len(reviews) == 5
    assert len(_outputs(cache)) == 2


def test_a_changed_store_methodology_or_incumbents_file_is_computed_again(cache: Path, reviews: list[str],
                                                                          tmp_path: Path) -> None:
    store = _small(tmp_path, [(10 - i) * 1e9 for i in range(8)])
    method = _yaml(tmp_path / "top.yaml", selection={"rank_by": "avg_total_cap", "count": 3})
    args = ["rebuild", str(method), "--review", "2025-06", "--incumbents", "none", "--format", "csv",
            "--store", str(store)]

    def codes(out: str) -> list[str]:
        return [line.split(",")[1] for line in out.splitlines()[1:]]

    first = _invoke(*args)
    assert first[0] == 0 and codes(first[1]) == ["300000", "300001", "300002"]
    assert _invoke(*args) == first and len(reviews) == 1
    _yaml(method, selection={"rank_by": "avg_total_cap", "count": 2})  # the file, not its name, changed
    assert codes(_invoke(*args)[1]) == ["300000", "300001"] and len(reviews) == 2
    _small(tmp_path, [(1 + i) * 1e9 for i in range(8)])  # the store rewritten: the order reversed
    assert codes(_invoke(*args)[1]) == ["300007", "300006"] and len(reviews) == 3
    held = tmp_path / "held.txt"
    held.write_text("300000\n", encoding="utf-8")
    with_list = [*args[:5], str(held), *args[6:]]
    assert _invoke(*with_list)[0] == 0 and _invoke(*with_list)[0] == 0 and len(reviews) == 4
    held.write_text("300003\n", encoding="utf-8")
    assert _invoke(*with_list)[0] == 0 and len(reviews) == 5  # the list's bytes are in the key, not its name
    dep = _yaml(tmp_path / "dep.yaml", name="dep", selection={"rank_by": "avg_total_cap", "count": 1})
    _yaml(method, universe={"boards": ["chinext"], "exclude_members_of": [str(dep)]},
          selection={"rank_by": "avg_total_cap", "count": 2})
    assert codes(_invoke(*args)[1]) == ["300006", "300005"] and len(reviews) == 6  # 300007 is dep's
    _yaml(dep, name="dep", selection={"rank_by": "avg_total_cap", "count": 2})  # a file METHOD reads
    assert codes(_invoke(*args)[1]) == ["300005", "300004"] and len(reviews) == 7


def test_a_failed_run_or_a_written_file_is_not_replayed(cache: Path, reviews: list[str], tmp_path: Path,
                                                         demo_store_path: Path) -> None:
    bad = ["rebuild", "chinext", "--review", "1999-06", "--store", str(demo_store_path)]
    first = _invoke(*bad)
    assert first[0] == 2 and _invoke(*bad) == first and _outputs(cache) == []
    out = tmp_path / "c.csv"
    written = ["rebuild", "chinext", "--review", "2025-06", "--format", "csv", "-o", str(out),
               "--store", str(demo_store_path)]
    assert _invoke(*written)[0] == 0 and out.exists()
    out.unlink()
    assert _invoke(*written)[0] == 0 and out.exists()  # written again, not replayed to stdout
    assert _outputs(cache) == [] and reviews.count("chinext") >= 3


def test_output_that_bypasses_the_text_streams_is_not_kept(cache: Path, demo_store_path: Path) -> None:
    ran: list[str] = []

    @click.command()
    @click.option("--store", "store_path", type=click.Path(path_type=Path))
    @click.option("--raw", is_flag=True)
    @replayable(methods=(), writes=())
    def cmd(store_path: Path, raw: bool) -> None:
        ran.append("raw" if raw else "text")
        click.echo(b"bytes" if raw else "text")  # bytes go to the binary buffer

    for raw in (False, True):
        args = ["--store", str(demo_store_path), *(["--raw"] if raw else [])]
        outs = [CliRunner().invoke(cmd, args, catch_exceptions=False).stdout for _ in range(2)]
        assert outs[0] == outs[1] == ("bytes\n" if raw else "text\n")
    assert ran == ["text", "raw", "raw"] and len(_outputs(cache)) == 1


def test_a_replayed_run_imports_neither_numpy_nor_pydantic(tmp_path: Path, demo_store_path: Path) -> None:
    """What makes a warm run fast: the replay reads the store's version and the kept output,
    nothing of the engine."""
    probe = ("import json, sys\nfrom indexrecon.cli.entry import run\nsys.argv = ['indexrecon', *sys.argv[1:]]\n"
             "try:\n    run()\nexcept SystemExit:\n    pass\n"
             "heavy = ('numpy', 'pandas', 'pydantic', 'rich', 'yaml', 'indexrecon.engine')\n"
             "sys.__stderr__.write('MODULES ' + json.dumps([m for m in heavy if m in sys.modules]) + '\\n')\n")
    env = {**os.environ, "INDEXRECON_CACHE_DIR": str(tmp_path / "cache"), "INDEXRECON_NO_CACHE": "0"}
    args = ["rebuild", "chinext", "--review", "2025-06", "--format", "csv", "--store", str(demo_store_path)]
    runs = [subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env,
                           check=True) for _ in range(2)]
    loaded = [json.loads(r.stderr.rsplit("MODULES ", 1)[1]) for r in runs]
    assert {"numpy", "pydantic", "indexrecon.engine"} <= set(loaded[0])  # computed
    assert loaded[1] == []  # replayed
    said = [r.stderr.rsplit("MODULES ", 1)[0] for r in runs]
    assert runs[0].stdout == runs[1].stdout and said[0] == said[1] and "warning:" in said[1]
