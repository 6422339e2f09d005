"""``mesh call NAME ACTION``: one request to an agent by name; prints the reply as JSON."""

from __future__ import annotations

import typer

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.cli.hosts import CONFIG_OPTION
from common.cli.locate import registry_endpoint
from common.cli.output import REGISTRY_OPTION, fail, parse_json_option, print_json

__all__ = ["call"]


def call(
    name: str = typer.Argument(..., help="Agent name, resolved through the registry."),
    action: str = typer.Argument(..., help="The action, e.g. health or echo."),
    data: str = typer.Option(None, "--data", "-d", help="Payload as JSON."),
    registry: str = REGISTRY_OPTION,
    config: str = CONFIG_OPTION,
    timeout_s: float = typer.Option(2.0, "--timeout", help="Seconds to wait per attempt."),
    retries: int = typer.Option(2, min=0, help="Retries after a timeout (idempotent calls)."),
) -> None:
    """Send ACTION to NAME and print the result as JSON; exit 1 with the error on stderr.

    The registry: --registry, else MESH_REGISTRY, else the config's `service: registry`.
    """
    payload = parse_json_option(data, "--data")
    endpoint = registry_endpoint(registry, config)
    with Client(endpoint, source="mesh-call") as client:
        try:
            result = client.call(name, action, payload, timeout_s=timeout_s, retries=retries)
        except MeshError as exc:
            raise fail(str(exc)) from None
    print_json(result)
