"""What "recovered" means for each fault of the chaos soak, as predicates polled with a deadline.

An agent is *back* when the registry, asked afresh (no cache), names an instance of it and that
instance answers ``health`` on the registered endpoint with the registered instance id; after a
``kill -9`` it must be a new instance.  On top of that, per kind:

- registry: it is back and lists every agent of the config again;
- model manager: it is back and its pool accounts for every loaded model: each model agent
  that holds weights (state ready or loading) has its lease among the pool's active leases;
- hubs: the hub is back, both hubs answer ``GET /api/health``, and failover is settled: the
  central hub active and the edge passive (exactly one active);
- partition: every PC2 agent is back as seen from MainPC, and the hubs are settled.

One ``Checks`` per thread (it owns a Client); every call has a short deadline and no retries,
so a poll never blocks for long.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from chaos_mesh import INFRA, SoakMesh

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.vram import protocol as vp

__all__ = ["Checks"]

CALL_TIMEOUT_S = 0.5
HTTP_TIMEOUT_S = 1.0


class Checks:
    def __init__(self, mesh: SoakMesh) -> None:
        self.mesh = mesh
        self.client = Client(mesh.registry, source="chaos-probe", breaker_threshold=10**9)
        self.models = sorted(n for n, a in mesh.agents.items()
                             if "vram_mb" in (a.get("settings") or {}))

    def close(self) -> None:
        self.client.close()

    def _call(self, endpoint: str, action: str, payload: Any = None,
              timeout_s: float = CALL_TIMEOUT_S) -> Any:
        return self.client.call_endpoint(endpoint, action, payload, timeout_s=timeout_s,
                                         retries=0, peer=endpoint)

    # -- agents ----------------------------------------------------------------------------
    def instance(self, name: str) -> dict[str, Any] | None:
        """name's registered instance that answers health as itself, or None."""
        try:
            found = self._call(self.mesh.registry, "lookup", {"name": name})
            if not found:
                return None
            record = found[0]
            report = self._call(record["endpoint"], "health")
        except MeshError:
            return None
        return record if report.get("instance_id") == record["instance_id"] else None

    def back(self, name: str, not_instance: str = "") -> bool:
        record = self.instance(name)
        return record is not None and record["instance_id"] != not_instance

    def registered_names(self) -> set[str] | None:
        try:
            return {r["name"] for r in self._call(self.mesh.registry, "list", timeout_s=1.0)}
        except MeshError:
            return None

    # -- per kind --------------------------------------------------------------------------
    def recovered(self, kind: str, target: str, old_instance: str) -> bool:
        not_instance = old_instance if kind.endswith("_kill") else ""
        if kind == "partition":
            return self.partition_healed()
        if not self.back(target, not_instance):
            return False
        if kind.startswith("registry"):
            return (self.registered_names() or set()) >= set(self.mesh.agents)
        if kind.startswith("model_manager"):
            return self.pool_accounts_for_models()
        if kind.startswith("hub"):
            return self.hubs_settled()
        return True

    def partition_healed(self) -> bool:
        pc2 = [n for n in self.mesh.agents if self.mesh.host_of(n) == "pc2"]
        return all(self.back(name) for name in pc2) and self.hubs_settled()

    def hub_state(self, name: str) -> str | None:
        try:
            with urllib.request.urlopen(self.mesh.hub_url(name) + "/api/health",
                                        timeout=HTTP_TIMEOUT_S) as reply:
                return json.loads(reply.read())["hub"]["state"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def hubs_settled(self) -> bool:
        return (self.hub_state(INFRA["hub_central"]) == "active"
                and self.hub_state(INFRA["hub_edge"]) == "passive")

    def active_leases(self) -> list[dict[str, Any]] | None:
        try:
            manager = self.instance(INFRA["model_manager"])
            if manager is None:
                return None
            return self._call(manager["endpoint"], vp.ACTION_STATUS, timeout_s=1.0)["leases"]
        except MeshError:
            return None

    def loaded_leases(self) -> dict[str, str] | None:
        """lease id by model agent, for the model agents holding weights."""
        out = {}
        for name in self.models:
            try:
                status = self._call(self.mesh.endpoint(name), "model_status")
            except MeshError:
                return None
            if status["state"] in ("ready", "loading"):
                out[name] = (status.get("lease") or {}).get("lease_id", "")
        return out

    def pool_accounts_for_models(self) -> bool:
        leases, loaded = self.active_leases(), self.loaded_leases()
        if leases is None or loaded is None:
            return False
        return set(loaded.values()) <= {lease["lease_id"] for lease in leases}
