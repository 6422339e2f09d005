"""Fixtures of tests/legacy: a two-host mesh, free ports, the script's own interpreter (a
virtual environment without agentmesh)."""

import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from common.testing.mesh import MeshRun, two_host_config


@pytest.fixture
def mesh(procs, tmp_path):
    runs = []

    def make(agents, health=None, **global_):
        # a legacy script answers health from a thread of its own: on a busy 2-core machine
        # two 0.3 s probe timeouts in a row are not a hang
        health = {"timeout_s": 2.0, "retries": 3, **(health or {})}
        run = MeshRun(procs, tmp_path, two_host_config(tmp_path, agents, health=health,
                                                       **global_))
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.close()


@pytest.fixture
def ports():
    """12 ports P, each with P + 1 (a script's hidden HTTP port when P is its health port),
    free on every address: the scripts bind `*`, which fails where anything (another test's
    agent on 127.0.0.2) holds the port on any one address."""
    held, found = [], []
    try:
        while len(found) < 12:
            first = socket.socket()
            held.append(first)
            first.bind(("0.0.0.0", 0))
            port = first.getsockname()[1]
            second = socket.socket()
            held.append(second)
            try:
                second.bind(("0.0.0.0", port + 1))
            except OSError:
                continue
            found.append(port)
    finally:
        for sock in held:
            sock.close()
    return found


@pytest.fixture(scope="session")
def legacy_venv(tmp_path_factory):
    """A virtual environment of the script's own: pyzmq (linked from the mesh's venv, as a
    pinned dependency would be installed) and nothing of agentmesh."""
    root = tmp_path_factory.mktemp("legacy_venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")],
                   check=True, timeout=60)
    deps = root / "deps"
    deps.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for name in ("zmq", "pyzmq.libs"):
        if (site / name).exists():
            (deps / name).symlink_to(site / name)
    venv_site = next((root / "venv" / "lib").glob("python*/site-packages"))
    (venv_site / "deps.pth").write_text(f"{deps}\n")
    return root / "venv"
