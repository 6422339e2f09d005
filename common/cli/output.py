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
    left out, highest first, when the table would not fit the terminal; the rest wrap
    (never cut) down to ``wrap_min`` characters."""

    header: str
    key: bool = False
    drop: int = 0
    wrap_min: int = 8


SEPARATOR = 3  # " │ " between two columns (box.SIMPLE_HEAD, no edges)


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
    for i in shown:
        table.add_column(cols[i].header, no_wrap=cols[i].key, overflow="fold",
                         min_width=_least(i, cols[i], cells))
    for row in cells:
        table.add_row(*(row[i] for i in shown))
    console.print(table)


def _natural(i: int, col: Col, cells: list[list[str]]) -> int:
    return max([cell_len(col.header), *(cell_len(line) for row in cells
                                        for line in row[i].splitlines())])


def _least(i: int, col: Col, cells: list[list[str]]) -> int:
    """The narrowest col may get: all of it for a key column, else down to wrap_min."""
    natural = _natural(i, col, cells)
    return natural if col.key else min(natural, max(col.wrap_min, cell_len(col.header)))


def _fitting(cols: list[Col], cells: list[list[str]], width: int) -> list[int]:
    """Indexes of the columns to show: drop the most droppable until the rest fit."""
    shown = list(range(len(cols)))

    def needed() -> int:
        return sum(_least(i, cols[i], cells) for i in shown) + SEPARATOR * (len(shown) - 1)

    for i in sorted((i for i, c in enumerate(cols) if c.drop), key=lambda i: -cols[i].drop):
        if needed() <= width:
            break
        shown.remove(i)
    return shown


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error to stderr and return the Exit to raise."""
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def parse_json_option(text: str | None, option: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise fail(f"{option} is not valid JSON: {exc}", 2) from None
