"""The one table renderer of the command line: fitted to a terminal, plain when piped.

On a terminal the table fits the window: numbers, codes, ranks and weights are never cut;
long text columns wrap first, and when even wrapped they cannot fit, whole columns are left
out (wide text first, then other numbers, prose such as the reason last) with a line saying
which. Piped or written to a file, it is a plain aligned table at its full width (no box, no
ellipsis, whatever $COLUMNS says), which `less -S`, `grep` and `cut` read as it is."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

KEEP = frozenset({"rank", "code", "weight"})  # identify a row and say what it holds: never dropped
PROSE = frozenset({"reason", "description", "examples"})  # the why of a row: dropped last
TEXT_MIN = 12  # narrowest a wrapped text column gets (cells)
PROSE_MIN = 20


def _cells(s: str) -> int:
    from rich.cells import cell_len

    return cell_len(s)


def _longest_word(s: str) -> int:
    return max((_cells(w) for w in s.split()), default=0)


@dataclass
class TextTable:
    """Formatted cells with their column keys (`keys`, which decide what may be dropped),
    labels (`headers`) and alignment (`numeric`). Print it on a rich Console."""

    keys: list[str]
    headers: list[str]
    numeric: list[bool]
    rows: list[list[str]]
    title: str | None = None
    caption: str | None = None
    keep: frozenset[str] = KEEP
    dropped: list[str] = field(default_factory=list, init=False)

    # -- widths -------------------------------------------------------------------------
    def _natural(self, i: int) -> int:
        return max([_cells(self.headers[i]), *(_cells(r[i]) for r in self.rows)])

    def _fixed(self, i: int) -> bool:
        """A column that is never wrapped: numbers and the kept identity columns."""
        return self.numeric[i] or self.keys[i] in self.keep

    def _min(self, i: int) -> int:
        content = max((_cells(r[i]) for r in self.rows), default=0)
        if self._fixed(i):  # the header may wrap at its words; the values never
            return max(content, _longest_word(self.headers[i]), 1)
        floor = PROSE_MIN if self.keys[i] in PROSE else TEXT_MIN
        return min(self._natural(i), floor)

    def _drop_order(self) -> list[int]:
        """Columns in the order they give way: empty ones, wide text (widest first), other
        numbers (rightmost first), the name, prose; never the kept ones."""
        cols = [i for i in range(len(self.keys)) if self.keys[i] not in self.keep]
        empty = [i for i in cols if not any(r[i] for r in self.rows)]
        rest = [i for i in cols if i not in empty]
        text = [i for i in rest if not self._fixed(i) and self.keys[i] not in PROSE | {"name"}]
        nums = [i for i in rest if self._fixed(i)]
        last = [i for i in rest if self.keys[i] == "name"]
        prose = [i for i in rest if self.keys[i] in PROSE]
        return (empty + sorted(text, key=lambda i: (-self._natural(i), -i)) + nums[::-1] + last
                + sorted(prose, key=lambda i: -self._natural(i)))

    def fit(self, width: int) -> tuple[list[int], list[int]]:
        """The columns shown in `width` cells and their widths."""
        shown = list(range(len(self.keys)))
        mins = {i: self._min(i) for i in shown}

        def need(cols: list[int]) -> int:  # a rich box: 1 cell of padding each side, n + 1 rules
            return sum(mins[i] for i in cols) + 3 * len(cols) + 1

        for i in self._drop_order():
            if need(shown) <= width:
                break
            shown.remove(i)
        widths = {i: self._natural(i) for i in shown}
        excess = sum(widths.values()) + 3 * len(shown) + 1 - width
        # first wrap the headers of number columns, then the text: each time one cell off
        # the widest column that still has room above its minimum
        for fixed in (True, False):
            while excess > 0:
                room = [i for i in shown if self._fixed(i) == fixed and widths[i] > mins[i]]
                if not room:
                    break
                widest = max(room, key=lambda i: (widths[i], -i))
                widths[widest] -= 1
                excess -= 1
        return shown, [widths[i] for i in shown]

    # -- rendering ----------------------------------------------------------------------
    def _fitted(self, width: int) -> Iterator[Any]:
        from rich.table import Table
        from rich.text import Text

        shown, widths = self.fit(width)
        self.dropped = [self.keys[i] for i in range(len(self.keys)) if i not in shown]
        t = Table(title=self.title, caption=self.caption, header_style="bold", title_justify="left")
        for i, w in zip(shown, widths, strict=True):
            t.add_column(self.headers[i], justify="right" if self.numeric[i] else "left",
                         width=w, no_wrap=False, overflow="fold")
        for r in self.rows:
            t.add_row(*(r[i] for i in shown))
        yield t
        if self.dropped:
            yield Text(f"(left out to fit {width} columns: {', '.join(self.dropped)}; a wider "
                       "terminal or a pipe, e.g. `| less -S`, shows them)", style="dim")

    def plain_lines(self) -> list[str]:
        """The table as plain aligned lines: two spaces between columns, numbers right-aligned,
        a dashed line under the header; wide (CJK) characters count two cells."""
        widths = [self._natural(i) for i in range(len(self.keys))]

        def line(cells: Sequence[str]) -> str:
            parts = []
            for c, w, num in zip(cells, widths, self.numeric, strict=True):
                pad = " " * (w - _cells(c))
                parts.append(pad + c if num else c + pad)
            return "  ".join(parts).rstrip()

        out = [self.title] if self.title else []
        out += [line(self.headers), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in self.rows]
        if self.caption:
            out.append(self.caption)
        return out

    def __rich_console__(self, console: Any, options: Any) -> Iterable[Any]:
        if console.is_terminal:
            yield from self._fitted(options.max_width)
            return
        from rich.text import Text

        for s in self.plain_lines():
            # no wrapping, no cropping: the console of a pipe or a file is wide enough
            yield Text(s, no_wrap=True, overflow="ignore", end="\n")
