"""Any number of hosts in network namespaces on one bridge, for tests of meshes beyond two
hosts (partitions, a whole host's loss).  Needs root and ``ip``, as :mod:`netns`'s TwoHosts;
only the project's own namespaces, veths and bridge are touched, all removed on close.
"""

from __future__ import annotations

import os
import random
import subprocess

import zmq

from common.testing.netns import TwoHosts, _ip, context_in

__all__ = ["NHosts"]


class NHosts:
    """n namespaces ``amN-i`` on a bridge ``amNbr`` (in the root namespace), host i at
    10.232.N.(i+1)/24 through a veth pair ``amN-iv`` (bridge side) / ``eth0`` (its side); the
    bridge itself has ``observer`` (10.232.N.254), so the test reaches every host directly.
    ``isolate(i)`` pulls host i's cable; ``kill(i)`` kills every process in its namespace, as a
    machine that loses power."""

    def __init__(self, n: int, net: int | None = None) -> None:
        self.net = random.randint(1, 250) if net is None else net
        self.addresses = tuple(f"10.232.{self.net}.{i + 1}" for i in range(n))
        self.ns = tuple(f"am{self.net}-{i}" for i in range(n))
        self._bridge = f"am{self.net}br"
        self._veth = tuple(f"am{self.net}-{i}v" for i in range(n))
        self.observer = f"10.232.{self.net}.254"

    unavailable_reason = staticmethod(TwoHosts.unavailable_reason)

    def __enter__(self) -> NHosts:
        try:
            _ip("link", "add", "name", self._bridge, "type", "bridge")
            _ip("addr", "add", f"{self.observer}/24", "dev", self._bridge)
            _ip("link", "set", self._bridge, "up")
            for ns, veth, addr in zip(self.ns, self._veth, self.addresses, strict=True):
                _ip("netns", "add", ns)
                _ip("link", "add", veth, "type", "veth", "peer", "name", f"{veth}p")
                _ip("link", "set", f"{veth}p", "netns", ns)
                _ip("-n", ns, "link", "set", f"{veth}p", "name", "eth0")
                _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("link", "set", veth, "master", self._bridge)
                _ip("link", "set", veth, "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def prefix(self, index: int) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.ns[index])

    def context(self, index: int) -> zmq.Context:
        return context_in(self.ns[index])

    def isolate(self, index: int, cut: bool = True) -> None:
        """Cut host index off from every other host (or heal it)."""
        _ip("link", "set", self._veth[index], "down" if cut else "up")

    def pids(self, index: int) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", self.ns[index]], capture_output=True,
                             text=True, timeout=10)
        return [int(p) for p in out.stdout.split()]

    def kill(self, index: int) -> None:
        """SIGKILL every process of host index (its whole machine, at once)."""
        for pid in self.pids(index):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    def __exit__(self, *exc: object) -> None:
        for index, ns in enumerate(self.ns):
            self.kill(index)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        for veth in self._veth:
            subprocess.run(["ip", "link", "del", veth], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", self._bridge], capture_output=True, timeout=10)
