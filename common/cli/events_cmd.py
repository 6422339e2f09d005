"""``mesh events``: the hubs' incident history (process events, health transitions, alerts,
silences, acknowledgements, failovers, migration steps, VRAM evictions), oldest first.

Request: ``GET /api/events?since=&agent=&host=&kind=&limit=`` on an http:// hub, or
``hub_events_query {since, agent, host, kind, limit}`` on a tcp:// one; reply ``{hub, events:
[{id, ts, kind, agent, host, summary, detail, origin}]}``.  Both hubs hold the whole history,
so the first that answers (central, then edge) is asked.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import typer

from common.cli.hosts import CONFIG_OPTION
from common.cli.hub_cmd import HUB_OPTION, TIMEOUT_OPTION
from common.cli.locate import hub_urls
from common.cli.output import Col, fail, print_json, print_table
from common.config.fields import parse_duration
from common.hub.client import HubReader
from common.hub.protocol import EVENT_KINDS

__all__ = ["events"]

QUERY_MAX = 10_000


def _since(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return time.time() - parse_duration(text)
    except ValueError:
        raise fail(f"--since {text!r}: expected a duration such as 2h, 30m, 7d or 90s", 2) \
            from None


def events(since: str | None = typer.Option(None, "--since", help="Only events this recent: "
                                            "2h, 30m, 7d, 90s. Default: all that are kept."),
           agent: str | None = typer.Option(None, "--agent", help="Only this agent's events."),
           host: str | None = typer.Option(None, "--host", help="Only this host's events."),
           kind: str | None = typer.Option(None, "--kind", help="Only this kind, or the kinds "
                                           "below it: " + ", ".join(EVENT_KINDS) +
                                           " (process.exited, alert.firing, ...)."),
           limit: int = typer.Option(200, "--limit", help="At most this many, the newest."),
           hub: str | None = HUB_OPTION, config: str = CONFIG_OPTION,
           timeout_s: float = TIMEOUT_OPTION,
           as_json: bool = typer.Option(False, "--json", help="Print the /api/events JSON.")
           ) -> None:
    """The incident history both hubs keep, oldest first (exit 1 if no hub answers).

    Asks --hub, else MESH_HUB, else the config's hubs (central first, then edge)."""
    if kind and kind.split(".", 1)[0] not in EVENT_KINDS:
        raise fail(f"--kind {kind!r}: expected one of {', '.join(EVENT_KINDS)} or a kind "
                   "below one (process.exited)", 2)
    if not 1 <= limit <= QUERY_MAX:
        raise fail(f"--limit {limit}: expected 1..{QUERY_MAX}", 2)
    query = {"since": _since(since), "agent": agent, "host": host, "kind": kind,
             "limit": limit}
    reader = HubReader(hub_urls(hub, config), timeout_s=timeout_s)
    try:
        doc = reader.events(query)
    except ConnectionError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(doc)
    else:
        _table(doc)


def _table(doc: dict[str, Any]) -> None:
    rows = [[datetime.fromtimestamp(e["ts"]).strftime("%Y-%m-%d %H:%M:%S"), e["host"] or "-",
             e["agent"] or "-", e["kind"], e["summary"]] for e in doc["events"]]
    print_table(f"{len(rows)} events from hub {doc.get('hub', '?')}",
                [Col("time", key=True), Col("host", drop=1), Col("agent", key=True),
                 "kind", Col("summary", wrap_min=20)], rows)
