"""BaseAgent, the wire protocol, the client, heartbeats, health and metrics."""

from common.base_agent.agent import BaseAgent
from common.base_agent.client import Client
from common.base_agent.discovery import RegistryView, WatchingClient
from common.base_agent.errors import (
    BadRequest,
    CircuitOpenError,
    ConflictError,
    MeshError,
    MeshTimeoutError,
    NotFoundError,
    RemoteError,
)
from common.base_agent.handlers import handler, require
from common.base_agent.health import CheckResult, HealthCheck, Status

__all__ = [
    "BadRequest",
    "BaseAgent",
    "CheckResult",
    "CircuitOpenError",
    "Client",
    "ConflictError",
    "HealthCheck",
    "MeshError",
    "MeshTimeoutError",
    "NotFoundError",
    "RegistryView",
    "RemoteError",
    "Status",
    "WatchingClient",
    "handler",
    "require",
]
