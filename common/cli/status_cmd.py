"""``mesh status``, ``mesh restart NAME``, ``mesh logs NAME``: operate a running host."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.cli.hosts import (
    CONFIG_OPTION,
    HOST_OPTION,
    RUN_DIR_OPTION,
    ask_launcher,
    load,
    selected_hosts,
)
from common.cli.output import fail, print_json, print_table

__all__ = ["logs", "restart", "status"]

FOLLOW_POLL_S = 0.2


def status(host: str = HOST_OPTION, config: str = CONFIG_OPTION, run_dir: str = RUN_DIR_OPTION,
           json_out: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """Every agent of the host(s): name, host, pid, state, ready, restarts, uptime, endpoint.
    Request `status` to each launcher; exit 1 if a launcher does not answer."""
    cfg, reports, missing = load(config), [], []
    with Client(source="mesh-status") as client:
        for name in selected_hosts(config, host):
            try:
                reports.append(ask_launcher(client, run_dir, name, "status"))
            except MeshError:
                missing.append(name)
    if json_out:
        print_json({"hosts": reports, "not_running": missing})
    else:
        addresses = {n: h.address for n, h in cfg.hosts.items()}
        rows = [[a["name"], a["host"], a["pid"], a["state"], "yes" if a["ready"] else "no",
                 a["restarts"], f"{a['uptime_s']:.1f}",
                 f"tcp://{addresses[a['host']]}:{cfg.agent(a['name']).port}"]
                for r in reports for a in r["agents"]]
        ready = sum(1 for r in reports for a in r["agents"] if a["ready"])
        print_table(f"{ready}/{len(rows)} agents ready",
                    ["name", "host", "pid", "state", "ready", "restarts", "uptime s",
                     "endpoint"], rows)
        for name in missing:
            typer.echo(f"{name}: no launcher running", err=True)
    if missing:
        raise typer.Exit(1)


def restart(name: str = typer.Argument(..., help="The agent to restart."),
            config: str = CONFIG_OPTION, run_dir: str = RUN_DIR_OPTION) -> None:
    """Restart one agent through its host's launcher (SIGTERM, then a fresh start)."""
    cfg = load(config)
    try:
        host = cfg.agent(name).host
    except KeyError:
        raise fail(f"no agent {name!r} in {config}", 2) from None
    with Client(source="mesh-restart") as client:
        try:
            ask_launcher(client, run_dir, host, "restart", {"name": name})
        except MeshError as exc:
            raise fail(str(exc)) from None
    typer.echo(f"{name}: restarting on {host}")


def logs(name: str = typer.Argument(..., help="The agent whose log to print."),
         follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
         lines: int = typer.Option(50, "--lines", "-n", help="How many last lines to print."),
         config: str = CONFIG_OPTION) -> None:
    """Print an agent's log file (on the host it runs on); `-f` follows it across rotations."""
    cfg = load(config)
    try:
        agent = cfg.agent(name)
    except KeyError:
        raise fail(f"no agent {name!r} in {config}", 2) from None
    path = Path(cfg.global_.log_dir, agent.host, f"{name}.log")
    if not path.exists():
        raise fail(f"no log yet at {path}")
    for line in path.read_text(errors="replace").splitlines()[-lines:]:
        typer.echo(line)
    if follow:
        _follow(path)


def _follow(path: Path) -> None:
    handle = path.open(errors="replace")
    handle.seek(0, 2)
    inode = path.stat().st_ino
    while True:
        line = handle.readline()
        if line:
            typer.echo(line, nl=False)
            continue
        if path.exists() and path.stat().st_ino != inode:  # rotated: start the new file
            handle.close()
            handle, inode = path.open(errors="replace"), path.stat().st_ino
            continue
        time.sleep(FOLLOW_POLL_S)
