"""The hub's event-log requests (common.hub.protocol): ``hub_event`` from senders such as the
migration executor and the model manager, ``hub_events`` from the other hub, and
``hub_events_query`` from ``mesh events``; ``GET /api/events`` takes the same query.

A query's ``since`` and ``until`` are wall-clock seconds, or durations back from now written as
``mesh config`` writes them (``2h``, ``30m``, ``7d``); ``limit`` is 1..QUERY_MAX.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from common.base_agent.errors import BadRequest
from common.base_agent.handlers import handler, require
from common.config.fields import parse_duration
from common.hub.protocol import ACTION_EVENT, ACTION_EVENTS, ACTION_EVENTS_QUERY, EVENT_KINDS
from observability_hub.alerting import AlertBook
from observability_hub.events import QUERY_MAX, make_event
from observability_hub.history import History

__all__ = ["HistoryApi", "parse_query"]

DEFAULT_LIMIT = 1000


def _when(value: Any, name: str, now: float) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        return now - parse_duration(value)
    except ValueError:
        raise ValueError(f"{name} must be a time (seconds since the epoch) or a duration "
                         f"such as 2h, 30m, 7d; got {value!r}") from None


def parse_query(params: Mapping[str, Any], now: float | None = None) -> dict[str, Any]:
    """EventLog.query's arguments from a request's fields; ValueError naming a bad one."""
    now = time.time() if now is None else now
    unknown = set(params) - {"since", "until", "agent", "host", "kind", "limit"}
    if unknown:
        raise ValueError(f"unknown query field(s): {', '.join(sorted(unknown))}")
    query: dict[str, Any] = {"since": _when(params.get("since"), "since", now),
                             "until": _when(params.get("until"), "until", now)}
    for name in ("agent", "host", "kind"):
        value = params.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
        query[name] = value or None
    try:
        limit = int(params.get("limit", DEFAULT_LIMIT))
    except (TypeError, ValueError):
        raise ValueError("limit must be an integer") from None
    if not 1 <= limit <= QUERY_MAX:
        raise ValueError(f"limit must be 1..{QUERY_MAX}, got {limit}")
    query["limit"] = limit
    return query


class HistoryApi:
    """Mixed into the hub (ObservabilityHub): its event-log handlers."""

    history: History
    alerts: AlertBook
    lock: threading.Lock

    @handler(ACTION_EVENT)
    def on_event(self, payload: Any) -> dict[str, Any]:
        """Request ``hub_event {kind, summary, agent?, host?, detail?, ts?, id?}``; reply
        ``{id, stored}``."""
        kind = require(payload, "kind", str)
        if kind.split(".", 1)[0] not in EVENT_KINDS:
            raise BadRequest(f"payload.kind {kind!r}: must be one of {', '.join(EVENT_KINDS)} "
                             "or below one (process.exited)")
        detail = require(payload, "detail", dict, {})
        ts = require(payload, "ts", (int, float), None)
        event = make_event(kind, require(payload, "summary", str),
                           agent=require(payload, "agent", str, ""),
                           host=require(payload, "host", str, ""), detail=detail, ts=ts,
                           id=require(payload, "id", str, None))
        return {"id": event["id"], "stored": self.history.events.add(event)}

    @handler(ACTION_EVENTS)
    def on_events(self, payload: Any) -> dict[str, Any]:
        """Request ``hub_events {hub, events}`` (the other hub); reply ``{stored}``."""
        events = [e for e in require(payload, "events", list) if isinstance(e, dict)]
        stored = self.history.events.merge(events, from_peer=True)
        with self.lock:
            self.history.apply(events, self.alerts)
        return {"stored": stored}

    @handler(ACTION_EVENTS_QUERY)
    def on_events_query(self, payload: Any) -> dict[str, Any]:
        """Request ``hub_events_query {since?, until?, agent?, host?, kind?, limit?}``; reply
        ``{hub, events}``."""
        return self.events_document(payload or {})

    def events_document(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET /api/events``; ValueError (bad request) naming a bad field."""
        try:
            query = parse_query(params)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return {"hub": getattr(self, "name", ""), "events": self.history.events.query(**query)}
