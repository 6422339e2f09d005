"""Run-time check of a legacy script's ports: what its process tree really listens on (psutil)
against what its entry declares (``port``, ``health_port``, ``ports:``).

Reported, with the port: a port the entry does not declare (the original's hidden HTTP port
at health_port + 1, a PUB socket nobody wrote down); and a wildcard bind (``*``, 0.0.0.0,
``::``) while another host's address is on this machine too (both hosts on one machine: the
bind takes the port on that host's address as well).  Module agents bind only what their
entry declares and are not audited.  Findings go to the agent's status (``port_issues``),
its hub report (a warning) and the launcher's log, once per change.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Mapping

import psutil

from common.config import AgentConfig
from common.launcher.managed import Managed
from common.launcher.state import AgentState

__all__ = ["AUDIT_INTERVAL_S", "PortAudit", "listening", "local_addresses", "port_issues"]

log = logging.getLogger(__name__)

AUDIT_INTERVAL_S = 2.0  # how often a ready script's sockets are looked at
WILDCARDS = ("0.0.0.0", "::")


def listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket pid and its descendants listen on."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return set()
    found: set[tuple[str, int]] = set()
    for proc in procs:
        try:
            conns = proc.net_connections(kind="tcp")
        except psutil.Error:
            continue
        found.update((c.laddr.ip, c.laddr.port) for c in conns
                     if c.status == psutil.CONN_LISTEN and c.laddr)
    return found


def local_addresses(addresses: Mapping[str, str]) -> dict[str, str]:
    """Those of host -> address that this machine holds: it can bind them (all of
    127.0.0.0/8 on Linux, and each address an interface has)."""
    held = {}
    for host, address in addresses.items():
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.bind((address, 0))
        except OSError:
            continue
        held[host] = address
    return held


def port_issues(cfg: AgentConfig, bound: Iterable[tuple[str, int]],
                shared: Mapping[str, str]) -> list[str]:
    """What an operator must hear about cfg's bound sockets; shared: the other hosts whose
    address is on this machine."""
    declared = {port for _, port in cfg.declared_ports()}
    issues = []
    for address, port in sorted(set(bound), key=lambda b: (b[1], b[0])):
        if port not in declared:
            issues.append(f"undeclared port {port} (bound on {address})")
        if address in WILDCARDS:
            issues.extend(f"port {port} bound on * also takes {other}:{port} of host {host} "
                          "(same machine)" for host, other in sorted(shared.items()))
    return issues


class PortAudit:
    """Looks at each ready legacy script's sockets every AUDIT_INTERVAL_S."""

    def __init__(self, host: str, addresses: Mapping[str, str]) -> None:
        self._shared = local_addresses({h: a for h, a in addresses.items() if h != host})
        self._due: dict[str, float] = {}

    def audit(self, agents: Iterable[Managed], now: float) -> None:
        for m in agents:
            if not m.cfg.script_path or m.state is not AgentState.READY or not m.pid:
                continue
            if now < self._due.get(m.key, 0.0):
                continue
            self._due[m.key] = now + AUDIT_INTERVAL_S
            issues = port_issues(m.cfg, listening(m.pid), self._shared)
            if issues != m.port_issues:
                for issue in set(issues) - set(m.port_issues):
                    log.warning("%s (pid %d): %s", m.cfg.name, m.pid, issue)
                m.port_issues = issues
