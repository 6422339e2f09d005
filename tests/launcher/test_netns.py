"""Two hosts in two network namespaces: cross-host start and discovery over a real link, and
each host in its own folder operated from the other (nothing shared but the network)."""

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml

from common.base_agent.client import Client
from common.testing.mesh import MeshRun, two_host_config
from common.testing.netns import TwoHosts
from tests.launcher.conftest import agent, became_ready, registered_at

REASON = TwoHosts.unavailable_reason()


@pytest.mark.skipif(REASON is not None, reason=REASON or "")
@pytest.mark.timeout(90)
def test_two_launchers_in_two_namespaces_start_and_discover_across_the_link(mesh, ports,
                                                                             tmp_path):
    with TwoHosts() as net:
        config = [agent("ServiceRegistry", "main_pc", ports[0],
                        module="service_registry.agent:ServiceRegistry", service="registry"),
                  agent("A", "main_pc", ports[1], ["ServiceRegistry"]),
                  agent("B", "pc2", ports[2], ["A"]),
                  agent("C", "main_pc", ports[3], ["B"])]
        run = mesh(config)
        address = [f"--address=main_pc={net.addresses[0]}", f"--address=pc2={net.addresses[1]}"]
        run.addresses = dict(zip(("main_pc", "pc2"), net.addresses, strict=True))
        for index, host in enumerate(("main_pc", "pc2")):
            run.run_dirs[host] = str(tmp_path / f"run-{host}")  # no shared run dir
            run.clients[host] = Client(ctx=net.context(index))  # its launcher is only there
            run.up(host, *address, prefix=net.prefix(index), run_dir=run.run_dirs[host])
        agents = run.wait_ready(timeout_s=30)
        registry = f"tcp://{net.addresses[0]}:{ports[0]}"
        listed = run.procs.mesh("registry", "list", "--registry", registry, "--json",
                                ready=False, prefix=net.prefix(1))
        out = listed.proc.stdout.read().decode()
        assert listed.proc.wait(10) == 0
        assert f"tcp://{net.addresses[1]}:{ports[2]}" in out  # B registered from the other host
        registered = registered_at(json.loads(out))
        assert agents["B"]["started_at"] >= became_ready(agents, registered, "B", "A")
        assert agents["C"]["started_at"] >= became_ready(agents, registered, "C", "B")


HOSTS = ("main_pc", "pc2")


def _cli(net, index, workdir, *args, timeout=60):
    """``mesh ARGS`` on host index: inside its namespace, in its own folder."""
    return subprocess.run([*net.prefix(index), sys.executable, "-m", "common.cli.main", *args],
                          cwd=workdir, capture_output=True, text=True, timeout=timeout)


def _own_folders(tmp_path, net, ports):
    """One folder per host, each with its own copy of the config (the namespaces' addresses,
    logs under the folder), as an operator sets up two machines."""
    config = two_host_config(tmp_path, [
        agent("ServiceRegistry", "main_pc", ports[0],
              module="service_registry.agent:ServiceRegistry", service="registry"),
        agent("A", "main_pc", ports[1], ["ServiceRegistry"]),
        agent("B", "pc2", ports[2], ["A"])])
    config["global"]["log_dir"] = "logs"
    for host, address in zip(HOSTS, net.addresses, strict=True):
        config["hosts"][host]["address"] = address
    folders = {host: tmp_path / host for host in HOSTS}
    for folder in folders.values():
        folder.mkdir()
        (folder / "mesh.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folders


@pytest.mark.slow
@pytest.mark.skipif(REASON is not None, reason=REASON or "")
@pytest.mark.timeout(150)
def test_each_host_in_its_own_folder_is_operated_from_main_pc(procs, ports, tmp_path):
    with TwoHosts() as net:
        folders = _own_folders(tmp_path, net, ports)
        run = MeshRun(procs, folders["main_pc"], yaml.safe_load(
            (folders["main_pc"] / "mesh.yaml").read_text()))  # the observer: on MainPC
        run.client = Client(ctx=net.context(0))
        ups = {host: procs.mesh("up", "--host", host, "--config", "mesh.yaml", ready=False,
                                prefix=net.prefix(index), cwd=str(folders[host]))
               for index, host in enumerate(HOSTS)}
        try:
            agents = run.wait_ready(timeout_s=40)
            _status_shows_both_hosts(net, folders["main_pc"])
            _logs_of_a_pc2_agent(net, folders)
            _restart_of_a_pc2_agent(net, folders["main_pc"], run, agents["B"]["pid"])
            _down_of_pc2(net, folders["main_pc"], ups["pc2"])
        finally:
            _cli(net, 0, folders["main_pc"], "down", "--config", "mesh.yaml")
            run.close()
            run.client._ctx.destroy(linger=0)
    assert not list(tmp_path.glob("*/run/*.sock"))  # no ipc socket: the network only


def _status_shows_both_hosts(net, main):
    out = _cli(net, 0, main, "status", "--config", "mesh.yaml", "--json")
    assert out.returncode == 0, out.stderr
    hosts = {h["host"]: {a["name"] for a in h["agents"]} for h in json.loads(out.stdout)["hosts"]}
    assert hosts == {"main_pc": {"ServiceRegistry", "A"}, "pc2": {"B"}}


def _logs_of_a_pc2_agent(net, folders):
    assert not (folders["main_pc"] / "logs" / "pc2").exists()  # B logs on PC2 only
    assert (folders["pc2"] / "logs" / "pc2" / "B.log").exists()
    out = _cli(net, 0, folders["main_pc"], "logs", "B", "-n", "5", "--config", "mesh.yaml")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert 0 < len(lines) <= 5 and any("[B]" in line for line in lines), out.stdout


def _restart_of_a_pc2_agent(net, main, run, old_pid):
    out = _cli(net, 0, main, "restart", "B", "--config", "mesh.yaml")
    assert out.returncode == 0 and "B: restarting on pc2" in out.stdout, out.stderr
    run.wait(HOSTS, lambda a: a["B"]["pid"] != old_pid and a["B"]["ready"], 30, "B restarted")


def _down_of_pc2(net, main, pc2_up):
    pc2_launcher = psutil.Process(pc2_up.pid)
    out = _cli(net, 0, main, "down", "--host", "pc2", "--config", "mesh.yaml")
    assert out.returncode == 0 and "pc2: stopped" in out.stdout, out.stderr
    assert pc2_up.proc.wait(30) == 0
    assert not pc2_launcher.is_running()
    out = _cli(net, 0, main, "status", "--config", "mesh.yaml", "--json")
    assert out.returncode == 1
    port = yaml.safe_load((Path(main) / "mesh.yaml").read_text())["hosts"]["pc2"]["launcher_port"]
    assert f"pc2: launcher at tcp://{net.addresses[1]}:{port} not answering" in out.stderr
    assert [h["host"] for h in json.loads(out.stdout)["hosts"]] == ["main_pc"]
    out = _cli(net, 0, main, "logs", "B", "--config", "mesh.yaml")  # no copy on MainPC
    assert out.returncode == 1 and "pc2: launcher at" in out.stderr
