"""Rotation of a host's server key (`mesh keys rotate --host`), on real sockets in one process:
clients accept the current and the next key while it rotates, the host's sockets rebind in
place onto the next key, idempotent calls ride through the switch, and after the finish a client
offering the old server key gets nothing.  The two-host run under `mesh load` is in
test_keys_rotate_hosts.py."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
import zmq

from common.base_agent import protocol, security
from common.base_agent.agent import BaseAgent
from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.base_agent.handlers import handler
from common.base_agent.keystore import KeyStore, KeyStoreError
from common.testing.mesh import free_ports, two_host_config
from common.testing.wait import wait_until

HOSTS = {"main_pc": "127.0.16.1", "pc2": "127.0.16.2"}


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    made = KeyStore(tmp_path / "keys")
    made.init(list(HOSTS), ["Alpha", "Beta", "launcher-main_pc", "launcher-pc2", "operator"])
    return made


@pytest.fixture
def agent(store: KeyStore):
    """Beta serving as pc2 (this process's host is decided by the address it binds)."""
    security.configure(store.dir, "operator", None, HOSTS)
    made = BaseAgent("Beta", f"tcp://{HOSTS['pc2']}:{free_ports(1)[0]}")
    made.start()
    yield made
    made.stop()
    security.configure(None)


def answers_with(ctx: zmq.Context, endpoint: str, server_key: str, store: KeyStore,
                 within_s: float = 1.0) -> bool:
    """A fresh connection offering server_key gets a health answer within within_s."""
    ring = store.keyring("operator")
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.curve_serverkey = server_key.encode()
    sock.curve_publickey, sock.curve_secretkey = ring.public, ring.secret
    sock.connect(endpoint)
    try:
        sock.send_multipart(protocol.encode_request(protocol.Request("health", None)))
        return bool(sock.poll(int(within_s * 1000)))
    finally:
        sock.close(linger=0)


class Load:
    """A thread calling health on endpoint back to back, as a mesh client does."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint, self.ok, self.failed = endpoint, 0, []
        self.slowest_s = 0.0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with Client(source="load") as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    client.call_endpoint(self.endpoint, "health", timeout_s=2.0, retries=0)
                    self.ok += 1
                except MeshError as exc:
                    self.failed.append(str(exc))
                self.slowest_s = max(self.slowest_s, time.monotonic() - started)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(10)


def test_a_host_key_rotation_under_calls_fails_none_and_the_old_key_is_refused_after(
        store, agent):
    pc2 = store.allow_list().hosts["pc2"][0]
    ctx = zmq.Context()
    load = Load(agent.endpoint)
    try:
        wait_until(lambda: load.ok >= 20, 10, what="the load getting answers")
        listed = store.rotate_host("pc2", store.make_next_pair("pc2"))
        new = listed.hosts["pc2"][1]
        assert listed.hosts["pc2"] == [pc2, new] and new != pc2
        wait_until(lambda: load.ok >= 40, 10, what="calls after phase 1")
        assert answers_with(ctx, agent.endpoint, pc2, store)  # still serving the current key
        store.serve_next("pc2")
        wait_until(lambda: answers_with(ctx, agent.endpoint, new, store, 0.3), 10,
                   interval_s=0, what="Beta serving the next key")
        done = load.ok
        wait_until(lambda: load.ok >= done + 20, 10, what="calls after the switch")
        store.finish_host_rotation("pc2")
        assert store.allow_list().hosts["pc2"] == [new]
        assert store.host_public("pc2") == new
        assert not (store.hosts / "pc2.next.key_secret").exists()
        done = load.ok
        wait_until(lambda: load.ok >= done + 20, 10, what="calls after the finish")
    finally:
        load.stop()
    assert load.failed == []
    print(f"{load.ok} calls, none failed; slowest {load.slowest_s:.2f} s")
    assert not answers_with(ctx, agent.endpoint, pc2, store)  # the old server key: nothing
    assert answers_with(ctx, agent.endpoint, new, store)
    ctx.destroy(linger=0)


class Busy(BaseAgent):
    """An agent whose handler waits on something else for 40 ms, pumping meanwhile (as a
    Client's on_wait does): under back-to-back calls its backlog is never empty between
    requests."""

    @handler("work")
    def work(self, payload=None):
        until = time.monotonic() + 0.04
        while time.monotonic() < until:
            self.pump()
            time.sleep(0.002)  # the wait on another agent that this handler stands for
        return payload


class Calls:
    """Threads calling `work` back to back, not idempotent and with no retry (`mesh load`'s
    calls): a request the server got but never answered fails."""

    def __init__(self, endpoint: str, threads: int) -> None:
        self.endpoint, self.ok, self.failed = endpoint, 0, []
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        with Client(source="load") as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                try:
                    assert client.call_endpoint(self.endpoint, "work", {"n": n}, timeout_s=2.0,
                                                idempotent=False) == {"n": n}
                    self.ok += 1
                except MeshError as exc:
                    self.failed.append(str(exc))

    def stop(self) -> None:
        self._stop.set()
        for thread in self.threads:
            thread.join(10)


def test_a_busy_agent_rebinds_at_once_and_no_call_that_is_not_idempotent_fails(store):
    """The agent rebinds between two requests even with requests waiting (they are refused
    as `rebinding`, never served, and sent again by the Client offering the next key);
    the clients' calls, none idempotent, all succeed."""
    security.configure(store.dir, "operator", None, HOSTS)
    busy = Busy("Busy", f"tcp://{HOSTS['pc2']}:{free_ports(1)[0]}")
    busy.start()
    ctx = zmq.Context()
    calls = Calls(busy.endpoint, 4)
    try:
        wait_until(lambda: calls.ok >= 20, 10, what="answers before the rotation")
        new = store.rotate_host("pc2", store.make_next_pair("pc2")).hosts["pc2"][1]
        done = calls.ok
        wait_until(lambda: calls.ok >= done + 20, 10, what="calls after phase 1")
        switched_at = time.monotonic()
        store.serve_next("pc2")
        wait_until(lambda: answers_with(ctx, busy.endpoint, new, store, 0.3), 10,
                   interval_s=0, what="Busy serving the next key")
        switch_s = time.monotonic() - switched_at
        done = calls.ok
        wait_until(lambda: calls.ok >= done + 20, 10, what="calls after the switch")
    finally:
        calls.stop()
        busy.stop()
        security.configure(None)
        ctx.destroy(linger=0)
    print(f"{calls.ok} calls, {len(calls.failed)} failed; switched in {switch_s:.2f} s")
    assert calls.failed == []
    assert switch_s < 3.0  # the list is read every REFRESH_S; the rebind does not wait


def test_rotation_steps_refuse_out_of_order_and_the_bundle_holds_only_its_own_next_secret(
        store, tmp_path):
    with pytest.raises(KeyStoreError, match="no next server key"):
        store.serve_next("pc2")
    with pytest.raises(KeyStoreError, match="no server key on the allow-list"):
        store.rotate_host("nowhere", "x" * 40)
    with pytest.raises(KeyStoreError, match="the next key offered is its current one"):
        store.rotate_host("pc2", store.host_public("pc2"))
    nxt = store.make_next_pair("pc2")
    assert store.make_next_pair("pc2") == nxt  # made once
    store.rotate_host("pc2", nxt)
    store.rotate_host("main_pc", store.make_next_pair("main_pc"))
    with pytest.raises(KeyStoreError, match="already rotating"):
        store.rotate_host("pc2", nxt)
    mid = store.bundle("pc2", ["Beta", "launcher-pc2", "operator"], tmp_path / "mid")
    assert "hosts/pc2.next.key_secret" in mid and "hosts/main_pc.next.key" in mid
    assert not [f for f in mid if f.startswith("hosts/main_pc") and f.endswith("_secret")]
    store.serve_next("pc2")
    store.finish_host_rotation("pc2")
    after = store.bundle("pc2", ["Beta", "launcher-pc2", "operator"], tmp_path / "after")
    secrets = sorted(f for f in after if f.startswith("hosts/") and f.endswith("_secret"))
    assert secrets == ["hosts/pc2.key_secret"]
    assert (tmp_path / "after" / "hosts/pc2.key_secret").read_bytes() == \
        (store.hosts / "pc2.key_secret").read_bytes()
    assert KeyStore(tmp_path / "after").host_public("pc2") == store.allow_list().hosts["pc2"][0]


def test_a_host_in_its_own_folder_makes_its_next_pair_and_settles_it_from_the_list(
        store, tmp_path):
    """PC2 holds only its bundle: it makes the next pair, the operator files the public key
    only; the finished list makes the pair PC2's own there, and the operator's folder keeps
    no PC2 secret (the old one serves nothing)."""
    store.bundle("pc2", ["Beta", "launcher-pc2"], tmp_path / "pc2")
    pc2 = KeyStore(tmp_path / "pc2")
    old = pc2.host_public("pc2")
    new = pc2.make_next_pair("pc2")
    store.rotate_host("pc2", new)
    assert not (store.hosts / "pc2.next.key_secret").exists()
    assert pc2.install(store.allow_list()) and not pc2.settle_host("pc2")  # [old, new]
    store.serve_next("pc2")
    assert store.finish_host_rotation("pc2").hosts["pc2"] == [new]
    assert store.host_public("pc2") == new and not (store.hosts / "pc2.key_secret").exists()
    with pytest.raises(KeyStoreError, match="holds the only copy of the secret"):
        store.bundle("pc2", ["Beta"], tmp_path / "again")
    assert pc2.server_secret_for("pc2", new) is not None
    assert pc2.install(store.allow_list()) and pc2.settle_host("pc2")
    assert pc2.host_public("pc2") == new != old
    assert pc2.server_secret_for("pc2", new) == pc2.server_secret("pc2")
    assert not list(pc2.hosts.glob("pc2.next.*"))
    assert not pc2.settle_host("pc2")  # done once


def test_rotate_cli_names_what_is_wrong(tmp_path):
    config = two_host_config(tmp_path, [])
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(config))

    def rotate(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "common.cli.main", "keys", "rotate",
                               "--config", str(path), *args], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)

    both = rotate("--host", "pc2", "--identity", "Beta")
    assert both.returncode == 2 and "exactly one of --identity NAME or --host HOST" in both.stderr
    plain = rotate("--host", "pc2")
    assert plain.returncode == 2 and "global.security is not curve" in plain.stderr
    unknown = rotate("--host", "nowhere")
    assert unknown.returncode == 2 and "unknown host 'nowhere'" in unknown.stderr
