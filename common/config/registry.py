"""The ``registry:`` section: where the mesh's registry keeps its state (docs/CONFIG.md).

``backend: sqlite`` (the default) is the embedded store of the ``registry`` role's agent, right
for two hosts.  ``backend: etcd`` puts registrations and leader elections on an etcd cluster
(docs/SCALING.md): every host runs a registry agent serving from a local watch cache, and the
central hub and the model manager are chosen by election.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from common.config.base import ConfigModel

__all__ = ["EtcdEndpoint", "RegistryConfig"]


def _etcd_url(value: str) -> str:
    url = urlsplit(value)
    if url.scheme != "http" or url.path not in ("", "/") or url.port is None:
        raise ValueError(f"{value!r} is not an etcd client URL like http://10.0.0.1:2379")
    try:
        ipaddress.ip_address(url.hostname or "")
    except ValueError:
        raise ValueError(f"{value!r}: the host must be an IP address") from None
    return value.rstrip("/")


EtcdEndpoint = Annotated[str, AfterValidator(_etcd_url)]


class RegistryConfig(ConfigModel):
    """``registry: {backend, endpoints, leader_ttl_s, timeout_s}``.  With etcd, ``endpoints``
    lists the cluster's client URLs (each host's registry agent fails over along them);
    ``leader_ttl_s``: an elected leader (the central hub, the model manager) silent this long
    is replaced (plus etcd's own recovery when the dead host held etcd's raft leader);
    ``timeout_s`` bounds each etcd call."""

    backend: Literal["sqlite", "etcd"] = "sqlite"
    endpoints: list[EtcdEndpoint] = Field(default_factory=list, validate_default=True)
    leader_ttl_s: float = Field(default=1.0, ge=0.5, le=60)
    timeout_s: float = Field(default=1.0, gt=0, le=30)

    @field_validator("endpoints")
    @classmethod
    def _endpoints_match_backend(cls, endpoints: list[str], info: ValidationInfo) -> list[str]:
        backend = info.data.get("backend")
        if backend == "etcd" and not endpoints:
            raise ValueError("backend etcd needs the etcd cluster's client URLs")
        if backend == "sqlite" and endpoints:
            raise ValueError("only backend etcd takes endpoints")
        if len(set(endpoints)) != len(endpoints):
            raise ValueError("an endpoint is listed twice")
        return endpoints
