"""The fork server under a real stall: SIGSTOP of the server process while a spawn waits."""

import os
import signal
import time

import psutil
import pytest

from common.spawn.forkserver import ForkServer
from common.testing.mesh import free_ports


def echo_spec(tmp_path, port):
    return {"name": "Echo", "module": "common.testing.agents:EchoAgent",
            "endpoint": f"tcp://127.0.0.1:{port}", "registry": None, "host": "127.0.0.1",
            "settings": {}, "ports": {}, "heartbeat_interval_s": 1.0, "env": {},
            "log_path": str(tmp_path / "Echo.log"), "log_max_bytes": 1 << 20,
            "log_backups": 1, "cwd": os.getcwd()}


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
