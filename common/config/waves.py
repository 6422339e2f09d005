"""Start order for the launcher: the agents of a config in topological waves."""

from __future__ import annotations

from common.config.checks import check_config
from common.config.graph import topological_waves
from common.config.issues import ConfigError
from common.config.schema import MeshConfig

__all__ = ["dependency_waves"]


def dependency_waves(config: MeshConfig, host: str | None = None) -> list[list[str]]:
    """Agent names in start waves: every dependency of an agent is in an earlier wave.

    Waves are computed over the whole mesh, then narrowed to `host` (None: all hosts), so an
    agent that depends on the other host waits as long as that dependency's own chain on this
    host requires; the launcher waits for the other host's agents through the registry. Stop
    order is the reverse. Dependencies on names that are not agents of the config are ignored
    (`load_config` has rejected those already). Raises ConfigError (with the cycle) if the
    dependencies have a cycle, KeyError if `host` is not a host of the config.
    """
    if host is not None and host not in config.hosts:
        raise KeyError(f"unknown host {host!r}; hosts are: {', '.join(config.hosts)}")
    graph = {agent.name: agent.dependencies for agent in config.agents}
    try:
        waves = topological_waves(graph)
    except ValueError:
        raise ConfigError(check_config(config)) from None
    if host is None:
        return waves
    on_host = {agent.name for agent in config.agents_on(host)}
    narrowed = [[name for name in wave if name in on_host] for wave in waves]
    return [wave for wave in narrowed if wave]
