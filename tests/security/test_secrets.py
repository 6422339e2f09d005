"""Secrets never leak (issue #8): not to argv, logs, `mesh config show`, the hub, the registry
or a health reply -- and the agents that declare them do receive them."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest
from secret_helpers import Secrets

from common.base_agent.errors import MeshError
from common.base_agent.protocol import ACTION_HEALTH, ACTION_LIST, ACTION_LOOKUP, ErrorCode
from common.testing.mesh import MeshRun
from common.testing.wait import wait_until

HUB_PAGES = ("/", "/index.html", "/api/health", "/api/alerts", "/metrics")


def assert_absent(secrets: Secrets, where: str, data: str | bytes) -> None:
    raw = data.encode() if isinstance(data, str) else data
    for value in secrets.values:
        assert value.encode() not in raw, f"a secret value leaked into {where}"


def http(url: str, body: dict[str, Any] | None = None, token: str = "") -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=3.0) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def mesh_cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "common.cli.main", *args],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def call(run: MeshRun, endpoint: str, action: str, payload: Any = None) -> Any:
    return run.client.call_endpoint(endpoint, action, payload, timeout_s=2.0, retries=1)


def endpoint(agent: dict[str, Any]) -> str:
    return f"tcp://{'127.0.0.2' if agent['host'] == 'pc2' else '127.0.0.1'}:{agent['port']}"


def process_tree(root: int) -> dict[int, bytes]:
    """pid -> raw /proc/PID/cmdline of root and every descendant."""
    pids = [root, *(p.pid for p in psutil.Process(root).children(recursive=True))]
    return {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids}


def check_processes(secrets: Secrets, run: MeshRun, up_pid: int,
                    agents: dict[str, dict[str, Any]]) -> None:
    """No argv holds a value; forked processes (fork servers, agents) do not even inherit the
    launcher variables the values come from."""
    tree = process_tree(up_pid)
    launchers = {run.status(host)["pid"] for host in ("main_pc", "pc2")}
    forked = {a["pid"] for a in agents.values()}  # agents are forks: the server's argv
    assert forked | launchers <= tree.keys()
    fork_servers = {pid for pid, argv in tree.items() if b"common.spawn.server" in argv}
    assert len(fork_servers - forked) == 2, tree
    for pid, argv in tree.items():
        assert_absent(secrets, f"/proc/{pid}/cmdline", argv)
    for pid in tree.keys() - launchers - {up_pid}:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert_absent(secrets, f"/proc/{pid}/environ", environ)
        for name in (secrets.env_var, secrets.hub_var):
            assert name.encode() + b"=" not in environ, f"{name} inherited by pid {pid}"


def check_receipt(secrets: Secrets, run: MeshRun, agents: dict[str, dict[str, Any]]) -> None:
    """Each agent got exactly its own secret: the signers' HMACs match, and health says so."""
    for name, value in (("SignerMain", secrets.file_value), ("SignerPc2", secrets.env_value)):
        reply = call(run, endpoint(agents[name]), "sign", {"data": "nonce-1"})
        assert reply["hmac"] == hmac.new(value.encode(), b"nonce-1", hashlib.sha256).hexdigest()
    with pytest.raises(MeshError) as off:
        call(run, endpoint(agents["Unkeyed"]), "sign", {"data": "nonce-1"})
    assert off.value.code == ErrorCode.UNAVAILABLE
    for name, agent in agents.items():
        report = call(run, endpoint(agent), ACTION_HEALTH)
        assert_absent(secrets, f"{name}'s health reply", json.dumps(report))
        if name == "ServiceRegistry":
            continue
        secret_checks = [c for c in report["checks"] if c["name"] == "secrets"]
        expected = ("API_KEY: not set (optional: feature off)" if name == "Unkeyed"
                    else "MESH_HUB_TOKEN: set" if name == "ObservabilityHub" else "API_KEY: set")
        assert secret_checks == [{"name": "secrets", "status": "passing", "detail": expected}]


def check_hub(secrets: Secrets, http_port: int) -> None:
    """The hub got its token (a silence needs it) and shows it on no page."""
    base = f"http://127.0.0.1:{http_port}"
    silence = {"matchers": {"alertname": "SecretsTest"}, "duration_s": 60}
    assert http(base + "/api/alerts/silence", silence, token="wrong")[0] == 401
    status, body = http(base + "/api/alerts/silence", silence, token=secrets.hub_value)
    assert status == 200, body
    assert_absent(secrets, "the silence reply", body)
    wait_until(lambda: all(name.encode() in http(base + "/api/health")[1]
                           for name in ("SignerMain", "SignerPc2", "Unkeyed")),
               10.0, interval_s=0.1, what="the signers' heartbeats at the hub")
    for page in HUB_PAGES:
        status, body = http(base + page)
        assert status == 200, page
        assert_absent(secrets, f"hub page {page}", body)


def check_dumps(secrets: Secrets, run: MeshRun, agents: dict[str, dict[str, Any]]) -> None:
    """`mesh config show|check` and the registry and launcher replies hold no value."""
    for args in (["show"], ["show", "--json"], ["check"]):
        shown = mesh_cli("config", *args, str(run.config_path))
        assert_absent(secrets, f"mesh config {' '.join(args)}", shown)
        if args[0] == "show":
            assert secrets.env_var in shown and str(secrets.file) in shown  # the references
    registry = endpoint(agents["ServiceRegistry"])
    listed = call(run, registry, ACTION_LIST)
    assert {"SignerMain", "SignerPc2", "ObservabilityHub"} <= {r["name"] for r in listed}
    assert_absent(secrets, "the registry list", json.dumps(listed))
    for name in agents:
        assert_absent(secrets, f"lookup {name}",
                      json.dumps(call(run, registry, ACTION_LOOKUP, {"name": name})))
    for host in ("main_pc", "pc2"):
        assert_absent(secrets, f"launcher status {host}", json.dumps(run.status(host)))


def check_files(secrets: Secrets, root: Path) -> None:
    """Every file the run wrote (logs of agents and launchers, registry db) is clean."""
    scanned = 0
    for path in root.rglob("*"):
        if path.is_file() and path != secrets.file:
            assert_absent(secrets, str(path), path.read_bytes())
            scanned += 1
    logs = list((root / "logs").rglob("*.log"))
    assert {p.stem for p in logs} >= {"SignerMain", "SignerPc2", "ObservabilityHub"}, logs
    assert scanned > len(logs)


@pytest.mark.timeout(120)
def test_secrets_reach_their_agents_and_appear_nowhere_else(secrets, secret_mesh,
                                                            secret_ports, tmp_path):
    up = secret_mesh.up("all", "--log-level", "DEBUG")
    agents = secret_mesh.wait_ready(timeout_s=40)
    check_processes(secrets, secret_mesh, up.pid, agents)
    check_receipt(secrets, secret_mesh, agents)
    check_hub(secrets, secret_ports[2])
    check_dumps(secrets, secret_mesh, agents)
    up.signal(signal.SIGTERM)
    assert up.proc.wait(30) == 0
    check_files(secrets, tmp_path)
