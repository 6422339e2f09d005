"""The batched liveness actions on the real registry and hub (in-process, real sockets)."""

from __future__ import annotations

import pytest

from common.base_agent.errors import MeshError
from common.base_agent.protocol import ACTION_HEARTBEAT_BATCH, ACTION_LIST, ACTION_REGISTER
from common.hub.protocol import ACTION_REPORT_BATCH, ACTION_SNAPSHOT
from common.testing.mesh import free_ports
from observability_hub.hub import ObservabilityHub
from service_registry.agent import ServiceRegistry

ADDRESS = "127.0.13.1"


def _record(i: int) -> dict:
    return {"name": f"Batch{i}", "instance_id": f"Batch{i}-x", "host": ADDRESS,
            "endpoint": f"tcp://{ADDRESS}:{40000 + i}", "heartbeat_interval_s": 1.0}


def test_registry_heartbeat_batch_refreshes_known_names_unknown_and_drops_gone(agents,
                                                                             client_factory):
    registry = agents(ServiceRegistry("Reg", f"tcp://{ADDRESS}:0"))
    client = client_factory()
    for i in range(3):
        client.call_endpoint(registry.endpoint, ACTION_REGISTER, _record(i), timeout_s=2.0)
    reply = client.call_endpoint(registry.endpoint, ACTION_HEARTBEAT_BATCH,
                                 {"instance_ids": ["Batch0-x", "Batch2-x", "Gone-y"]},
                                 timeout_s=2.0)
    assert reply["refreshed"] == 2 and reply["unknown"] == ["Gone-y"]
    seq = reply["seq"]
    reply = client.call_endpoint(registry.endpoint, ACTION_HEARTBEAT_BATCH,
                                 {"instance_ids": ["Batch0-x"], "gone": ["Batch1-x", "Gone-y"]},
                                 timeout_s=2.0)  # Batch1's process exited: removed at once
    assert reply["removed"] == 1 and reply["seq"] == seq + 1 and reply["refreshed"] == 1
    assert sorted(r["name"] for r in client.call_endpoint(registry.endpoint, ACTION_LIST,
                                                          timeout_s=2.0)) == [
        "Batch0", "Batch2", "Reg"]
    with pytest.raises(MeshError, match="bad_request: payload.instance_ids"):
        client.call_endpoint(registry.endpoint, ACTION_HEARTBEAT_BATCH,
                             {"instance_ids": [1, 2]}, timeout_s=2.0, retries=0)
    with pytest.raises(MeshError, match="bad_request: payload.gone"):
        client.call_endpoint(registry.endpoint, ACTION_HEARTBEAT_BATCH,
                             {"instance_ids": [], "gone": "Batch0-x"}, timeout_s=2.0, retries=0)


def test_hub_report_batch_takes_each_report_as_its_own(agents, client_factory):
    (port,) = free_ports(1, ADDRESS)
    hub = agents(ObservabilityHub("HubB", f"tcp://{ADDRESS}:{port}", heartbeat_interval_s=1.0,
                                  settings={"role": "central", "http_port": 0}))
    client = client_factory()
    bodies = [{"agent": f"Batch{i}", "instance_id": f"Batch{i}-x", "host": ADDRESS, "pid": 1,
               "endpoint": f"tcp://{ADDRESS}:{40000 + i}", "interval_s": 1.0, "seq": 1,
               "failover": False, "health": {"status": "passing", "checks": []},
               "metrics": {}, "actions": {}} for i in range(300)]
    bodies.append({"agent": "Broken"})  # no seq, no health: dropped alone
    reply = client.call_endpoint(hub.endpoint, ACTION_REPORT_BATCH,
                                 {"host": "h", "reports": bodies}, timeout_s=5.0)
    assert reply["accepted"] == 300 and reply["rejected"] == 1
    view = client.call_endpoint(hub.endpoint, ACTION_SNAPSHOT, timeout_s=5.0)
    passing = {a["name"] for a in view["agents"] if a["state"] == "passing"}
    assert {f"Batch{i}" for i in range(300)} <= passing
