"""The fork server under a real stall: SIGSTOP of the server process while a spawn waits."""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from common.base_agent.errors import MeshError
from common.spawn.forkserver import ForkServer
from common.spawn.spec import AgentSpec
from common.testing.mesh import free_ports
from common.testing.wait import wait_until


def echo_spec(tmp_path, port, **changes):
    return AgentSpec(name="Echo", module="common.testing.agents:EchoAgent",
                     endpoint=f"tcp://127.0.0.1:{port}", host="127.0.0.1",
                     log_path=str(tmp_path / "Echo.log"), log_max_bytes=1 << 20, log_backups=1,
                     cwd=os.getcwd(), **changes)


def killed_child(server, timeout_s=10.0):
    """The exit event of a child the server reports killed by SIGKILL, if one comes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for event in server.events():  # reading the answers is what kills a late child
            if event.get("op") == "exited" and event["code"] == -signal.SIGKILL:
                return event
        time.sleep(0.02)  # polling the server's event stream, bounded by the deadline
    return None


@pytest.mark.timeout(60)
def test_spawn_answered_after_its_timeout_leaves_no_orphan(tmp_path):
    """Chaos soak, startup on a loaded machine: the fork server answered a spawn after the
    launcher had given up on it; that child ran unsupervised on the agent's port and every
    restart then failed with 'Address already in use' (a crash loop)."""
    server = ForkServer(("common.testing.agents",))
    server.start()
    try:
        os.kill(server.pid, signal.SIGSTOP)
        try:
            with pytest.raises(TimeoutError):
                server.spawn(echo_spec(tmp_path, free_ports(1)[0]), timeout_s=0.3)
        finally:
            os.kill(server.pid, signal.SIGCONT)
        assert killed_child(server) is not None
        assert psutil.Process(server.pid).children() == []
    finally:
        server.close()


def test_an_exit_read_with_a_spawn_answer_is_kept(tmp_path):
    """A flaky `mesh reload` test: A and D were stopped together; D's exit reached the
    launcher in the same read as the answer to A's new spawn, spawn() returned on the answer
    and dropped the rest, and D stayed "stopping" for ever.  The server's side is scripted
    here (its two lines in one send) so that the batch is certain."""
    server = ForkServer()
    ours, theirs = socket.socketpair()
    server._sock = ours  # the launcher's end; the test plays the fork server on the other
    try:
        theirs.sendall(b'{"op": "spawned", "id": "1", "pid": 101}\n'
                       b'{"op": "exited", "pid": 99, "code": 0}\n')
        assert server.spawn(echo_spec(tmp_path, 7000), timeout_s=5) == 101
        assert server.events() == [{"op": "exited", "pid": 99, "code": 0}]
    finally:
        ours.close()
        theirs.close()


@pytest.mark.timeout(60)
def test_a_child_stopped_and_continued_is_reported(tmp_path):
    """The launcher learns of a SIGSTOP from the fork server (no /proc read per agent per
    interval): stopped, continued, then the exit, in order."""
    server = ForkServer(("common.testing.agents",))
    server.start()
    try:
        pid = server.spawn(echo_spec(tmp_path, free_ports(1)[0]))
        seen: list[dict] = []

        def reported(op):
            seen.extend(server.events())
            return any(e.get("op") == op and e.get("pid") == pid for e in seen)

        for sig, op in ((signal.SIGSTOP, "stopped"), (signal.SIGCONT, "continued"),
                        (signal.SIGKILL, "exited")):
            os.kill(pid, sig)
            wait_until(lambda op=op: reported(op), 10, interval_s=0.02, what=f"{op} reported")
        assert [e["op"] for e in seen if e.get("pid") == pid] == ["stopped", "continued",
                                                                   "exited"]
    finally:
        server.close()


@pytest.mark.timeout(60)
def test_a_batch_of_spawns_answers_each_spec(tmp_path, client_factory):
    """spawn_many: the batch in one write, each spec's pid in the spec's place."""
    server = ForkServer(("common.testing.agents",))
    server.start()
    try:
        ports = free_ports(3)
        specs = [dataclasses.replace(echo_spec(tmp_path, port), name=f"Echo{i}")
                 for i, port in enumerate(ports)]
        pids = server.spawn_many(specs)
        assert {p.pid for p in psutil.Process(server.pid).children()} == set(pids)
        client = client_factory(breaker_threshold=10**6)
        for port, pid in zip(ports, pids, strict=True):
            wait_until(lambda port=port: _answers(client, port), 20, what="Echo serving")
            got = client.call_endpoint(f"tcp://127.0.0.1:{port}", "settings")
            assert got["pid"] == pid
    finally:
        server.close()


def test_the_spec_crosses_the_socketpair_as_plain_data(tmp_path):
    spec = echo_spec(tmp_path, 7000, settings={"n": 1}, hub_endpoints=("tcp://h:1",),
                     secrets={"API_KEY": True}, log_level="DEBUG")
    wire = json.loads(json.dumps(spec.to_wire()))
    assert wire["hub_endpoints"] == ["tcp://h:1"] and wire["log_level"] == "DEBUG"
    assert AgentSpec.from_wire(wire) == spec


@pytest.mark.timeout(60)
def test_the_agent_logs_at_the_spec_s_level(tmp_path, client_factory):
    """`mesh up --log-level` once reached no agent: the child read a key no plan set."""
    port = free_ports(1)[0]
    server = ForkServer(("common.testing.agents",))
    server.start()
    try:
        server.spawn(echo_spec(tmp_path, port, log_level="DEBUG"))
        client = client_factory(breaker_threshold=10**6)
        wait_until(lambda: _answers(client, port), 20, what="Echo serving")
        client.call_endpoint(f"tcp://127.0.0.1:{port}", "log",
                             {"lines": 1, "size": 3, "level": "DEBUG"})
        assert " DEBUG " in (tmp_path / "Echo.log").read_text()
    finally:
        server.close()


def _answers(client, port):
    try:
        return client.call_endpoint(f"tcp://127.0.0.1:{port}", "health", timeout_s=0.5,
                                    retries=0)
    except MeshError:
        return None


ORPHAN = """
import os, sys
from common.spawn import child
from common.spawn.spec import AgentSpec
spec = AgentSpec.from_wire(__import__("json").loads(sys.argv[1]))
gate = os.pipe()
pid = os.fork()
if pid == 0:
    child.enter(spec, gate=gate)
print(pid, flush=True)  # then this "fork server" dies with the child still at the gate
"""


@pytest.mark.timeout(60)
def test_an_orphan_at_the_gate_does_not_run(tmp_path, client_factory):
    """The gate holds a batch's children; a fork server that dies meanwhile closes it, and a
    child passing it then would run with no parent to stop it (PR_SET_PDEATHSIG is set after
    the gate, for the parent of that moment): it exits instead."""
    port = free_ports(1)[0]
    spec = echo_spec(tmp_path, port)
    out = subprocess.run([sys.executable, "-c", ORPHAN, json.dumps(spec.to_wire())],
                         capture_output=True, text=True, timeout=30, cwd=os.getcwd())
    pid = int(out.stdout.split()[0])
    try:
        wait_until(lambda: _ended(pid), 20, interval_s=0.02, what="the orphaned child ended")
        assert _answers(client_factory(breaker_threshold=10**6), port) is None
    finally:
        if not _ended(pid):
            os.kill(pid, signal.SIGKILL)


def _ended(pid):
    """Gone, or a zombie its new parent has not reaped (PID 1 of a container may never)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
