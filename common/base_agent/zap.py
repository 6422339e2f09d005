"""The ZAP handler (RFC 27) of one agent: decides, for every CURVE handshake on the agent's
sockets, whether the client's public key is on the allow-list.

It is a REP socket at ``inproc://zeromq.zap.01`` in the agent's context, polled by the agent's
own loop.  Binding sockets set ``ZAP_ENFORCE_DOMAIN``, so without this handler every handshake
fails: a mistake fails closed.  The allow-list is the host's signed list
(common.base_agent.allowlist), re-read when its file changes.  The handler names each admitted
connection by its public key (the ZAP ``User-Id``, which libzmq attaches to every message of the
connection), so :meth:`ZapResponder.recv` can check every request against the current list: a
key revoked while connected gets nothing more from the next refresh on (``REFRESH_S``).
Refusals are counted and the recent ones kept (address, key, identity if known) for the hub.

A PUB socket cannot drop a message per subscriber, so a PUB's owner hands it to
:meth:`ZapResponder.guard` before binding it: the socket gets a ZAP domain of its own, and the
handler remembers which keys it admitted on it.  When the list changes so that one of them is
no longer allowed, :meth:`ZapResponder.cut_revoked` (the agent's loop, at least every
``REFRESH_S``) rebinds that socket in place (:func:`security.rebind`): every connection to it
drops, the allowed subscribers reconnect and are admitted again within their reconnect
interval (a Clone subscriber re-syncs from a snapshot on the sequence gap), the revoked one is
refused.  Such cuts are counted in ``sub_cut`` (keys) and ``pub_rebinds``.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Any

import zmq
from zmq.utils import z85

from common.base_agent import security
from common.base_agent.allowlist import REFRESH_S, AllowListView
from common.base_agent.handshakes import HandshakeWatch
from common.base_agent.keystore import KeyStore, KeyStoreError
from common.base_agent.sockets import NOBLOCK, new_socket, readable, recv_frames, send_frames

__all__ = ["ZAP_ENDPOINT", "ZapResponder", "open_responder"]

log = logging.getLogger(__name__)

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
RECENT = 20
LOG_FIRST, LOG_EVERY = 10, 100
NOT_ALLOWED = "key not on the allow-list"
_RCVMORE = int(zmq.RCVMORE)
PUB_DOMAIN = "mesh.pub.{}"  # the ZAP domain of a guarded PUB socket (a number per socket)


class _Guarded:
    """A PUB socket whose subscribers are cut when their key is revoked."""

    def __init__(self, sock: zmq.Socket) -> None:
        self.sock = sock
        self.admitted: set[str] = set()  # keys admitted since the socket was (re)bound


class ZapResponder:
    def __init__(self, ctx: zmq.Context, store: KeyStore, view: AllowListView) -> None:
        self.store, self.view = store, view
        self.rejected = 0
        self.cut = 0  # messages dropped because their connection's key was revoked since
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECENT)
        self._clients: dict[str, str] | None = None
        self.watches: list[HandshakeWatch] = []  # failed handshakes of the watched sockets
        self.only: frozenset[str] | None = None  # see restrict()
        self.guarded: dict[bytes, _Guarded] = {}  # ZAP domain -> PUB socket (see guard())
        self.sub_cut = 0  # keys admitted on a guarded PUB and cut when revoked
        self.pub_rebinds = 0
        self._cut_version = -1
        self.socket = new_socket(ctx, zmq.REP, hwm=100)
        try:
            self.socket.bind(ZAP_ENDPOINT)
        except zmq.ZMQError as exc:
            self.socket.close(linger=0)
            raise KeyStoreError(f"a ZAP handler already serves this zmq context ({exc}); "
                                "CURVE needs one context per agent") from None

    def restrict(self, identities: set[str]) -> None:
        """Admit only these identities of the allow-list (the launcher: the operator)."""
        self.only = frozenset(identities)

    def guard(self, sock: zmq.Socket) -> None:
        """Cut sock's subscribers whose key gets revoked (call before binding sock)."""
        domain = PUB_DOMAIN.format(len(self.guarded)).encode()
        sock.setsockopt(zmq.ZAP_DOMAIN, domain)
        self.guarded[domain] = _Guarded(sock)

    def due_in_s(self) -> float:
        """How soon the loop must call cut_revoked() again."""
        return REFRESH_S if self.guarded else float("inf")

    def cut_revoked(self) -> int:
        """Rebind each guarded socket that admitted a key the list no longer allows (from
        the thread owning the sockets).  Cheap when the list is unchanged (an int compare).
        Returns how many keys were cut."""
        current = self.view.latest() if self.guarded else None
        if current is None or current.version == self._cut_version:
            return 0
        self._cut_version = current.version
        cut = 0
        for guarded in self.guarded.values():
            gone = {key for key in guarded.admitted if not self._admits(key)}
            if not gone or guarded.sock.closed:
                continue
            if not security.rebind(guarded.sock, linger_s=0):  # queued ones are not sent
                log.error("could not rebind a PUB socket to cut %d revoked subscriber(s)",
                          len(gone))
                continue
            guarded.admitted.clear()  # whoever is allowed is admitted again on reconnect
            self.pub_rebinds += 1
            cut += len(gone)
            log.warning("cut the subscriptions of %s: revoked while connected (list "
                        "version %d; the other subscribers reconnect)",
                        ", ".join(self._known(key) or key[:12] for key in sorted(gone)),
                        current.version)
        self.sub_cut += cut
        return cut

    def _admits(self, public: str) -> bool:
        name = self.view.name_of(public) if public else None
        return name is not None and (self.only is None or name in self.only)

    def on_readable(self) -> None:
        while readable(self.socket):
            frames = recv_frames(self.socket, NOBLOCK)
            send_frames(self.socket, self._answer(frames), NOBLOCK)

    def _answer(self, frames: list[bytes]) -> list[bytes]:
        if len(frames) < 6:
            return [b"1.0", b"", b"500", b"malformed ZAP request", b"", b""]
        version, request_id, domain, address, _identity, mechanism = frames[:6]
        key = frames[6] if mechanism == b"CURVE" and len(frames) > 6 else b""
        public = z85.encode(key) if len(key) == 32 else b""
        self.view.refresh()  # a handshake sees the file as it is now (a stat)
        name = self.view.name_of(public.decode()) if public else None
        if self._admits(public.decode()):
            guarded = self.guarded.get(domain)
            if guarded is not None:
                guarded.admitted.add(public.decode())
            return [version, request_id, b"200", b"OK", public, b""]
        reason = NOT_ALLOWED if name is None else \
            f"identity {name} may not use this socket (only {', '.join(sorted(self.only or ()))})"
        self._refuse(address.decode("ascii", "replace"), key, mechanism.decode("ascii", "replace"),
                     reason)
        return [version, request_id, b"400", reason.encode(), b"", b""]

    def recv(self, sock: zmq.Socket) -> list[bytes] | None:
        """The next message of a ROUTER (NOBLOCK), or None when its connection's key is no
        longer on the list: dropped unanswered, counted in ``cut``."""
        first = sock.recv(NOBLOCK, copy=False)
        frames = [first.bytes]
        while sock.get(_RCVMORE):
            frames.append(sock.recv(NOBLOCK))
        try:
            user = str(first.get("User-Id"))
        except zmq.ZMQError:  # not from a CURVE connection (ipc, inproc): the file system's
            return frames
        if self._admits(user):
            return frames
        self.cut += 1
        if self.cut <= LOG_FIRST or self.cut % LOG_EVERY == 0:
            log.warning("dropped a message from key %s%s: revoked while connected (%d dropped)",
                        user[:12], f" (identity {self._known(user)})" if self._known(user)
                        else "", self.cut)
        return None

    def _refuse(self, address: str, key: bytes, mechanism: str, reason: str) -> None:
        public = z85.encode(key).decode() if len(key) == 32 else ""
        known = self._known(public)
        self.rejected += 1
        self.recent.append({"address": address, "key": public, "identity": known,
                            "mechanism": mechanism, "ts": round(time.time(), 3)})
        if self.rejected <= LOG_FIRST or self.rejected % LOG_EVERY == 0:  # a flood stays bounded
            log.warning("refused %s peer at %s (key %s%s): %s (%d refused)",
                        mechanism, address, public[:12] or "none",
                        f", {'revoked ' if reason == NOT_ALLOWED else ''}identity {known}"
                        if known else "", reason, self.rejected)

    def _known(self, public: str) -> str:
        """The identity a refused key belongs to, if it is one of ours (revoked)."""
        if self._clients is None:
            self._clients = self.store.known_keys()
        return self._clients.get(public, "") if public else ""

    def watch(self, sock: zmq.Socket, owner: str) -> HandshakeWatch:
        """Count the failed handshakes of sock, with their addresses (a thread of its own)."""
        made = HandshakeWatch(sock, owner)
        self.watches.append(made)
        return made

    def summary(self) -> dict[str, Any]:
        watched = [w.snapshot() for w in self.watches]
        return {"rejected": self.rejected, "cut": self.cut, "sub_cut": self.sub_cut,
                "pub_rebinds": self.pub_rebinds, "recent": list(self.recent),
                "list_version": self.view.current.version if self.view.current else 0,
                "handshake_failed": sum(n for n, _ in watched),
                "handshake_recent": [r for _, recent in watched for r in recent][-RECENT:]}

    def close(self) -> None:
        for watch in self.watches:
            watch.close()
        self.socket.close(linger=0)


def open_responder(ctx: zmq.Context) -> ZapResponder | None:
    """The ZAP handler for an agent's context in CURVE mode; None in plain mode."""
    store, view = security.keystore(), security.allow_view()
    return ZapResponder(ctx, store, view) if store is not None and view is not None else None
