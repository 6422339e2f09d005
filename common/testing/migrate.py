"""Migrations against a real mesh, for tests and benchmarks: a two-agent mesh, `mesh migrate`.

``worker_config(workdir, ports)`` is a startup config with a ServiceRegistry (``ports[0]``)
and a ``Worker`` running ``TunableAgent`` (``ports[1]``, 5 ms per ``echo``); ``ports[2]`` is
free for the new instance of a blue/green change.  ``Migrate`` runs ``mesh migrate ...`` as an
operator would; ``Load`` is a steady client that counts failed requests; ``worker_state`` /
``worker_serving`` read the launcher's and the registry's view of the Worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from common.base_agent.discovery import WatchingClient
from common.base_agent.errors import MeshError
from common.testing.mesh import MeshRun, two_host_config

__all__ = ["GATES", "GOOD_SETTINGS", "PROBE", "Load", "Migrate", "registry_endpoint",
           "worker_config", "worker_serving", "worker_state"]

REGISTRY = "service_registry.agent:ServiceRegistry"
TUNABLE = "common.testing.versions:TunableAgent"
GOOD_SETTINGS = {"delay_ms": 5}
GATES = {"error_rate_max": 0.05, "latency_p95_ratio_max": 2.0, "latency_floor_ms": 5,
         "ready_timeout_s": 10}
PROBE = {"action": "echo", "payload": {"x": 1}, "interval_s": 0.02}
MIGRATE_TIMEOUT_S = 60.0


def worker_config(workdir: Path | str, ports: list[int],
                  worker_settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The registry and one Worker on main_pc, on free ports (launchers' too)."""
    return two_host_config(workdir, [
        {"name": "ServiceRegistry", "host": "main_pc", "module": REGISTRY,
         "service": "registry", "port": ports[0]},
        {"name": "Worker", "host": "main_pc", "module": TUNABLE, "port": ports[1],
         "dependencies": ["ServiceRegistry"],
         "settings": worker_settings or dict(GOOD_SETTINGS)},
    ], health={"interval_s": 0.2, "timeout_s": 0.5, "retries": 3})


def registry_endpoint(run: MeshRun) -> str:
    cfg = yaml.safe_load(run.config_path.read_text())
    return f"tcp://127.0.0.1:{cfg['agents'][0]['port']}"


def worker_state(run: MeshRun) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The launcher's Worker instances and the registry's lookup of Worker."""
    agents = [a for a in (run.status("main_pc") or {}).get("agents", [])
              if a["name"] == "Worker"]
    registered = run.client.call_endpoint(registry_endpoint(run), "lookup", {"name": "Worker"},
                                          timeout_s=2.0)
    return agents, registered


def worker_serving(run: MeshRun, port: int) -> bool:
    """Exactly one live Worker, on port, ready, and first in the registry's lookup."""
    try:
        agents, registered = worker_state(run)
    except MeshError:
        return False
    live = [a for a in agents if a["state"] != "stopped"]
    return ([(a["port"], bool(a["ready"])) for a in live] == [(port, True)]
            and [r["endpoint"] for r in registered][:1] == [f"tcp://127.0.0.1:{port}"])


class Migrate:
    """Runs `mesh migrate ...` against a MeshRun, as an operator would."""

    def __init__(self, run: MeshRun, workdir: Path | str) -> None:
        self.run = run
        self.workdir = Path(workdir)
        self.count = 0

    def change(self, changes: list[dict[str, Any]], **defaults: Any) -> str:
        self.count += 1
        path = self.workdir / f"change{self.count}.yaml"
        path.write_text(yaml.safe_dump({"version": 1, "defaults": defaults,
                                        "changes": changes}))
        return str(path)

    def __call__(self, *args: str, fault: str | None = None,
                 timeout_s: float = MIGRATE_TIMEOUT_S) -> subprocess.CompletedProcess:
        env = dict(os.environ)
        if fault:
            env["MESH_MIGRATE_FAULT"] = fault
        argv = [sys.executable, "-m", "common.cli.main", "migrate", *args,
                "--config", str(self.run.config_path), "--run-dir", self.run.run_dir]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=env)


class Load:
    """A steady client: echo every 5 ms through the registry (watching it), no retries."""

    def __init__(self, registry: str) -> None:
        self.registry = registry
        self.ok = self.failed = 0
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        client = WatchingClient(self.registry, source="load")
        try:
            while not self.stop.is_set():
                try:
                    client.call("Worker", "echo", {"n": self.ok}, timeout_s=2.0, retries=0)
                    self.ok += 1
                except MeshError as exc:
                    self.failed += 1
                    self.errors.append(repr(exc))
                self.stop.wait(0.005)  # pacing of the load, not synchronisation
        finally:
            client.close()
