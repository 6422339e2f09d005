"""The signed allow-list, carried from launcher to launcher.

Every launcher (``security: curve``) offers its host's list to each other host's launcher
every ``interval_s``, from a thread of its own (a peer that is away costs that thread a
timeout, never the launcher's loop).  The ``allowlist_sync`` action of the peer installs the
offer if it is newer and signed by the operator's key, and answers with its own list, which the
caller installs in turn if that one is newer.  So `mesh keys revoke` on one host (it signs a
new version into that host's keys folder) reaches every other host within about one interval,
a host that was away catches up at its first exchange after it returns, and an unsigned,
forged or older list is refused on both sides.  The agents of a host see the new file within
``allowlist.REFRESH_S``.

A host's server key rotation (common.cli.keys_rotate) asks the host's launcher for its next
key: ``server_key_next`` makes the pair in the host's own keys folder and answers the public
key only.  A list that then gives only that key (the rotation finished) makes the pair the
host's own as soon as the launcher installs it (``KeyStore.settle_host``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from common.base_agent.allowlist import AllowList, load_verify_key
from common.base_agent.client import Client
from common.base_agent.errors import BadRequest, MeshError
from common.base_agent.handlers import handler
from common.base_agent.keystore import KeyStore, KeyStoreError

__all__ = ["ACTION_ALLOWLIST_SYNC", "ACTION_SERVER_KEY_NEXT", "AllowListControl", "AllowListSync"]

log = logging.getLogger(__name__)

ACTION_ALLOWLIST_SYNC = "allowlist_sync"
ACTION_SERVER_KEY_NEXT = "server_key_next"  # {} -> {public}: this host's next server key
INTERVAL_S = 0.5
CALL_TIMEOUT_S = 1.0


class AllowListSync:
    def __init__(self, store: KeyStore, host: str, peers: dict[str, str],
                 interval_s: float = INTERVAL_S) -> None:
        self.store = store
        self.host = host
        self.peers = dict(peers)  # host -> launcher endpoint
        self.interval_s = interval_s
        self.installed = 0  # lists taken from other hosts
        self.refused = 0  # offers refused (unsigned, forged, unparsable)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # the loop's handler and the thread both install

    def start(self) -> None:
        if not self.peers:
            return
        self._thread = threading.Thread(target=self._run, name="allowlist-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(CALL_TIMEOUT_S * len(self.peers) + 1)

    def offer(self, data: Any, source: str) -> dict[str, Any]:
        """A peer's list (bytes of the signed document, or None): install it if newer;
        answer with ours."""
        if isinstance(data, bytes):
            self.take(data, source)
        try:
            ours = self.store.list_path.read_bytes()
        except OSError:
            ours = None
        return {"list": ours}

    def take(self, data: bytes, source: str) -> bool:
        try:
            offered = AllowList.from_bytes(data, load_verify_key(self.store.verify_path))
        except ValueError as exc:
            self.refused += 1
            log.error("allow-list from %s refused: %s", source, exc)
            return False
        with self._lock:
            try:
                fresh = self.store.install(offered)
                if fresh and self.store.settle_host(self.host):
                    log.info("%s: the next server key pair is now its own", self.host)
            except (OSError, KeyStoreError) as exc:
                log.error("allow-list version %d from %s not written: %s", offered.version,
                          source, exc)
                return False
        if fresh:
            self.installed += 1
            log.info("allow-list version %d from %s installed", offered.version, source)
        return fresh

    def _run(self) -> None:
        with Client(source="launcher", breaker_threshold=2**31) as client:
            while not self._stop.wait(self.interval_s):
                for host, endpoint in sorted(self.peers.items()):
                    self._exchange(client, host, endpoint)

    def _exchange(self, client: Client, host: str, endpoint: str) -> None:
        try:
            ours = self.store.list_path.read_bytes()
        except OSError:
            ours = None
        try:
            reply = client.call_endpoint(endpoint, ACTION_ALLOWLIST_SYNC, {"list": ours},
                                         timeout_s=CALL_TIMEOUT_S, retries=0,
                                         peer=f"launcher {host}")
        except MeshError:
            return  # away: the next round tries again
        theirs = reply.get("list") if isinstance(reply, dict) else None
        if isinstance(theirs, bytes) and theirs != ours:
            self.take(theirs, f"launcher {host}")


class AllowListControl:
    """The launcher's ``allowlist_sync {list}`` and ``server_key_next`` actions (a mixin;
    plain mode: None)."""

    allowlist_sync: AllowListSync | None = None

    @handler(ACTION_ALLOWLIST_SYNC)
    def on_allowlist_sync(self, payload: Any = None) -> dict[str, Any]:
        """Request ``allowlist_sync {list: bytes | None}``; reply ``{list: bytes | None}``:
        the offer is installed if signed and newer, the answer is this host's list."""
        if self.allowlist_sync is None:
            return {"list": None}
        offered = payload.get("list") if isinstance(payload, dict) else None
        return self.allowlist_sync.offer(offered, "a peer launcher")

    @handler(ACTION_SERVER_KEY_NEXT)
    def on_server_key_next(self, payload: Any = None) -> dict[str, str]:
        """Request ``server_key_next {}``; reply ``{public}``: this host's next server key,
        its pair made here (once) for ``mesh keys rotate --host``; the secret stays here."""
        if self.allowlist_sync is None:
            raise BadRequest("this mesh runs without curve: no server key to rotate")
        sync = self.allowlist_sync
        try:
            return {"public": sync.store.make_next_pair(sync.host)}
        except (OSError, KeyStoreError) as exc:
            raise MeshError(f"{sync.host}: no next server key pair made: {exc}") from None
