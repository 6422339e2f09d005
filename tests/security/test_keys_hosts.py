"""Keys on two machines: MainPC and PC2 in two network namespaces, each in its own folder with
its own copy of the config, PC2 holding only its `mesh keys bundle --host pc2`.

* a revoke typed on MainPC reaches PC2's agents through the launchers: an identity streaming
  requests to a PC2 agent gets nothing within 5 s (and a fresh handshake is refused);
* PC2, cut off while MainPC allows the identity again, catches up when the link returns;
* a process holding PC2's bundle cannot serve as a MainPC agent: MainPC's clients expect
  MainPC's server key at MainPC's address, and PC2's bundle does not have it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
import zmq

from common.base_agent import protocol, security
from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.base_agent.keystore import KeyStore
from common.testing.mesh import two_host_config
from common.testing.netns import TwoHosts
from common.testing.wait import wait_until
from tests.launcher.conftest import agent

REASON = TwoHosts.unavailable_reason()
pytestmark = [pytest.mark.skipif(REASON is not None, reason=REASON or ""),
              pytest.mark.slow, pytest.mark.timeout(180)]
HOSTS = ("main_pc", "pc2")
PORTS = (7710, 7711, 7712)  # inside the namespaces: nothing else binds there

IMPOSTOR = """
import sys, time
from common.base_agent.agent import BaseAgent
a = BaseAgent("A", sys.argv[1])
a.start()
print("serving", flush=True)
time.sleep(60)
"""


def cli(net, index, folder, *args, timeout=60):
    return subprocess.run([*net.prefix(index), sys.executable, "-m", "common.cli.main", *args],
                          cwd=folder, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def machines(procs, tmp_path):
    with TwoHosts() as net:
        config = two_host_config(tmp_path, [
            agent("ServiceRegistry", "main_pc", PORTS[0],
                  module="service_registry.agent:ServiceRegistry", service="registry"),
            agent("A", "main_pc", PORTS[1], ["ServiceRegistry"]),
            agent("B", "pc2", PORTS[2], ["ServiceRegistry"])],
            security="curve", keys_dir="keys")
        config["global"]["log_dir"] = "logs"
        for host, address in zip(HOSTS, net.addresses, strict=True):
            config["hosts"][host]["address"] = address
        folders = {host: tmp_path / host for host in HOSTS}
        for folder in folders.values():
            folder.mkdir()
            (folder / "startup_config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        main, pc2 = folders["main_pc"], folders["pc2"]
        made = cli(net, 0, main, "keys", "init", "--identity", "intruder")
        assert made.returncode == 0, made.stderr
        bundled = cli(net, 0, main, "keys", "bundle", "--host", "pc2", "--to", str(pc2 / "keys"),
                      "--json")
        assert bundled.returncode == 0, bundled.stderr
        for index, host in enumerate(HOSTS):
            procs.mesh("up", "--host", host, ready=False, prefix=net.prefix(index),
                       cwd=str(folders[host]))
        security.configure(main / "keys", "operator", "main_pc", dict(zip(HOSTS, net.addresses,
                                                                          strict=True)))
        try:
            wait_until(lambda: all_ready(net, main), 60, interval_s=0.5,
                       what="both hosts' agents ready")
            yield net, folders, json.loads(bundled.stdout)
        finally:
            security.configure(None)
            for index, host in enumerate(HOSTS):
                cli(net, index, folders[host], "down", "--host", host, timeout=90)


def all_ready(net, folder) -> bool:
    out = cli(net, 0, folder, "status", "--json")
    if out.returncode != 0:
        return False
    agents = [a for h in json.loads(out.stdout)["hosts"] for a in h["agents"]]
    return len(agents) == 3 and all(a["ready"] for a in agents)


def list_version(folder: Path) -> int:
    return json.loads((folder / "keys" / "allowlist.json").read_text())["version"]


class Stream:
    """An identity's DEALER in MainPC's namespace, sending health requests to an endpoint."""

    def __init__(self, ctx: zmq.Context, endpoint: str, keys: KeyStore, identity: str) -> None:
        ring = keys.keyring(identity)
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.curve_serverkey = security.server_key_for(endpoint).encode()
        self.sock.curve_publickey, self.sock.curve_secretkey = ring.public, ring.secret
        self.sock.connect(endpoint)
        self.answered: list[float] = []

    def step(self) -> None:
        try:
            self.sock.send_multipart(protocol.encode_request(protocol.Request("health", None)),
                                     zmq.NOBLOCK)
        except zmq.Again:  # no connection took it: the handshake was refused
            pass
        if self.sock.poll(50):
            while self.sock.poll(0):
                self.sock.recv_multipart()
                self.answered.append(time.time())

    def close(self) -> None:
        self.sock.close(linger=0)


def test_two_machines_pc2_bundle_revoke_reaches_pc2_and_a_returning_host_catches_up(machines):
    net, folders, bundle = machines
    main, pc2 = folders["main_pc"], folders["pc2"]
    _pc2_bundle_cannot_serve_as_a_main_pc_agent(net, pc2)
    assert not [f for f in bundle["files"] if f.endswith("_secret") and ("main_pc" in f or
                f.startswith("operator.sign") or f == "clients/A.key_secret")]
    keys = KeyStore(main / "keys")
    ctx = net.context(0)
    b_endpoint = f"tcp://{net.addresses[1]}:{PORTS[2]}"
    stream = Stream(ctx, b_endpoint, keys, "intruder")
    try:
        wait_until(lambda: stream.step() or len(stream.answered) >= 5, 10,
                   what="PC2's agent B answering the intruder")
        before = list_version(pc2)
        revoke = subprocess.Popen([*net.prefix(0), sys.executable, "-m", "common.cli.main",
                                   "keys", "revoke", "intruder"], cwd=main,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while revoke.poll() is None:  # the stream goes on while the operator types
            stream.step()
        assert revoke.returncode == 0, revoke.stderr.read() if revoke.stderr else ""
        signed_at = (main / "keys" / "allowlist.json").stat().st_mtime  # the revocation
        wait_until(lambda: list_version(pc2) > before, 5, interval_s=0.05,
                   what="PC2's launcher to install the new list")
        reached_s = (pc2 / "keys" / "allowlist.json").stat().st_mtime - signed_at
        while time.time() < signed_at + 5.0:  # keep streaming: B must fall silent
            stream.step()
        cut_s = max(stream.answered) - signed_at
        print(f"list on PC2 {reached_s:.2f} s after MainPC signed it; B's last answer to the "
              f"intruder {cut_s:.2f} s after ({len(stream.answered)} answers)")
        assert reached_s < 5.0 and cut_s < 5.0
    finally:
        stream.close()
    fresh = Stream(ctx, b_endpoint, keys, "intruder")  # a new handshake: refused on PC2
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            fresh.step()
        assert not fresh.answered
    finally:
        fresh.close()

    # PC2 away: MainPC allows the intruder again; PC2 learns it when the link returns
    net.link(False)
    away = list_version(pc2)
    allowed = cli(net, 0, main, "keys", "allow", "intruder")
    assert allowed.returncode == 0, allowed.stderr
    assert list_version(main) > away
    deadline = time.monotonic() + 1.5  # several sync rounds fail while the cable is out
    while time.monotonic() < deadline:
        assert list_version(pc2) == away
        time.sleep(0.1)
    net.link(True)
    healed_at = time.monotonic()
    wait_until(lambda: list_version(pc2) == list_version(main), 10, interval_s=0.05,
               what="PC2 to catch up after the link returns")
    print(f"PC2 caught up {time.monotonic() - healed_at:.2f} s after the link returned")
    wait_until(lambda: answered_once(ctx, b_endpoint, keys), 10, interval_s=0,
               what="B answering the intruder again")
    ctx.destroy(linger=0)


def answered_once(ctx: zmq.Context, endpoint: str, keys: KeyStore) -> bool:
    """A fresh connection as the intruder gets an answer within 1 s (a refused handshake
    ends a connection for good, so each try is a new one)."""
    probe = Stream(ctx, endpoint, keys, "intruder")
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and not probe.answered:
            probe.step()
        return bool(probe.answered)
    finally:
        probe.close()


def _pc2_bundle_cannot_serve_as_a_main_pc_agent(net, pc2: Path) -> None:
    """PC2's bundle at MainPC's address: as host main_pc it has no key to serve with; with
    PC2's own key it serves, but MainPC's clients (expecting MainPC's key there) get nothing,
    while the same client reaches the real MainPC agent."""
    env = {"MESH_KEYS_DIR": str(pc2 / "keys"), "MESH_KEY_NAME": "B", "PATH": "/usr/bin:/bin",
           "MESH_HOST_ADDRESSES": f"main_pc={net.addresses[0]},pc2={net.addresses[1]}",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    target = f"tcp://{net.addresses[0]}:{PORTS[1] + 100}"
    as_main = subprocess.run([*net.prefix(0), sys.executable, "-c", IMPOSTOR, target],
                             env={**env, "MESH_KEY_HOST": "main_pc"}, capture_output=True,
                             text=True, timeout=30)
    assert as_main.returncode != 0 and "hosts/main_pc.key_secret: no such key file" in \
        as_main.stderr
    impostor = subprocess.Popen([*net.prefix(0), sys.executable, "-c", IMPOSTOR, target],
                                env={**env, "MESH_KEY_HOST": "pc2"}, stdout=subprocess.PIPE,
                                text=True)
    ctx = net.context(0)
    try:
        assert impostor.stdout is not None and impostor.stdout.readline().strip() == "serving"
        with Client(ctx=ctx, source="main_pc client") as client:
            real = client.call_endpoint(f"tcp://{net.addresses[0]}:{PORTS[1]}", "health",
                                        timeout_s=3, retries=0)
            assert real["name"] == "A"  # MainPC's client reaches MainPC's real agent
            with pytest.raises(MeshError):
                client.call_endpoint(target, "health", timeout_s=1.5, retries=0)
    finally:
        impostor.kill()
        impostor.wait(10)
        ctx.destroy(linger=0)
