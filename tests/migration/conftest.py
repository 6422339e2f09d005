import os
import subprocess
import sys

import pytest
import yaml

from common.testing.mesh import MeshRun, free_ports

REGISTRY = "service_registry.agent:ServiceRegistry"
TUNABLE = "common.testing.versions:TunableAgent"


def mesh_config(tmp_path, ports, worker_settings=None):
    return {
        "version": 1,
        "global": {"heartbeat_interval_s": 0.3, "stop_timeout_s": 3,
                   "log_dir": str(tmp_path / "logs"),
                   "health": {"interval_s": 0.2, "timeout_s": 0.5, "retries": 3,
                              "start_period_s": 10}},
        "hosts": {"main_pc": {"address": "127.0.0.1", "roles": ["registry"]},
                  "pc2": {"address": "127.0.0.2"}},
        "agents": [
            {"name": "ServiceRegistry", "host": "main_pc", "module": REGISTRY,
             "port": ports[0]},
            {"name": "Worker", "host": "main_pc", "module": TUNABLE, "port": ports[1],
             "dependencies": ["ServiceRegistry"],
             "settings": worker_settings or {"delay_ms": 5}},
        ],
    }


class Migrate:
    """Runs `mesh migrate ...` against a MeshRun, as an operator would."""

    def __init__(self, run: MeshRun, tmp_path) -> None:
        self.run = run
        self.tmp_path = tmp_path
        self.count = 0

    def change(self, changes, **defaults):
        self.count += 1
        path = self.tmp_path / f"change{self.count}.yaml"
        path.write_text(yaml.safe_dump({"version": 1, "defaults": defaults,
                                        "changes": changes}))
        return str(path)

    def __call__(self, *args, fault=None, timeout_s=60):
        env = dict(os.environ)
        if fault:
            env["MESH_MIGRATE_FAULT"] = fault
        argv = [sys.executable, "-m", "common.cli.main", "migrate", *args,
                "--config", str(self.run.config_path), "--run-dir", self.run.run_dir]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=env)


@pytest.fixture
def ports():
    return free_ports(4)


@pytest.fixture
def worker_mesh(procs, tmp_path, ports):
    run = MeshRun(procs, tmp_path, mesh_config(tmp_path, ports))
    run.up("main_pc")
    run.wait_ready(("main_pc",))
    yield run, Migrate(run, tmp_path)
    run.close()
