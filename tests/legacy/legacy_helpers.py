"""Legacy entries and calls for tests/legacy: the original's miniature (tests/legacy/original)
as an operator configures it, raw one-frame JSON calls."""

import json
from pathlib import Path

import zmq

ORIGINAL = Path(__file__).parent / "original"
MODEL_LOADER = "main_pc_code/agents/model_loader_agent.py"
IDENTITY = "main_pc_code/agents/identity_agent.py"
MEMORY = "pc2_code/agents/memory_orchestrator.py"


def legacy_entry(name, host, script, port, health_port, env=None, **extra):
    """A script_path entry as an operator writes it for the original's scripts: run from the
    original's root with its own PYTHONPATH, the hidden HTTP port declared."""
    return {"name": name, "host": host, "script_path": str(ORIGINAL / script),
            "cwd": str(ORIGINAL), "port": port, "health_port": health_port,
            "ports": {"legacy_http": health_port + 1},
            "env": {"PYTHONPATH": ".", **(env or {})}, **extra}


def model_loader(port, health_port, init_s=0, host="main_pc", **extra):
    return legacy_entry("ModelLoaderAgent", host, MODEL_LOADER, port, health_port,
                        env={"MODEL_LOADER_PORT": "${PORT}",
                             "MODEL_LOADER_HEALTH_PORT": "${HEALTH_PORT}",
                             "MODEL_LOADER_INIT_S": str(init_s)}, **extra)


def legacy_call(address, port, request, timeout_s=2.0):
    """One JSON frame to a legacy REP socket, one back (None on timeout)."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(f"tcp://{address}:{port}")
        sock.send(json.dumps(request).encode())
        return json.loads(sock.recv()) if sock.poll(int(timeout_s * 1000)) else None
    finally:
        sock.close()
