"""``mesh up``, ``mesh down``: start and stop hosts from the startup config."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import typer

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.base_agent.logs import configure_logging
from common.cli.hosts import (
    ADDRESS_OPTION,
    CONFIG_OPTION,
    HOST_OPTION,
    RUN_DIR_OPTION,
    load_plan,
    parse_addresses,
    selected_hosts,
)
from common.cli.output import fail
from common.launcher import Launcher, LauncherRunning, control_endpoint

__all__ = ["down", "up"]

DETACH_READY_S = 20.0


def up(host: str = HOST_OPTION, config: str = CONFIG_OPTION,
       address: list[str] = ADDRESS_OPTION, run_dir: str = RUN_DIR_OPTION,
       detach: bool = typer.Option(False, help="Run in the background; control with "
                                   "`mesh status`, `mesh down`."),
       log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING or ERROR.")) -> None:
    """Start a host's agents in dependency order (or `--host all`: every host), supervise them
    (restart with backoff), and stop them all in reverse order on Ctrl-C or SIGTERM."""
    hosts = selected_hosts(config, host)
    if detach or len(hosts) > 1:
        _run_children(hosts, config, address, run_dir, log_level, detach)
        return
    plan = load_plan(config, hosts[0], parse_addresses(address))
    configure_logging(log_level)
    launcher = Launcher(plan, run_dir)
    try:
        launcher.setup()
    except LauncherRunning as exc:
        raise fail(str(exc)) from None
    launcher.run()


def _run_children(hosts: list[str], config: str, address: list[str], run_dir: str,
                  log_level: str, detach: bool) -> None:
    children = []
    for host in hosts:
        argv = [sys.executable, "-m", "common.cli.main", "up", "--host", host, "--config",
                config, "--run-dir", run_dir, "--log-level", log_level]
        argv += [arg for pair in address for arg in ("--address", pair)]
        out = None
        if detach:
            os.makedirs(run_dir, exist_ok=True)
            out = open(os.path.join(run_dir, f"launcher-{host}.log"), "ab")  # noqa: SIM115
        children.append(subprocess.Popen(argv, stdout=out, stderr=out,
                                         start_new_session=detach))
    if detach:
        _wait_detached(hosts, run_dir, children)
        return
    _forward_signals(children)
    codes = [child.wait() for child in children]
    if any(codes):
        raise typer.Exit(max(abs(c) for c in codes))


def _wait_detached(hosts: list[str], run_dir: str, children: list) -> None:
    with Client(source="mesh-up") as client:
        for host, child in zip(hosts, children, strict=True):
            deadline = time.monotonic() + DETACH_READY_S
            while time.monotonic() < deadline and child.poll() is None:
                try:
                    client.call_endpoint(control_endpoint(run_dir, host), "status",
                                         timeout_s=0.5, retries=0, peer=f"launcher {host}")
                    typer.echo(f"{host}: launcher running in the background (pid {child.pid})")
                    break
                except MeshError:
                    continue
            else:
                raise fail(f"{host}: launcher did not come up; see "
                           f"{os.path.join(run_dir, f'launcher-{host}.log')}")


def _forward_signals(children: list) -> None:
    def forward(sig: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(sig)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)


def down(host: str = HOST_OPTION, config: str = CONFIG_OPTION, run_dir: str = RUN_DIR_OPTION,
         timeout_s: float = typer.Option(120.0, "--timeout",
                                         help="Seconds to wait for the launcher to finish.")
         ) -> None:
    """Stop a host's agents in reverse dependency order (SIGTERM, then SIGKILL after the
    config's stop_timeout_s), then its launcher.  Request `down`, reply `{stopping, pid}`."""
    with Client(source="mesh-down") as client:
        for name in selected_hosts(config, host):
            try:
                reply = client.call_endpoint(control_endpoint(run_dir, name), "down",
                                             timeout_s=2.0, retries=0, peer=f"launcher {name}")
            except MeshError:
                typer.echo(f"{name}: no launcher running")
                continue
            _wait_gone(reply["pid"], timeout_s)
            typer.echo(f"{name}: stopped")


def _wait_gone(pid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise fail(f"launcher pid {pid} still running after {timeout_s:g} s")
