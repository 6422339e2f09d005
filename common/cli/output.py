"""How commands print: JSON for scripts, rich tables for people, errors to stderr."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

__all__ = ["REGISTRY_OPTION", "Col", "fail", "parse_json_option", "print_json", "print_table"]

REGISTRY_OPTION = typer.Option(None, "--registry", "-r", envvar="MESH_REGISTRY",
                               help="Registry endpoint, tcp://HOST:PORT.")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


@dataclass(frozen=True)
class Col:
    """A table column: ``key`` ones (names) are never cut or wrapped; ``drop`` > 0 ones are
    left out, highest first, while the table would not fit the terminal; free text
    (``wrap_min`` > 0) counts as that wide, other columns as wide as their longest value.
    What still does not fit wraps (never cut)."""

    header: str
    key: bool = False
    drop: int = 0
    wrap_min: int = 0


SEPARATOR = 3  # " │ " between two columns (box.SIMPLE_HEAD, no edges)
WRAP_MIN = 8  # the narrowest a column that is not free text wraps to, when nothing else fits


def print_table(title: str, columns: list[str | Col], rows: list[list[Any]]) -> None:
    """A table that fits the terminal (COLUMNS): optional columns go first, then the rest
    wrap; a ``key`` column is always shown whole.  The caption names what was left out."""
    cols = [c if isinstance(c, Col) else Col(c) for c in columns]
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    console = Console()
    shown = _fitting(cols, cells, console.width)
    dropped = [c.header for i, c in enumerate(cols) if i not in shown]
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  caption=f"not shown at this width: {', '.join(dropped)} (--json has all)"
                  if dropped else None)
    for i, width in _widths(cols, cells, shown, console.width).items():
        table.add_column(cols[i].header, no_wrap=cols[i].key, overflow="fold", width=width)
    for row in cells:
        table.add_row(*(row[i] for i in shown))
    console.print(table)


def _natural(i: int, col: Col, cells: list[list[str]]) -> int:
    return max([cell_len(col.header), *(cell_len(line) for row in cells
                                        for line in row[i].splitlines())])


def _least(i: int, col: Col, cells: list[list[str]]) -> int:
    """The narrowest col may get: all of it for a key column, else down to wrap_min (free
    text) or its header's longest word."""
    natural = _natural(i, col, cells)
    header_word = max(cell_len(word) for word in col.header.split() or [""])
    return natural if col.key else min(natural, max(col.wrap_min or WRAP_MIN, header_word))


def _fit(i: int, col: Col, cells: list[list[str]]) -> int:
    """How wide col counts when deciding what to leave out."""
    natural = _natural(i, col, cells)
    return min(natural, col.wrap_min) if col.wrap_min and not col.key else natural


def _widths(cols: list[Col], cells: list[list[str]], shown: list[int],
            total: int) -> dict[int, int]:
    """Each shown column's width: its least, then what is left given out (short columns
    first, then free text; left to right), each up to its natural width.  Fixed widths:
    rich's own shrinking can crop a row."""
    widths = {i: _least(i, cols[i], cells) for i in shown}
    spare = total - sum(widths.values()) - SEPARATOR * (len(shown) - 1)
    for i in sorted(shown, key=lambda i: cols[i].wrap_min > 0):
        grow = max(0, min(spare, _natural(i, cols[i], cells) - widths[i]))
        widths[i] += grow
        spare -= grow
    return widths


def _fitting(cols: list[Col], cells: list[list[str]], width: int) -> list[int]:
    """Indexes of the columns to show: drop the most droppable until the rest fit, then take
    back, least droppable first, each one that still fits."""
    shown = list(range(len(cols)))

    def needed(columns: list[int]) -> int:
        return sum(_fit(i, cols[i], cells) for i in columns) + SEPARATOR * (len(columns) - 1)

    droppable = sorted((i for i, c in enumerate(cols) if c.drop), key=lambda i: -cols[i].drop)
    dropped = []
    for i in droppable:
        if needed(shown) <= width:
            break
        shown.remove(i)
        dropped.append(i)
    for i in reversed(dropped[:-1]):
        if needed(sorted([*shown, i])) <= width:
            shown = sorted([*shown, i])
    return shown


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error to stderr and return the Exit to raise."""
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def parse_json_option(text: str | None, option: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise fail(f"{option} is not valid JSON: {exc}", 2) from None
