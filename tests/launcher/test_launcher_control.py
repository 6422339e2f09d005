"""The launcher's control socket on tcp: under curve only the operator may use it; ``logs``
reads an agent's log in bounded pieces and follows it across rotations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.base_agent.errors import BadRequest, MeshError
from common.launcher.control import MAX_LOG_BYTES, read_log
from tests.launcher.conftest import agent

MESH = [sys.executable, "-m", "common.cli.main"]

AS_IDENTITY = """
import sys
from common.base_agent.client import Client
from common.base_agent.errors import MeshTimeoutError
with Client(source="probe") as client:
    for endpoint in sys.argv[1:]:
        try:
            client.call_endpoint(endpoint, "status" if "launcher" in endpoint else "health",
                                 timeout_s=1.5, retries=0)
            print("answered")
        except MeshTimeoutError:
            print("silent")
"""


def _mesh(run, *args, timeout=60, env=None):
    return subprocess.run([*MESH, *args, "--config", str(run.config_path)], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(120)
def test_under_curve_only_the_operator_may_use_a_launcher(mesh, ports, tmp_path):
    run = mesh([agent("ServiceRegistry", "main_pc", ports[0],
                      module="service_registry.agent:ServiceRegistry", service="registry"),
                agent("A", "pc2", ports[1], ["ServiceRegistry"])],
               security="curve", keys_dir=str(tmp_path / "keys"))
    env = {k: v for k, v in os.environ.items() if k not in ("MESH_KEYS_DIR", "MESH_KEY_NAME")}
    assert _mesh(run, "keys", "init", env=env).returncode == 0
    rd = ("--run-dir", run.run_dir)
    up = _mesh(run, "up", "--detach", *rd, env=env)
    assert up.returncode == 0, up.stderr
    try:
        status = _mesh(run, "status", "--json", env=env)  # the CLI speaks as the operator
        assert status.returncode == 0, status.stderr
        agent_a = f"tcp://127.0.0.2:{ports[1]}"
        as_a = subprocess.run([sys.executable, "-c", AS_IDENTITY, run.launcher_endpoint("pc2"),
                               agent_a], capture_output=True, text=True, timeout=30,
                              env={**env, "MESH_KEYS_DIR": str(tmp_path / "keys"),
                                   "MESH_KEY_NAME": "A",
                                   "MESH_HOST_ADDRESSES": "main_pc=127.0.0.1,pc2=127.0.0.2"})
        # identity A is on the allow-list: agents answer it, the launcher does not
        assert as_a.stdout.split() == ["silent", "answered"], as_a.stderr
        log = Path(run.run_dir, "launcher-pc2.log").read_text()
        assert "identity A may not use this socket (only launcher-main_pc, launcher-pc2, " \
        "operator)" in log
    finally:
        assert _mesh(run, "down", env=env).returncode == 0


def test_logs_gives_the_last_lines_then_what_follows(tmp_path):
    path = tmp_path / "A.log"
    path.write_text("".join(f"line {i}\n" for i in range(100)))
    first = read_log(path, {"lines": 3})
    assert first["text"] == "line 97\nline 98\nline 99\n"
    assert first["offset"] == path.stat().st_size
    with path.open("a") as handle:
        handle.write("line 100\nhalf a li")
    more = read_log(path, {"offset": first["offset"], "file_id": first["file_id"]})
    assert more["text"] == "line 100\n"  # whole lines only; the rest comes next time
    assert read_log(path, {"offset": more["offset"], "file_id": more["file_id"]})["text"] == ""


def test_logs_follows_a_rotation_reading_the_rest_of_the_old_file_first(tmp_path):
    path = tmp_path / "A.log"
    path.write_text("old 1\n")
    seen = read_log(path, {"lines": 10})
    with path.open("a") as handle:
        handle.write("old 2\n")
    path.rename(tmp_path / "A.log.1")  # what RotatingFileHandler does
    path.write_text("new 1\n")
    rest = read_log(path, {"offset": seen["offset"], "file_id": seen["file_id"]})
    assert rest["text"] == "old 2\n"
    new = read_log(path, {"offset": rest["offset"], "file_id": rest["file_id"]})
    assert new["text"] == "new 1\n"
    path.write_text("")  # truncated: from the start again
    assert read_log(path, {"offset": new["offset"], "file_id": new["file_id"]})["offset"] == 0


def test_logs_replies_are_bounded_and_bad_requests_refused(tmp_path):
    path = tmp_path / "A.log"
    path.write_text(("x" * 99 + "\n") * 2000)  # 200 KB
    tail = read_log(path, {"lines": 10_000})
    assert len(tail["text"]) <= MAX_LOG_BYTES and tail["offset"] == path.stat().st_size
    piece = read_log(path, {"offset": 0, "file_id": tail["file_id"]})
    assert len(piece["text"]) == MAX_LOG_BYTES and piece["offset"] == MAX_LOG_BYTES
    for payload in ({"lines": -1}, {"offset": -5}, {"lines": "3"}):
        with pytest.raises(BadRequest):
            read_log(path, payload)
    with pytest.raises(MeshError, match="no log at"):
        read_log(tmp_path / "B.log", {})
