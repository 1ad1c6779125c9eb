"""The `indexrecon` command line: the group, and its small commands (methodologies, show,
validate, schema, store-schema, check-data, completion).

The review commands live in `review`, the other groups in their own modules; all are added to
the group here; `main` is the command line (the console script `cli.entry.run` imports it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .._version import __version__
from ..jsonout import dumps
from .common import ErrorGroup, complete_method, emit, open_store_at
from .common import store_option as common_store_option

Group = ErrorGroup
store_option = common_store_option()


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="indexrecon")
def main() -> None:
    """Rebuild stock indices from their published rules.

    \b
    Example:
      indexrecon rebalance chinext            # next ChiNext review on the demo store
      indexrecon rebuild chinext --review 2025-12 --format json
    """


@main.command("methodologies")
def methodologies_cmd() -> None:
    """List the built-in methodologies.

    \b
    Example:
      indexrecon methodologies
    """
    from ..methodology.loader import load_methodology
    from ..methodology.paths import builtin_names
    from ..present.termtable import TextTable

    rows = []
    for name in builtin_names():
        m = load_methodology(name)
        rows.append([name, m.index_code or "-", m.provider, m.title])
    cols = ["name", "index_code", "provider", "title"]
    for line in TextTable(cols, cols, [False] * 4, rows).plain_lines():
        click.echo(line)


@main.command("show")
@click.argument("method", shell_complete=complete_method)
def show_cmd(method: str) -> None:
    """Print a methodology in plain language.

    \b
    Example:
      indexrecon show chinext
    """
    from ..methodology.loader import load_methodology
    from ..present.describe import describe_methodology

    click.echo(describe_methodology(load_methodology(method)))


@main.command("validate")
@click.argument("file", type=click.Path(path_type=Path))
def validate_cmd(file: Path) -> None:
    """Check a methodology file and print it back in plain words.

    \b
    Example:
      indexrecon validate my_index.yaml
    """
    from ..methodology.loader import check_references
    from ..present.describe import describe_methodology

    m = check_references(file)  # and the methodologies it draws from or excludes
    click.echo(f"{file}: OK")
    click.echo(describe_methodology(m))


@main.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of the methodology format (for editor autocompletion).

    \b
    Example:
      indexrecon schema > methodology.schema.json
    """
    from ..methodology.schema import Methodology

    click.echo(dumps(Methodology.model_json_schema()))


@main.command("store-schema")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path),
              help="A store to describe as it is (its tables, columns and rows); without it, the schema "
                   "every store follows (what `ingest files` reads from files named after the tables).")
def store_schema_cmd(fmt: str, store_path: Path | None) -> None:
    """Print the store's tables and their columns.

    \b
    Example:
      indexrecon store-schema                        # the tables ingest files accepts
      indexrecon store-schema --store real.duckdb    # what a store holds
    """
    from ..data.store import describe_schema

    tables = describe_schema(open_store_at(store_path) if store_path is not None else None)
    if fmt == "json":
        click.echo(dumps(tables))
        return
    for t in tables:
        rows = "" if t.get("rows") is None else f", {t['rows']:,} rows"
        state = " (not in this store)" if t.get("missing") else ""
        click.echo(f"{t['table']}{state}: {t['description']}{rows}")
        for c in t["columns"]:
            click.echo(f"  {c['name']:<20} {c['type']}{' NOT NULL' if c.get('not_null') else ''}")



@main.command("check-data")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--strict", is_flag=True, help="Exit 1 when any error-level finding exists.")
@store_option
def check_data_cmd(fmt: str, strict: bool, store_path: Path | None) -> None:
    """Check a store: duplicates, gaps, bad prices or shares, OHLC, units, stale data.

    \b
    Example:
      indexrecon check-data --store real.duckdb
    """
    import pandas as pd

    from ..data.checks import run_checks
    from ..present.describe import rich_table

    store = open_store_at(store_path)
    findings = run_checks(store)
    empty = next(f for f in findings if f["check"] == "empty_tables")
    if empty["count"]:
        click.echo(f"warning: store {store.path}: no rows in {', '.join(empty['examples'])}: "
                   "ingest incomplete: rerun the same ingest command (it resumes)", err=True)

    def render(con: Any) -> None:
        con.print(f"store {store.path}: {store.label}", highlight=False)
        df = pd.DataFrame(findings)
        df["examples"] = df["examples"].map(lambda xs: ", ".join(xs))
        con.print(rich_table(df[["severity", "check", "count", "description", "examples"]], keep={"check"}))

    emit(None, fmt, None, {"store": str(store.path), "findings": findings}, render)
    if strict and any(f["severity"] == "error" and f["count"] for f in findings):
        raise SystemExit(1)


@main.command("completion")
@click.argument("shell", required=False, type=click.Choice(["bash", "zsh", "fish"]))
def completion_cmd(shell: str | None) -> None:
    """Print the shell completion script (bash, zsh or fish; default: the one in $SHELL).

    Completes commands, options, and the built-in methodology names.

    \b
    Example:
      eval "$(indexrecon completion bash)"     # add to ~/.bashrc
      eval "$(indexrecon completion zsh)"      # add to ~/.zshrc
      indexrecon completion fish > ~/.config/fish/completions/indexrecon.fish
    """
    import os

    from click.shell_completion import get_completion_class

    if shell is None:
        name = Path(os.environ.get("SHELL", "bash")).name
        shell = name if name in ("bash", "zsh", "fish") else "bash"
    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(main, {}, "indexrecon", "_INDEXRECON_COMPLETE").source())


def _register_groups() -> None:
    """Command groups that live in their own modules."""
    from .calc import COMMANDS as CALC_COMMANDS
    from .ingest import ingest
    from .market import market
    from .review import COMMANDS as REVIEW_COMMANDS
    from .sweep import COMMANDS as SWEEP_COMMANDS

    main.add_command(ingest)
    main.add_command(market)
    for cmd in [*REVIEW_COMMANDS, *CALC_COMMANDS, *SWEEP_COMMANDS]:
        main.add_command(cmd)


_register_groups()


if __name__ == "__main__":  # pragma: no cover
    main()
