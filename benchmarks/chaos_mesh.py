"""The reference mesh under the chaos soak: its config, its two launchers, their view of it.

``soak_config(workdir, addresses)`` is startup_config.yaml relocated (common.testing.reference:
logs and SQLite state under workdir, ports offset by OFFSET) with each host on its own address
(the namespaces' veth addresses, or 127.0.0.1 / 127.0.0.2 without namespaces).  ``SoakMesh``
starts one ``mesh up --host H`` per host (PC2's inside its namespace), reads both launchers'
status over their control sockets, stops them with ``down`` and finds processes left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.config import load_config
from common.launcher import HostPlan
from common.testing.reference import reference_config

__all__ = ["HOSTS", "INFRA", "OFFSET", "SoakMesh", "soak_config"]

ROOT = Path(__file__).resolve().parents[1]
OFFSET = 14000
HOSTS = ("main_pc", "pc2")
# the fault targets that are not "a random agent", by fault-type prefix
INFRA = {"registry": "ServiceRegistry", "model_manager": "ModelManagerAgent",
         "hub_central": "ObservabilityHub", "hub_edge": "ObservabilityHub_pc2"}
DOWN_TIMEOUT_S = 90.0


def soak_config(workdir: Path, addresses: tuple[str, str]) -> dict[str, Any]:
    return reference_config(workdir, OFFSET, addresses=dict(zip(HOSTS, addresses, strict=True)))


class SoakMesh:
    """prefixes: per host, the argv prefix that runs a command on that host (netns exec)."""

    def __init__(self, workdir: Path, addresses: tuple[str, str],
                 prefixes: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())) -> None:
        self.workdir = workdir
        self.config = soak_config(workdir, addresses)
        self.config_path = workdir / "mesh.yaml"
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        self.run_dir = str(workdir / "run")
        self.addresses = dict(zip(HOSTS, addresses, strict=True))
        self.prefixes = dict(zip(HOSTS, prefixes, strict=True))
        self.agents = {a["name"]: a for a in self.config["agents"]}
        registry = self.agents[INFRA["registry"]]
        self.registry = f"tcp://{addresses[0]}:{_port(registry)}"
        self.launchers: dict[str, subprocess.Popen] = {}
        config = self.loaded = load_config(self.config_path)  # ports resolved
        self.controls = {host: HostPlan(config, host, self.addresses).launcher_endpoint()
                         for host in HOSTS}

    # -- the config ----------------------------------------------------------------------
    def host_of(self, name: str) -> str:
        return self.agents[name]["host"]

    def endpoint(self, name: str) -> str:
        return f"tcp://{self.addresses[self.host_of(name)]}:{_port(self.agents[name])}"

    def hub_url(self, name: str) -> str:
        port = self.loaded.agent(name).ports["http_port"]
        return f"http://{self.addresses[self.host_of(name)]}:{port}"

    def leaves(self) -> list[str]:
        """MainPC agents nothing depends on, without a model (candidates to migrate)."""
        needed = {d for a in self.config["agents"] for d in a.get("dependencies") or []}
        return sorted(n for n, a in self.agents.items() if n not in needed
                      and a["host"] == "main_pc" and n not in INFRA.values()
                      and "vram_mb" not in (a.get("settings") or {}))

    # -- launchers -----------------------------------------------------------------------
    def up(self) -> None:
        for host in HOSTS:
            log = open(self.workdir / f"launcher-{host}.log", "ab")  # noqa: SIM115 - the child's
            argv = [*self.prefixes[host], sys.executable, "-m", "common.cli.main", "up",
                    "--host", host, "--config", str(self.config_path), "--run-dir",
                    self.run_dir, "--log-level", "INFO"]
            self.launchers[host] = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=log,
                                                    stdin=subprocess.DEVNULL,
                                                    start_new_session=True)
            log.close()

    def statuses(self, client: Client) -> dict[str, dict[str, Any]]:
        """Every agent instance by key (NAME, or NAME@INSTANCE) from both launchers."""
        out: dict[str, dict[str, Any]] = {}
        for host in HOSTS:
            try:
                report = client.call_endpoint(self.controls[host], "status",
                                              timeout_s=2.0, retries=0, peer=f"launcher {host}")
            except MeshError:
                continue
            for agent in report["agents"]:
                key = f"{agent['name']}@{agent['instance']}" if agent["instance"] else agent["name"]
                out[key] = agent
        return out

    def wait_ready(self, client: Client, timeout_s: float) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            agents = self.statuses(client)
            if len(agents) >= len(self.agents) and all(a["ready"] for a in agents.values()):
                return agents
            self._check_launchers()
            time.sleep(0.2)  # polling the launchers, bounded by the deadline
        raise TimeoutError(f"the mesh was not ready within {timeout_s:g} s")

    def _check_launchers(self) -> None:
        for host, proc in self.launchers.items():
            if proc.poll() is not None:
                raise RuntimeError(f"the {host} launcher exited with {proc.returncode}; "
                                   f"see {self.workdir}/launcher-{host}.log")

    def down(self, client: Client) -> None:
        """``down`` to each launcher, then wait; SIGKILL of a launcher's group on timeout."""
        for host in HOSTS:
            try:
                client.call_endpoint(self.controls[host], "down",
                                     timeout_s=2.0, retries=1, peer=f"launcher {host}")
            except MeshError:
                self._signal(host, signal.SIGTERM)
        deadline = time.monotonic() + DOWN_TIMEOUT_S
        for host, proc in self.launchers.items():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal(host, signal.SIGKILL)
                proc.wait(10)

    def _signal(self, host: str, sig: int) -> None:
        proc = self.launchers.get(host)
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass

    def stray_pids(self) -> list[int]:
        """Processes of this run still alive: the run's directory in their command line or
        environment (every agent gets MESH_STATE_DIR under it)."""
        mark, found = str(self.workdir), []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                if proc.pid == os.getpid() or proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                if any(mark in part for part in proc.info["cmdline"] or []) or any(
                        mark in value for value in proc.environ().values()):
                    found.append(proc.pid)
            except psutil.Error:
                continue
        return found


def _port(agent: dict[str, Any]) -> int:
    expr = str(agent["port"])
    return OFFSET + int(expr.split("+")[-1]) if "PORT_OFFSET" in expr else int(expr)
