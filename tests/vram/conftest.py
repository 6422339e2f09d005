"""Fixtures for the VRAM pool tests: a live ModelManagerAgent over a real registry."""

import pytest

from common.vram import LeaseClient
from main_pc.model_manager import ModelManagerAgent

INTERVAL_S = 0.2
HOSTS = {
    "main_pc": {"gpu": {"backend": "simulated", "devices": [{"name": "RTX 4090",
                                                             "vram_mb": 24000}]}},
    "pc2": {"gpu": {"backend": "simulated", "devices": [{"name": "RTX 3060",
                                                         "vram_mb": 12000}]}},
}


def manager_settings(**extra):
    return {"hosts": HOSTS, "reserve_mb": 500, "min_idle_s": 0.0, "min_resident_s": 0.0,
            "unknown_margin": 0.0, "load_grace_s": 0.0, **extra}


@pytest.fixture
def manager(agents, registry):
    def start(**settings):
        return agents(ModelManagerAgent("ModelManagerAgent", registry=registry.endpoint,
                                        heartbeat_interval_s=INTERVAL_S,
                                        settings=manager_settings(**settings)))
    return start


@pytest.fixture
def leases(client_factory, registry):
    def make(**holder):
        return LeaseClient(client_factory(registry.endpoint), holder=holder)
    return make
