"""Run a mesh from a startup config in tests: write the config, `mesh up`, ask the launchers."""

from __future__ import annotations

import socket
from collections import deque
from pathlib import Path
from typing import Any

import yaml

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.config import load_config
from common.launcher import HostPlan
from common.testing.processes import MeshProcess, ProcessTracker
from common.testing.wait import wait_until

__all__ = ["MeshRun", "free_ports", "two_host_config"]


_HANDED_OUT: deque[int] = deque(maxlen=4096)  # this process's recent answers, never repeated


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports free right now on host (bound and released; fine for tests on loopback), none
    that an earlier call in this process gave: a port released by one call could come back
    from the next, and a test that draws twice (a config's launchers, then its agents) got
    the same port for two things."""
    socks: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            sock = socket.socket()
            socks.append(sock)  # held bound till the end: the kernel cannot give it again
            sock.bind((host, 0))
            port = sock.getsockname()[1]
            if port not in _HANDED_OUT:
                ports.append(port)
        _HANDED_OUT.extend(ports)
        return ports
    finally:
        for sock in socks:
            sock.close()


def two_host_config(workdir: Path | str, agents: list[dict[str, Any]], *,
                health: dict[str, Any] | None = None, main_pc: dict[str, Any] | None = None,
                **global_: Any) -> dict[str, Any]:
    """A two-host startup config for tests: fast heartbeats, logs under workdir, MainPC on
    127.0.0.1 (registry role unless main_pc says otherwise), PC2 on 127.0.0.2, each launcher
    on a port free now (tests run side by side)."""
    launchers = free_ports(2)
    return {
        "version": 1,
        "global": {"heartbeat_interval_s": 0.3, "stop_timeout_s": 3,
                   "log_dir": str(Path(workdir) / "logs"),
                   "health": {"interval_s": 0.3, "timeout_s": 0.3, "retries": 2,
                              "start_period_s": 10, **(health or {})}, **global_},
        "hosts": {"main_pc": {"address": "127.0.0.1", "roles": ["registry"],
                              "launcher_port": launchers[0], **(main_pc or {})},
                  "pc2": {"address": "127.0.0.2", "launcher_port": launchers[1]}},
        "agents": agents,
    }


class MeshRun:
    def __init__(self, procs: ProcessTracker, workdir: Path, config: dict[str, Any]) -> None:
        self.procs = procs
        self.workdir = Path(workdir)
        self.run_dir = str(self.workdir / "run")
        self.config_path = self.workdir / "mesh.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.client = Client(source="test")
        self.clients: dict[str, Client] = {}  # per host, where only that host reaches it
        self.run_dirs: dict[str, str] = {}  # per host, where hosts share no run dir
        self.addresses: dict[str, str] = {}  # `--address` overrides the launchers run with
        self._launchers: dict[str, str] = {}

    def up(self, host: str = "all", *extra: str, prefix: tuple[str, ...] = (),
           run_dir: str | None = None) -> MeshProcess:
        return self.procs.mesh("up", "--host", host, "--config", str(self.config_path),
                               "--run-dir", run_dir or self.run_dir, *extra, ready=False,
                               prefix=prefix)

    def launcher_endpoint(self, host: str) -> str:
        """Where host's launcher listens (tcp; from the config and ``addresses``)."""
        if host not in self._launchers:
            plan = HostPlan(load_config(self.config_path), host, self.addresses)
            self._launchers[host] = plan.launcher_endpoint()
        return self._launchers[host]

    def status(self, host: str) -> dict[str, Any] | None:
        client = self.clients.get(host, self.client)
        try:
            return client.call_endpoint(self.launcher_endpoint(host), "status",
                                        timeout_s=1.0, retries=0, peer=f"launcher {host}")
        except MeshError:
            return None

    def agents(self, *hosts: str) -> dict[str, dict[str, Any]]:
        return self.heard(hosts)[0]

    def heard(self, hosts: tuple[str, ...]) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """The agents of hosts by name, and the hosts whose launcher did not answer."""
        agents: dict[str, dict[str, Any]] = {}
        silent = set()
        for host in hosts:
            report = self.status(host)
            if report is None:
                silent.add(host)
            for agent in (report or {}).get("agents", []):
                agents[agent["name"]] = agent
        return agents, silent

    def wait(self, hosts: tuple[str, ...], predicate, timeout_s: float = 20.0,
             what: str = "agents") -> dict[str, dict[str, Any]]:
        """Poll the launchers until every one of hosts answers and predicate(agents by name)
        holds; returns the agents.  A launcher that misses one status poll (a busy machine)
        is asked again: its agents are never judged by their absence."""
        last: dict[str, dict[str, Any]] = {}
        silent: set[str] = set()

        def check() -> dict[str, dict[str, Any]] | None:
            agents, unheard = self.heard(hosts)
            silent.clear()
            silent.update(unheard)
            last.update(agents)
            return agents if agents and not silent and predicate(agents) else None

        try:
            return wait_until(check, timeout_s, interval_s=0.02, what=what)
        except TimeoutError as exc:
            seen = "; ".join(f"{n} {a.get('state')} pid {a.get('pid')} ready {a.get('ready')}"
                             for n, a in sorted(last.items()))
            unheard = f"; no answer from {', '.join(sorted(silent))}" if silent else ""
            raise TimeoutError(f"{exc}; last seen: {seen or 'no launcher answered'}"
                               f"{unheard}") from None

    def wait_ready(self, hosts: tuple[str, ...] = ("main_pc", "pc2"),
                   timeout_s: float = 20.0) -> dict[str, dict[str, Any]]:
        return self.wait(hosts, lambda a: all(x["ready"] for x in a.values()), timeout_s,
                         "every agent ready")

    def close(self) -> None:
        self.client.close()
        for client in self.clients.values():
            client.close()
