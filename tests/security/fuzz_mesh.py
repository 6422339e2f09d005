"""The mesh the socket fuzzer attacks (tests/security/test_socket_fuzz.py): a config with a
registry, the hub (its HTTP token from a launcher variable), the model manager, an echo agent
and a stream source and stage, all on main_pc; and a handle on it once up."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from common.base_agent.client import Client
from common.testing.mesh import MeshRun, two_host_config

__all__ = ["TOKEN", "TOKEN_VAR", "Mesh", "hub_health", "mesh_config"]

TOKEN_VAR, TOKEN = "FUZZ_HUB_TOKEN", "fuzz-token"
GPU = {"backend": "simulated", "devices": [{"name": "RTX 4090", "vram_mb": 24000}]}


def entry(name: str, port: int, module: str, deps: tuple[str, ...] = (),
          **extra: Any) -> dict[str, Any]:
    return {"name": name, "host": "main_pc", "module": module, "port": port,
            "dependencies": list(deps), **extra}


def mesh_config(tmp_path: Path, p: list[int]) -> dict[str, Any]:
    """The config on ten free ports, p."""
    return two_host_config(tmp_path, agents=[
        entry("ServiceRegistry", p[0], "service_registry.agent:ServiceRegistry",
              ports={"events_port": p[1]}, service="registry"),
        entry("ObservabilityHub", p[2], "observability_hub.hub:ObservabilityHub",
              ports={"http_port": p[3]}, service="hub",
              secrets={"MESH_HUB_TOKEN": {"env": TOKEN_VAR}}),
        entry("ModelManagerAgent", p[4], "main_pc.model_manager.agent:ModelManagerAgent",
              ("ServiceRegistry",), settings={"reserve_mb": 500}, service="model_manager"),
        entry("Echo", p[5], "common.testing.agents:EchoAgent", ("ServiceRegistry",)),
        entry("AudioCapture", p[6], "main_pc.agents.audio:AudioCapture",
              ("ServiceRegistry",), ports={"pub_port": p[7]}, settings={"frame_rate_hz": 20}),
        entry("FusedAudioPreprocessor", p[8], "main_pc.agents.audio:FusedAudioPreprocessor",
              ("ServiceRegistry",), ports={"pub_port": p[9]},
              settings={"upstream": "HostileAudio"}),
    ], health={"interval_s": 0.5, "timeout_s": 2.0, "retries": 5, "start_period_s": 30},
        main_pc={"gpu": GPU, "roles": ["registry", "hub_central", "model_manager"]})


class Mesh:
    """The running mesh under test: endpoints, a client, the processes to measure."""

    def __init__(self, run: MeshRun, p: list[int], client: Client) -> None:
        self.run, self.client = run, client
        tcp = [f"tcp://127.0.0.1:{port}" for port in p]
        self.registry, self.events, self.http = tcp[0], tcp[1], ("127.0.0.1", p[3])
        self.routers = {"ServiceRegistry": tcp[0], "ObservabilityHub": tcp[2],
                        "ModelManagerAgent": tcp[4], "Echo": tcp[5], "AudioCapture": tcp[6],
                        "FusedAudioPreprocessor": tcp[8],
                        "launcher": run.launcher_endpoint("main_pc")}
        self.pubs = {"ServiceRegistry": tcp[1], "AudioCapture": tcp[7],
                     "FusedAudioPreprocessor": tcp[9]}

    def call(self, name: str, action: str, payload: Any = None) -> Any:
        return self.client.call_endpoint(self.routers[name], action, payload, timeout_s=5,
                                         retries=2, peer=name)

    def handled(self) -> dict[str, int]:
        """Messages each ROUTER has taken: requests answered plus bad frames counted."""
        out = {}
        for name in self.routers:
            metrics = self.call(name, "health")["metrics"]
            out[name] = metrics["requests_total"] + metrics["bad_frames_total"]
        return out

    def rss_mb(self) -> dict[str, float]:
        agents = self.run.agents("main_pc")
        pids = {name: a["pid"] for name, a in agents.items()}
        pids["launcher"] = self.call("launcher", "status")["pid"]
        return {name: psutil.Process(pid).memory_info().rss / 2**20 for name, pid in pids.items()}


def hub_health(mesh: Mesh) -> Any:
    """GET /api/health from the hub (None while it answers 503)."""
    url = f"http://{mesh.http[0]}:{mesh.http[1]}/api/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:  # 503: its HTTP front still busy with fuzz connections
        if exc.code == 503:
            return None
        raise
