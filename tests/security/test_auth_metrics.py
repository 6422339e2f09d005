"""The hub exports each agent's auth counts from its reports on /metrics: revoked keys' messages
cut, revoked subscribers cut, failed CURVE handshakes, and the allow-list version it holds."""

from __future__ import annotations

import urllib.request

import pytest

from common.base_agent.client import Client
from common.hub.fleet import synthetic_report
from common.hub.protocol import ACTION_REPORT
from common.testing.wait import wait_until
from observability_hub.hub import ObservabilityHub

pytestmark = pytest.mark.timeout(30)


def metrics(hub: ObservabilityHub) -> str:
    with urllib.request.urlopen(hub.http.url + "/metrics", timeout=5) as r:
        return r.read().decode()


def report(client: Client, hub: ObservabilityHub, name: str, seq: int, **auth: int) -> None:
    body = synthetic_report(name, seq, 0.5, "main_pc")
    body["auth"] = {"rejected": 0, "recent": [], **auth}
    client.call_endpoint(hub.endpoint, ACTION_REPORT, body, timeout_s=2.0)


def test_each_agents_auth_counts_are_on_metrics_and_follow_its_reports(agents, zmq_ctx):
    hub = agents(ObservabilityHub("Hub", heartbeat_interval_s=0.5,
                                  settings={"http_port": 0, "role": "central"}))
    with Client(ctx=zmq_ctx, source="test") as client:
        report(client, hub, "Alpha", 1, cut=2, sub_cut=1, handshake_failed=7, list_version=4)
        report(client, hub, "Beta", 1, cut=0, sub_cut=0, handshake_failed=0, list_version=3)
        want = ['mesh_auth_cut_total{agent="Alpha"} 2.0',
                'mesh_auth_sub_cut_total{agent="Alpha"} 1.0',
                'mesh_auth_handshake_failed_total{agent="Alpha"} 7.0',
                'mesh_auth_allowlist_version{agent="Alpha"} 4.0',
                'mesh_auth_allowlist_version{agent="Beta"} 3.0',
                'mesh_auth_handshake_failed_total{agent="Beta"} 0.0']
        wait_until(lambda: all(line in metrics(hub) for line in want), 10,
                   what="both agents' auth counts on /metrics")
        report(client, hub, "Beta", 2, cut=0, sub_cut=0, handshake_failed=5, list_version=4)
        wait_until(lambda: 'mesh_auth_handshake_failed_total{agent="Beta"} 5.0'
                   in metrics(hub), 10, what="Beta's new count")
    text = metrics(hub)
    assert 'mesh_auth_allowlist_version{agent="Beta"} 4.0' in text
    assert "# TYPE mesh_auth_cut_total counter" in text
    assert "# TYPE mesh_auth_allowlist_version gauge" in text
