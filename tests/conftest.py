import importlib.util

import pytest

from service_registry import ServiceRegistry

pytest_plugins = ["common.testing.pytest_plugin"]

FAST_HEARTBEAT_S = 0.2
HAVE_TORCH = importlib.util.find_spec("torch") is not None


def pytest_collection_modifyitems(config, items):
    """Tests marked ``torch`` run model agents: they skip where torch (the models extra) is
    not installed, as on `make test-py310`'s Python 3.10."""
    if HAVE_TORCH:
        return
    skip = pytest.mark.skip(reason="needs torch: pip install 'agentmesh[models]'")
    for item in items:
        if item.get_closest_marker("torch"):
            item.add_marker(skip)


@pytest.fixture
def registry(agents, tmp_path):
    """An in-process ServiceRegistry on a random port with a 0.2 s heartbeat interval."""
    return agents(ServiceRegistry(settings={"db_path": str(tmp_path / "registry.db")},
                                  heartbeat_interval_s=FAST_HEARTBEAT_S))
