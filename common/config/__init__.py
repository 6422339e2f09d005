"""The startup config: one schema for ``startup_config.yaml``, its loader and its checks.

    config = load_config("startup_config.yaml")        # raises ConfigError with every issue
    for wave in dependency_waves(config, host="main_pc"):
        ...

The loader also reads the original system's two files (see `common.config.legacy`), alone or
together with `load_legacy_pair`. Ports are one space across all hosts (see
`common.config.checks`).
"""

from common.config.agent_schema import (
    AgentConfig,
    HealthProbe,
    Resources,
    RestartPolicy,
    SecretRef,
)
from common.config.checks import check_config
from common.config.expressions import PORT_MAX, PORT_MIN, resolve_port
from common.config.host_schema import GpuConfig, GpuDevice, HostConfig
from common.config.issues import ConfigError, ConfigIssue
from common.config.loader import (
    load_config,
    load_legacy_pair,
    parse_config,
    validate_data,
    validate_files,
)
from common.config.schema import GlobalSettings, LogRotation, MeshConfig
from common.config.waves import dependency_waves

__all__ = [
    "PORT_MAX",
    "PORT_MIN",
    "AgentConfig",
    "ConfigError",
    "ConfigIssue",
    "GlobalSettings",
    "GpuConfig",
    "GpuDevice",
    "HealthProbe",
    "HostConfig",
    "LogRotation",
    "MeshConfig",
    "Resources",
    "RestartPolicy",
    "SecretRef",
    "check_config",
    "dependency_waves",
    "load_config",
    "load_legacy_pair",
    "parse_config",
    "resolve_port",
    "validate_data",
    "validate_files",
]
