"""The agentmesh wire protocol: the one module that owns frames, codes and limits.

Every request and reply is a two-frame message after ZeroMQ's own routing frames::

    frame 0  HEADER       b"AM" + version byte (b"AM\\x01")
    frame 1  BODY         msgpack map

Request body:  ``{"id": str, "action": str, "payload": any, "source": str, "ts": float}``
Reply body:    ``{"id": str, "ok": True, "result": any}``
               ``{"id": str, "ok": False, "error": {"code": str, "message": str}}``

A DEALER client sends ``[HEADER, BODY]``; a REQ client adds the empty delimiter, which the
ROUTER side keeps and echoes back.  Legacy peers may send one JSON frame
``{"action": "health_check"}`` and get one JSON frame back (``{"status": "ok", ...}``).

Registry change events travel on a PUB socket as ``[TOPIC_REGISTRY, HEADER, BODY]`` with body
``{"seq": int, "op": "register"|"update"|"deregister"|"expire", "instance": {...}}``.

See docs/PROTOCOL.md for the full description.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgpack

__all__ = [
    "ACTION_DEREGISTER",
    "ACTION_HEALTH",
    "ACTION_HEARTBEAT",
    "ACTION_HEARTBEAT_BATCH",
    "ACTION_INFO",
    "ACTION_LEGACY_HEALTH",
    "ACTION_LIST",
    "ACTION_LOOKUP",
    "ACTION_REGISTER",
    "ACTION_SNAPSHOT",
    "HEADER",
    "MAX_MESSAGE_BYTES",
    "METADATA_PROTOCOL",
    "PROTOCOL_LEGACY",
    "PROTOCOL_VERSION",
    "TOPIC_REGISTRY",
    "ErrorCode",
    "Incoming",
    "ProtocolError",
    "Reply",
    "Request",
    "decode_event",
    "decode_incoming",
    "decode_legacy_reply",
    "decode_reply",
    "encode_event",
    "encode_legacy_reply",
    "encode_legacy_request",
    "encode_reply",
    "encode_request",
    "new_request_id",
    "split_route",
]

PROTOCOL_VERSION = 1
HEADER = b"AM" + bytes([PROTOCOL_VERSION])
MAX_MESSAGE_BYTES = 1 << 20  # 1 MiB; set as ZMQ_MAXMSGSIZE on every receiving socket

TOPIC_REGISTRY = b"registry."

ACTION_HEALTH = "health"
ACTION_LEGACY_HEALTH = "health_check"
# A registry record's ``metadata.protocol``: PROTOCOL_LEGACY marks an unmigrated script (the
# launcher registers it), spoken to in one JSON frame each way, ``{"action": ..., ...}``.
METADATA_PROTOCOL = "protocol"
PROTOCOL_LEGACY = "legacy"
ACTION_HEARTBEAT = "heartbeat"
# A launcher's heartbeat for every agent of its host that answered its probes (one request).
ACTION_HEARTBEAT_BATCH = "heartbeat_batch"

# Registry actions (served by service_registry, spoken by common.base_agent.discovery).
ACTION_REGISTER = "register"
ACTION_DEREGISTER = "deregister"
ACTION_LOOKUP = "lookup"
ACTION_LIST = "list"
ACTION_SNAPSHOT = "snapshot"
ACTION_INFO = "info"


class ErrorCode:
    """Error codes that cross the wire as data (``reply.error.code``)."""

    BAD_FRAME = "bad_frame"  # not decodable: wrong frame count, not msgpack, not a map
    BAD_VERSION = "bad_version"  # header names another protocol version
    TOO_LARGE = "too_large"  # body over MAX_MESSAGE_BYTES
    BAD_REQUEST = "bad_request"  # decodable, but fields missing or of the wrong type
    UNKNOWN_ACTION = "unknown_action"
    INTERNAL = "internal"  # the handler raised something unexpected
    CONFLICT = "conflict"  # e.g. a second live claimant of a single-instance name
    NOT_FOUND = "not_found"
    TIMEOUT = "timeout"
    DEADLINE = "deadline"  # the request's own deadline cannot be met (the message says why)
    UNAVAILABLE = "unavailable"  # circuit open, or the service is stopping
    PASSIVE = "passive"  # the passive registry of a pair refuses writes: try the next
    REBINDING = "rebinding"  # not served: the server is rebinding onto its next key; send again


class ProtocolError(Exception):
    """A message that breaks the protocol; ``code`` is one of :class:`ErrorCode`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.route: list[bytes] = []  # set by decode_incoming so the error can be answered


@dataclass(slots=True)
class Request:
    action: str
    payload: Any = None
    id: str = field(default_factory=lambda: new_request_id())
    source: str = ""
    ts: float = 0.0


@dataclass(slots=True)
class Reply:
    id: str
    ok: bool
    result: Any = None
    code: str = ""
    message: str = ""


@dataclass(slots=True)
class Incoming:
    """A decoded request as the ROUTER side sees it.

    ``route`` is everything to send back before the reply frames (identity, and the empty
    delimiter of a REQ peer).  ``legacy`` is True for a single-JSON-frame request.
    """

    route: list[bytes]
    request: Request
    legacy: bool = False


_counter = 0
_prefix = uuid.uuid4().hex[:12]


def new_request_id() -> str:
    """A unique request id: a per-process random prefix and a counter (cheaper than uuid4)."""
    global _counter
    _counter += 1
    return f"{_prefix}-{_counter}"


def _pack(body: dict[str, Any]) -> bytes:
    return msgpack.packb(body, use_bin_type=True)


def encode_request(req: Request) -> list[bytes]:
    body = {"id": req.id, "action": req.action, "payload": req.payload,
            "source": req.source, "ts": req.ts or time.time()}
    return [HEADER, _pack(body)]


def encode_reply(reply: Reply) -> list[bytes]:
    if reply.ok:
        body = {"id": reply.id, "ok": True, "result": reply.result}
    else:
        body = {"id": reply.id, "ok": False,
                "error": {"code": reply.code, "message": reply.message}}
    return [HEADER, _pack(body)]


def encode_legacy_reply(result: dict[str, Any]) -> list[bytes]:
    return [json.dumps(result, default=str).encode()]


def encode_legacy_request(action: str, payload: Any = None) -> list[bytes]:
    """A request to a legacy script (a REP socket: the empty delimiter first), one JSON frame
    ``{"action": action, **payload}``; a payload that is not a map goes as ``payload``."""
    body = {**payload, "action": action} if isinstance(payload, dict) else \
        {"action": action, **({} if payload is None else {"payload": payload})}
    return [b"", json.dumps(body, default=str).encode()]


def decode_legacy_reply(frames: list[bytes]) -> dict[str, Any]:
    """A legacy script's reply: one JSON map (after a REP socket's empty delimiter)."""
    if len(frames[-1]) > MAX_MESSAGE_BYTES:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"reply of {len(frames[-1])} bytes")
    try:
        body = json.loads(frames[-1])
    except (ValueError, RecursionError):
        raise ProtocolError(ErrorCode.BAD_FRAME, "legacy reply is not JSON") from None
    if not isinstance(body, dict):
        raise ProtocolError(ErrorCode.BAD_FRAME, "legacy reply is not a JSON map")
    return body


def _unpack_map(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"body of {len(data)} bytes")
    try:
        body = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise ProtocolError(ErrorCode.BAD_FRAME, f"body is not msgpack ({exc})") from None
    if not isinstance(body, dict):
        raise ProtocolError(ErrorCode.BAD_FRAME, f"body is a {type(body).__name__}, not a map")
    return body


def _check_header(header: bytes) -> None:
    if header == HEADER:
        return
    if len(header) == 3 and header[:2] == b"AM":
        raise ProtocolError(ErrorCode.BAD_VERSION,
                            f"protocol version {header[2]}, this peer speaks {PROTOCOL_VERSION}")
    raise ProtocolError(ErrorCode.BAD_FRAME, f"header frame {header[:8]!r} is not {HEADER!r}")


def split_route(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Split ROUTER frames into (route, message); a REQ peer's empty delimiter stays in route."""
    if len(frames) >= 2 and frames[1] == b"":
        return frames[:2], frames[2:]
    return frames[:1], frames[1:]


def _request_from(body: dict[str, Any]) -> Request:
    action, rid = body.get("action"), body.get("id")
    if not isinstance(action, str) or not action:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "field 'action' must be a non-empty string")
    if not isinstance(rid, str):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "field 'id' must be a string")
    source, ts = body.get("source", ""), body.get("ts", 0.0)
    return Request(action=action, payload=body.get("payload"), id=rid,
                   source=source if isinstance(source, str) else "",
                   ts=ts if isinstance(ts, int | float) else 0.0)


def _legacy_request(frame: bytes) -> Request:
    try:
        body = json.loads(frame)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        raise ProtocolError(ErrorCode.BAD_FRAME, "single frame is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("action"), str):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "legacy request needs a string 'action'")
    rid = body.get("request_id")
    return Request(action=body["action"], payload=body,
                   id=rid if isinstance(rid, str) else "", source="legacy")


def decode_incoming(frames: list[bytes]) -> Incoming:
    """Decode what a ROUTER received.  Raises ProtocolError; ``err.route`` lets it be answered."""
    if len(frames) == 3 and frames[1] == HEADER:  # the common case: a DEALER peer
        try:
            return Incoming(frames[:1], _request_from(_unpack_map(frames[2])))
        except ProtocolError as err:
            err.route = frames[:1]
            raise
    route, msg = split_route(frames)
    try:
        if len(msg) == 1 and msg[0][:1] == b"{":
            return Incoming(route, _legacy_request(msg[0]), legacy=True)
        if len(msg) != 2:
            raise ProtocolError(ErrorCode.BAD_FRAME, f"expected 2 frames, got {len(msg)}")
        _check_header(msg[0])
        return Incoming(route, _request_from(_unpack_map(msg[1])))
    except ProtocolError as err:
        err.route = route
        raise


def decode_reply(frames: list[bytes]) -> Reply:
    """Decode a reply as a DEALER client receives it (no routing frames)."""
    if len(frames) != 2:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"expected 2 reply frames, got {len(frames)}")
    _check_header(frames[0])
    body = _unpack_map(frames[1])
    rid, ok = body.get("id"), body.get("ok")
    if not isinstance(rid, str) or not isinstance(ok, bool):
        raise ProtocolError(ErrorCode.BAD_FRAME, "reply needs string 'id' and bool 'ok'")
    if ok:
        return Reply(id=rid, ok=True, result=body.get("result"))
    error = body.get("error")
    if not isinstance(error, dict):
        error = {}
    return Reply(id=rid, ok=False, code=str(error.get("code", ErrorCode.INTERNAL)),
                 message=str(error.get("message", "")))


def encode_event(topic: bytes, body: dict[str, Any]) -> list[bytes]:
    return [topic, HEADER, _pack(body)]


def decode_event(frames: list[bytes]) -> tuple[bytes, dict[str, Any]]:
    if len(frames) != 3:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"expected 3 event frames, got {len(frames)}")
    _check_header(frames[1])
    return frames[0], _unpack_map(frames[2])
