import pytest

from common.testing.mesh import MeshRun, free_ports

ECHO = "common.testing.agents:EchoAgent"


def agent(name, host, port, deps=(), module=ECHO, **extra):
    return {"name": name, "host": host, "module": module, "port": port,
            "dependencies": list(deps), **extra}


def mesh_config(tmp_path, agents, **global_):
    return {
        "version": 1,
        "global": {"heartbeat_interval_s": 0.3, "stop_timeout_s": 3,
                   "log_dir": str(tmp_path / "logs"),
                   "health": {"interval_s": 0.3, "timeout_s": 0.3, "retries": 2,
                              "start_period_s": 10}, **global_},
        "hosts": {"main_pc": {"address": "127.0.0.1", "roles": ["registry"]},
                  "pc2": {"address": "127.0.0.2"}},
        "agents": agents,
    }


@pytest.fixture
def mesh(procs, tmp_path):
    runs = []

    def make(agents, **global_):
        run = MeshRun(procs, tmp_path, mesh_config(tmp_path, agents, **global_))
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.close()


@pytest.fixture
def ports():
    return free_ports(12)


def became_ready(agents, registered, dependent, dep):
    """When dep became ready as dependent's launcher can know it: the dep's own launcher's
    observation on the same host; on the other host, the moment the registry had it
    (its launcher may only notice a probe interval later)."""
    if agents[dependent]["host"] == agents[dep]["host"]:
        return agents[dep]["ready_at"]
    return registered[dep]


def registered_at(records):
    """name -> registry registration time, from `list` records."""
    return {r["name"]: r["registered_at"] for r in records}
