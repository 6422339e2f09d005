import pytest

from common.testing.mesh import MeshRun, free_ports, two_host_config

ECHO = "common.testing.agents:EchoAgent"


def agent(name, host, port, deps=(), module=ECHO, **extra):
    return {"name": name, "host": host, "module": module, "port": port,
            "dependencies": list(deps), **extra}


@pytest.fixture
def mesh(procs, tmp_path):
    runs = []

    def make(agents, **global_):
        run = MeshRun(procs, tmp_path, two_host_config(tmp_path, agents, **global_))
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
