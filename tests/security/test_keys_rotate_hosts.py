"""`mesh keys rotate --host main_pc` on a running two-host mesh (security: curve), each host in
its own folder with its own keys (PC2 holds only its bundle), while clients call MainPC's
agent and registry without retries, as `mesh load` does: no call fails; PC2, down when the
rotation starts, catches up when it returns (the command stops naming it, and goes on when run
again); after `--finish` a client offering MainPC's old server key gets nothing, every host
holds the final list, and PC2's agent still reaches MainPC's registry.  Then PC2's own key,
from MainPC's folder: PC2 makes the pair, no secret is copied by hand."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
import zmq

from common.base_agent import protocol, security
from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.base_agent.keystore import KeyStore
from common.testing.mesh import free_ports, two_host_config
from common.testing.wait import wait_until
from tests.launcher.conftest import agent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]
HOSTS = {"main_pc": "127.0.16.1", "pc2": "127.0.16.2"}


def cli(folder: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "common.cli.main", *args], cwd=folder,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def machines(procs, tmp_path):
    ports = free_ports(3)
    config = two_host_config(tmp_path, [
        agent("ServiceRegistry", "main_pc", ports[0],
              module="service_registry.agent:ServiceRegistry", service="registry"),
        agent("A", "main_pc", ports[1], ["ServiceRegistry"]),
        agent("B", "pc2", ports[2], ["ServiceRegistry"])], security="curve", keys_dir="keys")
    for host, address in HOSTS.items():
        config["hosts"][host]["address"] = address
    folders = {host: tmp_path / host for host in HOSTS}
    for folder in folders.values():
        folder.mkdir()
        config["global"]["log_dir"] = str(folder / "logs")
        (folder / "startup_config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    main, pc2 = folders["main_pc"], folders["pc2"]
    assert cli(main, "keys", "init").returncode == 0
    made = cli(main, "keys", "bundle", "--host", "pc2", "--to", str(pc2 / "keys"))
    assert made.returncode == 0, made.stderr
    for host, folder in folders.items():
        procs.mesh("up", "--host", host, ready=False, cwd=str(folder))
    security.configure(main / "keys", "operator", None, HOSTS)
    try:
        wait_until(lambda: ready(main) == 3, 60, interval_s=0.5, what="the mesh ready")
        yield folders, f"tcp://{HOSTS['main_pc']}:{ports[0]}", {
            "A": f"tcp://{HOSTS['main_pc']}:{ports[1]}", "B": f"tcp://{HOSTS['pc2']}:{ports[2]}"}
    finally:
        security.configure(None)
        for host, folder in folders.items():
            cli(folder, "down", "--host", host)


def ready(folder: Path) -> int:
    out = cli(folder, "status", "--json", timeout=30)
    if out.returncode != 0:
        return 0
    return sum(a["ready"] for h in json.loads(out.stdout)["hosts"] for a in h["agents"])


def version(folder: Path) -> int:
    return json.loads((folder / "keys" / "allowlist.json").read_text())["version"]


class Callers:
    """Threads calling an agent by name and the registry, without retries (as `mesh load`)."""

    def __init__(self, registry: str, name: str = "A") -> None:
        self.ok = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(registry, kind, name),
                                         daemon=True) for kind in ("agent", "registry")]
        for thread in self.threads:
            thread.start()

    def _run(self, registry: str, kind: str, name: str) -> None:
        with Client(registry, source="load", breaker_threshold=10**6) as client:
            while not self._stop.wait(0.005):
                try:
                    if kind == "agent":
                        client.call(name, "health", timeout_s=2.0, retries=0, idempotent=False)
                    else:
                        client.call_registry(protocol.ACTION_LOOKUP, {"name": "B"},
                                             timeout_s=2.0, retries=0)
                    self.ok += 1
                except MeshError as exc:
                    self.failed.append(f"{time.time():.3f} {kind}: {exc}")

    def stop(self) -> None:
        self._stop.set()
        for thread in self.threads:
            thread.join(10)


def offers(endpoint: str, server_key: str, keys: KeyStore) -> bool:
    """A fresh connection offering server_key gets a health answer within 1 s."""
    ctx = zmq.Context()
    ring = keys.keyring("operator")
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.curve_serverkey = server_key.encode()
    sock.curve_publickey, sock.curve_secretkey = ring.public, ring.secret
    sock.connect(endpoint)
    try:
        sock.send_multipart(protocol.encode_request(protocol.Request("health", None)))
        return bool(sock.poll(1000))
    finally:
        ctx.destroy(linger=0)


def test_rotating_main_pc_key_under_calls_fails_none_a_returning_host_catches_up(
        machines, procs):
    folders, registry, endpoints = machines
    a_endpoint = endpoints["A"]
    main, pc2 = folders["main_pc"], folders["pc2"]
    keys = KeyStore(main / "keys")
    old = keys.allow_list().hosts["main_pc"][0]
    callers = Callers(registry)
    try:
        wait_until(lambda: callers.ok >= 50, 15, what="calls answered before the rotation")
        assert cli(pc2, "down", "--host", "pc2").returncode == 0  # PC2 away
        stalled = cli(main, "keys", "rotate", "--host", "main_pc", "--wait", "2")
        assert stalled.returncode == 1 and "has not reached pc2 (it has no answer)" in \
            stalled.stderr, stalled.stderr
        behind = version(pc2)
        assert behind < version(main)
        procs.mesh("up", "--host", "pc2", ready=False, cwd=str(pc2))  # PC2 back
        wait_until(lambda: version(pc2) == version(main), 20, interval_s=0.1,
                   what="PC2 catching up with the rotation's list")
        started = time.monotonic()
        rotated = cli(main, "keys", "rotate", "--host", "main_pc", "--json", "--wait", "20")
        assert rotated.returncode == 0, rotated.stderr
        out = json.loads(rotated.stdout)
        new = out["server_keys"][0]
        assert out["server_keys"] == [new, old] and new != old
        assert offers(a_endpoint, new, keys) and offers(registry, new, keys)
        finished = cli(main, "keys", "rotate", "--host", "main_pc", "--finish", "--json")
        assert finished.returncode == 0, finished.stderr
        took = time.monotonic() - started
        assert json.loads(finished.stdout)["server_keys"] == [new]
        done = callers.ok
        wait_until(lambda: callers.ok >= done + 50, 15, what="calls answered after the finish")
    finally:
        callers.stop()
    print(f"{callers.ok} calls, {len(callers.failed)} failed; switch and finish {took:.1f} s")
    assert callers.failed == []
    restarts = [line for log in main.glob("logs/**/*.log") for line in log.read_text().splitlines()
                if "killing it as hung" in line]
    assert not restarts  # the launcher's probes follow the key: no agent taken for hung
    assert version(pc2) == version(main)
    assert not offers(a_endpoint, old, keys) and not offers(registry, old, keys)
    assert keys.host_public("main_pc") == new
    shutil.rmtree(main / "bundle-pc2", ignore_errors=True)
    bundle = keys.bundle("pc2", ["B", "launcher-pc2", "operator"], main / "bundle-pc2")
    assert [f for f in bundle if f.startswith("hosts/") and f.endswith("_secret")] == \
        ["hosts/pc2.key_secret"]
    wait_until(lambda: ready(main) == 3, 20, interval_s=0.5,
               what="every agent ready after the rotation (PC2's B reaches the registry)")


def test_pc2_in_its_own_folder_makes_its_next_key_and_takes_it_with_no_copy_by_hand(machines):
    """`mesh keys rotate --host pc2` from MainPC's folder while B on PC2 is called without
    retries: PC2's launcher makes the next pair in PC2's folder, only its public key reaches
    MainPC, and the finished list makes it PC2's own pair there."""
    folders, registry, endpoints = machines
    main, pc2 = folders["main_pc"], folders["pc2"]
    keys, theirs = KeyStore(main / "keys"), KeyStore(pc2 / "keys")
    old = keys.allow_list().hosts["pc2"][0]
    callers = Callers(registry, "B")
    try:
        wait_until(lambda: callers.ok >= 50, 15, what="calls to B answered before the rotation")
        rotated = cli(main, "keys", "rotate", "--host", "pc2", "--json", "--wait", "20")
        assert rotated.returncode == 0, rotated.stderr
        new = json.loads(rotated.stdout)["server_keys"][0]
        assert new != old and not (keys.hosts / "pc2.next.key_secret").exists()
        assert theirs.server_secret_for("pc2", new) is not None  # made on PC2
        finished = cli(main, "keys", "rotate", "--host", "pc2", "--finish", "--json")
        assert finished.returncode == 0, finished.stderr
        wait_until(lambda: theirs.host_public("pc2") == new, 10, interval_s=0.1,
                   what="PC2 taking its next pair as its own")
        done = callers.ok
        wait_until(lambda: callers.ok >= done + 50, 15, what="calls to B after the finish")
    finally:
        callers.stop()
    assert callers.failed == []
    assert not list(theirs.hosts.glob("pc2.next.*"))
    assert keys.host_public("pc2") == new and not (keys.hosts / "pc2.key_secret").exists()
    assert offers(endpoints["B"], new, keys) and not offers(endpoints["B"], old, keys)
