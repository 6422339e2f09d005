"""The names the mesh's own services run under, as the launcher hands them to every agent.

The host plan sets ``MESH_SERVICE_<SERVICE>`` (``MESH_SERVICE_REGISTRY``,
``MESH_SERVICE_MODEL_MANAGER``) to the name of the agent the config marks with that
``service:``; an agent that calls a service asks here, so no agent writes another's name down.
"""

from __future__ import annotations

import os

__all__ = ["SERVICE_PREFIX", "service_name", "service_variable"]

SERVICE_PREFIX = "service:"  # how a probe or a route names a service instead of an agent


def service_variable(service: str) -> str:
    return "MESH_SERVICE_" + service.upper()


def service_name(service: str) -> str | None:
    """The agent that provides service in this mesh; None where the launcher named none."""
    return os.environ.get(service_variable(service)) or None
