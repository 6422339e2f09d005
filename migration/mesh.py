"""The running mesh as the migration sees it: launchers, registry, instances, hub.

Every call has a deadline; an unreachable launcher or registry raises `MeshError`.  Gates read
the instances directly (``health`` and probe requests): the hub keys its view by agent name, so
during blue/green it cannot tell the old instance from the new one.  The hub is read for the
risk factors (state, error ratio, restarts) when one answers.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.base_agent.protocol import ACTION_HEALTH, ACTION_LOOKUP
from common.config import MeshConfig
from common.hub.client import HubReader
from common.launcher.plan import HostPlan
from migration.risk import Observed

__all__ = ["CALL_TIMEOUT_S", "MeshControl"]

log = logging.getLogger(__name__)

CALL_TIMEOUT_S = 2.0


class MeshControl:
    def __init__(self, config: MeshConfig, run_dir: str, hub_urls: list[str] | None = None,
                 timeout_s: float = CALL_TIMEOUT_S,
                 addresses: dict[str, str] | None = None) -> None:
        self.config = config
        self.run_dir = run_dir
        # every host's launcher over tcp (hosts.<h>.launcher_port), `--address` applied
        self.plan = HostPlan(config, next(iter(config.hosts)), addresses)
        self.hub_urls = hub_urls or []
        self.timeout_s = timeout_s
        self.registry = self.plan.registry_endpoint  # `--address` applied, like the launchers
        self.client = Client(self.registry, source="mesh-migrate", breaker_threshold=10**9)

    def close(self) -> None:
        self.client.close()

    # -- launchers ---------------------------------------------------------------------------
    def launcher(self, host: str, action: str, payload: Any = None) -> Any:
        return self.client.call_endpoint(self.plan.launcher_endpoint(host), action, payload,
                                         timeout_s=self.timeout_s, retries=1,
                                         peer=f"launcher {host}")

    def free_port(self, host: str, start: int, taken: set[int]) -> int:
        """A port free on host now, asked of its own launcher (only it can bind there); with
        its launcher away, the first from start that the config does not use (checked again
        when the instance starts)."""
        try:
            return int(self.launcher(host, "instance_port",
                                     {"start": start, "taken": sorted(taken)})["port"])
        except MeshError as exc:
            log.warning("launcher %s: %s; choosing a port from the config alone", host, exc)
            return next(p for p in range(start, 65536) if p not in taken)

    def instances(self, host: str, name: str) -> dict[str, dict[str, Any]]:
        """name's instances on host by instance label ("" is the primary)."""
        report = self.launcher(host, "status")
        return {a["instance"]: a for a in report["agents"] if a["name"] == name}

    # -- registry ----------------------------------------------------------------------------
    def _registry(self, action: str, payload: Any) -> Any:
        if self.registry is None:
            raise MeshError("the config runs no ServiceRegistry", "not_found")
        return self.client.call_endpoint(self.registry, action, payload,
                                         timeout_s=self.timeout_s, retries=1,
                                         peer="ServiceRegistry")

    def lookup(self, name: str) -> list[dict[str, Any]]:
        return self._registry(ACTION_LOOKUP, {"name": name})

    def instance_at(self, name: str, endpoint: str) -> dict[str, Any] | None:
        return next((r for r in self.lookup(name) if r["endpoint"] == endpoint), None)

    def admit(self, name: str, endpoints: list[str]) -> None:
        self._registry("admit", {"name": name, "endpoints": endpoints})

    def prefer(self, instance_id: str) -> None:
        self._registry("prefer", {"instance_id": instance_id})

    def set_weights(self, name: str, weights: dict[str, float]) -> None:
        """name's traffic shares by instance id (the others of name get 0)."""
        self._registry("weights", {"name": name, "weights": weights})

    # -- instances ---------------------------------------------------------------------------
    def health(self, endpoint: str, timeout_s: float | None = None) -> dict[str, Any]:
        return self.client.call_endpoint(endpoint, ACTION_HEALTH, timeout_s=timeout_s
                                         or self.timeout_s, retries=0, peer=endpoint)

    def traffic(self, endpoint: str, after: float) -> dict[str, Any]:
        """The requests the instance at endpoint served after wall time ``after`` (by its own
        clock), one by one: common.base_agent.traffic."""
        return self.client.call_endpoint(endpoint, "traffic", {"after": after},
                                         timeout_s=self.timeout_s, retries=1, peer=endpoint)

    def is_legacy(self, endpoint: str) -> bool:
        """Whether endpoint is a legacy script's (``script_path:``), spoken to in one JSON
        frame: a migration from a script probes the old instance in its own protocol."""
        return endpoint in {self.plan.endpoint(a) for a in self.plan.config.agents
                            if a.script_path}

    def probe(self, endpoint: str, action: str, payload: Any,
              timeout_s: float) -> tuple[float, bool]:
        """One request; (seconds, answered without error)."""
        t0 = time.perf_counter()
        try:
            self.client.call_endpoint(endpoint, action, payload, timeout_s=timeout_s,
                                      retries=0, peer=endpoint, legacy=self.is_legacy(endpoint))
            ok = True
        except MeshError:
            ok = False
        return time.perf_counter() - t0, ok

    # -- what risk scoring measures ----------------------------------------------------------
    def observe(self) -> Observed:
        seen = Observed()
        for host in self.config.hosts:
            try:
                agents = self.launcher(host, "status")["agents"]
            except MeshError:
                continue
            seen.sources.append(f"launcher {host}")
            for a in agents:
                if not a.get("instance"):
                    seen.restarts[a["name"]] = a["restarts"]
        if self.hub_urls:
            self._observe_hub(seen)
        return seen

    def _observe_hub(self, seen: Observed) -> None:
        try:
            view = HubReader(self.hub_urls, timeout_s=self.timeout_s).health()
        except ConnectionError as exc:
            log.info("no hub for risk factors: %s", exc)
            return
        seen.sources.append("hub")
        for a in view.get("agents", []):
            seen.hub_state[a["name"]] = "down" if not a.get("up", True) else a.get("state", "")
            if a.get("error_ratio") is not None:
                seen.error_ratio[a["name"]] = float(a["error_ratio"])
            seen.restarts[a["name"]] = max(seen.restarts.get(a["name"], 0),
                                           int(a.get("restarts") or 0))
