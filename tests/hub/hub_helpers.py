"""Helpers for hub tests: free ports, hubs as real processes, HTTP reads."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from common.base_agent.client import Client
from common.hub.protocol import ACTION_INFO
from common.testing.mesh import free_ports

FAST_S = 0.2  # heartbeat interval in these tests


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


def get_json(url: str, timeout_s: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        return json.loads(resp.read())


def get_text(url: str, timeout_s: float = 2.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        return resp.read().decode()


def agent_state(doc: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((a for a in doc["agents"] if a["name"] == name), None)


def hub_info(client: Client, endpoint: str) -> dict[str, Any]:
    return client.call_endpoint(endpoint, ACTION_INFO, {}, timeout_s=1.0, retries=3)


def start_hub_process(procs: Any, name: str, role: str, endpoint: str, peer: str = "",
                      **settings: Any) -> Any:
    body = {"role": role, "peer": peer, "http_port": 0, **settings}
    return procs.mesh("agent", "run", "observability_hub.hub:ObservabilityHub", "--name", name,
                      "--endpoint", endpoint, "--settings", json.dumps(body),
                      "--heartbeat-interval", str(FAST_S), "--log-level", "WARNING")
