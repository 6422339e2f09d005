"""``mesh agent run``: run any BaseAgent subclass standalone."""

from __future__ import annotations

import typer

from common.base_agent.client import registry_from_env
from common.base_agent.heartbeat import HEARTBEAT_INTERVAL_S
from common.base_agent.loader import load_agent_class
from common.base_agent.logs import configure_logging
from common.base_agent.settings import SettingsError
from common.cli.output import REGISTRY_OPTION, fail, parse_json_option
from common.cli.ready import announce_ready
from common.hub.link import hub_link

__all__ = ["agent_app"]

agent_app = typer.Typer(help="Run agents.", no_args_is_help=True)


@agent_app.command("run")
def run(
    spec: str = typer.Argument(..., metavar="MODULE:CLASS", help="The agent class to run."),
    name: str = typer.Option(..., help="The agent's name in the registry."),
    endpoint: str = typer.Option("tcp://127.0.0.1:0",
                                 help="ROUTER endpoint; port 0 picks a free one."),
    registry: str = REGISTRY_OPTION,
    settings: str = typer.Option(None, help="Agent settings as a JSON object."),
    heartbeat_interval_s: float = typer.Option(HEARTBEAT_INTERVAL_S, "--heartbeat-interval"),
    multi: bool = typer.Option(False, help="Allow several live instances of this name."),
    hub: str = typer.Option("", "--hub", envvar="MESH_HUBS",
                            help="Hub endpoints for heartbeats, home first: tcp://H:P,tcp://H:P."),
    log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    """Run one agent in the foreground until SIGTERM or Ctrl-C (graceful stop, deregisters).

    Prints one line `MESH-READY {"name", "endpoint", "instance_id", "pid"}` once it serves.
    """
    try:
        cls = load_agent_class(spec)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    parsed = parse_json_option(settings, "--settings") or {}
    if not isinstance(parsed, dict):
        raise fail("--settings must be a JSON object", 2)
    configure_logging(log_level)
    hubs = [e for e in hub.split(",") if e]
    try:
        agent = cls(name, endpoint, registry=registry_from_env(registry), settings=parsed,
                    heartbeat_interval_s=heartbeat_interval_s, multi_instance=multi,
                    links=[hub_link(hubs)] if hubs else [])
    except SettingsError as exc:
        raise fail(str(exc), 2) from None
    try:
        agent.setup()
    except Exception as exc:
        raise fail(f"cannot start {name} on {endpoint}: {exc}") from None
    announce_ready({"name": name, "endpoint": agent.endpoint, "instance_id": agent.instance_id,
                    "pid": agent.registration()["pid"]})
    agent.run()
