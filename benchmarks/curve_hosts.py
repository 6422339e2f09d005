"""Two hosts in curve mode, each from its own folder, as the security benchmarks start them.

``echo_config(hosts)`` is their mesh: the registry and an echo agent ``A`` on MainPC, an echo
agent ``B`` on PC2, heartbeats every 0.3 s.
``two_curve_hosts(work, config, hosts)`` writes the config into ``work/<host>/``, makes the
``intruder`` identity and PC2's bundle on MainPC (`mesh keys init`, `mesh keys bundle`), runs
`mesh up --host H` in each folder and points this process's security at MainPC's keys; on exit
it brings both hosts down and forgets the keys.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from common.base_agent import security
from common.testing.mesh import free_ports
from common.testing.processes import ProcessTracker

MESH = [sys.executable, "-m", "common.cli.main"]
ECHO = "common.testing.agents:EchoAgent"


def echo_config(hosts: dict[str, str]) -> dict[str, Any]:
    """The config (ports free now on MainPC's address): registry + A on MainPC, B on PC2."""
    ports = free_ports(3, hosts["main_pc"])
    launchers = free_ports(2, hosts["main_pc"])
    return {"version": 1,
            "global": {"heartbeat_interval_s": 0.3, "stop_timeout_s": 3, "log_dir": "logs",
                       "security": "curve", "keys_dir": "keys"},
            "hosts": {"main_pc": {"address": hosts["main_pc"], "roles": ["registry"],
                                  "launcher_port": launchers[0]},
                      "pc2": {"address": hosts["pc2"], "launcher_port": launchers[1]}},
            "agents": [{"name": "ServiceRegistry", "host": "main_pc", "port": ports[0],
                        "module": "service_registry.agent:ServiceRegistry",
                        "service": "registry"},
                       {"name": "A", "host": "main_pc", "port": ports[1], "module": ECHO,
                        "dependencies": ["ServiceRegistry"]},
                       {"name": "B", "host": "pc2", "port": ports[2], "module": ECHO,
                        "dependencies": ["ServiceRegistry"]}]}


@contextmanager
def two_curve_hosts(work: Path, config: dict[str, Any],
                    hosts: dict[str, str]) -> Iterator[tuple[Path, Path]]:
    """Yield (MainPC's folder, PC2's folder) with both hosts started."""
    folders = {h: work / h for h in hosts}
    for folder in folders.values():
        folder.mkdir()
        (folder / "startup_config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    main, pc2 = folders["main_pc"], folders["pc2"]
    for args in (("keys", "init", "--identity", "intruder"),
                 ("keys", "bundle", "--host", "pc2", "--to", str(pc2 / "keys"))):
        made = subprocess.run([*MESH, *args], cwd=main, capture_output=True, text=True,
                              timeout=120)
        assert made.returncode == 0, made.stderr
    procs = ProcessTracker(str(work))
    try:
        for host, folder in folders.items():
            procs.mesh("up", "--host", host, ready=False, cwd=str(folder))
        security.configure(main / "keys", "operator", "main_pc", hosts)
        yield main, pc2
    finally:
        for host, folder in folders.items():
            subprocess.run([*MESH, "down", "--host", host], cwd=folder, capture_output=True,
                           timeout=120)
        procs.close()
        security.configure(None)
