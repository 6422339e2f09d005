"""``mesh demo request "TEXT"``: one user request through the reference mesh, hop by hop.

Request ``request {text, session}`` to RequestCoordinator (by name, through the registry);
reply ``{reply, intent, speech, memories, hops: [{agent, host, action, ms}]}``: the path
RequestCoordinator -> NLUAgent -> ModelOrchestrator -> a model agent -> MemoryClient ->
MemoryOrchestratorService (PC2) -> Responder -> EmotionEngine.  Each hop's ``ms`` is the time
spent in that agent, its own calls included.  Prints the hops, then the reply; ``--json``
prints the reply as is.  The registry comes from ``--registry``, ``MESH_REGISTRY`` or the
config's registry agent.
"""

from __future__ import annotations

import time

import typer

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.cli.hosts import CONFIG_OPTION
from common.cli.locate import registry_endpoint
from common.cli.output import REGISTRY_OPTION, Col, fail, print_json, print_table

__all__ = ["demo_app"]

demo_app = typer.Typer(help="Show the reference mesh at work.", no_args_is_help=True)
FRONT_DOOR = "RequestCoordinator"


@demo_app.command("request")
def request(
    text: str = typer.Argument(..., help="What the user says."),
    session: str = typer.Option("demo", "--session", help="Conversation session id."),
    registry: str = REGISTRY_OPTION,
    config: str = CONFIG_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    timeout_s: float = typer.Option(5.0, "--timeout", help="Seconds to wait for the reply."),
) -> None:
    """Send TEXT through RequestCoordinator and print every hop with host and timing."""
    endpoint = registry_endpoint(registry, config)
    t0 = time.perf_counter()
    with Client(endpoint, source="mesh-demo") as client:
        try:
            out = client.call(FRONT_DOOR, "request", {"text": text, "session": session},
                              timeout_s=timeout_s, retries=0, idempotent=False)
        except MeshError as exc:
            raise fail(str(exc)) from None
    out["total_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    if json_out:
        print_json(out)
        return
    print_table(f"{len(out['hops'])} hops", ["#", Col("agent", key=True), "host", "action", "ms"],
                [[i + 1, h["agent"], h["host"], h["action"], h["ms"]]
                 for i, h in enumerate(out["hops"])])
    typer.echo(f"intent: {out['intent']}   memories found: {out['memories']}   "
               f"total: {out['total_ms']} ms")
    typer.echo(f"reply: {out['reply']}")
