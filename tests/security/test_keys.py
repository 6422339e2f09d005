"""Per-host server keys, host bundles, the signed allow-list and the per-message check, on real
sockets in one process (the two-namespace tests are in test_keys_hosts.py)."""

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
from common.base_agent.agent import BaseAgent
from common.base_agent.allowlist import AllowList, AllowListView, load_verify_key
from common.base_agent.client import Client
from common.base_agent.handshakes import REASONS
from common.base_agent.keystore import KeyStore, KeyStoreError
from common.base_agent.sockets import readable, recv_frames
from common.testing.fuzz import hostile_messages, raw_stream_payloads
from common.testing.fuzz_sockets import dealer_barrage, raw_barrage
from common.testing.mesh import two_host_config
from common.testing.wait import wait_until

HOSTS = {"main_pc": "127.0.15.1", "pc2": "127.0.15.2"}
PEERS = 20
MAIN_IDS = ["Alpha", "launcher-main_pc", "operator"]
PC2_IDS = ["Beta", "launcher-pc2", "operator"]


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    made = KeyStore(tmp_path / "keys")
    made.init(list(HOSTS), ["Alpha", "Beta", "launcher-main_pc", "launcher-pc2", "operator",
                            "intruder"])
    return made


@pytest.fixture
def curve(store: KeyStore):
    """This process speaks CURVE as operator on main_pc."""
    security.configure(store.dir, "operator", "main_pc", HOSTS)
    yield store
    security.configure(None)


def secrets_in(folder: Path) -> dict[str, bytes]:
    """Every secret key in folder, by file: CURVE secret lines and the signing key."""
    out = {}
    for path in folder.rglob("*_secret"):
        out[str(path.relative_to(folder))] = path.read_bytes()
    return out


def test_pc2_bundle_holds_its_secrets_every_public_key_and_no_main_pc_secret(store, tmp_path):
    files = store.bundle("pc2", PC2_IDS, tmp_path / "pc2")
    bundle = tmp_path / "pc2"
    assert sorted(secrets_in(bundle)) == ["clients/Beta.key_secret",
                                          "clients/launcher-pc2.key_secret",
                                          "clients/operator.key_secret", "hosts/pc2.key_secret"]
    main_secrets = {v for k, v in secrets_in(store.dir).items()
                    if k in ("hosts/main_pc.key_secret", "clients/Alpha.key_secret",
                             "clients/launcher-main_pc.key_secret", "operator.sign_secret")}
    every_byte = b"".join(p.read_bytes() for p in bundle.rglob("*") if p.is_file())
    for secret in main_secrets:  # the secret key text itself, wherever it might hide
        line = [x for x in secret.split(b"\n") if b"secret-key" in x or
                (x and not x.startswith(b"#"))][-1].strip()
        assert line not in every_byte
    assert {f"hosts/{h}.key" for h in HOSTS} <= set(files)
    assert "operator.sign" in files and "allowlist.json" in files
    assert all(stat_mode(p) == 0o600 for p in bundle.rglob("*_secret"))
    # what PC2 can do with it: serve as pc2, read the signed list; not serve as main_pc
    pc2 = KeyStore(bundle)
    pc2.keyring("Beta", "pc2")
    assert pc2.allow_list().version == store.allow_list().version
    with pytest.raises(KeyStoreError, match="main_pc.key_secret: no such key file"):
        pc2.keyring("Beta", "main_pc")
    with pytest.raises(KeyStoreError, match="no operator signing key here"):
        pc2.revoke("intruder")


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_each_host_serves_with_its_own_key_and_clients_check_it(curve):
    store = curve
    lst = store.allow_list()
    assert lst.hosts["main_pc"] != lst.hosts["pc2"]
    assert security.server_key_for("tcp://127.0.15.1:7000") == lst.hosts["main_pc"][0]
    assert security.server_key_for("tcp://127.0.15.2:7000") == lst.hosts["pc2"][0]
    agent = BaseAgent("Alpha", "tcp://127.0.15.1:0")
    agent.start()
    try:
        ctx = zmq.Context()
        ring = store.keyring("operator")
        good = call_as(ctx, agent.endpoint, lst.hosts["main_pc"][0], ring.public, ring.secret)
        wrong = call_as(ctx, agent.endpoint, lst.hosts["pc2"][0], ring.public, ring.secret)
        assert good is not None and good["name"] == "Alpha"
        assert wrong is None  # a client expecting pc2's key does not talk to main_pc's
        ctx.destroy(linger=0)
    finally:
        agent.stop()


def call_as(ctx, endpoint, server_key, public, secret, timeout_s=2.0):
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.curve_serverkey = server_key.encode() if isinstance(server_key, str) else server_key
    sock.curve_publickey, sock.curve_secretkey = public, secret
    sock.connect(endpoint)
    try:
        sock.send_multipart(protocol.encode_request(protocol.Request("health", None)))
        if sock.poll(int(timeout_s * 1000)):
            return protocol.decode_reply(sock.recv_multipart()).result
        return None
    finally:
        sock.close(linger=0)


def test_a_connected_client_revoked_mid_stream_gets_nothing_after_a_second(curve):
    """An intruder streams requests over one connection; after the revocation is written,
    the agent answers nothing more on that same connection within REFRESH_S (+ a poll)."""
    store = curve
    agent = BaseAgent("Alpha", "tcp://127.0.15.1:0")
    agent.start()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    ring = store.keyring("intruder")
    sock.curve_serverkey = store.allow_list().hosts["main_pc"][0].encode()
    sock.curve_publickey, sock.curve_secretkey = ring.public, ring.secret
    sock.connect(agent.endpoint)
    try:
        answered: list[float] = []
        revoked_at = None
        deadline = time.monotonic() + 3.0  # then 1.5 s after the revocation
        while time.monotonic() < deadline:
            sock.send_multipart(protocol.encode_request(protocol.Request("health", None)))
            if sock.poll(20):
                while readable(sock):
                    recv_frames(sock)
                    answered.append(time.monotonic())
            if revoked_at is None and len(answered) >= 20:
                store.revoke("intruder")
                revoked_at = time.monotonic()
                deadline = revoked_at + 1.5
            time.sleep(0.005)  # a stream at ~100 requests/s
        assert revoked_at is not None, "the intruder was never answered before revocation"
        last = max(answered) - revoked_at
        assert last < 1.0, f"answered {last:.3f} s after revocation"
        assert agent.zap is not None and agent.zap.cut > 20  # the rest was dropped, counted
        assert sum(t > revoked_at for t in answered) <= 100  # ~REFRESH_S worth at most
    finally:
        sock.close(linger=0)
        ctx.destroy(linger=0)
        agent.stop()


def test_an_unsigned_forged_or_older_list_is_refused(store, tmp_path):
    view = AllowListView(store.list_path, store.verify_path)
    v1 = view.current
    assert v1 is not None
    store.revoke("intruder")
    wait_until(lambda: view.latest().version == v1.version + 1, 2, what="version 2 seen")
    verify = load_verify_key(store.verify_path)
    unsigned = json.loads(store.list_path.read_bytes())
    unsigned["version"] += 5
    unsigned["signature"] = ""
    with pytest.raises(ValueError, match="unsigned"):
        AllowList.from_bytes(json.dumps(unsigned).encode(), verify)
    forged = dict(unsigned, signature=json.loads(store.list_path.read_bytes())["signature"])
    with pytest.raises(ValueError, match="signature does not match"):
        AllowList.from_bytes(json.dumps(forged).encode(), verify)
    # an older, validly signed list written back: not installed, not believed by the view
    assert not store.install(v1)
    store.list_path.write_bytes(v1.to_bytes())
    view.refresh(force=True)
    assert not view.allows(v1.clients["intruder"][0]) and view.current.version == v1.version + 1


@pytest.mark.parametrize("peer", ["no CURVE", "wrong server key"])
def test_peers_failing_the_handshake_are_counted_with_their_address(curve, peer):
    """Each refused connection is counted with its reason; its address is named when the
    connection was still open when the agent read its ACCEPTED event, else `unknown` (a
    no-CURVE peer is refused in microseconds: benchmarks/security.py measures how many are
    named), never another's."""
    store = curve
    agent = BaseAgent("Alpha", "tcp://127.0.15.1:0")
    agent.start()
    ctx = zmq.Context()
    socks = []
    try:
        for _ in range(PEERS):
            sock = ctx.socket(zmq.DEALER)
            sock.linger = 0
            if peer == "wrong server key":
                ring = store.keyring("operator")  # on the list; expects pc2's key at main_pc
                sock.curve_serverkey = store.allow_list().hosts["pc2"][0].encode()
                sock.curve_publickey, sock.curve_secretkey = ring.public, ring.secret
            sock.connect(agent.endpoint)
            sock.send_multipart(protocol.encode_request(protocol.Request("health", None)))
            socks.append(sock)
        assert agent.zap is not None
        auth = wait_until(lambda: (s := agent.zap.summary())["handshake_failed"] >= PEERS and s,
                          10, what="every failed handshake counted")
        addresses = {r["address"] for r in auth["handshake_recent"]}
        assert addresses <= {"127.0.0.1", "unknown"}
        assert {r["reason"] for r in auth["handshake_recent"]} <= set(REASONS.values())
        assert auth["rejected"] == 0  # none got as far as the ZAP handler
        assert not any(sock.poll(0) for sock in socks)  # and none got anything
    finally:
        for sock in socks:
            sock.close(linger=0)
        ctx.destroy(linger=0)
        agent.stop()


def test_the_socket_fuzzer_in_curve_mode(curve):
    """Hostile messages from an identity on the list reach the handlers and are answered with
    errors; raw non-ZMTP bytes fail the handshake and are counted; the agent still answers."""
    agent = BaseAgent("Alpha", "tcp://127.0.15.1:0")
    agent.start()
    ctx = zmq.Context()
    try:
        sent, replies = dealer_barrage(ctx, agent.endpoint, hostile_messages(3000, seed=19))
        assert sent == 3000 and replies > 100  # authenticated: answered (an oversized one
        # makes the agent hang up on the connection, and what was in flight is lost)
        delivered = raw_barrage(agent.endpoint, raw_stream_payloads(100, seed=19))
        assert delivered > 50
        assert agent.zap is not None
        wait_until(lambda: agent.zap.summary()["handshake_failed"] >= 50, 10,
                   what="the raw connections counted as failed handshakes")
        with Client(source="test") as client:
            assert client.call_endpoint(agent.endpoint, "health", timeout_s=5)["name"] == "Alpha"
    finally:
        ctx.destroy(linger=0)
        agent.stop()


def mesh(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "common.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_keys_cli_list_revoke_bundle_and_its_errors(tmp_path):
    config = two_host_config(tmp_path, [
        {"name": "Alpha", "host": "main_pc", "port": 7300,
         "module": "common.testing.agents:EchoAgent"},
        {"name": "Beta", "host": "pc2", "port": 7301, "module": "common.testing.agents:EchoAgent"}],
        security="curve", keys_dir="keys")
    (tmp_path / "startup_config.yaml").write_text(yaml.safe_dump(config))
    assert mesh("keys", "init", cwd=tmp_path).returncode == 0
    revoked = mesh("keys", "revoke", "Beta", cwd=tmp_path)
    assert revoked.returncode == 0 and "allow-list version 2" in revoked.stdout
    listed = json.loads(mesh("keys", "list", "--json", cwd=tmp_path).stdout)
    assert listed["list_version"] == 2 and listed["hosts"] == ["main_pc", "pc2"]
    assert {r["identity"]: r["allowed"] for r in listed["identities"]}["Beta"] is False
    bundled = mesh("keys", "bundle", "--host", "pc2", "--to", "keys-pc2", "--json", cwd=tmp_path)
    assert bundled.returncode == 0
    assert "clients/Beta.key_secret" in json.loads(bundled.stdout)["files"]
    again = mesh("keys", "bundle", "--host", "pc2", "--to", "keys-pc2", cwd=tmp_path)
    assert again.returncode == 2 and "not empty" in again.stderr
    unknown = mesh("keys", "bundle", "--host", "pc3", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown host 'pc3'" in unknown.stderr
    on_pc2 = mesh("keys", "allow", "Beta", "--dir", "keys-pc2", cwd=tmp_path)
    assert on_pc2.returncode == 2 and "no operator signing key here" in " ".join(
        on_pc2.stderr.split())
