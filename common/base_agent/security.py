"""Transport security of this process: ``plain``, or CURVE with ZAP authentication.

Every tcp socket of the mesh goes through :func:`common.base_agent.sockets.bind` or
``connect``, which call :func:`secure_server` / :func:`secure_client` here, so one setting
covers agents, registry, hubs, model manager, launchers and the CLI.  ipc:// and inproc://
sockets stay plain: they never leave the host and the file system guards them.

A process learns its keys from :func:`configure` (the launcher, the CLI from the config's
``global.security: curve`` and ``global.keys_dir``) or from the environment the launcher gives
its agents: ``MESH_KEYS_DIR`` and ``MESH_KEY_NAME`` (the identity; ``operator`` by default).
Binding sockets need a ZAP handler in their context (:class:`common.base_agent.zap.ZapResponder`,
run by BaseAgent); ``ZAP_ENFORCE_DOMAIN`` makes a missing one refuse every client.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import zmq

from common.base_agent.keystore import KeyRing, KeyStore

__all__ = ["IDENTITY_ENV", "KEYS_ENV", "OPERATOR", "child_env", "configure", "keyring",
           "keystore", "mode", "secure_client", "secure_server"]

log = logging.getLogger(__name__)

KEYS_ENV = "MESH_KEYS_DIR"
IDENTITY_ENV = "MESH_KEY_NAME"
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
        self.warned = False


_state = _State()


def configure(keys_dir: str | Path | None, identity: str = OPERATOR) -> KeyRing | None:
    """Use CURVE with the keys in keys_dir as ``identity``; None means plain.  The key files
    are checked now (present, 0600, parseable): a KeyStoreError names the bad one."""
    store = KeyStore(keys_dir) if keys_dir is not None else None
    ring = store.keyring(identity) if store is not None else None
    if store is not None:
        store.allow_list()
    with _state.lock:
        _state.store, _state.ring, _state.loaded = store, ring, True
    return ring


def keyring() -> KeyRing | None:
    """This process's keys (None in plain mode); read from the environment on first use."""
    if not _state.loaded:
        configure(os.environ.get(KEYS_ENV) or None, os.environ.get(IDENTITY_ENV) or OPERATOR)
    return _state.ring


def keystore() -> KeyStore | None:
    keyring()
    return _state.store


def mode() -> str:
    return "curve" if keyring() is not None else "plain"


def child_env(identity: str) -> dict[str, str]:
    """The environment that gives a child process its own identity's keys."""
    store = keystore()
    if store is None:
        return {}
    return {KEYS_ENV: str(store.dir.resolve()), IDENTITY_ENV: identity}


def secure_server(sock: zmq.Socket, endpoint: str) -> None:
    """Make a socket about to bind endpoint a CURVE server (tcp only)."""
    if not endpoint.startswith("tcp://"):
        return
    ring = keyring()
    if ring is None:
        _warn_plain()
        return
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, ring.server_secret)
    sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
    sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)


def secure_client(sock: zmq.Socket, endpoint: str) -> None:
    """Give a socket about to connect to endpoint this process's client keys (tcp only)."""
    ring = keyring() if endpoint.startswith("tcp://") else None
    if ring is None:
        return
    sock.setsockopt(zmq.CURVE_SERVERKEY, ring.server_public)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, ring.public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, ring.secret)


def _warn_plain() -> None:
    with _state.lock:
        if _state.warned:
            return
        _state.warned = True
    log.warning(PLAIN_WARNING)
