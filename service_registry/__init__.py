"""The ServiceRegistry agent and its store; the discovery client lives in common.base_agent."""

from service_registry.agent import REGISTRY_NAME, ServiceRegistry
from service_registry.store import RegistryBackend, SqliteBackend

__all__ = ["REGISTRY_NAME", "RegistryBackend", "ServiceRegistry", "SqliteBackend"]
