"""Follow a methodology through one `simulate_review`: which modules it enters, in what order.

    python scripts/trace_flow.py [METHOD] [REVIEW]

Every Python call that receives the methodology (any argument that is a `Methodology`) is
recorded with its module; the script prints the modules in order of first entry and how many
times the methodology entered a module other than the one it was in, then counts the calls
into the loader, the schedule or the plan made while the engine was running (an engine frame
below on the stack): resolving interleaved with running. Runs on the demo store; on an older
tree, set PYTHONPATH to its src.
"""

from __future__ import annotations

import sys
from collections import Counter

STAGES = ["errors", "methodology", "loader", "schema", "metrics", "vocabulary", "grades", "schedule", "data",
          "store", "results", "plan", "incumbents", "engine", "analysis", "present", "cli"]
# older flat modules mapped to the stage they belong to
FLAT = {"loader": "methodology", "schema": "methodology", "metrics": "methodology", "grades": "methodology",
        "schedule": "methodology", "store": "data", "results": "results", "incumbents": "plan",
        "engine": "engine", "depcache": "engine", "weights": "engine"}


def stage(module: str) -> str:
    parts = module.split(".")[1:] or ["facade"]
    head = parts[0]
    return FLAT.get(head, head)


def main() -> int:
    import indexrecon as ir
    from indexrecon import Methodology

    method = sys.argv[1] if len(sys.argv) > 1 else "chinext"
    review = sys.argv[2] if len(sys.argv) > 2 else "2025-12"
    store = ir.open_store()
    m = ir.load_methodology(method)
    seen: list[str] = []

    def prof(frame, event, arg):
        if event != "call":
            return
        code = frame.f_code
        mod = frame.f_globals.get("__name__", "")
        if not mod.startswith("indexrecon"):
            return
        names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        if any(isinstance(frame.f_locals.get(n), Methodology) for n in names) and (not seen or seen[-1] != mod):
            seen.append(mod)

    running = {"run_plan", "_pipeline", "_dependency_members", "_incumbents", "resolve_incumbents",
               "_simulated_incumbents"}  # the engine executing (old and new trees)
    during_run: list[str] = []

    def resolving(frame) -> str | None:
        """What a call resolves: the loader, a schedule function (not a calendar lookup), the
        rules in force (`for_date`, validation), or the plan."""
        mod = frame.f_globals.get("__name__", "")
        name = frame.f_code.co_qualname
        leaf = mod.split(".")[-1]
        if name.startswith(("Incumbents.", "ReviewPlan.given", "_given")):
            return None  # reading a plan, or filling in the incumbents a run produced
        if leaf in ("loader", "incumbents") or ".plan." in mod + ".":
            return f"{leaf}.{name}"
        if leaf == "schedule" and not name.startswith("TradingCalendar."):
            return f"schedule.{name}"
        if leaf == "schema" and name in ("Methodology.for_date", "validate_dict"):
            return f"schema.{name}"
        return None

    def prof2(frame, event, arg):
        prof(frame, event, arg)
        if event != "call" or not frame.f_globals.get("__name__", "").startswith("indexrecon"):
            return
        what = resolving(frame)
        if what is None:
            return
        f = frame.f_back
        while f is not None:  # is the engine executing (below us on the stack)?
            if f.f_globals.get("__name__", "").startswith("indexrecon.engine") and f.f_code.co_name in running:
                during_run.append(what.split(".")[0])
                break
            f = f.f_back

    sys.setprofile(prof2)
    try:
        ir.simulate_review(m, store, review, incumbents="simulate")
    finally:
        sys.setprofile(None)
    firsts = list(dict.fromkeys(seen))
    print(f"{method} {review}: the methodology entered {len(firsts)} modules, {len(seen)} times; "
          f"{len(during_run)} calls resolving rules, dates or dependencies while the engine ran "
          f"({', '.join(f'{k} {v}' for k, v in sorted(Counter(during_run).items())) or 'none'})")
    for mod in firsts:
        print(f"  {mod} ({stage(mod)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
