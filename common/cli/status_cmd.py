"""``mesh status``, ``mesh restart NAME``, ``mesh logs NAME``: operate running hosts, from
either machine: every request goes to the host's launcher over tcp
(``hosts.<h>.launcher_port``); nothing is read from this machine's disk."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.cli.hosts import (
    ADDRESS_OPTION,
    CONFIG_OPTION,
    HOST_OPTION,
    IGNORED_RUN_DIR,
    LauncherUnreachable,
    ask_launcher,
    ask_launchers,
    launcher_plan,
    selected_hosts,
)
from common.cli.output import Col, fail, print_json, print_table
from common.launcher import HostPlan

__all__ = ["logs", "restart", "status"]

FOLLOW_POLL_S = 0.3
STATUS_TIMEOUT_S = 2.0


def status(host: str = HOST_OPTION, config: str = CONFIG_OPTION,
           address: list[str] = ADDRESS_OPTION, run_dir: str = IGNORED_RUN_DIR,
           json_out: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """Every agent of the host(s): name, host, pid, state, ready, restarts, uptime, endpoint.
    Request `status` to each host's launcher (tcp, either machine); a launcher that does not
    answer is named on stderr, the others are still shown, and the exit code is 1."""
    plan = launcher_plan(config, address)
    replies, errors = ask_launchers(plan, selected_hosts(config, host), "status", "mesh-status",
                                    STATUS_TIMEOUT_S)
    reports = list(replies.values())
    if json_out:
        print_json({"hosts": reports, "not_running": list(errors), "errors": errors})
    elif reports:
        _print_status(plan, reports)
    for message in errors.values():
        typer.echo(message, err=True)
    if errors:
        raise typer.Exit(1)


def _print_status(plan: HostPlan, reports: list[dict[str, Any]]) -> None:
    cfg = plan.config
    rows = [[a["name"], a["host"], a["pid"], a["state"], "yes" if a["ready"] else "no",
             a["restarts"], f"{a['uptime_s']:.1f}",
             f"tcp://{plan.addresses[a['host']]}:{cfg.agent(a['name']).port}"
             if a["name"] in {x.name for x in cfg.agents} else ""]
            for r in reports for a in r["agents"]]
    ready = sum(1 for r in reports for a in r["agents"] if a["ready"])
    columns: list[str | Col] = [
        Col("name", key=True), "host", Col("pid", drop=3), "state", "ready",
        Col("restarts", drop=2), Col("uptime s", drop=4), Col("endpoint", key=True, drop=1)]
    health = ["; ".join(filter(None, [a.get("health_text", ""), *a.get("port_issues", [])]))
              for r in reports for a in r["agents"]]
    if any(health):  # why an answering script is not ready (its reply), its port issues
        columns.append(Col("health", wrap_min=20))
        rows = [[*row, text] for row, text in zip(rows, health, strict=True)]
    print_table(f"{ready}/{len(rows)} agents ready", columns, rows)
    services = {s["name"]: s for r in reports for s in r.get("services", [])}  # services:
    if services:
        up = sum(1 for s in services.values() if s["passing"])
        print_table(f"{up}/{len(services)} services passing",
                    [Col("name", key=True), "host", Col("pid", drop=2), "passing",
                     Col("endpoint", key=True, drop=1), Col("check", wrap_min=20)],
                    [[s["name"], s["host"], s["pid"], "yes" if s["passing"] else "no",
                      f"tcp://{s['address']}:{s['port']}", s["detail"]]
                     for s in services.values()])


def restart(name: str = typer.Argument(..., help="The agent to restart."),
            config: str = CONFIG_OPTION, address: list[str] = ADDRESS_OPTION,
            run_dir: str = IGNORED_RUN_DIR) -> None:
    """Restart one agent through its host's launcher (SIGTERM, then a fresh start), from
    either machine."""
    plan = launcher_plan(config, address)
    host = _host_of(plan, name, config)
    with Client(source="mesh-restart") as client:
        try:
            ask_launcher(client, plan, host, "restart", {"name": name})
        except MeshError as exc:
            raise fail(str(exc)) from None
    typer.echo(f"{name}: restarting on {host}")


def logs(name: str = typer.Argument(..., help="The agent whose log to print."),
         follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
         lines: int = typer.Option(50, "--lines", "-n", min=0, max=10_000,
                                   help="How many last lines to print."),
         config: str = CONFIG_OPTION, address: list[str] = ADDRESS_OPTION) -> None:
    """Print the end of an agent's log, from either machine: the launcher of the agent's host
    reads it (at most 64 KiB a request).  `-f` follows it across rotations until Ctrl-C.
    If that launcher does not answer, a copy of the log on this machine is printed instead."""
    plan = launcher_plan(config, address)
    host = _host_of(plan, name, config)
    with Client(source="mesh-logs", breaker_threshold=10**9) as client:
        try:
            reply = ask_launcher(client, plan, host, "logs", {"name": name, "lines": lines})
        except LauncherUnreachable as exc:
            _print_local(plan, name, lines, exc)
            return
        except MeshError as exc:
            raise fail(f"{host}: {exc}") from None
        typer.echo(reply["text"], nl=False)
        if follow:
            _follow(client, plan, host, name, reply)


def _host_of(plan: HostPlan, name: str, config: str) -> str:
    try:
        return plan.config.agent(name).host
    except KeyError:
        raise fail(f"no agent {name!r} in {config}", 2) from None


def _print_local(plan: HostPlan, name: str, lines: int, exc: LauncherUnreachable) -> None:
    path = Path(plan.config.global_.log_dir, exc.host, f"{name}.log")
    if not path.exists():
        raise fail(str(exc))
    typer.echo(f"{exc}; printing this machine's {path}", err=True)
    for line in path.read_text(errors="replace").splitlines()[-lines:] if lines else []:
        typer.echo(line)


def _follow(client: Client, plan: HostPlan, host: str, name: str, reply: dict[str, Any]
            ) -> None:
    warned = False
    while True:
        request = {"name": name, "offset": reply["offset"], "file_id": reply["file_id"]}
        try:
            reply = ask_launcher(client, plan, host, "logs", request)
        except LauncherUnreachable as exc:
            if not warned:
                typer.echo(f"{exc}; still trying (Ctrl-C to stop)", err=True)
            warned = True
            reply = {**request, "text": ""}
        else:
            warned = False
        typer.echo(reply["text"], nl=False)
        if not reply["text"]:
            time.sleep(FOLLOW_POLL_S)
