"""``mesh keys rotate --host H``: a host's server key replaced with no failed request.

    start   sign ``hosts[H] = [current, next]``: every client accepts either key; wait until
            every host's launcher holds that version (the launchers carry it, 0.5 s rounds)
    switch  sign ``[next, current]``: H's processes rebind their server sockets in place onto
            the next key (security.rebind_rotated), between two requests, after answering what
            they read (``rebinding`` if not served); clients whose handshake is refused, or who
            are answered ``rebinding``, send again offering the other key
            (common.base_agent.key_switch); wait until every host holds it and every agent of
            H, and H's launcher, answer a client that offers the next key only
    finish  (``--finish``) only once all that holds: the next pair becomes H's pair and the
            list gives ``[next]``: a client offering the old key, or a server serving it, gets
            nothing; then wait for every host to hold the final version

Each step is idempotent, so running the command again after a timeout (a host away) goes on
from where it stopped.  H makes its next pair itself: start asks H's launcher for the public
key (``server_key_next``), so the next secret never leaves H, and H makes the pair its own
when the finished list reaches it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import zmq

from common.base_agent import protocol, security
from common.base_agent.allowlist import AllowList, load_verify_key
from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.base_agent.keystore import KeyStore, KeyStoreError
from common.cli.hosts import LauncherUnreachable, ask_launcher
from common.launcher import HostPlan
from common.launcher.allowlist_sync import ACTION_SERVER_KEY_NEXT

__all__ = ["HostRotation", "RotationStalled"]

POLL_S = 0.1
PROBE_S = 0.5  # how long a fresh connection offering the next key waits for an answer


class RotationStalled(Exception):
    """A step did not complete within the wait; the message says what is missing."""


@dataclass
class HostRotation:
    store: KeyStore
    plan: HostPlan
    host: str
    wait_s: float = 30.0
    steps: list[dict[str, Any]] = field(default_factory=list)

    def start_and_switch(self) -> AllowList:
        """Phases 1 and 2; returns the list that has H serve the next key."""
        keys = self._keys()
        if len(keys) == 1:
            self._step("start", self.store.rotate_host(self.host, self._next_public()))
        self._wait_versions(self.store.allow_list().version)
        self._step("switch", self.store.serve_next(self.host))
        signed = self.store.allow_list()
        self._wait_versions(signed.version)
        self._wait_serving(signed.hosts[self.host][0])
        return signed

    def finish(self) -> AllowList:
        """Drop the old key everywhere, once every host and every agent of H is on the next."""
        keys = self._keys()
        if len(keys) == 1:
            raise KeyStoreError(f"{self.host}: no rotation under way (list version "
                                f"{self.store.allow_list().version}); start one with `mesh "
                                f"keys rotate --host {self.host}`")
        switched = self.store.serve_next(self.host)  # a no-op once switched
        self._wait_versions(switched.version)
        self._wait_serving(switched.hosts[self.host][0])
        signed = self.store.finish_host_rotation(self.host)
        self._step("finish", signed)
        self._wait_versions(signed.version)
        return signed

    def _next_public(self) -> str:
        """H's next server key, from H's launcher (it makes the pair in its own folder)."""
        with Client(source="mesh-keys-rotate", breaker_threshold=2**31) as client:
            try:
                reply = ask_launcher(client, self.plan, self.host, ACTION_SERVER_KEY_NEXT,
                                     timeout_s=self.wait_s)
            except LauncherUnreachable as exc:
                raise RotationStalled(f"{exc}; {self.host} makes its next key pair itself: "
                                      f"rerun once its launcher is up") from None
            except MeshError as exc:
                raise KeyStoreError(str(exc)) from None
        return reply["public"]

    # -- checks ----------------------------------------------------------------------------
    def _keys(self) -> list[str]:
        keys = self.store.allow_list().hosts.get(self.host)
        if not keys:
            raise KeyStoreError(f"{self.host}: not a host of the allow-list")
        return keys

    def _step(self, name: str, signed: AllowList) -> None:
        self.steps.append({"step": name, "list_version": signed.version,
                           "server_keys": signed.hosts[self.host], "at": round(time.time(), 3)})

    def versions(self, client: Client) -> dict[str, int | None]:
        """Each host's list version as its launcher reports it (None: no answer)."""
        verify = load_verify_key(self.store.verify_path)
        out: dict[str, int | None] = {}
        for host in self.plan.config.hosts:
            try:
                reply = ask_launcher(client, self.plan, host, "allowlist_sync", {"list": None},
                                     timeout_s=1.0)
                theirs = reply.get("list") if isinstance(reply, dict) else None
                out[host] = AllowList.from_bytes(theirs, verify).version \
                    if isinstance(theirs, bytes) else None
            except (LauncherUnreachable, MeshError, ValueError):
                out[host] = None
        return out

    def _wait_versions(self, version: int) -> None:
        deadline = time.monotonic() + self.wait_s
        with Client(source="mesh-keys-rotate", breaker_threshold=2**31) as client:
            while True:
                seen = self.versions(client)
                behind = {h: v for h, v in seen.items() if v is None or v < version}
                if not behind:
                    return
                if time.monotonic() >= deadline:
                    raise RotationStalled(
                        f"allow-list version {version} has not reached "
                        + ", ".join(f"{h} (it has {'no answer' if v is None else v})"
                                    for h, v in sorted(behind.items()))
                        + f" within {self.wait_s:g} s; rerun the command once it is back")
                time.sleep(POLL_S)

    def _endpoints(self, client: Client) -> dict[str, str]:
        """What serves on H: its launcher and its ready agents (legacy scripts keep their own
        sockets and are not checked)."""
        out = {f"launcher-{self.host}": self.plan.launcher_endpoint(self.host)}
        try:
            status = ask_launcher(client, self.plan, self.host, "status", timeout_s=2.0)
        except (LauncherUnreachable, MeshError):
            return out
        for row in status.get("agents", []):
            agent = self.plan.config.agent(row["name"])
            if row.get("ready") and not agent.script_path:
                out[agent.name] = self.plan.endpoint(agent)
        return out

    def _wait_serving(self, key: str) -> None:
        """Every process of H answers a client that offers key only.  A health call through
        the Client first (offering whichever key works) is what makes an idle process look at
        the list and rebind."""
        deadline = time.monotonic() + self.wait_s
        ring = security.keyring()
        assert ring is not None, "curve mode only"
        ctx = zmq.Context()
        try:
            with Client(ctx=ctx, source="mesh-keys-rotate", breaker_threshold=2**31) as client:
                pending = self._endpoints(client)
                while pending:
                    for name, endpoint in sorted(pending.items()):
                        if _answers(ctx, endpoint, key, ring.public, ring.secret):
                            del pending[name]
                            continue
                        try:  # wakes it: the message path rebinds onto the listed key
                            client.call_endpoint(endpoint, "health", timeout_s=PROBE_S,
                                                 retries=1)
                        except MeshError:
                            pass
                    if pending and time.monotonic() >= deadline:
                        raise RotationStalled(
                            f"{', '.join(sorted(pending))} on {self.host} still not serving the "
                            f"next key after {self.wait_s:g} s (its log says why); rerun to "
                            f"go on")
        finally:
            ctx.destroy(linger=0)


def _answers(ctx: zmq.Context, endpoint: str, server_key: str, public: bytes,
             secret: bytes) -> bool:
    """A fresh connection offering server_key only gets a health answer within PROBE_S."""
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.curve_serverkey = server_key.encode()
    sock.curve_publickey, sock.curve_secretkey = public, secret
    sock.connect(endpoint)
    try:
        sock.send_multipart(protocol.encode_request(protocol.Request("health", None)))
        return bool(sock.poll(int(PROBE_S * 1000)))
    finally:
        sock.close(linger=0)
