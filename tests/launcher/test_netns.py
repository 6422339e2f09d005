"""Two hosts in two network namespaces: cross-host start and discovery over a real link."""

import json

import pytest

from common.testing.netns import TwoHosts
from tests.launcher.conftest import agent, became_ready, registered_at

REASON = TwoHosts.unavailable_reason()


@pytest.mark.skipif(REASON is not None, reason=REASON or "")
@pytest.mark.timeout(90)
def test_two_launchers_in_two_namespaces_start_and_discover_across_the_link(mesh, ports,
                                                                             tmp_path):
    with TwoHosts() as net:
        config = [agent("ServiceRegistry", "main_pc", ports[0],
                        module="service_registry.agent:ServiceRegistry", service="registry"),
                  agent("A", "main_pc", ports[1], ["ServiceRegistry"]),
                  agent("B", "pc2", ports[2], ["A"]),
                  agent("C", "main_pc", ports[3], ["B"])]
        run = mesh(config)
        address = [f"--address=main_pc={net.addresses[0]}", f"--address=pc2={net.addresses[1]}"]
        for index, host in enumerate(("main_pc", "pc2")):
            run.run_dirs[host] = str(tmp_path / f"run-{host}")  # no shared run dir
            run.up(host, *address, prefix=net.prefix(index), run_dir=run.run_dirs[host])
        agents = run.wait_ready(timeout_s=30)
        registry = f"tcp://{net.addresses[0]}:{ports[0]}"
        listed = run.procs.mesh("registry", "list", "--registry", registry, "--json",
                                ready=False, prefix=net.prefix(1))
        out = listed.proc.stdout.read().decode()
        assert listed.proc.wait(10) == 0
        assert f"tcp://{net.addresses[1]}:{ports[2]}" in out  # B registered from the other host
        registered = registered_at(json.loads(out))
        assert agents["B"]["started_at"] >= became_ready(agents, registered, "B", "A")
        assert agents["C"]["started_at"] >= became_ready(agents, registered, "C", "B")
