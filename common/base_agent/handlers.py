"""Handlers: the ``@handler`` decorator, payload checks, and the one error-to-code dispatcher."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from common.base_agent.errors import BadRequest, MeshError
from common.base_agent.parked import Park
from common.base_agent.protocol import ErrorCode, Reply, Request

__all__ = ["collect_handlers", "dispatch", "handler", "require"]

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def handler(action: str) -> Callable[[F], F]:
    """Declare a method ``(self, payload) -> result`` as the handler of ``action``."""
    if not action or not isinstance(action, str):
        raise ValueError(f"handler action must be a non-empty string, got {action!r}")

    def mark(fn: F) -> F:
        fn._mesh_action = action  # type: ignore[attr-defined]
        return fn

    return mark


def collect_handlers(obj: object) -> dict[str, Callable[[Any], Any]]:
    """Map action -> bound method for every ``@handler`` in obj's class hierarchy."""
    found: dict[str, Callable[[Any], Any]] = {}
    for klass in reversed(type(obj).__mro__):
        for attr, value in vars(klass).items():
            action = getattr(value, "_mesh_action", None)
            if action is not None:
                found[action] = getattr(obj, attr)
    return found


def require(payload: Any, key: str, kind: Any, default: Any = ...) -> Any:
    """``payload[key]`` checked to be of ``kind``; raises BadRequest naming the field."""
    if not isinstance(payload, dict):
        raise BadRequest(f"payload must be a map, got {type(payload).__name__}")
    if key not in payload or payload[key] is None:
        if default is not ...:
            return default
        raise BadRequest(f"payload.{key} is required")
    value = payload[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        wanted = getattr(kind, "__name__", str(kind))
        raise BadRequest(f"payload.{key} must be {wanted}, got {type(value).__name__}")
    return value


def dispatch(handlers: dict[str, Callable[[Any], Any]], req: Request, owner: str) -> Reply:
    """Run the handler for req; every failure becomes an error reply with a code.  A
    :class:`Park` passes through: the caller keeps the request (common.base_agent.parked)."""
    fn = handlers.get(req.action)
    if fn is None:
        return Reply(req.id, False, code=ErrorCode.UNKNOWN_ACTION,
                     message=f"{owner} has no action {req.action!r}")
    try:
        return Reply(req.id, True, result=fn(req.payload))
    except MeshError as exc:
        return Reply(req.id, False, code=exc.code, message=exc.message)
    except Park:
        raise
    except Exception as exc:
        log.exception("%s: handler for %r raised", owner, req.action)
        return Reply(req.id, False, code=ErrorCode.INTERNAL,
                     message=f"{type(exc).__name__}: {exc}")
