import pytest

from common.testing.mesh import MeshRun, free_ports
from common.testing.migrate import Migrate, worker_config


@pytest.fixture
def ports():
    return free_ports(4)


@pytest.fixture
def worker_settings():
    """The Worker's (old, good) settings; a test may parametrize this name to change them."""
    return None


@pytest.fixture
def worker_mesh(procs, tmp_path, ports, worker_settings):
    run = MeshRun(procs, tmp_path, worker_config(tmp_path, ports, worker_settings))
    run.up("main_pc")
    run.wait_ready(("main_pc",))
    yield run, Migrate(run, tmp_path)
    run.close()
