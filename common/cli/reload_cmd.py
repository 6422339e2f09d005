"""``mesh reload``: re-read the config on running hosts and apply only what changed."""

from __future__ import annotations

from typing import Any

import typer

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.cli.hosts import (
    CONFIG_OPTION,
    HOST_OPTION,
    RUN_DIR_OPTION,
    ask_launcher,
    launcher_plan,
    selected_hosts,
)
from common.cli.output import fail, print_json
from common.config import MeshConfig
from common.config.agent_classes import class_issues
from common.launcher import HostPlan

__all__ = ["reload"]

RELOAD_TIMEOUT_S = 10.0  # the launcher reads and validates its whole config file


def reload(host: str = HOST_OPTION, config: str = CONFIG_OPTION, run_dir: str = RUN_DIR_OPTION,
           dry_run: bool = typer.Option(False, "--dry-run",
                                        help="Print what would change; change nothing."),
           json_out: bool = typer.Option(False, "--json", help="Print JSON for scripts.")
           ) -> None:
    """Each host's launcher re-reads its own copy of the config and applies the difference,
    in dependency order: added agents start, removed ones stop, changed ones restart (and,
    where a port changed, the agents that depend on them); nothing else restarts.  The plan
    is printed first.  A config with errors, or an agent whose settings do not fit its class,
    changes nothing (exit 2)."""
    plan = launcher_plan(config)  # this folder's copy must be valid too: exit 2 with every error
    _require_classes(plan.config)
    results: list[dict[str, Any]] = []
    failed = []
    with Client(source="mesh-reload") as client:
        for name in selected_hosts(config, host):
            try:
                results.append(_reload(client, plan, name, dry_run, json_out))
            except MeshError as exc:
                failed.append(name)
                typer.echo(f"{name}: {exc}", err=True)
    if json_out:
        print_json({"hosts": results, "failed": failed})
    if failed:
        raise fail(f"reload failed on {', '.join(failed)}; nothing changed there", 2)


def _reload(client: Client, plan: HostPlan, host: str, dry_run: bool, quiet: bool
            ) -> dict[str, Any]:
    planned = ask_launcher(client, plan, host, "reload", {"dry_run": True},
                           timeout_s=RELOAD_TIMEOUT_S)
    if not quiet:
        typer.echo("\n".join(planned["lines"]))
    if dry_run or not (planned["stop"] or planned["restart"] or planned["start"]):
        return planned
    done = ask_launcher(client, plan, host, "reload", {"dry_run": False},
                        timeout_s=RELOAD_TIMEOUT_S)
    if not quiet:
        typer.echo(f"{host}: applied" if done["lines"] == planned["lines"]
                   else f"{host}: the file changed meanwhile; applied:\n"
                   + "\n".join(done["lines"]))
    return done


def _require_classes(cfg: MeshConfig) -> None:
    """Every agent fits its class (its settings model, the service it provides), checked here
    where the agent modules can be imported (the launchers import none)."""
    issues = class_issues(list(enumerate(cfg.agents)))
    if issues:
        typer.echo("\n".join(str(issue) for issue in issues), err=True)
        raise fail(f"{len(issues)} problem(s) with agents' settings or services; nothing "
                   "changed (see `mesh config check`)", 2)
