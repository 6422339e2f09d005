"""The chaos soak's two hosts: network namespaces joined by a veth pair, and a PC2 partition.

``ChaosNet(tag)`` is :class:`common.testing.netns.TwoHosts` named ``amc{tag}a`` (MainPC,
10.231.N.1) and ``amc{tag}b`` (PC2, 10.231.N.2), joined by a veth pair. Each namespace has its
own loopback and ports, so the soak disturbs nothing else on the machine that uses 127.0.0.1 /
127.0.0.2, and a partition cuts exactly the link between the two hosts: ``partition()`` adds an
nftables table in the MainPC namespace that silently drops every packet to or from PC2 (a
pulled cable seen by TCP: retransmissions, no resets); ``heal()`` deletes it. The rules live
inside the namespace, so deleting the namespaces at ``close()`` takes them along even if
``heal()`` never ran.

Needs root, ``ip`` (iproute2) and ``nft``; ``unavailable_reason()`` says why not otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import psutil

from common.testing.netns import TwoHosts

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


class ChaosNet(TwoHosts):
    def __init__(self, tag: int) -> None:
        super().__init__(n=tag % 250 + 1, stem=f"amc{tag}")
        self.partitioned = False

    @staticmethod
    def unavailable_reason() -> str | None:
        reason = TwoHosts.unavailable_reason()
        if reason is None and shutil.which("nft") is None:
            return "`nft` is not installed"
        return reason

    def open(self) -> ChaosNet:
        self.__enter__()
        return self

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
        self.__exit__()


def _netns_inode_of(ns: str) -> int | None:
    try:
        return os.stat(f"/run/netns/{ns}").st_ino
    except OSError:
        return None
