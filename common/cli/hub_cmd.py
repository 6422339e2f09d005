"""``mesh health`` and ``mesh alerts``: the hub's view of the mesh in the terminal."""

from __future__ import annotations

from typing import Any

import typer

from common.cli.hosts import CONFIG_OPTION
from common.cli.locate import hub_urls
from common.cli.output import Col, fail, print_json, print_table
from common.hub.client import HubReader

__all__ = ["alerts", "health"]

HUB_OPTION = typer.Option(None, "--hub", envvar="MESH_HUB",
                          help="Hub URL (http://HOST:PORT or tcp://HOST:PORT); comma-separated "
                               "to try several. Default: every hub of the config, central "
                               "first.")
TIMEOUT_OPTION = typer.Option(1.0, "--timeout", help="Seconds to wait for each hub before "
                              "trying the next.")


ORDER = ["critical", "affected", "warning", "unknown", "passing"]


def _shown(agent: dict[str, Any]) -> str:
    return "affected" if agent["affected"] else agent["state"]


def _read(hub: str | None, config: str, timeout_s: float, what: str) -> dict[str, Any]:
    reader = HubReader(hub_urls(hub, config), timeout_s=timeout_s)
    try:
        return reader.health() if what == "health" else reader.alerts()
    except ConnectionError as exc:
        raise fail(str(exc)) from None


def health(hub: str = HUB_OPTION, config: str = CONFIG_OPTION,
           timeout_s: float = TIMEOUT_OPTION,
           as_json: bool = typer.Option(False, "--json", help="Print the /api/health JSON.")
           ) -> None:
    """Health of every host and agent as the hub sees it (exit 1 if the mesh is critical).

    Asks --hub, else MESH_HUB, else the config's hubs (central first, then edge)."""
    doc = _read(hub, config, timeout_s, "health")
    print_json(doc) if as_json else _health_table(doc)
    raise typer.Exit(1 if doc["status"] == "critical" else 0)


def _health_table(doc: dict[str, Any]) -> None:
    """One row per agent, worst first; root causes one per line, each name whole."""
    hub_info = doc.get("hub", {})
    agents = sorted(doc["agents"], key=lambda a: (ORDER.index(_shown(a)), a["host"],
                                                  a["name"]))
    rows = [[a["host"], a["name"], _shown(a),
             "\n".join(a["root_cause"]) or "; ".join(a["reasons"]),
             "-" if a["heartbeat_age_s"] is None else f"{a['heartbeat_age_s']:.1f}",
             a["restarts"]] for a in agents]
    for a in agents:  # during a blue/green migration: each instance on its own row
        at = next(i for i, r in enumerate(rows) if r[1] == a["name"])
        rows[at + 1:at + 1] = [_instance_row(a, x) for x in a.get("instances") or []]
    causes = [len(name) for a in agents for name in a["root_cause"]]
    title = (f"mesh {doc['status']} — hub {hub_info.get('name')} "
             f"({hub_info.get('role')}, {hub_info.get('state')})")
    print_table(title, ["host", Col("agent", key=True), "state",
                        Col("why", wrap_min=max([14, *causes])), Col("hb age s", drop=1),
                        Col("restarts", drop=2)], rows)


def _instance_row(agent: dict[str, Any], x: dict[str, Any]) -> list[Any]:
    ratio, p95 = x["error_ratio"], x["latency_p95_s"]
    detail = (f"{x['endpoint']}: {x['requests_total']} requests, {x['errors_total']} errors"
              + ("" if ratio is None else f", error ratio {ratio:.2%}")
              + ("" if p95 is None else f", p95 {p95 * 1000:.1f} ms"))
    return [agent["host"], f"  {agent['name']}@{x['instance_id'][:12]}", x["health"] or "-",
            detail, f"{x['heartbeat_age_s']:.1f}", "-"]


def alerts(hub: str = HUB_OPTION, config: str = CONFIG_OPTION,
           timeout_s: float = TIMEOUT_OPTION,
           as_json: bool = typer.Option(False, "--json", help="Print the /api/alerts JSON.")
           ) -> None:
    """Active alerts (firing and pending) and silences.

    Asks --hub, else MESH_HUB, else the config's hubs (central first, then edge)."""
    doc = _read(hub, config, timeout_s, "alerts")
    if as_json:
        print_json(doc)
        return
    rows = [[a["alertname"], a["state"], a["labels"].get("agent", "-"),
             a["description"] + (" [silenced]" if a["silenced"] else ""), a["severity"],
             " ".join(f"{k}={v}" for k, v in a["labels"].items() if k != "agent")]
            for a in doc["alerts"]]
    print_table(f"alerts on hub {doc['hub']['name']} ({doc['hub']['state']})",
                [Col("alert", key=True), "state", Col("agent", key=True),
                 Col("description", wrap_min=14), Col("severity", drop=2),
                 Col("labels", drop=1)], rows)
