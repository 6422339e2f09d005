"""The ``services:`` a launcher's agents depend on (Redis, NATS, ...), which are not agents.

A thread checks each one every ``interval_s`` (TCP connect, HTTP GET, or a command, each
bounded by ``timeout_s``) so that the launcher's loop never waits on them; ``ready(name)``
is the latest result, which the supervisor asks before starting a dependent.  A service of
this host with ``start:`` is run by the launcher (its own process group, output in its log
file) whenever its check fails and no run of it is alive, and stopped when the launcher stops,
after the agents.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

from common.config import MeshConfig
from common.config.external import ExternalService
from common.config.legacy_env import expand

__all__ = ["ServiceWatch", "check_service"]

log = logging.getLogger(__name__)


def check_service(service: ExternalService, address: str, values: dict[str, str]
                  ) -> tuple[bool, str]:
    """(passing, text) of one check of service at address, bounded by its timeout_s."""
    try:
        if service.check == "tcp":
            socket.create_connection((address, service.port), service.timeout_s).close()
            return True, f"tcp {address}:{service.port} accepts connections"
        if service.check == "http":
            url = f"http://{address}:{service.port}{service.http_path}"
            with urllib.request.urlopen(url, timeout=service.timeout_s) as reply:
                return True, f"GET {url}: {reply.status}"
        argv = [expand(arg, values) for arg in service.command]
        done = subprocess.run(argv, capture_output=True, timeout=service.timeout_s, text=True)
        text = (done.stdout or done.stderr).strip()[:120]
        return done.returncode == 0, f"{' '.join(argv)}: exit {done.returncode} {text}".strip()
    except subprocess.TimeoutExpired:
        return False, f"check took over {service.timeout_s:g} s"
    except OSError as exc:
        return False, f"{service.check} check failed: {exc}"


class ServiceWatch:
    """Checks, and where this host runs them starts, the services of a host plan."""

    def __init__(self, config: MeshConfig, host: str, addresses: dict[str, str],
                 log_dir: Path) -> None:
        wanted = {d for a in config.agents_on(host) for d in a.dependencies}
        self.services = {s.name: s for s in config.services
                         if s.name in wanted or s.host == host}
        self.host, self.log_dir = host, log_dir
        self.addresses = {name: s.address or addresses[s.host]
                          for name, s in self.services.items()}
        self.values = {name: {"PORT": str(s.port), "HOST_ADDRESS": self.addresses[name],
                              "PORT_OFFSET": str(config.global_.port_offset)}
                       for name, s in self.services.items()}
        self.results: dict[str, tuple[bool, str]] = {n: (False, "not checked yet")
                                                    for n in self.services}
        self.procs: dict[str, tuple[subprocess.Popen, float, IO[bytes]]] = {}  # started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="service-watch", daemon=True)

    def start(self) -> None:
        if self.services:
            self._thread.start()

    def ready(self, name: str) -> bool:
        return self.results.get(name, (False, ""))[0]

    def status(self) -> list[dict[str, Any]]:
        return [{"name": name, "host": s.host, "address": self.addresses[name],
                 "port": s.port, "check": s.check, "passing": self.results[name][0],
                 "detail": self.results[name][1],
                 "pid": self.procs[name][0].pid if name in self.procs else None}
                for name, s in self.services.items()]

    def _run(self) -> None:
        due = dict.fromkeys(self.services, 0.0)
        while not self._stop.is_set():
            now = time.monotonic()
            for name, service in self.services.items():
                if now >= due[name]:
                    due[name] = now + service.interval_s
                    self._check(name, service)
            self._stop.wait(min(due.values()) - time.monotonic() if due else 1.0)

    def _check(self, name: str, service: ExternalService) -> None:
        passing, text = check_service(service, self.addresses[name], self.values[name])
        if passing != self.results[name][0]:
            log.log(logging.INFO if passing else logging.WARNING, "service %s: %s", name, text)
        self.results[name] = (passing, text)
        if not passing and service.start and service.host == self.host:
            self._launch(name, service)

    def _launch(self, name: str, service: ExternalService) -> None:
        run = self.procs.get(name)
        if run is not None:
            if run[0].poll() is None:
                return  # alive, not answering (yet): the check says so
            run[2].close()
            log.warning("service %s exited with %s; starting it again", name, run[0].returncode)
        argv = [expand(arg, self.values[name]) for arg in service.start]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - kept with the process
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            out.close()
            self.results[name] = (False, f"cannot start {argv[0]}: {exc.strerror}")
            return
        log.info("service %s: started %s (pid %d)", name, " ".join(argv), proc.pid)
        self.procs[name] = (proc, time.monotonic(), out)

    def stop(self, timeout_s: float) -> None:
        """Stop checking; SIGTERM what we started, SIGKILL it after timeout_s."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        for name, (proc, _, out) in self.procs.items():
            _signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL)
                proc.wait(timeout_s)
            out.close()
            log.info("service %s: stopped (pid %d)", name, proc.pid)


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
