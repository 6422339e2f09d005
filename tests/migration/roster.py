"""The reference deployment (77 agents) as a version-1 config, from the shared roster.yaml."""

from pathlib import Path

import yaml

from common.config import parse_config

ROSTER = Path("/work/shared/reference/roster.yaml")
STARTUP = Path(__file__).resolve().parents[2] / "startup_config.yaml"
MODULES = {"ServiceRegistry": "service_registry.agent:ServiceRegistry",
           "ModelManagerSuite": "main_pc.model_manager.agent:ModelManagerAgent"}


def reference_config():
    """startup_config.yaml when it exists, else a config built from roster.yaml."""
    if STARTUP.exists():
        from common.config import load_config
        return load_config(STARTUP)
    roster = yaml.safe_load(ROSTER.read_text())
    agents = []
    for host, entries in roster.items():
        for e in entries:
            agents.append({"name": e["name"], "host": host, "port": e["port"],
                           "module": MODULES.get(e["name"], "common.testing.agents:EchoAgent"),
                           "dependencies": e.get("deps", []),
                           "required": e.get("required", True),
                           "resources": {"vram_mb": e.get("vram_mb", 0)}})
    names = {a["name"] for a in agents}
    for a in agents:
        a["dependencies"] = [d for d in a["dependencies"] if d in names]
    return parse_config({"version": 1,
                         "hosts": {"main_pc": {"address": "127.0.0.1"},
                                   "pc2": {"address": "127.0.0.2"}},
                         "agents": agents})
