"""agentmesh core: base agent, wire protocol, client, config, launcher, CLI, test helpers."""

__all__: list[str] = []
