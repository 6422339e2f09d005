"""``mesh registry``: run a registry, list what it holds."""

from __future__ import annotations

import typer

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.base_agent.heartbeat import HEARTBEAT_INTERVAL_S
from common.base_agent.logs import configure_logging
from common.cli.hosts import CONFIG_OPTION
from common.cli.locate import config_registries, mesh_config, registry_endpoint
from common.cli.output import REGISTRY_OPTION, Col, fail, print_json, print_table
from common.cli.ready import announce_ready

__all__ = ["registry_app"]

registry_app = typer.Typer(help="Run the ServiceRegistry or read what it holds.",
                           no_args_is_help=True)


@registry_app.command("serve")
def serve(
    endpoint: str = typer.Option(None, help="ROUTER endpoint (port 0: any); default: the "
                                 "config's `service: registry` agent's."),
    config: str = CONFIG_OPTION,
    db: str = typer.Option("registry.db", help="SQLite database (WAL); survives restarts."),
    events_endpoint: str = typer.Option(None, help="PUB endpoint for change events "
                                        "(default: same host, a free port; see `info`)."),
    heartbeat_interval_s: float = typer.Option(HEARTBEAT_INTERVAL_S, "--heartbeat-interval",
                                               help="Seconds between heartbeats."),
    log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    """Run a ServiceRegistry in the foreground until SIGTERM or Ctrl-C.

    Prints one line `MESH-READY {"endpoint": ..., "events_endpoint": ...}` once it serves.
    """
    from service_registry import ServiceRegistry

    configure_logging(log_level)
    if endpoint is None:
        endpoints = config_registries(mesh_config(config, "registry"))
        if not endpoints:
            raise fail(f"{config} has no agent with `service: registry`; pass --endpoint", 2)
        endpoint = endpoints[0]
    settings = {"db_path": db, "events_endpoint": events_endpoint}
    registry = ServiceRegistry(endpoint=endpoint, settings=settings,
                               heartbeat_interval_s=heartbeat_interval_s)
    try:
        registry.setup()
    except Exception as exc:
        raise fail(f"cannot start the registry on {endpoint}: {exc}") from None
    announce_ready({"name": registry.name, "endpoint": registry.endpoint,
                    "events_endpoint": registry.events_endpoint, "db": db,
                    "pid": registry.registration()["pid"]})
    registry.run()


@registry_app.command("list")
def list_(
    registry: str = REGISTRY_OPTION,
    config: str = CONFIG_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    timeout_s: float = typer.Option(2.0, "--timeout", help="Seconds to wait per attempt."),
) -> None:
    """List every live instance: request `list`, reply a list of registrations.

    The registry: --registry, else MESH_REGISTRY, else the config's `service: registry`.
    """
    endpoint = registry_endpoint(registry, config)
    with Client(endpoint) as client:
        try:
            instances = client.call_endpoint(endpoint, "list", timeout_s=timeout_s,
                                             peer="ServiceRegistry")
        except MeshError as exc:
            raise fail(f"{exc} (registry {endpoint})") from None
    if json_out:
        print_json(instances)
        return
    rows = [[r["name"], r["host"], r["endpoint"], r["pid"], r["version"],
             "yes" if r["preferred"] else "", _age(r["heartbeat_age_s"])] for r in instances]
    print_table(f"{len(instances)} instances at {endpoint}",
                [Col("name", key=True), "host", Col("endpoint", wrap_min=22),
                 Col("pid", drop=2), Col("version", drop=3), Col("preferred", drop=1),
                 "hb age s"], rows)


def _age(age_s: float | None) -> str:
    """An etcd registry agent knows no age while etcd is unavailable."""
    return "-" if age_s is None else f"{age_s:.2f}"
