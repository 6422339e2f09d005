"""Real etcd members for tests and benchmarks (Debian's ``/usr/bin/etcd``), each with its own
data folder and ports, started with a deadline and killed (with ``kill -9`` semantics when
asked) so that none is left behind.

``prefix`` runs a member inside something, e.g. ``ip netns exec NS`` for a host of
:class:`~common.testing.netns.NHosts`.  The settings (50 ms heartbeat, 500 ms election,
``--pre-vote`` so that a member coming back from a partition does not depose the leader) are
the LAN settings docs/SCALING.md recommends: a dead leader is replaced in about a second.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from common.etcd import EtcdClient
from common.testing.wait import wait_until

__all__ = ["EtcdCluster", "EtcdMember", "etcd_unavailable_reason"]

START_TIMEOUT_S = 15.0


def etcd_unavailable_reason() -> str | None:
    return None if shutil.which("etcd") else "etcd is not installed (Debian: etcd-server)"


@dataclass
class EtcdMember:
    name: str
    address: str
    client_port: int
    peer_port: int
    data_dir: Path
    prefix: tuple[str, ...] = ()
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def client_url(self) -> str:
        return f"http://{self.address}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.address}:{self.peer_port}"

    def start(self, initial_cluster: str, state: str = "new") -> None:
        argv = [*self.prefix, "etcd", "--name", self.name, "--data-dir", str(self.data_dir),
                "--listen-client-urls", self.client_url, "--advertise-client-urls",
                self.client_url, "--listen-peer-urls", self.peer_url,
                "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", initial_cluster, "--initial-cluster-state", state,
                "--heartbeat-interval", "50", "--election-timeout", "500", "--pre-vote",
                "--log-level", "warn"]
        log = open(self.data_dir.with_suffix(".log"), "ab")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        log.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class EtcdCluster:
    """Members named ``m0..`` on the given addresses (one each), all started at once."""

    def __init__(self, workdir: Path, addresses: Sequence[str], ports: tuple[int, int],
                 prefixes: Sequence[tuple[str, ...]] | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        prefixes = prefixes or [()] * len(addresses)
        self.members = [EtcdMember(f"m{i}", addr, ports[0], ports[1], workdir / f"m{i}", pre)
                        for i, (addr, pre) in enumerate(zip(addresses, prefixes, strict=True))]
        self.initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    @property
    def endpoints(self) -> list[str]:
        return [m.client_url for m in self.members]

    def __enter__(self) -> EtcdCluster:
        try:
            for member in self.members:
                member.start(self.initial)
            self.wait_healthy()
        except BaseException:
            self.close()
            raise
        return self

    def wait_healthy(self, timeout_s: float = START_TIMEOUT_S) -> None:
        client = EtcdClient(self.endpoints, timeout_s=0.5)
        wait_until(client.healthy, timeout_s, interval_s=0.05, what="etcd cluster healthy")
        client.close()

    def restart(self, index: int) -> None:
        """Start a killed member again on its data folder (it rejoins the cluster)."""
        self.members[index].start(self.initial, state="existing")

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for member in self.members:
            member.kill()
