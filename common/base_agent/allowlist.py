"""The allow-list as one signed, versioned document, and a process's view of it.

    {"version": 7,
     "clients": {"TTSService": ["<z85 public key>"], "operator": [...], ...},
     "hosts": {"main_pc": ["<z85 server public key>"], "pc2": [...]},
     "signature": "<hex Ed25519 signature of the rest, canonical JSON>"}

Signed with the operator's Ed25519 key (PyNaCl): a host accepts a list only with a valid
signature by the verify key it was given (``operator.sign``) and a higher version than the one
it holds, so a host that was broken into can neither forge a list nor replay an older one.
CURVE keys cannot sign (they are X25519 keys for key agreement), hence a separate key pair.
``clients`` may hold two keys for an identity while it rotates; ``hosts`` gives the server key
every client expects of a host: the first is the one the host serves; a second, while the
host's key rotates, is accepted too (keystore.KeyStore.rotate_host).

:class:`AllowListView` is what agents read: the file, re-read when it changes (at most every
``REFRESH_S``, a ``stat``), so ``allows(key)`` is a set lookup on the message path.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.signing

__all__ = ["REFRESH_S", "AllowList", "AllowListView", "Signer", "load_verify_key"]

log = logging.getLogger(__name__)

REFRESH_S = 0.2  # a changed list file is seen this soon by every agent of the host


@dataclass(frozen=True)
class AllowList:
    version: int
    clients: dict[str, list[str]]
    hosts: dict[str, list[str]]
    signature: str = ""

    def body(self) -> bytes:
        return json.dumps({"version": self.version, "clients": self.clients,
                           "hosts": self.hosts}, sort_keys=True,
                          separators=(",", ":")).encode()

    def to_bytes(self) -> bytes:
        doc = {"version": self.version, "clients": self.clients, "hosts": self.hosts,
               "signature": self.signature}
        return json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes, verify: nacl.signing.VerifyKey) -> AllowList:
        """Parse and check the signature; ValueError says what is wrong."""
        try:
            doc = json.loads(data)
            made = cls(int(doc["version"]), _keys(doc["clients"]), _keys(doc["hosts"]),
                       str(doc.get("signature", "")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not an allow-list document ({exc})") from None
        if not made.signature:
            raise ValueError(f"version {made.version} is unsigned; refused")
        try:
            verify.verify(made.body(), bytes.fromhex(made.signature))
        except (nacl.exceptions.BadSignatureError, ValueError):
            raise ValueError(f"version {made.version}: signature does not match the "
                             f"operator's key; refused") from None
        return made

    def newer_than(self, other: AllowList) -> bool:
        """Higher version wins; two lists signed with one version (two operators at once)
        are ordered by signature, so every host keeps the same one."""
        return (self.version, self.signature) > (other.version, other.signature)

    def client_keys(self) -> dict[str, str]:
        """Allowed public key -> identity."""
        return {key: name for name, keys in self.clients.items() for key in keys}


def _keys(section: object) -> dict[str, list[str]]:
    if not isinstance(section, dict):
        raise TypeError("clients and hosts must be maps of name to keys")
    out = {}
    for name, keys in section.items():
        if not isinstance(keys, list) or not all(isinstance(k, str) and len(k) == 40
                                                 for k in keys):
            raise ValueError(f"{name}: keys must be a list of 40-character z85 keys")
        out[str(name)] = list(keys)
    return out


def load_verify_key(path: Path) -> nacl.signing.VerifyKey:
    try:
        return nacl.signing.VerifyKey(bytes.fromhex(path.read_text().split()[-1]))
    except FileNotFoundError:
        raise ValueError(f"{path}: no operator verify key (run `mesh keys init`, or copy "
                         f"this host's `mesh keys bundle`)") from None
    except (ValueError, IndexError, TypeError) as exc:
        raise ValueError(f"{path}: not an Ed25519 verify key ({exc})") from None


class Signer:
    def __init__(self, key: nacl.signing.SigningKey) -> None:
        self.key = key

    @classmethod
    def generate(cls) -> Signer:
        return cls(nacl.signing.SigningKey.generate())

    def files(self) -> tuple[bytes, bytes]:
        """The texts of the signing key file (secret) and the verify key file (public)."""
        return (f"# agentmesh operator signing key: keep it private\n"
                f"{self.key.encode().hex()}\n".encode(),
                f"# agentmesh operator verify key: every host has it\n"
                f"{self.key.verify_key.encode().hex()}\n".encode())

    @classmethod
    def load(cls, path: Path) -> Signer:
        return cls(nacl.signing.SigningKey(bytes.fromhex(path.read_text().split()[-1])))

    def sign(self, doc: AllowList) -> AllowList:
        signature = self.key.sign(doc.body()).signature.hex()
        return AllowList(doc.version, doc.clients, doc.hosts, signature)


class AllowListView:
    """The host's list file as this process last read it: refreshed when its mtime changes,
    checked at most every REFRESH_S.  An unreadable, unsigned, badly signed or older file is
    logged and ignored (the last good list stays); with no good list at all, nobody is
    allowed (fail closed)."""

    def __init__(self, path: Path, verify_path: Path) -> None:
        self.path, self.verify_path = path, verify_path
        self.current: AllowList | None = None
        self.keys: dict[str, str] = {}  # allowed client key -> identity
        self._stamp: tuple[int, int] | None = None
        self._next_check = 0.0
        self._lock = threading.Lock()
        self.refresh(force=True)

    def allows(self, key: str) -> bool:
        """The per-message check: key (z85, the ZAP User-Id) is on the current list."""
        if time.monotonic() >= self._next_check:
            self.refresh()
        return key in self.keys

    def name_of(self, key: str) -> str | None:
        return self.keys.get(key) if self.allows(key) else None

    def latest(self) -> AllowList | None:
        """The current list, re-read first if REFRESH_S has passed."""
        if time.monotonic() >= self._next_check:
            self.refresh()
        return self.current

    def server_key(self, host: str) -> str | None:
        keys = self.server_keys(host)
        return keys[0] if keys else None

    def server_keys(self, host: str) -> list[str]:
        """host's server keys: the one it serves first, then the other while it rotates."""
        current = self.latest()
        return list(current.hosts.get(host) or ()) if current is not None else []

    def refresh(self, force: bool = False) -> None:
        with self._lock:
            self._next_check = time.monotonic() + REFRESH_S
            try:
                st = os.stat(self.path)
            except OSError as exc:
                if self.current is None and force:
                    log.error("allow-list %s unreadable, refusing every client: %s",
                              self.path, exc)
                return
            stamp = (st.st_mtime_ns, st.st_ino)
            if stamp == self._stamp and not force:
                return
            self._stamp = stamp
            try:
                fresh = AllowList.from_bytes(self.path.read_bytes(),
                                             load_verify_key(self.verify_path))
            except (OSError, ValueError) as exc:
                log.error("allow-list %s ignored: %s", self.path, exc)
                return
            if self.current is not None and not fresh.newer_than(self.current):
                if fresh.version < self.current.version:
                    log.error("allow-list %s ignored: version %d is older than %d",
                              self.path, fresh.version, self.current.version)
                return
            self.current, self.keys = fresh, fresh.client_keys()
