"""Run the README's commands (and their JSON/CSV forms) and keep every output, to compare two trees.

    python scripts/snapshot_outputs.py OUT --real-store real.duckdb
    diff -r OUT_before OUT_after

Each command runs in a fresh working folder with a fresh cache folder (so the demo store is built
anew); stdout, stderr, the exit code and every file a command writes are kept under OUT/<n>-<name>/.
Used for the house move of issue 15: outputs must be byte-identical before and after.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEMO = [
    "methodologies",
    "show chinext",
    "show csi300",
    "validate {repo}/methodologies/chinext.yaml",
    "schema",
    "rebuild chinext --review 2025-12 --format json",
    "rebuild chinext --as-of 2026-01-15 --format csv -o chinext.csv",
    "rebuild chinext --review 2025-12",
    "rebuild csi1000 --review 2025-12 --format json",
    "rebalance chinext --format json",
    "rebalance chinext --review 2025-12 --incumbents simulate --format json",
    "rebalance chinext --review 2025-12 --aum 1e10 --format csv -o trades.csv",
    "stats chinext --review 2025-12 --format json",
    "stats chinext --review 2025-12 --format csv -o stats/",
    "explain chinext 300750 300059 --review 2025-12 --format json",
    "explain chinext 300750 300059 --review 2025-12",
    "backtest chinext --start 2024-01-01 --end 2026-05-29 --format json",
    "backtest microcap400 --start 2025-01-01 --end 2025-06-30 --format json",
    "sweep chinext --set selection.buffer=null --set selection.count=50,100 --start 2025-01-02 --end 2025-06-30 --format json",
    "market breadth --date 2025-04-08 --format json",
    "market moves 399006 --days 6 --format json",
    "check-data --format json",
    "store-schema",
]
REAL = [
    "compare chinext --review 2024-12 --incumbents simulate --format json",
    "compare csi300 --review 2024-12 --incumbents official --format json",
    "rebuild csi2000 --review 2024-12 --format json",
    "rebalance csi300 --review 2024-06 --format json -o csi300-2024-06.json",
    "rebalance csi500 --review 2024-06 --aum {repo}/examples/aum.yaml --format csv -o csi500-trades.csv",
    "rebalance chinext --format json",
    "check-data --format json",
    "track chinext --from-official 2025-01-27 --end 2025-04-30 --format json",
    "track chinext --from-official 2025-01-27 --end 2025-06-12 --total-return --format json",
    "market breadth --date 2025-04-08 --format json",
    "market limits --ladder --format json",
    "market moves 399006 --days 6 --format json",
    "stats chinext --as-of 2025-03-14 --format json",
    "backtest chinext --start 2024-01-01 --end 2025-06-30 --against 399006 --format json",
    "store-schema",
]


def run(cmd: str, out: Path, store: str | None, repo: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="snap-"))
    env = dict(os.environ, XDG_CACHE_HOME=str(work / ".cache"), COLUMNS="120")
    argv = ["indexrecon", *shlex.split(cmd.format(repo=repo))]
    if store:
        argv += ["--store", store]
    p = subprocess.run(argv, cwd=work, env=env, capture_output=True)
    out.mkdir(parents=True)
    (out / "cmd").write_text(" ".join(argv[1:]) + "\n")
    (out / "stdout").write_bytes(p.stdout.replace(str(work).encode(), b"<work>"))
    (out / "stderr").write_bytes(p.stderr.replace(str(work).encode(), b"<work>"))
    (out / "rc").write_text(f"{p.returncode}\n")
    for f in sorted(work.rglob("*")):
        rel = f.relative_to(work)
        if f.is_file() and rel.parts[0] != ".cache":
            dest = out / "files" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
    shutil.rmtree(work)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--real-store", help="a store built by `ingest files ../shared/realdata`")
    a = ap.parse_args()
    repo = Path(__file__).resolve().parents[1]
    if a.out.exists():
        sys.exit(f"{a.out} exists: give a new folder")
    jobs = [(c, None) for c in DEMO] + ([(c, a.real_store) for c in REAL] if a.real_store else [])
    for n, (cmd, store) in enumerate(jobs):
        name = "-".join(shlex.split(cmd)[:2]).replace("/", "_")
        run(cmd, a.out / f"{n:02d}-{'real' if store else 'demo'}-{name}", store, repo)
        print(f"{n:02d} {cmd}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
