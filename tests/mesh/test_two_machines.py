"""The shipped startup_config.yaml on two machines, as an operator moves it there.

Two network namespaces, each owning only its own address; each host its own folder with its
own copy of the config, changed only in ``hosts.*.address`` and ``global.port_offset``, and
started by its own ``mesh up --host``.  Nothing is shared but the network.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from common.testing.netns import TwoHosts
from common.testing.wait import wait_until

REASON = TwoHosts.unavailable_reason()
pytestmark = [pytest.mark.skipif(REASON is not None, reason=REASON or ""),
              pytest.mark.torch,  # the reference mesh runs model agents
              pytest.mark.timeout(420)]

SHIPPED = Path(__file__).resolve().parents[2] / "startup_config.yaml"
HOSTS = ("main_pc", "pc2")
OFFSET = 1000
TAKEOVER_S = 2.0
LEAF = "DreamingModeAgent"  # a PC2 agent nothing depends on


def moved_config(addresses: tuple[str, str]) -> str:
    """The shipped file with the two edits its own comments ask for; comments intact."""
    text = SHIPPED.read_text()
    for old, new in zip(("127.0.0.1", "127.0.0.2"), addresses, strict=True):
        text, n = re.subn(rf"(\n    address: ){re.escape(old)}\b", rf"\g<1>{new}", text)
        assert n == 1, old
    text, n = re.subn(r"\nglobal:\n", f"\nglobal:\n  port_offset: {OFFSET}\n", text)
    assert n == 1
    return text


def cli(net, index, folder, *args, timeout=60):
    """``mesh ARGS`` typed on host index, in its folder, with no flags to find the mesh."""
    return subprocess.run([*net.prefix(index), sys.executable, "-m", "common.cli.main", *args],
                          cwd=folder, capture_output=True, text=True, timeout=timeout)


def ok_json(net, index, folder, *args):
    out = cli(net, index, folder, *args, "--json")
    assert out.returncode == 0, (args, out.stdout[-2000:], out.stderr[-2000:])
    return json.loads(out.stdout)


def http_json(net, index, url):
    code = f"import urllib.request,sys; sys.stdout.write(urllib.request.urlopen({url!r}, " \
           "timeout=2).read().decode())"
    out = subprocess.run([*net.prefix(index), sys.executable, "-c", code],
                         capture_output=True, text=True, timeout=20)
    return json.loads(out.stdout) if out.returncode == 0 else None


def all_ready(net, folder, expected):
    out = cli(net, 0, folder, "status", "--json")  # exit 1 while a launcher is not up yet
    if not out.stdout:
        return False
    agents = [a for h in json.loads(out.stdout)["hosts"] for a in h["agents"]]
    return len(agents) == expected and all(a["ready"] for a in agents) and agents


@pytest.fixture
def machines(procs, tmp_path):
    with TwoHosts() as net:
        folders = {}
        for host in HOSTS:
            folders[host] = tmp_path / host
            folders[host].mkdir()
            (folders[host] / "startup_config.yaml").write_text(moved_config(net.addresses))
        config = yaml.safe_load((folders["main_pc"] / "startup_config.yaml").read_text())
        ups = [procs.mesh("up", "--host", host, ready=False, prefix=net.prefix(index),
                          cwd=str(folders[host])) for index, host in enumerate(HOSTS)]
        try:
            yield net, folders, config, ups
        finally:
            for index, host in enumerate(HOSTS):
                cli(net, index, folders[host], "down", "--host", host, timeout=90)


def test_the_shipped_config_runs_on_two_machines(machines):
    net, folders, config, ups = machines
    main = folders["main_pc"]
    agents = wait_until(lambda: all_ready(net, main, len(config["agents"])), 150,
                        interval_s=1.0, what="every agent of both hosts ready")
    pids = {a["name"]: a["pid"] for a in agents}
    central_url = f"http://{net.addresses[0]}:{OFFSET + 9000}/api/health"
    edge_url = f"http://{net.addresses[1]}:{OFFSET + 9100}/api/health"

    def central_sees_everyone():
        view = http_json(net, 0, central_url)
        return view and view["hub"]["peer_up"] and len(view["agents"]) == len(config["agents"]) \
            and all(a["state"] == "passing" for a in view["agents"]) and view

    view = wait_until(central_sees_everyone, 60, interval_s=0.5,
                      what="the central hub paired and every agent of both hosts passing")
    assert {a["host"] for a in view["agents"]} == set(HOSTS)
    assert http_json(net, 1, edge_url)["hub"]["peer_up"]

    _only_declared_ports_listen(net, folders)
    for index, host in enumerate(HOSTS):
        _operator_commands_work_with_no_flags(net, index, folders[host], len(config["agents"]))
    _migration_of_a_pc2_agent_from_main_pc(net, folders)
    _edge_takes_over_when_the_central_hub_dies(net, main, ups, pids["ObservabilityHub"],
                                               edge_url)


def _only_declared_ports_listen(net, folders):
    for index, host in enumerate(HOSTS):
        declared = {p["port"] for p in ok_json(net, index, folders[host], "config", "ports",
                                                  "--host", host)["hosts"][host]["ports"]}
        ss = subprocess.run([*net.prefix(index), "ss", "-Hltn"], capture_output=True,
                            text=True, timeout=10, check=True).stdout
        listening = {int(line.split()[3].rsplit(":", 1)[1]) for line in ss.splitlines()}
        assert listening and listening <= declared, (host, sorted(listening - declared))


def _operator_commands_work_with_no_flags(net, index, folder, expected):
    report = ok_json(net, index, folder, "status")
    assert sum(len(h["agents"]) for h in report["hosts"]) == expected
    health = ok_json(net, index, folder, "health")
    assert health["status"] in ("passing", "warning"), health["status"]
    out = cli(net, index, folder, "call", "MemoryOrchestratorService", "health")
    assert out.returncode == 0, out.stderr
    out = cli(net, index, folder, "demo", "request", "what is the weather", "--json")
    assert out.returncode == 0, out.stderr
    hops = json.loads(out.stdout)["hops"]
    assert {h["host"] for h in hops} == set(HOSTS)


def _migration_of_a_pc2_agent_from_main_pc(net, folders):
    main = folders["main_pc"]
    change = main / "change.yaml"
    change.write_text(yaml.safe_dump({"version": 1, "changes": [
        {"agent": LEAF, "version": "2.0", "bake_s": 1.0,
         "gates": {"latency_p95_ratio_max": 20.0, "latency_floor_ms": 20.0}}]}))
    before = {h: (folders[h] / "startup_config.yaml").read_bytes() for h in HOSTS}
    out = cli(net, 0, main, "migrate", "apply", "change.yaml", "--yes", timeout=180)
    assert out.returncode == 0 and "result: done" in out.stdout, out.stdout + out.stderr
    promoted = {h: (folders[h] / "startup_config.yaml").read_text() for h in HOSTS}
    assert promoted["main_pc"] == promoted["pc2"]  # PC2's own copy was written too
    assert "MESH_AGENT_VERSION" in promoted["pc2"]
    assert "# The reference mesh" in promoted["pc2"]  # comments intact
    mid = max(m["id"] for m in ok_json(net, 0, main, "migrate", "history"))
    out = cli(net, 0, main, "migrate", "rollback", str(mid), timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    for host in HOSTS:
        assert (folders[host] / "startup_config.yaml").read_bytes() == before[host]


def _edge_takes_over_when_the_central_hub_dies(net, main, ups, hub_pid, edge_url):
    """kill -9 of the central hub while its launcher is held (SIGSTOP), so that the launcher's
    immediate restart does not hide the takeover; then the launcher goes on and restarts it."""
    launcher = ups[0].pid
    os.kill(launcher, signal.SIGSTOP)
    try:
        subprocess.run([*net.prefix(0), "kill", "-9", str(hub_pid)], check=True, timeout=10)
        killed = time.monotonic()
        wait_until(lambda: (http_json(net, 1, edge_url) or {}).get("hub", {}).get("active"),
                   10, interval_s=0.05, what="the edge hub active")
        took = time.monotonic() - killed
    finally:
        os.kill(launcher, signal.SIGCONT)
    assert took <= TAKEOVER_S, f"the edge hub took over after {took:.2f} s"
    wait_until(lambda: not (http_json(net, 1, edge_url) or {}).get("hub", {}).get("active"),
               30, interval_s=0.2, what="the central hub restarted and the edge passive again")
