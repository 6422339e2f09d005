"""Split brain in network namespaces: the two hubs in two namespaces joined by a veth pair.

A silent partition (nftables drops, link up) between the hosts must not make the edge hub
active while the MainPC agents still reach the central hub: exactly one hub stays active.
The edge buffers its host's heartbeats meanwhile and replays them when the partition heals.
Needs root and `ip netns` + `nft`; skipped with the reason otherwise.
"""

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest

from common.cli.ready import parse_ready
from common.testing.wait import wait_until

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(not (shutil.which("ip") and shutil.which("nft")),
                       reason="needs iproute2 (ip netns) and nftables (nft)"),
]

TAG = f"{os.getpid() % 10000}"
NS_A, NS_B = f"amh_a{TAG}", f"amh_b{TAG}"
IP_A, IP_B = "10.231.0.1", "10.231.0.2"
C_EP, E_EP = f"tcp://{IP_A}:9001", f"tcp://{IP_B}:9101"
PARTITION = f"""table inet amh_part{TAG} {{
  chain out {{ type filter hook output priority 0; ip daddr {IP_B} drop; }}
  chain in {{ type filter hook input priority 0; ip saddr {IP_B} drop; }}
}}"""


def sh(*args, check=True, stdin=None):
    return subprocess.run(args, check=check, input=stdin, capture_output=True, text=True,
                          timeout=10)


@pytest.fixture
def namespaces():
    veth_a, veth_b = f"amhva{TAG}", f"amhvb{TAG}"
    try:
        sh("ip", "netns", "add", NS_A)
        sh("ip", "netns", "add", NS_B)
        sh("ip", "link", "add", veth_a, "type", "veth", "peer", "name", veth_b)
        sh("ip", "link", "set", veth_a, "netns", NS_A)
        sh("ip", "link", "set", veth_b, "netns", NS_B)
        for ns, dev, ip in ((NS_A, veth_a, IP_A), (NS_B, veth_b, IP_B)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", dev, "up")
    except subprocess.CalledProcessError as exc:
        _cleanup()
        pytest.skip(f"cannot set up network namespaces: {exc.stderr.strip()}")
    yield
    _cleanup()


def _cleanup():
    for ns in (NS_A, NS_B):
        sh("ip", "netns", "del", ns, check=False)  # takes the veth pair with it


class NsProcs:
    def __init__(self):
        self.procs = []

    def mesh(self, ns, *args, timeout_s=20.0):
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m",
                                 "common.cli.main", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(proc)
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            if select.select([proc.stdout], [], [], left)[0]:
                line = proc.stdout.readline()
                if not line:
                    break
                if parse_ready(line.decode()) is not None:
                    return proc
        raise TimeoutError(f"{args} not ready in namespace {ns}")

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            proc.stdout.close()


def hub(procs, ns, name, role, endpoint, peer):
    settings = {"role": role, "peer": peer, "http_port": 0}
    return procs.mesh(ns, "agent", "run", "observability_hub.hub:ObservabilityHub", "--name",
                      name, "--endpoint", endpoint, "--settings", json.dumps(settings),
                      "--heartbeat-interval", "0.2", "--log-level", "WARNING")


def reporter(procs, ns, name, ip, hubs):
    return procs.mesh(ns, "agent", "run", "common.testing.agents:HubEchoAgent", "--name", name,
                      "--endpoint", f"tcp://{ip}:0", "--settings", json.dumps({"hubs": hubs}),
                      "--heartbeat-interval", "0.2", "--log-level", "WARNING")


def snapshot(ns, endpoint):
    """The hub's /api/health document, read from inside its namespace."""
    out = sh("ip", "netns", "exec", ns, sys.executable, "-c",
             "import json,sys; from common.hub.client import HubReader; "
             "print(json.dumps(HubReader([sys.argv[1]], timeout_s=1.0).health()))", endpoint,
             check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def states():
    central, edge = snapshot(NS_A, C_EP), snapshot(NS_B, E_EP)
    return (central or {}).get("hub", {}).get("state"), (edge or {}).get("hub", {}), edge


def test_partition_keeps_one_active_hub_and_edge_replays(namespaces):
    procs = NsProcs()
    try:
        hub(procs, NS_A, "HubC", "central", C_EP, E_EP)
        hub(procs, NS_B, "HubE", "edge", E_EP, C_EP)
        reporter(procs, NS_A, "M1", IP_A, [C_EP, E_EP])
        reporter(procs, NS_B, "P1", IP_B, [E_EP, C_EP])
        wait_until(lambda: states()[:2] != (None, {}) and states()[0] == "active"
                   and states()[1].get("state") == "passive", 20, interval_s=0.2,
                   what="central active, edge passive")
        sh("ip", "netns", "exec", NS_A, "nft", "-f", "-", stdin=PARTITION)
        try:
            edge = wait_until(lambda: (s := states())[1].get("peer_state") == "expired"
                              and s[1]["buffered"] > 0 and s, 15, interval_s=0.2,
                              what="edge sees the partition and buffers")
            time.sleep(1.0)  # let MainPC agents' acks run: a vote would come now, if ever
            central_state, edge_hub, _ = states()
            assert (central_state, edge_hub["state"]) == ("active", "passive"), edge
        finally:
            sh("ip", "netns", "exec", NS_A, "nft", "delete", "table", "inet",
               f"amh_part{TAG}", check=False)
        wait_until(lambda: states()[1].get("buffered") == 0, 15, interval_s=0.2,
                   what="edge replayed its buffer")
        central = snapshot(NS_A, C_EP)
        p1 = next(a for a in central["agents"] if a["name"] == "P1")
        assert p1["state"] == "passing" and p1["lost_total"] == 0, p1
        assert central["hub"]["state"] == "active" and states()[1]["state"] == "passive"
    finally:
        procs.close()
