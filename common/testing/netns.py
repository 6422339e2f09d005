"""Two hosts in two network namespaces joined by a veth pair, for partition and failover tests.

Needs root and ``ip`` (iproute2).  ``Netns.available()`` says why not when it cannot run.
Only the project's own namespaces and addresses are touched; everything is removed on close.
"""

from __future__ import annotations

import ctypes
import os
import random
import shutil
import subprocess
import threading

import zmq

__all__ = ["TwoHosts", "context_in"]

CLONE_NEWNET = 0x40000000


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class TwoHosts:
    """Namespaces ``am-a-N`` and ``am-b-N`` with 10.231.N.1 and 10.231.N.2 on a veth pair;
    ``stem`` names them otherwise (``{stem}a``, ``{stem}b``, veths ``{stem}va``, ``{stem}vb``),
    so that another process can find them again by the same stem."""

    def __init__(self, n: int | None = None, stem: str | None = None) -> None:
        self.n = random.randint(1, 250) if n is None else n
        self.addresses = (f"10.231.{self.n}.1", f"10.231.{self.n}.2")
        if stem is None:
            self.ns = (f"am-a-{self.n}", f"am-b-{self.n}")
            self._veth = (f"ama{self.n}", f"amb{self.n}")
        else:
            self.ns = (f"{stem}a", f"{stem}b")
            self._veth = (f"{stem}va", f"{stem}vb")

    @staticmethod
    def unavailable_reason() -> str | None:
        if os.geteuid() != 0:
            return "network namespaces need root"
        if shutil.which("ip") is None:
            return "`ip` (iproute2) is not installed"
        probe = subprocess.run(["ip", "netns", "list"], capture_output=True, timeout=10)
        return None if probe.returncode == 0 else f"ip netns unavailable: {probe.stderr!r}"

    def __enter__(self) -> TwoHosts:
        for ns in self.ns:
            _ip("netns", "add", ns)
        try:
            _ip("link", "add", self._veth[0], "type", "veth", "peer", "name", self._veth[1])
            for ns, veth, addr in zip(self.ns, self._veth, self.addresses, strict=True):
                _ip("link", "set", veth, "netns", ns)
                _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", veth)
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "link", "set", veth, "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def prefix(self, index: int) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.ns[index])

    def context(self, index: int) -> zmq.Context:
        """A zmq context whose sockets live in host index's namespace: the test, an observer
        on that host, reaches what only that host reaches (its launcher's tcp socket)."""
        return context_in(self.ns[index])

    def link(self, up: bool) -> None:
        """Cut (or heal) the link between the hosts, as a pulled cable would."""
        _ip("-n", self.ns[0], "link", "set", self._veth[0], "up" if up else "down")

    def remove(self, index: int) -> None:
        """Host index is gone, as a machine that lost power (kill its processes first: a
        namespace lives on while a process holds it).  Its end of the veth pair is parked,
        down, outside the namespaces, so the other host keeps its own address."""
        ns, veth = self.ns[index], self._veth[index]
        _ip("-n", ns, "link", "set", veth, "netns", "1")
        _ip("link", "set", veth, "down")
        _ip("netns", "del", ns)

    def restore(self, index: int) -> None:
        """Host index comes back (after :meth:`remove`): a fresh namespace of the same name
        and address on the same link."""
        ns, veth = self.ns[index], self._veth[index]
        _ip("netns", "add", ns)
        _ip("link", "set", veth, "netns", ns)
        _ip("-n", ns, "addr", "add", f"{self.addresses[index]}/24", "dev", veth)
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "link", "set", veth, "up")

    def __exit__(self, *exc: object) -> None:
        """Delete both namespaces (the veth pair and any rules inside go with them), and the
        veth pair if a failed start left it outside them."""
        for ns in self.ns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        for veth in self._veth:  # a pair left outside (failed start, a removed host)
            subprocess.run(["ip", "link", "del", veth], capture_output=True, timeout=10)


def context_in(ns: str) -> zmq.Context:
    """A zmq context created, with its I/O threads, inside network namespace ns: a thread
    joins the namespace (setns applies to the calling thread only), and the threads libzmq
    starts from it connect and bind there.  The caller's own threads stay where they are."""
    made: dict[str, object] = {}

    def enter() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {ns}")
            finally:
                os.close(fd)
            ctx = zmq.Context()
            ctx.socket(zmq.DEALER).close(linger=0)  # starts the I/O threads here
            made["ctx"] = ctx
        except BaseException as exc:  # raised again in the caller's thread
            made["error"] = exc

    thread = threading.Thread(target=enter, name=f"netns-{ns}")
    thread.start()
    thread.join(10)
    if "error" in made:
        raise made["error"]  # type: ignore[misc]
    if "ctx" not in made:
        raise TimeoutError(f"no zmq context in namespace {ns} within 10 s")
    return made["ctx"]  # type: ignore[return-value]
