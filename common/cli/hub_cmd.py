"""``mesh health`` and ``mesh alerts``: the hub's view of the mesh in the terminal."""

from __future__ import annotations

from typing import Any

import typer

from common.cli.output import fail, print_json, print_table
from common.hub.client import DEFAULT_HUB_URLS, HubReader

__all__ = ["alerts", "health"]

HUB_OPTION = typer.Option(None, "--hub", envvar="MESH_HUB",
                          help="Hub URL (http://HOST:9000 or tcp://HOST:9001); comma-separated "
                               "to try several. Default: central, then edge.")


ORDER = ["critical", "affected", "warning", "unknown", "passing"]


def _shown(agent: dict[str, Any]) -> str:
    return "affected" if agent["affected"] else agent["state"]


def _reader(hub: str | None) -> HubReader:
    urls = [u.strip() for u in (hub or "").split(",") if u.strip()] or list(DEFAULT_HUB_URLS)
    return HubReader(urls)


def _read(hub: str | None, what: str) -> dict[str, Any]:
    reader = _reader(hub)
    try:
        return reader.health() if what == "health" else reader.alerts()
    except ConnectionError as exc:
        raise fail(str(exc)) from None


def health(hub: str = HUB_OPTION,
           as_json: bool = typer.Option(False, "--json", help="Print the /api/health JSON.")
           ) -> None:
    """Health of every host and agent as the hub sees it (exit 1 if the mesh is critical)."""
    doc = _read(hub, "health")
    if as_json:
        print_json(doc)
    else:
        hub_info = doc.get("hub", {})
        agents = sorted(doc["agents"], key=lambda a: (ORDER.index(_shown(a)), a["host"],
                                                      a["name"]))
        rows = [[a["host"], a["name"], _shown(a),
                 ", ".join(a["root_cause"]) or "; ".join(a["reasons"]),
                 "-" if a["heartbeat_age_s"] is None else f"{a['heartbeat_age_s']:.1f}",
                 a["restarts"]] for a in agents]
        title = (f"mesh {doc['status']} — hub {hub_info.get('name')} "
                 f"({hub_info.get('role')}, {hub_info.get('state')})")
        print_table(title, ["host", "agent", "state", "why / root cause", "hb age s",
                            "restarts"], rows)
    raise typer.Exit(1 if doc["status"] == "critical" else 0)


def alerts(hub: str = HUB_OPTION,
           as_json: bool = typer.Option(False, "--json", help="Print the /api/alerts JSON.")
           ) -> None:
    """Active alerts (firing and pending) and silences."""
    doc = _read(hub, "alerts")
    if as_json:
        print_json(doc)
        return
    rows = [[a["alertname"], a["severity"], a["state"] + (" silenced" if a["silenced"] else ""),
             " ".join(f"{k}={v}" for k, v in a["labels"].items()), a["description"]]
            for a in doc["alerts"]]
    print_table(f"alerts on hub {doc['hub']['name']} ({doc['hub']['state']})",
                ["alert", "severity", "state", "labels", "description"], rows)
