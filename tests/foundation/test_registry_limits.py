"""The registry's bounds: a peer cannot grow it without limit (found by the socket fuzzer)."""

import pytest

from common.base_agent.errors import BadRequest, MeshError
from common.base_agent.protocol import ErrorCode
from service_registry import state
from service_registry.state import RegistryState

pytestmark = pytest.mark.timeout(20)


def record(name, i, multi=True):
    return {"name": name, "instance_id": f"{name}-{i}", "endpoint": f"tcp://127.0.0.1:{1000 + i}",
            "multi": multi}


def test_instances_of_one_name_are_capped_and_updates_still_pass():
    reg = RegistryState()
    for i in range(state.MAX_PER_NAME):
        reg.register(record("Blue", i))
    with pytest.raises(MeshError) as info:
        reg.register(record("Blue", 99))
    assert info.value.code == ErrorCode.CONFLICT and "Blue" in info.value.message
    reg.register(record("Blue", 0))  # a known instance re-registers (an update)
    assert len(reg.lookup("Blue")) == state.MAX_PER_NAME


def test_the_registry_as_a_whole_is_capped(monkeypatch):
    monkeypatch.setattr(state, "MAX_INSTANCES", 50)
    reg = RegistryState()
    for i in range(50):
        reg.register(record(f"A{i}", i))
    with pytest.raises(MeshError) as info:
        reg.register(record("Late", 77))
    assert info.value.code == ErrorCode.UNAVAILABLE
    reg.deregister("A0-0")
    reg.register(record("Late", 77))


def test_admissions_are_capped(monkeypatch):
    monkeypatch.setattr(state, "MAX_ADMITTED", 3)
    reg = RegistryState()
    for i in range(3):
        reg.admit(f"N{i}", ["tcp://127.0.0.1:1"])
    with pytest.raises(BadRequest):
        reg.admit("N9", ["tcp://127.0.0.1:1"])
    reg.admit("N0", [])
    reg.admit("N9", ["tcp://127.0.0.1:1"])
