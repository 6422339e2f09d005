"""``mesh vram``: the VRAM pool as the ModelManagerAgent sees it.

Request ``status {}`` to the manager (by name, through the registry); reply ``{gpus: [{gpu,
host, name, capacity_mb, reserve_mb, committed_mb, used_mb, free_mb, peak_committed_mb}],
leases: [LeaseView], queue: [LeaseView], counters, estimates_mb, tiers_mb: {host: {resident,
warm, cold}}, warm: {host: {budget_mb, used_mb, models}}, models: {model: {tier, uses_per_min,
warm_load_s, cold_load_s}}}`` (common.vram.protocol).
Prints per GPU: capacity, committed, reported used, free; per host the MB in each tier
(resident on its GPUs, warm in its RAM against the warm tier's budget, cold on disk only); then
the leases (holder, model, size, priority, pinned, idle time, tier loaded from) and the queue
(each request's wait so far, the seconds left before its deadline, and why it waits); columns
that do not fit the terminal are left out (named under the table).  ``--json`` prints the
reply as is.
"""

from __future__ import annotations

from typing import Any

import typer

from common.base_agent.client import Client, registry_from_env
from common.base_agent.errors import MeshError
from common.cli.hosts import CONFIG_OPTION
from common.cli.locate import config_manager, mesh_config, registry_endpoint
from common.cli.output import REGISTRY_OPTION, Col, fail, print_json, print_table
from common.vram.client import LeaseClient
from common.vram.protocol import DEFAULT_MANAGER

__all__ = ["vram"]


def vram(
    registry: str = REGISTRY_OPTION,
    config: str = CONFIG_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    manager_name: str = typer.Option(None, "--manager-name",
                                     help="The manager's registered name (default: the "
                                     "config's `service: model_manager` agent, else "
                                     f"{DEFAULT_MANAGER})."),
    timeout_s: float = typer.Option(2.0, "--timeout", help="Seconds to wait per attempt."),
) -> None:
    """Per GPU: capacity, committed, used, free; leases and queue of the VRAM pool.

    The registry: --registry, else MESH_REGISTRY, else the config's `service: registry`."""
    endpoint = registry_endpoint(registry, config)
    if manager_name is None:
        manager_name = _manager(registry, config)
    with Client(endpoint, source="mesh-vram") as client:
        try:
            status = LeaseClient(client, manager=manager_name, timeout_s=timeout_s).status()
        except MeshError as exc:
            raise fail(str(exc)) from None
    if json_out:
        print_json(status)
        return
    _print(status)


def _manager(registry: str | None, config: str) -> str:
    """The config's model manager when the registry came from the config too."""
    if registry_from_env(registry):
        return DEFAULT_MANAGER
    return config_manager(mesh_config(config, "registry")) or DEFAULT_MANAGER


LEASE_COLS: list[str | Col] = [
    Col("holder", key=True), Col("model", wrap_min=12), Col("gpu", key=True), "MB", "state",
    Col("pinned", drop=2), Col("priority", drop=3), Col("idle s", drop=4), Col("tier", drop=5),
    Col("lease", drop=6)]
# queued: who waits for what; then how long, until when and why; the lease details last
QUEUE_COLS: list[str | Col] = [
    "#", Col("holder", key=True), Col("model", wrap_min=12), "MB", Col("waited s", drop=2),
    Col("deadline in s", drop=3), Col("reason", wrap_min=16, drop=1),
    Col("gpu", key=True, drop=4), Col("state", drop=5), Col("pinned", drop=6),
    Col("priority", drop=7), Col("idle s", drop=8), Col("tier", drop=9), Col("lease", drop=10)]


def _print(status: dict[str, Any]) -> None:
    print_table("GPUs", [Col("gpu", key=True), Col("name", wrap_min=14, drop=1), "capacity MB",
                         "committed MB", "used MB", "free MB", Col("reserve MB", drop=2),
                         Col("peak committed MB", drop=3)],
                [[g["gpu"], g["name"], g["capacity_mb"], g["committed_mb"], g["used_mb"],
                  g["free_mb"], g["reserve_mb"], g["peak_committed_mb"]]
                 for g in status["gpus"]])
    print_table("Tiers", [Col("host", key=True), "resident MB", "warm MB", "warm budget MB",
                          "cold MB", Col("warm models", wrap_min=16, drop=1)],
                [[host, t["resident"], t["warm"], status["warm"].get(host, {}).get("budget_mb", 0),
                  t["cold"], ", ".join(status["warm"].get(host, {}).get("models", [])) or "-"]
                 for host, t in status.get("tiers_mb", {}).items()])
    print_table(f"{len(status['leases'])} leases", LEASE_COLS,
                [_row(le) for le in status["leases"]])
    print_table(f"{len(status['queue'])} queued", QUEUE_COLS,
                [_queued(q) for q in status["queue"]])


def _queued(q: dict[str, Any]) -> list[Any]:
    holder, model, gpu, mb, *details = _row(q)
    return [q["position"], holder, model, mb, q["waited_s"], q["deadline_in_s"], q["reason"],
            gpu, *details]


def _row(lease: dict[str, Any]) -> list[Any]:
    holder = lease["holder"].get("name") or lease["holder"].get("instance_id") or "-"
    return [holder, lease["model"], lease["gpu"] or "-", lease["vram_mb"], lease["state"],
            "yes" if lease["pinned"] else "", lease["priority"], lease["idle_s"],
            lease.get("tier") or "-", lease["lease_id"]]
