"""A review compiled to one chain of CTEs (the steps every rule family adds to)."""

from __future__ import annotations

from .context import _lit


class Steps:
    """A review compiled to one chain of CTEs, each step reading the one before.

    Rules become steps of a single statement instead of one UPDATE each, so DuckDB plans
    the whole sample space and screen sequence at once. Consecutive marks share one step:
    a CASE whose first true condition wins, as the rules read in order."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str]] = []
        self.marks: list[tuple[str, dict[str, str]]] = []

    @property
    def prev(self) -> str:
        self._flush()
        return self.steps[-1][0]

    def add(self, sql: str) -> None:
        """A step; `{prev}` in `sql` names the step before it."""
        self._flush()
        name = f"_s{len(self.steps)}"
        self.steps.append((name, sql.replace("{prev}", self.steps[-1][0]) if self.steps else sql))

    def mark(self, cond: str, values: dict[str, str]) -> None:
        """Set `values` (column -> SQL; always a reason) on the stocks still in (no reason
        yet) that meet `cond`."""
        self.marks.append((cond, values))

    def drop(self, stage: str, cond: str, reason: str) -> None:
        """Rule a stock out: the first rule that fails it gives its stage and reason."""
        self.mark(cond, {"stage": _lit(stage), "reason": reason})

    def _flush(self) -> None:
        marks, self.marks = self.marks, []
        if not marks:
            return
        cols = list(dict.fromkeys(c for _, v in marks for c in v))
        if len(marks) == 1:
            cond, v = marks[0]
            cases = [f"CASE WHEN reason IS NULL AND ({cond}) THEN {v[c]} ELSE {c} END AS {c}" for c in cols]
            self.add(f"SELECT * REPLACE ({', '.join(cases)}) FROM {{prev}}")
            return
        # which rule hits first, once; then each column reads it (each condition is written,
        # parsed and bound once however many columns the rules set)
        hit = " ".join(f"WHEN {cond} THEN {k}" for k, (cond, _) in enumerate(marks, start=1))
        self.add(f"SELECT *, CASE WHEN reason IS NOT NULL THEN 0 {hit} ELSE 0 END AS _hit FROM {{prev}}")
        cases = []
        for c in cols:
            whens = " ".join(f"WHEN {k} THEN {v[c]}" for k, (_, v) in enumerate(marks, start=1) if c in v)
            cases.append(f"CASE _hit {whens} ELSE {c} END AS {c}")
        self.add(f"SELECT * EXCLUDE (_hit) REPLACE ({', '.join(cases)}) FROM {{prev}}")

    def sql(self, final: str = "SELECT * FROM {prev}") -> str:
        """The statement: every step, then `final` over the last."""
        prev = self.prev
        body = ",\n".join(f"{n} AS (\n{s}\n)" for n, s in self.steps)
        return f"WITH {body}\n{final.replace('{prev}', prev)}"


