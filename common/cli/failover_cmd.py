"""``mesh failover status`` and ``mesh failover back NAME``: host failover, seen and steered.

``status`` asks every launcher ``failover_status {}`` -> ``{host, guests: {name: running |
returning}, held: [name], shipped: {name: taken_at}, received: {name: taken_at}}``: which
agents run away from home (guests), which are held at home (fenced, or running elsewhere),
and how old the last state copy sent and received is.  ``back NAME`` asks the launcher that
runs NAME as a guest ``failover_back {name}``: it stops it, ships its state home, and the
home launcher starts it (what ``back: auto`` does by itself).  See docs/DR.md.
"""

from __future__ import annotations

import time
from typing import Any

import typer

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.cli.hosts import ADDRESS_OPTION, CONFIG_OPTION, ask_launcher, launcher_plan
from common.cli.output import fail, print_json, print_table

__all__ = ["failover_app"]

failover_app = typer.Typer(help="Host failover: where agents run, state copies, moving back.",
                           no_args_is_help=True)


@failover_app.command("status")
def status(config: str = CONFIG_OPTION, address: list[str] = ADDRESS_OPTION,
           as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")
           ) -> None:
    """Each launcher's failover view (exit 1 if a launcher does not answer)."""
    plan = launcher_plan(config, address)
    reports, errors = [], []
    with Client(source="mesh-failover") as client:
        for host in plan.config.hosts:
            try:
                reports.append(ask_launcher(client, plan, host, "failover_status"))
            except MeshError as exc:
                errors.append(str(exc))
    if as_json:
        print_json({"hosts": reports, "errors": errors})
    else:
        now = time.time()
        print_table("failover", ["host", "guests", "held", "copy sent", "copy received"],
                    [[r["host"], _guests(r["guests"]), ", ".join(r["held"]) or "-",
                      _ages(r["shipped"], now), _ages(r["received"], now)] for r in reports])
    for message in errors:
        typer.echo(message, err=True)
    if errors:
        raise typer.Exit(1)


@failover_app.command("back")
def back(name: str = typer.Argument(..., help="The agent to move home."),
         config: str = CONFIG_OPTION, address: list[str] = ADDRESS_OPTION) -> None:
    """Move NAME home from the host running it as a guest (for ``back: manual``)."""
    plan = launcher_plan(config, address)
    if name not in {a.name for a in plan.config.agents if a.failover is not None}:
        raise fail(f"{name} has no failover: in {config}", 2)
    with Client(source="mesh-failover") as client:
        for host in plan.config.hosts:
            try:
                reply = ask_launcher(client, plan, host, "failover_back", {"name": name})
            except MeshError:
                continue
            typer.echo(f"{name}: {'already moving' if reply.get('already') else 'moving'} "
                       f"home from {host}")
            return
    raise fail(f"no launcher runs {name} as a guest", 1)


def _guests(guests: dict[str, str]) -> str:
    return ", ".join(f"{n} ({s})" for n, s in sorted(guests.items())) or "-"


def _ages(copies: dict[str, Any], now: float) -> str:
    return ", ".join(f"{n} {now - t:.1f} s ago" for n, t in sorted(copies.items())) or "-"
