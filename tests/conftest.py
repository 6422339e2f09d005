import pytest

from service_registry import ServiceRegistry

pytest_plugins = ["common.testing.pytest_plugin"]

FAST_HEARTBEAT_S = 0.2


@pytest.fixture
def registry(agents, tmp_path):
    """An in-process ServiceRegistry on a random port with a 0.2 s heartbeat interval."""
    return agents(ServiceRegistry(settings={"db_path": str(tmp_path / "registry.db")},
                                  heartbeat_interval_s=FAST_HEARTBEAT_S))
