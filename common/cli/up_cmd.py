"""``mesh up``, ``mesh down``: start and stop hosts from the startup config."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import typer
import zmq
from rich.markup import escape

from common.base_agent import security
from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.base_agent.keystore import KeyStoreError
from common.base_agent.logs import configure_logging
from common.cli.hosts import (
    ADDRESS_OPTION,
    CONFIG_OPTION,
    HOST_OPTION,
    IGNORED_RUN_DIR,
    RUN_DIR_OPTION,
    ask_launcher,
    ask_launchers,
    launcher_plan,
    load_plan,
    parse_addresses,
    selected_hosts,
    use_security,
)
from common.cli.output import fail
from common.config.agent_classes import class_issues
from common.extras import TorchMissing, missing_torch
from common.launcher import HostPlan, Launcher, LauncherRunning
from common.launcher.control import pid_space

__all__ = ["down", "up"]

DETACH_READY_S = 20.0
DOWN_POLL_S = 0.5  # `mesh down` asks `status` this often until the launcher stops answering


def up(host: str = HOST_OPTION, config: str = CONFIG_OPTION,
       address: list[str] = ADDRESS_OPTION, run_dir: str = RUN_DIR_OPTION,
       detach: bool = typer.Option(False, help="Run in the background; control with "
                                   "`mesh status`, `mesh down`."),
       log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING or ERROR.")) -> None:
    """Start a host's agents in dependency order (or `--host all`: every host, one launcher
    process each), supervise them (restart with backoff, hang detection), and stop them all in
    reverse order on Ctrl-C or SIGTERM."""
    hosts = selected_hosts(config, host)
    addresses = parse_addresses(address)
    plans = [load_plan(config, name, addresses, log_level) for name in hosts]
    _require_settings(plans)
    _require_secrets(plans)
    _require_scripts(plans)
    _require_torch(plans)
    _check_keys(plans)
    if detach:
        _detach(plans, config, address, run_dir, log_level)
        return
    configure_logging(log_level)
    if len(plans) == 1:
        raise typer.Exit(_run_launcher(plans[0], run_dir, config))
    pids = [_fork_launcher(plan, run_dir, config) for plan in plans]
    _forward_signals(pids)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
    if any(codes):
        raise typer.Exit(max(abs(c) for c in codes))


def _require_settings(plans: list[HostPlan]) -> None:
    """Every agent of the hosts to start fits its class (its settings model, the service it
    provides), or nothing starts: each problem is named with its field path, exit code 2."""
    hosts = {plan.host for plan in plans}
    agents = [(i, a) for i, a in enumerate(plans[0].config.agents) if a.host in hosts]
    issues = class_issues(agents)
    if issues:
        typer.echo("\n".join(str(issue) for issue in issues), err=True)
        raise fail(f"{len(issues)} problem(s) with agents' settings or services; nothing "
                   "was started (see `mesh config check`)", 2)


def _require_secrets(plans: list[HostPlan]) -> None:
    """Every required secret of the hosts to start must be readable, or nothing starts: each
    one missing is named (agent, secret, source) and the exit code is 2."""
    problems = [problem for plan in plans for problem in plan.missing_secrets()]
    if problems:
        typer.echo("\n".join(problems), err=True)
        raise fail(f"{len(problems)} required secret(s) cannot be read; nothing was started", 2)


def _require_scripts(plans: list[HostPlan]) -> None:
    """Every legacy script, its interpreter and working folder must be there, or nothing
    starts (exit code 2), each one missing named by its field."""
    problems = [problem for plan in plans for problem in plan.missing_paths()]
    if problems:
        typer.echo("\n".join(problems), err=True)
        raise fail(f"{len(problems)} legacy script path(s) missing; nothing was started", 2)


def _require_torch(plans: list[HostPlan]) -> None:
    """A host that runs model agents needs torch (the models extra), or nothing starts: its
    model agents are named with the install command, exit code 2."""
    for plan in plans:
        needing = missing_torch({name: cfg.module for name, cfg in plan.agents.items()
                                 if cfg.module})
        if needing:
            raise fail(escape(f"{plan.host}: {TorchMissing(needing)}; nothing was started"), 2)


def _check_keys(plans: list[HostPlan]) -> None:
    """curve: every identity the hosts will use has its key files (0600), or nothing starts;
    plain: say so."""
    store = security.keystore()
    if store is None:
        typer.echo(security.PLAIN_WARNING, err=True)
        return
    problems = []
    for plan in plans:  # each host's own server key, its launcher's and agents' pairs
        for name in [f"launcher-{plan.host}", *plan.agents]:
            try:
                store.keyring(name, plan.host)
            except KeyStoreError as exc:
                problems.append(str(exc))
    problems = list(dict.fromkeys(problems))  # a host's server key: named once
    if problems:
        typer.echo("\n".join(problems), err=True)
        raise fail(f"{len(problems)} key problem(s) in {store.dir}; nothing was started", 2)


def _run_launcher(plan: HostPlan, run_dir: str, config: str) -> int:
    use_security(plan.config, f"launcher-{plan.host}", plan.host, plan.addresses)
    launcher = Launcher(plan, run_dir, config_path=str(Path(config).resolve()))
    try:
        launcher.setup()
    except LauncherRunning as exc:
        fail(str(exc))
        return 1
    except zmq.ZMQError as exc:
        fail(f"{plan.host}: cannot serve the launcher's control socket at "
             f"{plan.launcher_endpoint()}: {exc} (is {plan.addresses[plan.host]} an address of "
             f"this machine, and is hosts.{plan.host}.launcher_port free? see `mesh config "
             f"ports`; `--address {plan.host}=IP` overrides the address)")
        return 1
    launcher.run()
    return 0


def _fork_launcher(plan: HostPlan, run_dir: str, config: str) -> int:
    """One launcher process per host, as on two machines; forked (this process has no zmq
    context or thread yet), which saves each a fresh interpreter's imports."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _run_launcher(plan, run_dir, config)
        finally:
            logging.shutdown()
            os._exit(code)
    return pid


def _detach(plans: list[HostPlan], config: str, address: list[str], run_dir: str,
            log_level: str) -> None:
    os.makedirs(run_dir, exist_ok=True)
    children = []
    for host in (plan.host for plan in plans):
        argv = [sys.executable, "-m", "common.cli.main", "up", "--host", host, "--config",
                config, "--run-dir", run_dir, "--log-level", log_level]
        argv += [arg for pair in address for arg in ("--address", pair)]
        out = open(os.path.join(run_dir, f"launcher-{host}.log"), "ab")  # noqa: SIM115
        children.append(subprocess.Popen(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                         start_new_session=True))
    _wait_detached(plans, run_dir, children)


def _wait_detached(plans: list[HostPlan], run_dir: str, children: list) -> None:
    with Client(source="mesh-up", breaker_threshold=10**9) as client:
        for plan, child in zip(plans, children, strict=True):
            host, deadline = plan.host, time.monotonic() + DETACH_READY_S
            while time.monotonic() < deadline and child.poll() is None:
                try:
                    ask_launcher(client, plan, host, "status", timeout_s=0.5)
                    typer.echo(f"{host}: launcher running in the background (pid {child.pid}), "
                               f"control at {plan.launcher_endpoint()}")
                    break
                except MeshError:
                    continue
            else:
                raise fail(f"{host}: launcher did not come up; see "
                           f"{os.path.join(run_dir, f'launcher-{host}.log')}")


def _forward_signals(pids: list[int]) -> None:
    def forward(sig: int, _frame: object) -> None:
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)


def down(host: str = HOST_OPTION, config: str = CONFIG_OPTION,
         address: list[str] = ADDRESS_OPTION, run_dir: str = IGNORED_RUN_DIR,
         timeout_s: float = typer.Option(120.0, "--timeout",
                                         help="Seconds to wait for the launcher to finish.")
         ) -> None:
    """Stop a host's agents in reverse dependency order (SIGTERM, then SIGKILL after the
    config's stop_timeout_s), then its launcher; from either machine, over tcp.  Request
    `down`, reply `{stopping, pid, pid_space}`; on the launcher's own machine waits until its
    process has exited, from another until it stops answering.  A launcher that does not
    answer is named on stderr: there is nothing to stop there (exit 0)."""
    plan = launcher_plan(config, address)
    stopping, errors = ask_launchers(plan, selected_hosts(config, host), "down", "mesh-down")
    for message in errors.values():  # every host stops at once
        typer.echo(message, err=True)
    with Client(source="mesh-down", breaker_threshold=10**9) as client:
        deadline = time.monotonic() + timeout_s
        for name, reply in stopping.items():
            if reply.get("pid_space") == pid_space():  # the same machine: its pid is ours too
                _wait_gone(reply["pid"], deadline)
            else:
                _wait_stopped(client, plan, name, deadline)
            typer.echo(f"{name}: stopped")


def _wait_stopped(client: Client, plan: HostPlan, host: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            ask_launcher(client, plan, host, "status", timeout_s=DOWN_POLL_S)
        except MeshError:
            return
        time.sleep(DOWN_POLL_S)
    raise fail(f"{host}: launcher at {plan.launcher_endpoint(host)} still answering after "
               "--timeout")


def _wait_gone(pid: int, deadline: float) -> None:
    """Until pid has exited: gone, or a zombie its parent has not reaped yet (a parent that
    waits for it only later must not hold us up; a zombie holds no socket, file or lock).  A
    leader whose other threads still run also shows as a zombie: it counts once alone."""
    while time.monotonic() < deadline:
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE and proc.num_threads() <= 1:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    raise fail(f"launcher pid {pid} still running after --timeout")
