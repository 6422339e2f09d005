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
Binding sockets need a ZAP handler in their context (:class:`common.base_agent.zap.ZapResponder`,
run by BaseAgent); ``ZAP_ENFORCE_DOMAIN`` makes a missing one refuse every client.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import zmq

from common.base_agent.allowlist import AllowListView
from common.base_agent.keystore import KeyRing, KeyStore, KeyStoreError

__all__ = ["ADDRESSES_ENV", "HOST_ENV", "IDENTITY_ENV", "KEYS_ENV", "OPERATOR", "allow_view",
           "child_env", "configure", "keyring", "keystore", "mode", "secure_client",
           "secure_server", "server_key_for"]

log = logging.getLogger(__name__)

KEYS_ENV = "MESH_KEYS_DIR"
IDENTITY_ENV = "MESH_KEY_NAME"
HOST_ENV = "MESH_KEY_HOST"
ADDRESSES_ENV = "MESH_HOST_ADDRESSES"
OPERATOR = "operator"
ZAP_DOMAIN = b"mesh"
PLAIN_WARNING = ("security: plain - sockets are neither encrypted nor authenticated; "
                 "use this only on a single trusted machine (set global.security: curve)")


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loaded = False
        self.store: KeyStore | None = None
        self.ring: KeyRing | None = None
        self.view: AllowListView | None = None
        self.secrets: dict[str, bytes] = {}  # host -> server secret, read at first bind
        self.warned = False


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
        _state.secrets = {}
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


def _server_secret(ring: KeyRing, store: KeyStore, endpoint: str) -> bytes:
    host = ring.host or ring.addresses.get(_address(endpoint))
    if host is None:
        raise KeyStoreError(f"{endpoint}: no host of the mesh has this address, so no server "
                            f"key to serve with (is the process's host or the address right?)")
    with _state.lock:
        if host not in _state.secrets:
            _state.secrets[host] = store.server_secret(host)
        return _state.secrets[host]


def secure_server(sock: zmq.Socket, endpoint: str) -> None:
    """Make a socket about to bind endpoint a CURVE server with its host's key (tcp only)."""
    if not endpoint.startswith("tcp://"):
        return
    ring, store = keyring(), _state.store
    if ring is None or store is None:
        _warn_plain()
        return
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, _server_secret(ring, store, endpoint))
    sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
    sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)


def server_key_for(endpoint: str) -> str:
    """The server public key a client expects at endpoint: the signed list's key of the
    host with that address (an address of no host: this process's own host)."""
    ring, view = keyring(), _state.view
    assert ring is not None and view is not None, "curve mode only"
    host = ring.addresses.get(_address(endpoint)) or ring.host
    key = view.server_key(host) if host is not None else None
    if key is None:
        raise KeyStoreError(f"{endpoint}: no host of the mesh has this address, so no server "
                            f"key to expect (outside the launcher and the config, set "
                            f"{ADDRESSES_ENV}=HOST=ADDRESS,...)" if host is None else
                            f"{endpoint}: the allow-list has no server key for host {host}")
    return key


def secure_client(sock: zmq.Socket, endpoint: str) -> None:
    """Give a socket about to connect to endpoint this process's client keys and the server
    key of the host it connects to (tcp only)."""
    ring = keyring() if endpoint.startswith("tcp://") else None
    if ring is None:
        return
    sock.setsockopt(zmq.CURVE_SERVERKEY, server_key_for(endpoint).encode())
    sock.setsockopt(zmq.CURVE_PUBLICKEY, ring.public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, ring.secret)


def _warn_plain() -> None:
    with _state.lock:
        if _state.warned:
            return
        _state.warned = True
    log.warning(PLAIN_WARNING)
