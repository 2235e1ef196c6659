"""Tables that fit the terminal: columns are dropped (least useful first) before anything is
cut, names never wrap or end in an ellipsis, and free text wraps between words.

At 80 columns a table with every field would have to squeeze each cell below its longest
word; rich then cuts the word with "…" (``titanic-sur…``). Instead, :func:`fit_table` measures
every cell, drops the columns a caller marked as optional until the rest fit, and says which
ones it left out (``--json`` and a wider terminal show them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

#: A word of free text longer than this may fold onto the next line rather than widen its
#: column (a path, a URI): the column keeps a readable width.
_TEXT_MIN = 14


@dataclass(frozen=True)
class Col:
    """One column: ``key`` columns (names, versions) are never dropped, wrapped or cut;
    ``drop`` orders the optional ones (the highest goes first); ``text`` columns wrap."""

    header: str
    key: bool = False
    drop: int = 0
    text: bool = False
    justify: str = "left"


def _cell_width(cell: str, *, whole: bool) -> int:
    plain = Text.from_markup(cell).plain if "[" in cell else cell
    lines = plain.splitlines() or [""]
    if whole:
        return max(len(line) for line in lines)
    return max((len(word) for line in lines for word in line.split()), default=0)


def _natural(col: Col, cells: Sequence[str]) -> int:
    return max([len(col.header), *(_cell_width(c, whole=True) for c in cells)])


def _min_width(col: Col, cells: Sequence[str]) -> int:
    header = max((len(w) for w in col.header.split()), default=0)
    widest = max((_cell_width(c, whole=col.key) for c in cells), default=0)
    if col.text:
        widest = min(widest, _TEXT_MIN)
    return max(header, widest)


def fit_table(
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    *,
    console: Console,
    title: str | None = None,
    show_lines: bool = False,
) -> tuple[Table, list[str]]:
    """The table of ``rows`` at the console's width, and the headers of the dropped columns."""
    width = console.width
    kept = list(range(len(cols)))
    mins = [_min_width(c, [r[i] for r in rows]) for i, c in enumerate(cols)]

    def needed(indices: list[int]) -> int:  # cells + one space of padding each side + borders
        return sum(mins[i] for i in indices) + 3 * len(indices) + 1

    optional = sorted((i for i, c in enumerate(cols) if c.drop), key=lambda i: -cols[i].drop)
    dropped = []
    for i in optional:
        if needed(kept) <= width:
            break
        kept.remove(i)
        dropped.append(cols[i].header)
    # Widths are set here, not left to rich: its own squeeze can still overflow the line.
    widths = {i: max(mins[i], _natural(cols[i], [r[i] for r in rows])) for i in kept}
    excess = sum(widths.values()) - (width - 3 * len(kept) - 1)
    while excess > 0:
        slack = {i: widths[i] - mins[i] for i in kept if not cols[i].key}
        widest = max(slack, key=lambda i: slack[i], default=None)
        if widest is None or slack[widest] <= 0:
            break  # only names left to squeeze: let the line be long rather than cut one
        widths[widest] -= 1
        excess -= 1
    table = Table(
        *(
            Column(
                cols[i].header,
                justify=cols[i].justify,  # type: ignore[arg-type]
                no_wrap=cols[i].key,
                width=widths[i],
                overflow="fold",
            )
            for i in kept
        ),
        title=title,
        show_lines=show_lines,
    )
    for row in rows:
        table.add_row(*(row[i] for i in kept))
    return table, dropped


def print_table(
    console: Console,
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    show_lines: bool = False,
) -> None:
    """Print :func:`fit_table`'s table and, under it, which columns did not fit."""
    table, dropped = fit_table(cols, rows, console=console, title=title, show_lines=show_lines)
    console.print(table)
    if dropped:
        console.print(
            f"[dim]not shown at {console.width} columns: {', '.join(dropped)} "
            "(--json, or a wider terminal, shows them)[/]"
        )
