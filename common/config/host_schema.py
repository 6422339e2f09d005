"""``hosts:`` of the startup config: one machine each, its address, roles, GPUs and the port
of its launcher (see `common.config.schema` for the whole document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from common.config.base import ConfigModel as _Model
from common.config.fields import EnvName, IpAddress, Port, PortKey, Text

__all__ = ["GpuConfig", "GpuDevice", "HostConfig", "HostRole", "LAUNCHER_PORT_BASE",
           "SINGLETON_ROLES", "default_launcher_port"]

LAUNCHER_PORT_BASE = 7300  # + the host's position under hosts:, + global.port_offset
HostRole = Literal["registry", "registry_replica", "hub_central", "hub_edge", "model_manager"]
SINGLETON_ROLES: tuple[str, ...] = ("registry", "registry_replica", "hub_central", "model_manager")


class GpuDevice(_Model):
    name: Text
    vram_mb: int = Field(gt=0)


class GpuConfig(_Model):
    backend: Literal["nvml", "simulated", "auto"] = "auto"
    devices: list[GpuDevice] = Field(default_factory=list)
    warm_ram_mb: int = Field(default=0, ge=0, description=(
        "host RAM the VRAM pool may fill with evicted models' weights (the warm tier: they "
        "come back from RAM, not disk); 0: no warm tier on this host"))

    @model_validator(mode="after")
    def _simulated_needs_devices(self) -> GpuConfig:
        if self.backend == "simulated" and not self.devices:
            raise ValueError("the simulated backend needs its devices listed (name, vram_mb)")
        return self


def default_launcher_port(position: int) -> str:
    """``hosts.<h>.launcher_port`` when not written: ``${PORT_OFFSET}+7300`` for the first
    host under ``hosts:``, +7301 for the second, and so on (one port space for the mesh)."""
    return f"${{PORT_OFFSET}}+{LAUNCHER_PORT_BASE + position}"


class HostConfig(_Model):
    """One machine. `env` applies to every agent on it; `reserved_ports` are ports used on the
    host by something that is not an agent (they take part in the collision check).
    `launcher_port`: the tcp port of the host's launcher (control requests from either host:
    `mesh status`, `down`, `restart`, `logs`, `migrate`); see `default_launcher_port`."""

    address: IpAddress
    launcher_port: Port | None = None
    gpu: GpuConfig | None = None
    roles: list[HostRole] = Field(default_factory=list)
    env: dict[EnvName, str] = Field(default_factory=dict)
    reserved_ports: dict[PortKey, Port] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _default_launcher_port(cls, data: Any, info: ValidationInfo) -> Any:
        """The loader says where the host stands under ``hosts:`` (context ``host_index``)."""
        context = info.context if isinstance(info.context, dict) else {}
        if isinstance(data, dict) and data.get("launcher_port") is None \
                and "host_index" in context:
            data = {**data, "launcher_port": default_launcher_port(context["host_index"])}
        return data

    @model_validator(mode="after")
    def _roles_unique(self) -> HostConfig:
        if len(set(self.roles)) != len(self.roles):
            raise ValueError(f"roles listed twice: {self.roles}")
        return self
