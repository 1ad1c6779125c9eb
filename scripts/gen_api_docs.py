#!/usr/bin/env python3
"""Generate docs/api.md, the Python API reference, from the docstrings (inspect-based).

    python scripts/gen_api_docs.py            # write docs/api.md
    python scripts/gen_api_docs.py --check    # exit 1 if docs/api.md is out of date
    python scripts/gen_api_docs.py -o -       # print to stdout

Documents the names in `indexrecon.__all__` and the public functions and classes of the
modules listed in MODULES (those defined there, or the module's __all__). A module that
does not exist in this checkout is skipped, so the script runs while modules come and go.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "api.md"

# (module, title, what it is for); the package itself comes first.
MODULES: list[tuple[str, str, str]] = [
    ("indexrecon", "indexrecon", "The top-level API: open a store, load a methodology, run reviews."),
    # methodology: the format
    ("indexrecon.methodology.loader", "indexrecon.methodology.loader", "Loading methodologies: built-in names, YAML files, dicts; errors with file, line and key."),
    ("indexrecon.methodology.paths", "indexrecon.methodology.paths", "Which file a methodology spec names: a YAML path, else a built-in."),
    ("indexrecon.methodology.schedule", "indexrecon.methodology.schedule", "Review calendars: data cutoff, window and effective date of a review."),
    # data
    ("indexrecon.data.open", "indexrecon.data.open", "Opening a store by path, by $INDEXRECON_STORE, or the demo store."),
    ("indexrecon.data.store", "indexrecon.data.store", "The DuckDB store."),
    ("indexrecon.data.market_rules", "indexrecon.data.market_rules", "Daily price limits by board and date, in SQL, and board lots (the one place they are written)."),
    # results
    ("indexrecon.results.review", "indexrecon.results.review", "What a review returns."),
    # plan, engine
    ("indexrecon.plan", "indexrecon.plan", "What a review needs, resolved before it runs: rules in force, dependencies, incumbents."),
    ("indexrecon.engine", "indexrecon.engine", "The engine: a review compiled to SQL and run over the store."),
    # analysis
    ("indexrecon.analysis.backtest", "indexrecon.analysis.backtest", "Point-in-time backtests over a range of reviews."),
    ("indexrecon.analysis.baskets", "indexrecon.analysis.baskets", "What an index holds: baskets from a review or an official snapshot, implied shares."),
    ("indexrecon.analysis.levels", "indexrecon.analysis.levels", "Index levels: weighting shares, divisor, price and total return, drifted weights."),
    ("indexrecon.analysis.performance", "indexrecon.analysis.performance", "Return, risk and drawdown of a level series, and tracking error against another."),
    ("indexrecon.analysis.tracking", "indexrecon.analysis.tracking", "Tracking an official index from one weight snapshot."),
    ("indexrecon.analysis.composition", "indexrecon.analysis.composition", "Industry mix, concentration, coverage, official comparison."),
    ("indexrecon.analysis.chart_data", "indexrecon.analysis.chart_data", "The data behind each chart: industry mix, top weights, cumulative weight, coverage curve, backtest levels."),
    ("indexrecon.analysis.forecast", "indexrecon.analysis.forecast", "Probabilities of a review's outcome (a stated Monte Carlo model) and their scores."),
    ("indexrecon.analysis.flows", "indexrecon.analysis.flows", "Pro-forma weights on a price date and the passive flows of an AUM."),
    ("indexrecon.analysis.desk", "indexrecon.analysis.desk", "`rebalance` for a desk: the JSON contract, the reserve list, the xlsx trade list."),
    ("indexrecon.analysis.sweeps", "indexrecon.analysis.sweeps", "Parameter sweeps: every combination of rule changes backtested in parallel processes."),
    ("indexrecon.analysis.market", "indexrecon.analysis.market", "Market analytics: breadth, limit closes, moves, comparisons, events, coverage on a day."),
    ("indexrecon.analysis.valuation", "indexrecon.analysis.valuation", "An index's PE (TTM) and PB and their percentile."),
    # present
    ("indexrecon.present.charts", "indexrecon.present.charts", "Charts (matplotlib): `res.plot.*`, PNGs and the report's inline SVG."),
    ("indexrecon.present.html", "indexrecon.present.html", "A review as one self-contained HTML page."),
]
# Objects documented under an earlier module are not repeated under a later one.
SKIP_MEMBERS = {"model_config", "model_fields", "model_computed_fields"}


def _ann(a: Any) -> str:
    if a is inspect.Parameter.empty:
        return ""
    return a if isinstance(a, str) else inspect.formatannotation(a)


def signature(obj: Any, name: str) -> str:
    """`name(arg: type = default, *, kw: type = default) -> type`, annotations as written."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return f"{name}(...)"
    parts: list[str] = []
    star_done = False
    params = list(sig.parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    for p in params:
        if p.kind is p.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            star_done = star_done or p.kind is p.VAR_POSITIONAL
            prefix = "*" if p.kind is p.VAR_POSITIONAL else "**"
            text = prefix + p.name
        else:
            text = p.name
        ann = _ann(p.annotation)
        if ann:
            text += f": {ann}"
        if p.default is not inspect.Parameter.empty:
            default = getattr(p.default, "__name__", None) if callable(p.default) else None
            text += (" = " if ann else "=") + (default or repr(p.default))
        parts.append(text)
    ret = _ann(sig.return_annotation)
    return f"{name}({', '.join(parts)})" + (f" -> {ret}" if ret else "")


def doc(obj: Any) -> str:
    """The object's own docstring, dedented (a class does not inherit its base's)."""
    raw = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(raw).strip() if isinstance(raw, str) else ""


def _block(text: str) -> list[str]:
    """A docstring as Markdown: indented example lines become a fenced code block."""
    if not text:
        return ["*(no docstring)*", ""]
    out: list[str] = []
    code: list[str] = []
    for line in text.splitlines():
        if line.startswith("    "):
            code.append(line[4:])
            continue
        if code and not line.strip():
            code.append("")
            continue
        if code:
            while code and not code[-1]:
                code.pop()
            out += ["```python", *code, "```", ""]
            code = []
        out.append(line)
    if code:
        while code and not code[-1]:
            code.pop()
        out += ["```python", *code, "```"]
    return [*out, ""]


def _own_members(cls: type) -> list[tuple[str, Any]]:
    """Public methods and properties defined by the class itself (not inherited)."""
    out = []
    for name, member in cls.__dict__.items():
        if name.startswith("_") or name in SKIP_MEMBERS:
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if isinstance(member, property) or inspect.isfunction(member):
            out.append((name, member))
    return out


def _fields(cls: type) -> list[str]:
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls)]
    fields = getattr(cls, "model_fields", None)
    if isinstance(fields, dict):
        return list(fields)
    return []


def document_class(cls: type, qual: str) -> list[str]:
    lines = [f"### class `{qual}`", ""]
    lines += _block(doc(cls))
    fields = _fields(cls)
    if fields:
        lines += ["Fields: " + ", ".join(f"`{f}`" for f in fields), ""]
    for name, member in _own_members(cls):
        if isinstance(member, property):
            lines += [f"#### `{qual}.{name}` *(property)*", ""]
            lines += _block(doc(member))
        else:
            lines += [f"#### `{qual}.{signature(member, name)}`", ""]
            lines += _block(doc(member))
    return lines


def document_function(fn: Any, modname: str) -> list[str]:
    short = modname.split(".")[-1] if modname != "indexrecon" else "ir"
    lines = [f"### `{short}.{signature(fn, fn.__name__)}`" if modname == "indexrecon"
             else f"### `{signature(fn, fn.__name__)}`", ""]
    return lines + _block(doc(fn))


def public_names(mod: Any, modname: str) -> list[str]:
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [
            n for n, v in vars(mod).items()
            if not n.startswith("_")
            and (inspect.isfunction(v) or inspect.isclass(v))
            and getattr(v, "__module__", None) == modname
        ]
    return sorted(names, key=lambda n: (not inspect.isclass(getattr(mod, n, None)), n.lower()))


def render() -> str:
    lines = [
        "# Python API reference",
        "",
        "Generated by `scripts/gen_api_docs.py` from the docstrings; do not edit by hand "
        "(run `python scripts/gen_api_docs.py` after changing a docstring).",
        "",
        "```python",
        "import indexrecon as ir",
        "",
        "store = ir.open_store()                      # the SYNTHETIC demo store, or a path",
        "res = ir.rebuild(\"chinext\", store, review=\"2025-12\")",
        "res                                          # a table in Jupyter",
        "res.plot.industry_mix()                      # a matplotlib Figure",
        "res.to_html(\"chinext.html\")                   # the self-contained report",
        "```",
        "",
    ]
    seen: set[int] = set()
    body: list[str] = []
    toc: list[str] = []
    for modname, title, blurb in MODULES:
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue
        section: list[str] = []
        for name in public_names(mod, modname):
            obj = getattr(mod, name, None)
            if obj is None or id(obj) in seen:
                continue
            if inspect.isclass(obj):
                if issubclass(obj, BaseException):
                    continue  # errors are listed in one line below
                seen.add(id(obj))
                section += document_class(obj, obj.__name__)
            elif inspect.isfunction(obj):
                seen.add(id(obj))
                section += document_function(obj, modname)
        if modname == "indexrecon":
            errors = sorted(n for n in public_names(mod, modname)
                            if inspect.isclass(getattr(mod, n, None)) and issubclass(getattr(mod, n), BaseException))
            if errors:
                section += ["### Errors", "",
                            "Every error a user can act on is an `IndexReconError` (the command line prints "
                            "it as one line and exits with code 2): " + ", ".join(f"`{e}`" for e in errors) + ".",
                            ""]
        if not section:
            continue
        anchor = title.replace(".", "")
        toc.append(f"- [`{title}`](#{anchor}): {blurb}")
        body += [f"## {title}", "", blurb, "", *section]
    text = "\n".join([*lines, *toc, "", *body]).rstrip() + "\n"
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default=str(OUT), help="file to write, or - for stdout")
    ap.add_argument("--check", action="store_true", help="exit 1 if the file differs from the docstrings")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    text = render()
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            print(f"{out} is out of date: run python scripts/gen_api_docs.py", file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
