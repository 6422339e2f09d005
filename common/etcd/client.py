"""etcd v3 through its HTTP/JSON gateway (``/v3/kv/range``, ``/v3/lease/grant``, ...).

Why not a PyPI client: ``etcd3`` fails to import with protobuf >= 4, ``aetcd`` needs grpcio and
an asyncio loop inside every agent, and ``etcd3gw`` adds ``requests`` and threads of its own for
what is a dozen JSON POSTs (the measurements are in docs/SCALING.md and
benchmarks/results/etcd_clients.json).  This client keeps one keep-alive HTTP connection per
thread, a timeout on every call, and fails over along the configured endpoints; when none
answers it raises :class:`EtcdUnavailable`.  Keys and values are ``str`` (UTF-8); the gateway's
base64 stays in here.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from common.base_agent.errors import MeshError
from common.base_agent.protocol import ErrorCode

__all__ = ["EtcdClient", "EtcdUnavailable", "KeyValue", "b64", "compare", "delete_op", "prefix_end",
           "put_op", "unb64"]

log = logging.getLogger(__name__)

TIMEOUT_S = 1.0


class EtcdUnavailable(MeshError):
    """No etcd endpoint answered (or none has a quorum): the registry is unavailable."""

    code = ErrorCode.UNAVAILABLE


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str
    create_revision: int
    mod_revision: int
    lease: int

    @classmethod
    def from_json(cls, kv: dict[str, Any]) -> KeyValue:
        return cls(unb64(kv["key"]), unb64(kv.get("value", "")),
                   int(kv.get("create_revision", 0)), int(kv.get("mod_revision", 0)),
                   int(kv.get("lease", 0)))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text).decode()


def prefix_end(prefix: str) -> str:
    """The range end that covers every key starting with prefix (etcd's WithPrefix)."""
    raw = prefix.encode()
    return base64.b64encode(raw[:-1] + bytes([raw[-1] + 1])).decode()


class EtcdClient:
    def __init__(self, endpoints: Sequence[str], timeout_s: float = TIMEOUT_S) -> None:
        if not endpoints:
            raise ValueError("EtcdClient needs at least one endpoint")
        self.endpoints = list(endpoints)
        self.timeout_s = timeout_s
        self.current = 0  # index of the endpoint that answered last
        self._local = threading.local()

    def post(self, path: str, body: dict[str, Any], timeout_s: float | None = None
             ) -> dict[str, Any]:
        """POST body to path on the current endpoint, then each other one; raises
        EtcdUnavailable naming every failure when none answers."""
        errors = []
        start = self.current
        for i in range(len(self.endpoints)):
            index = (start + i) % len(self.endpoints)
            for _ in range(2 if self._has_conn(index) else 1):  # a stale keep-alive: once more
                try:
                    reply = self._post_to(index, path, body, timeout_s or self.timeout_s)
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    self._drop(index)
                    errors.append(f"{self.endpoints[index]}: {exc or type(exc).__name__}")
                    if isinstance(exc, TimeoutError):
                        break
                    continue
                self.current = index
                return reply
        raise EtcdUnavailable(f"etcd unavailable ({'; '.join(errors)})")

    def _post_to(self, index: int, path: str, body: dict[str, Any], timeout_s: float
                 ) -> dict[str, Any]:
        conn = self._conn(index)
        conn.timeout = timeout_s
        if conn.sock is not None:
            conn.sock.settimeout(timeout_s)
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = json.loads(response.read() or b"{}")
        if response.status != 200:
            message = data.get("error") or data.get("message") or response.reason
            if response.status == 503 or "leader" in str(message) or "timed out" in str(message):
                raise OSError(f"HTTP {response.status}: {message}")  # try another member
            raise MeshError(f"etcd {path}: {message}", ErrorCode.BAD_REQUEST)
        return data

    def _conn(self, index: int) -> http.client.HTTPConnection:
        conns = self._local.__dict__.setdefault("conns", {})
        conn = conns.get(index)
        if conn is None:
            url = urlsplit(self.endpoints[index])
            conn = http.client.HTTPConnection(url.hostname or "", url.port or 2379,
                                              timeout=self.timeout_s)
            conns[index] = conn
        return conn

    def _has_conn(self, index: int) -> bool:
        return index in self._local.__dict__.get("conns", {})

    def _drop(self, index: int) -> None:
        conn = self._local.__dict__.get("conns", {}).pop(index, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close this thread's connections."""
        for index in list(self._local.__dict__.get("conns", {})):
            self._drop(index)

    # -- kv ------------------------------------------------------------------------------------
    def get(self, key: str) -> KeyValue | None:
        kvs = self.post("/v3/kv/range", {"key": b64(key)}).get("kvs", [])
        return KeyValue.from_json(kvs[0]) if kvs else None

    def get_prefix(self, prefix: str) -> tuple[int, list[KeyValue]]:
        """Every key under prefix and the store's revision they were read at."""
        reply = self.post("/v3/kv/range", {"key": b64(prefix), "range_end": prefix_end(prefix)})
        return (int(reply["header"]["revision"]),
                [KeyValue.from_json(kv) for kv in reply.get("kvs", [])])

    def put(self, key: str, value: str, lease: int = 0) -> int:
        reply = self.post("/v3/kv/put", {"key": b64(key), "value": b64(value), "lease": lease})
        return int(reply["header"]["revision"])

    def delete(self, key: str) -> int:
        """Delete key; the number of keys deleted."""
        return int(self.post("/v3/kv/deleterange", {"key": b64(key)}).get("deleted", 0))

    def delete_revision(self, key: str) -> int:
        """Delete key; the store's revision after it."""
        reply = self.post("/v3/kv/deleterange", {"key": b64(key)})
        return int(reply["header"]["revision"])

    def txn(self, compare: list[dict[str, Any]], success: list[dict[str, Any]],
            failure: list[dict[str, Any]] | None = None) -> tuple[bool, dict[str, Any]]:
        reply = self.post("/v3/kv/txn", {"compare": compare, "success": success,
                                         "failure": failure or []})
        return bool(reply.get("succeeded", False)), reply

    # -- leases --------------------------------------------------------------------------------
    def grant(self, ttl_s: int) -> int:
        return int(self.post("/v3/lease/grant", {"TTL": ttl_s})["ID"])

    def keepalive(self, lease: int) -> int:
        """Refresh lease; its TTL now, 0 when it is gone (expired or revoked)."""
        result = self.post("/v3/lease/keepalive", {"ID": lease}).get("result", {})
        return int(result.get("TTL", 0))

    def revoke(self, lease: int) -> None:
        try:
            self.post("/v3/lease/revoke", {"ID": lease})
        except MeshError as exc:  # already gone
            log.debug("revoke %d: %s", lease, exc)

    def lease_ttl(self, lease: int) -> tuple[int, int]:
        """(TTL left, TTL granted) of lease; TTL left is -1 when it is gone."""
        reply = self.post("/v3/lease/timetolive", {"ID": lease})
        return int(reply.get("TTL", -1)), int(reply.get("grantedTTL", 0))

    def healthy(self, key: str = "health") -> bool:
        """A linearizable read succeeds: some member with a quorum answers."""
        try:
            self.post("/v3/kv/range", {"key": b64(key), "limit": 1})
        except MeshError:
            return False
        return True


def put_op(key: str, value: str, lease: int = 0, keep_lease: bool = False) -> dict[str, Any]:
    """A txn put; keep_lease leaves the key bound to the lease it has."""
    if keep_lease:
        return {"request_put": {"key": b64(key), "value": b64(value), "ignore_lease": True}}
    return {"request_put": {"key": b64(key), "value": b64(value), "lease": lease}}


def delete_op(key: str) -> dict[str, Any]:
    return {"request_delete_range": {"key": b64(key)}}


def compare(key: str, target: str, result: str, value: Any, *, prefix: bool = False
            ) -> dict[str, Any]:
    """One txn condition: target is VERSION, CREATE, MOD, VALUE or LEASE; result EQUAL, LESS,
    GREATER or NOT_EQUAL; prefix applies it to every key under key."""
    field = {"VERSION": "version", "CREATE": "create_revision", "MOD": "mod_revision",
             "VALUE": "value", "LEASE": "lease"}[target]
    cond = {"key": b64(key), "target": target, "result": result,
            field: b64(value) if target == "VALUE" else value}
    if prefix:
        cond["range_end"] = prefix_end(key)
    return cond
