"""A two-host mesh in network namespaces for the DR tests and benchmarks/dr.py: each host its
own folder, config copy and `mesh up`, a registry pair, a stateful store failing over to MainPC."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.base_agent.registries import join_registries
from common.testing.mesh import free_ports
from common.testing.netns import TwoHosts
from common.testing.processes import ProcessTracker

__all__ = ["HOSTS", "STORE", "NsMesh", "config"]

HOSTS = ("main_pc", "pc2")
STORE = "Memory"
ECHO = "common.testing.agents:EchoAgent"


def config(addresses: tuple[str, str]) -> dict[str, Any]:
    ports = free_ports(7)  # fresh namespaces: only the launchers' own ports need to differ
    registry = "service_registry.agent:ServiceRegistry"
    return {
        "version": 1,
        "global": {"heartbeat_interval_s": 0.5, "stop_timeout_s": 3, "log_dir": "logs",
                   "health": {"interval_s": 0.3, "timeout_s": 0.3, "retries": 2,
                              "start_period_s": 10}},
        "failover": {"ship_every_s": 1.0},
        "hosts": {"main_pc": {"address": addresses[0], "roles": ["registry"],
                              "launcher_port": ports[0], "env": {"MESH_STATE_DIR": "state"}},
                  "pc2": {"address": addresses[1], "roles": ["registry_replica"],
                          "launcher_port": ports[1], "env": {"MESH_STATE_DIR": "state"}}},
        "agents": [
            {"name": "ServiceRegistry", "host": "main_pc", "service": "registry",
             "module": registry, "port": ports[2]},
            {"name": "RegistryReplica", "host": "pc2", "service": "registry",
             "module": registry, "port": ports[3]},
            {"name": STORE, "host": "pc2", "module": "common.kinds.store:StoreAgent",
             "port": ports[4], "failover": {"host": "main_pc", "state": "stateful"}},
            {"name": "Echo", "host": "pc2", "module": ECHO, "port": ports[5]},
            {"name": "Relay", "host": "pc2", "module": "common.testing.agents:RelayAgent",
             "port": ports[6]},
        ],
    }


class NsMesh:
    """The mesh of one test: folders, `mesh up` per host, an observer on MainPC."""

    def __init__(self, net: TwoHosts, tmp: Path) -> None:
        self.net, self.tmp = net, tmp
        self.config = config(net.addresses)
        self.folders = {host: tmp / host for host in HOSTS}
        for folder in self.folders.values():
            folder.mkdir()
            (folder / "mesh.yaml").write_text(yaml.safe_dump(self.config, sort_keys=False))
        self.procs = ProcessTracker(str(tmp))
        self.ctx = net.context(0)
        agents = {a["name"]: a for a in self.config["agents"]}
        self.registries = join_registries(
            [f"tcp://{net.addresses[0]}:{agents['ServiceRegistry']['port']}",
             f"tcp://{net.addresses[1]}:{agents['RegistryReplica']['port']}"])
        self.client = Client(self.registries, ctx=self.ctx, source="test")

    def observe_from(self, index: int) -> None:
        """Ask from host index's namespace from now on (a restored namespace is a new one:
        a context made in the old one reaches nothing)."""
        self.client.close()
        self.ctx.destroy(linger=0)
        self.ctx = self.net.context(index)
        self.client = Client(self.registries, ctx=self.ctx, source="test")

    def up(self, index: int) -> None:
        host = HOSTS[index]
        self.procs.mesh("up", "--host", host, "--config", "mesh.yaml", ready=False,
                        prefix=self.net.prefix(index), cwd=str(self.folders[host]))

    def launcher(self, host: str) -> str:
        return f"tcp://{self.config['hosts'][host]['address']}:" \
               f"{self.config['hosts'][host]['launcher_port']}"

    def ask(self, host: str, action: str, payload: Any = None) -> Any:
        try:
            return self.client.call_endpoint(self.launcher(host), action, payload,
                                             timeout_s=1.0, retries=0)
        except MeshError:
            return None

    def agents(self, host: str) -> dict[str, dict[str, Any]]:
        status = self.ask(host, "status") or {}
        return {a["name"] + (f"@{a['instance']}" if a["instance"] else ""): a
                for a in status.get("agents", [])}

    def kill_host(self, index: int) -> None:
        """Every process in host index's namespace, SIGKILLed: a power cut."""
        out = subprocess.run(["ip", "netns", "pids", self.net.ns[index]], capture_output=True,
                             text=True, timeout=10)
        for pid in out.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and subprocess.run(
                ["ip", "netns", "pids", self.net.ns[index]], capture_output=True, text=True,
                timeout=10).stdout.strip():
            time.sleep(0.05)

    def down(self) -> None:
        for index, host in enumerate(HOSTS):
            subprocess.run([*self.net.prefix(index), sys.executable, "-m", "common.cli.main",
                            "down", "--host", host, "--config", "mesh.yaml"],
                           cwd=self.folders[host], capture_output=True, timeout=60)

    def close(self) -> None:
        self.client.close()
        self.procs.close()
        self.ctx.destroy(linger=0)
