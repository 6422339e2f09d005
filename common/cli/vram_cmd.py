"""``mesh vram``: the VRAM pool as the ModelManagerAgent sees it.

Request ``status {}`` to the manager (by name, through the registry); reply ``{gpus: [{gpu,
host, name, capacity_mb, reserve_mb, committed_mb, used_mb, free_mb, peak_committed_mb}],
leases: [LeaseView], queue: [LeaseView], counters, estimates_mb}`` (common.vram.protocol).
Prints per GPU: capacity, committed, reported used, free; then the leases (holder, model, size,
priority, pinned, idle time) and the queue.  ``--json`` prints the reply as is.
"""

from __future__ import annotations

from typing import Any

import typer

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.cli.output import REGISTRY_OPTION, fail, need_registry, print_json, print_table
from common.vram.client import LeaseClient
from common.vram.protocol import DEFAULT_MANAGER

__all__ = ["vram"]


def vram(
    registry: str = REGISTRY_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    manager_name: str = typer.Option(DEFAULT_MANAGER, "--manager-name",
                                     help="The manager's registered name."),
    timeout_s: float = typer.Option(2.0, "--timeout", help="Seconds to wait per attempt."),
) -> None:
    """Per GPU: capacity, committed, used, free; leases and queue of the VRAM pool."""
    endpoint = need_registry(registry)
    with Client(endpoint, source="mesh-vram") as client:
        try:
            status = LeaseClient(client, manager=manager_name, timeout_s=timeout_s).status()
        except MeshError as exc:
            raise fail(str(exc)) from None
    if json_out:
        print_json(status)
        return
    _print(status)


def _print(status: dict[str, Any]) -> None:
    print_table("GPUs", ["gpu", "name", "capacity MB", "reserve MB", "committed MB",
                         "used MB", "free MB", "peak committed MB"],
                [[g["gpu"], g["name"], g["capacity_mb"], g["reserve_mb"], g["committed_mb"],
                  g["used_mb"], g["free_mb"], g["peak_committed_mb"]] for g in status["gpus"]])
    lease_cols = ["lease", "gpu", "holder", "model", "MB", "priority", "pinned", "idle s",
                  "state"]
    print_table(f"{len(status['leases'])} leases", lease_cols, [_row(le)
                                                               for le in status["leases"]])
    print_table(f"{len(status['queue'])} queued", ["position", *lease_cols, "reason"],
                [[q["position"], *_row(q), q["reason"]] for q in status["queue"]])


def _row(lease: dict[str, Any]) -> list[Any]:
    holder = lease["holder"].get("name") or lease["holder"].get("instance_id") or "-"
    return [lease["lease_id"], lease["gpu"] or "-", holder, lease["model"], lease["vram_mb"],
            lease["priority"], "yes" if lease["pinned"] else "", lease["idle_s"],
            lease["state"]]
