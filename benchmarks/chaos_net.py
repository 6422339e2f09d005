"""The chaos soak's two hosts: network namespaces joined by a veth pair, and a PC2 partition.

``ChaosNet(tag)`` creates ``amc{tag}a`` (MainPC, 10.233.N.1) and ``amc{tag}b`` (PC2,
10.233.N.2) joined by a veth pair.  Each namespace has its own loopback and ports, so the soak
disturbs nothing else on the machine that uses 127.0.0.1 / 127.0.0.2, and a partition cuts
exactly the link between the two hosts: ``partition()`` adds an nftables table in the MainPC
namespace that silently drops every packet to or from PC2 (a pulled cable seen by TCP:
retransmissions, no resets); ``heal()`` deletes it.  The rules live inside the namespace, so
deleting the namespaces at ``close()`` takes them along even if ``heal()`` never ran.

Needs root, ``ip`` (iproute2) and ``nft``; ``unavailable_reason()`` says why not otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import psutil

__all__ = ["ChaosNet"]

CMD_TIMEOUT_S = 10.0
TABLE = "chaos_partition"


def _run(*argv: str, stdin: str | None = None, check: bool = True) -> None:
    subprocess.run(argv, input=stdin, check=check, capture_output=True, text=True,
                   timeout=CMD_TIMEOUT_S)


def _netns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


class ChaosNet:
    def __init__(self, tag: int) -> None:
        n = tag % 250 + 1
        self.ns = (f"amc{tag}a", f"amc{tag}b")
        self.addresses = (f"10.233.{n}.1", f"10.233.{n}.2")
        self._veth = (f"amc{tag}va", f"amc{tag}vb")
        self.partitioned = False

    @staticmethod
    def unavailable_reason() -> str | None:
        if os.geteuid() != 0:
            return "network namespaces need root"
        for tool in ("ip", "nft"):
            if shutil.which(tool) is None:
                return f"`{tool}` is not installed"
        probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                               timeout=CMD_TIMEOUT_S)
        return None if probe.returncode == 0 else f"ip netns unavailable: {probe.stderr.strip()}"

    def open(self) -> ChaosNet:
        try:
            for ns in self.ns:
                _run("ip", "netns", "add", ns)
            _run("ip", "link", "add", self._veth[0], "type", "veth", "peer", "name",
                 self._veth[1])
            for ns, veth, addr in zip(self.ns, self._veth, self.addresses, strict=True):
                _run("ip", "link", "set", veth, "netns", ns)
                _run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", veth)
                _run("ip", "-n", ns, "link", "set", "lo", "up")
                _run("ip", "-n", ns, "link", "set", veth, "up")
        except BaseException:
            self.close()
            raise
        return self

    def prefix(self, index: int) -> tuple[str, ...]:
        """argv prefix that runs a command on host index (0 MainPC, 1 PC2)."""
        return ("ip", "netns", "exec", self.ns[index])

    def partition(self) -> None:
        peer = self.addresses[1]
        rules = (f"table inet {TABLE} {{\n"
                 f"  chain out {{ type filter hook output priority 0; ip daddr {peer} drop; }}\n"
                 f"  chain in {{ type filter hook input priority 0; ip saddr {peer} drop; }}\n"
                 "}\n")
        _run(*self.prefix(0), "nft", "-f", "-", stdin=rules)
        self.partitioned = True

    def heal(self) -> None:
        _run(*self.prefix(0), "nft", "delete", "table", "inet", TABLE)
        self.partitioned = False

    def pids(self, exclude: int = 0) -> list[int]:
        """Processes inside either namespace (the soak's own process excepted)."""
        inodes = {_netns_inode_of(ns) for ns in self.ns} - {None}
        return [p for p in psutil.pids() if p != exclude and _netns_inode(p) in inodes]

    def close(self) -> None:
        """Delete both namespaces (the veth pair and any partition table go with them), and
        the veth pair if a failed open left it outside them."""
        for ns in self.ns:
            _run("ip", "netns", "del", ns, check=False)
        _run("ip", "link", "del", self._veth[0], check=False)


def _netns_inode_of(ns: str) -> int | None:
    try:
        return os.stat(f"/run/netns/{ns}").st_ino
    except OSError:
        return None
