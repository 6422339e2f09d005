"""How commands print: JSON for scripts, rich tables for people, errors to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["REGISTRY_OPTION", "fail", "need_registry", "parse_json_option", "print_json",
           "print_table"]

REGISTRY_OPTION = typer.Option(None, "--registry", "-r", envvar="MESH_REGISTRY",
                               help="Registry endpoint, tcp://HOST:PORT.")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console().print(table)


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


def need_registry(registry: str | None) -> str:
    """--registry, else MESH_REGISTRY; exit 2 naming both when neither is given."""
    from common.base_agent.client import registry_from_env

    endpoint = registry_from_env(registry)
    if not endpoint:
        raise fail("no registry: pass --registry tcp://HOST:PORT or set MESH_REGISTRY", 2)
    return endpoint
