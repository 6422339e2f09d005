"""Transport security of this process: ``plain``, or CURVE with ZAP authentication.

Every tcp socket of the mesh goes through :func:`common.base_agent.sockets.bind` or
``connect``, which call :func:`secure_server` / :func:`secure_client` here, so one setting
covers agents, registry, hubs, model manager, launchers and the CLI.  ipc:// and inproc://
sockets stay plain: they never leave the host and the file system guards them.

A process learns its keys from :func:`configure` (the launcher, the CLI from the config's
``global.security: curve`` and ``global.keys_dir``) or from the environment the launcher gives
its agents: ``MESH_KEYS_DIR``, ``MESH_KEY_NAME`` (the identity; ``operator`` by default),
``MESH_KEY_HOST`` (the host whose server key it serves with) and ``MESH_HOST_ADDRESSES``
(``host=address,...`` from the host plan: which server key a client expects at an address).
A binding socket serves with its host's server key: the process's host, or else the host whose
address it binds.  A connecting socket expects the server key the signed allow-list gives the
host at the endpoint's address (an address of no host: the process's own host's key).
While a host's server key rotates the list gives it two keys: a binding socket serves with the
first one whose secret this host has, and :func:`rebind_rotated` (called by the agent's loop
between requests) rebinds it in place when that changes; a connecting socket offers the key
the host serves first, and after a handshake with it failed at that endpoint (or the server
said it is leaving it) the other one, until a handshake with that one fails in turn
(:func:`server_key_failed`, from common.base_agent.key_switch's socket monitor).
Binding sockets need a ZAP handler in their context (:class:`common.base_agent.zap.ZapResponder`,
run by BaseAgent); ``ZAP_ENFORCE_DOMAIN`` makes a missing one refuse every client.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import zmq

from common.base_agent.allowlist import AllowListView
from common.base_agent.keystore import KeyRing, KeyStore, KeyStoreError

__all__ = ["ADDRESSES_ENV", "HOST_ENV", "IDENTITY_ENV", "KEYS_ENV", "OPERATOR", "allow_view",
           "Rebinding", "bound", "child_env", "configure", "keyring", "keystore", "listed", "mode",
           "rebind",
           "rebind_rotated", "rotating", "secure_client", "secure_server", "server_key_failed",
           "server_key_for"]

log = logging.getLogger(__name__)

KEYS_ENV = "MESH_KEYS_DIR"
IDENTITY_ENV = "MESH_KEY_NAME"
HOST_ENV = "MESH_KEY_HOST"
ADDRESSES_ENV = "MESH_HOST_ADDRESSES"
OPERATOR = "operator"
ZAP_DOMAIN = b"mesh"
REBIND_S = 2.0  # how long a rotated server socket retries binding its port again
PLAIN_WARNING = ("security: plain - sockets are neither encrypted nor authenticated; "
                 "use this only on a single trusted machine (set global.security: curve)")


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loaded = False
        self.store: KeyStore | None = None
        self.ring: KeyRing | None = None
        self.view: AllowListView | None = None
        self.secrets: dict[tuple[str, str], bytes] = {}  # (host, public) -> server secret
        self.warned = False
        # binding sockets of this process: socket -> (endpoint, host, public key served)
        self.served: weakref.WeakKeyDictionary[zmq.Socket, tuple[str, str, str]] = \
            weakref.WeakKeyDictionary()
        self.served_version: dict[int, int] = {}  # id(context) -> list version last checked
        # endpoint -> the key to offer there, after a handshake failed with the other one
        self.switched: dict[str, str] = {}
        # connecting sockets of this process -> the server key each offers
        self.offered: weakref.WeakKeyDictionary[zmq.Socket, str] = weakref.WeakKeyDictionary()


_state = _State()


def configure(keys_dir: str | Path | None, identity: str = OPERATOR, host: str | None = None,
              addresses: dict[str, str] | None = None) -> KeyRing | None:
    """Use CURVE with the keys in keys_dir as ``identity``; None means plain.  ``host`` is the
    host this process serves as; ``addresses`` maps host name -> address (the host plan's).
    The key files are checked now (present, 0600, parseable, the list signed): a
    KeyStoreError names the bad one."""
    store = KeyStore(keys_dir) if keys_dir is not None else None
    by_address = {address: name for name, address in (addresses or {}).items()}
    ring = store.keyring(identity, host, by_address) if store is not None else None
    view = None
    if store is not None:
        store.allow_list()
        view = AllowListView(store.list_path, store.verify_path)
    with _state.lock:
        _state.store, _state.ring, _state.view, _state.loaded = store, ring, view, True
        _state.secrets, _state.switched = {}, {}
        _state.served, _state.served_version = weakref.WeakKeyDictionary(), {}
    return ring


def keyring() -> KeyRing | None:
    """This process's keys (None in plain mode); read from the environment on first use."""
    if not _state.loaded:
        pairs = (p.partition("=") for p in os.environ.get(ADDRESSES_ENV, "").split(",") if p)
        configure(os.environ.get(KEYS_ENV) or None, os.environ.get(IDENTITY_ENV) or OPERATOR,
                  os.environ.get(HOST_ENV) or None, {h: a for h, _, a in pairs})
    return _state.ring


def keystore() -> KeyStore | None:
    keyring()
    return _state.store


def allow_view() -> AllowListView | None:
    """The host's signed allow-list as this process sees it (None in plain mode)."""
    keyring()
    return _state.view


def mode() -> str:
    return "curve" if keyring() is not None else "plain"


def child_env(identity: str) -> dict[str, str]:
    """The environment that gives a child process (an agent of this host) its identity's
    keys, this process's host, and the hosts' addresses."""
    store, ring = keystore(), _state.ring
    if store is None or ring is None:
        return {}
    env = {KEYS_ENV: str(store.dir.resolve()), IDENTITY_ENV: identity,
           ADDRESSES_ENV: ",".join(f"{h}={a}" for a, h in ring.addresses.items())}
    if ring.host is not None:
        env[HOST_ENV] = ring.host
    return env


def _address(endpoint: str) -> str:
    return endpoint[len("tcp://"):].rsplit(":", 1)[0]


def _serving_host(ring: KeyRing, endpoint: str) -> str:
    host = ring.host or ring.addresses.get(_address(endpoint))
    if host is None:
        raise KeyStoreError(f"{endpoint}: no host of the mesh has this address, so no server "
                            f"key to serve with (is the process's host or the address right?)")
    return host


def _server_pair(store: KeyStore, view: AllowListView | None, host: str) -> tuple[str, bytes]:
    """(public, secret) host serves with: the list's first key of host whose secret is here
    (while the key rotates: the next key once the list says so and this host has it), else
    the host's key file."""
    for public in view.server_keys(host) if view is not None else []:
        with _state.lock:
            secret = _state.secrets.get((host, public))
        if secret is None:
            secret = store.server_secret_for(host, public)
        if secret is not None:
            with _state.lock:
                _state.secrets[(host, public)] = secret
            return public, secret
    return store.host_public(host), store.server_secret(host)


def secure_server(sock: zmq.Socket, endpoint: str) -> None:
    """Make a socket about to bind endpoint a CURVE server with its host's key (tcp only)."""
    if not endpoint.startswith("tcp://"):
        return
    ring, store = keyring(), _state.store
    if ring is None or store is None:
        _warn_plain()
        return
    host = _serving_host(ring, endpoint)
    public, secret = _server_pair(store, _state.view, host)
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
    if not sock.getsockopt(zmq.ZAP_DOMAIN):  # a domain of its own (ZapResponder.guard) stays
        sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
    sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)
    with _state.lock:
        _state.served[sock] = (endpoint, host, public)


def bound(sock: zmq.Socket, endpoint: str) -> None:
    """The socket secured for endpoint got the real endpoint (a port picked at bind)."""
    with _state.lock:
        found = _state.served.get(sock)
        if found is not None:
            _state.served[sock] = (endpoint, *found[1:])


def rebind_rotated(ctx: zmq.Context, settle: Mapping[zmq.Socket, Rebinding] | None = None
                   ) -> int:
    """Rebind, in place, ctx's server sockets whose host now serves another key
    (the list changed while the host's key rotates).  Cheap when the list is unchanged (one
    int compare); call it from the thread owning ctx's sockets (an agent's loop: one context
    per agent), between requests.  Returns how many rebound.
    Connections of a rebound socket drop; their clients reconnect offering the other key.
    ``settle`` gives a socket's owner (the agent's backlog, for its ROUTER) that answers on
    the old connections what was read but not served (see :func:`rebind`), so that no
    request is lost with them."""
    store, view = _state.store, _state.view
    current = view.latest() if view is not None else None
    if store is None or current is None or \
            current.version == _state.served_version.get(id(ctx)):
        return 0
    _state.served_version[id(ctx)] = current.version
    with _state.lock:
        served = list(_state.served.items())
    rebound = 0
    for sock, (endpoint, host, public) in served:
        if sock.closed or sock.context is not ctx:
            continue
        wanted, secret = _server_pair(store, view, host)
        if wanted == public or not rebind(sock, secret,
                                          settle=(settle or {}).get(sock)):
            continue
        with _state.lock:
            _state.served[sock] = (endpoint, host, wanted)
        rebound += 1
        log.info("server key of %s rotated: %s now serves %s...", host, endpoint, wanted[:12])
    return rebound


class Rebinding(Protocol):
    """What the owner of a server socket does around its rebind (the agent's loop)."""

    def before_unbind(self, sock: zmq.Socket) -> None:
        """Answer every request read or queued but not served (a refusal that says: not
        served, send it again), while the connections that brought them still stand."""

    def after_unbind(self, sock: zmq.Socket) -> None:
        """Messages still queued from the dropped connections (they arrived after
        before_unbind looked): never served, and no way left to answer them."""


def rebind(sock: zmq.Socket, secret: bytes | None = None, linger_s: float = REBIND_S,
           settle: Rebinding | None = None) -> bool:
    """Unbind a server socket's endpoint and bind it again in place (with ``secret``, a new
    server key): every connection to it drops, its clients reconnect and handshake again
    (through ZAP).  Messages already queued are flushed for up to linger_s first.  False if
    sock is no server socket of this process or the endpoint could not be bound again."""
    with _state.lock:
        found = _state.served.get(sock)
    if found is None:
        return False
    endpoint = found[0]
    if settle is not None:
        settle.before_unbind(sock)
    linger = sock.getsockopt(zmq.LINGER)
    sock.setsockopt(zmq.LINGER, int(linger_s * 1000))
    sock.unbind(endpoint)
    sock.setsockopt(zmq.LINGER, linger)
    if settle is not None:  # nothing new arrives until the bind: what is queued is theirs
        settle.after_unbind(sock)
    if secret is not None:
        sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
    return _bind_again(sock, endpoint)


def _bind_again(sock: zmq.Socket, endpoint: str) -> bool:
    """Bind endpoint again after unbind: the I/O thread frees the port asynchronously, so
    EADDRINUSE is retried for up to REBIND_S."""
    deadline = time.monotonic() + REBIND_S
    while True:
        try:
            sock.bind(endpoint)
            return True
        except zmq.ZMQError as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                log.error("%s: could not bind again with the rotated key: %s", endpoint, exc)
                return False
            time.sleep(0.001)  # the port is freed by zmq's I/O thread: nothing to wait on


def _server_keys(endpoint: str) -> list[str]:
    ring, view = keyring(), _state.view
    assert ring is not None and view is not None, "curve mode only"
    host = ring.addresses.get(_address(endpoint)) or ring.host
    keys = view.server_keys(host) if host is not None else []
    if not keys:
        raise KeyStoreError(f"{endpoint}: no host of the mesh has this address, so no server "
                            f"key to expect (outside the launcher and the config, set "
                            f"{ADDRESSES_ENV}=HOST=ADDRESS,...)" if host is None else
                            f"{endpoint}: the allow-list has no server key for host {host}")
    return keys


def server_key_for(endpoint: str) -> str:
    """The server public key a client expects at endpoint: of the signed list's keys of the
    host with that address (an address of no host: this process's own host), the first (the
    one the host serves), or the other once a handshake offering it failed there or the server
    said it leaves it (:func:`server_key_failed`: the host has not rebound yet, or no longer
    serves it), until the same happens to that one.  Only the server's refusal flips the
    choice, never a timeout, and one server switches once per rotation, so a client flips
    at most about once per endpoint."""
    keys = _server_keys(endpoint)
    with _state.lock:
        switched = _state.switched.get(endpoint)
    return switched if switched is not None and switched in keys else keys[0]


def rotating(endpoint: str) -> bool:
    """The host at endpoint has two server keys on the list (its key is rotating)."""
    if not endpoint.startswith("tcp://") or keyring() is None:
        return False
    try:
        return len(_server_keys(endpoint)) > 1
    except KeyStoreError:
        return False


def listed(sock: zmq.Socket, endpoint: str) -> bool:
    """Whether a client socket to endpoint can still be answered: the server key it offers
    is on the list for the endpoint's host (always, in plain mode or for a socket not
    secured here)."""
    with _state.lock:
        offered = _state.offered.get(sock)
    if offered is None or keyring() is None:
        return True
    try:
        return offered in _server_keys(endpoint)
    except KeyStoreError:
        return True


def server_key_failed(endpoint: str, offered: str) -> None:
    """A handshake at endpoint offering ``offered`` failed, or the server there answered that
    it is leaving that key: while its host's key rotates, the sockets opened there from now
    on offer the other key (no-op with one key)."""
    if not rotating(endpoint):
        return
    others = [key for key in _server_keys(endpoint) if key != offered]
    if others:
        with _state.lock:
            _state.switched[endpoint] = others[0]


def secure_client(sock: zmq.Socket, endpoint: str) -> None:
    """Give a socket about to connect to endpoint this process's client keys and the server
    key of the host it connects to (tcp only)."""
    ring = keyring() if endpoint.startswith("tcp://") else None
    if ring is None:
        return
    offered = server_key_for(endpoint)
    sock.setsockopt(zmq.CURVE_SERVERKEY, offered.encode())
    with _state.lock:
        _state.offered[sock] = offered
    sock.setsockopt(zmq.CURVE_PUBLICKEY, ring.public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, ring.secret)
    # a refused handshake is not retried by libzmq every RECONNECT_IVL with the same key: its
    # owner opens a new socket when it finds the peer silent (the Client at its timeout or at
    # once from its key watch, links on silence).  On the live mesh, idle sockets whose server
    # had rebound onto its next key retried ~100 times a second each, for good: ~1,000
    # refused handshakes a second at the registry alone, starving a 2-core host
    sock.setsockopt(zmq.RECONNECT_STOP, zmq.RECONNECT_STOP_HANDSHAKE_FAILED)


def _warn_plain() -> None:
    with _state.lock:
        if _state.warned:
            return
        _state.warned = True
    log.warning(PLAIN_WARNING)
