"""Batches: many calls to one agent in one message, for pipelined work.

A batch is ``[BATCH_HEADER, msgpack body]`` with body ``{"source": str, "ts": float,
"calls": [[id, action, payload], ...]}`` (at most ``MAX_BATCH`` calls, and within the message
size limit).  The agent runs every call through the same dispatch, metrics and error codes as a
single request, in order, and answers ``[BATCH_HEADER, msgpack [[id, true, result] |
[id, false, code, message], ...]]`` - one entry per call, so each call still succeeds or fails on
its own.  What a batch saves is the per-message cost (ZeroMQ frames, syscalls, wake-ups),
which on this machine is most of a small call's cost.  See docs/PROTOCOL.md.
"""

from __future__ import annotations

import time
from typing import Any

import msgpack

from common.base_agent.protocol import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    ErrorCode,
    ProtocolError,
    Reply,
    Request,
)

__all__ = ["BATCH_HEADER", "MAX_BATCH", "decode_batch", "decode_batch_replies",
           "encode_batch", "encode_batch_replies"]

BATCH_HEADER = b"AM" + bytes([PROTOCOL_VERSION]) + b"B"
MAX_BATCH = 1024


def encode_batch(requests: list[Request], source: str) -> list[bytes]:
    calls = [[r.id, r.action, r.payload] for r in requests]
    body = {"source": source, "ts": time.time(), "calls": calls}
    return [BATCH_HEADER, msgpack.packb(body, use_bin_type=True)]


def _unpack(data: bytes) -> Any:
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"batch of {len(data)} bytes")
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise ProtocolError(ErrorCode.BAD_FRAME, f"batch is not msgpack ({exc})") from None


def decode_batch(data: bytes) -> list[Request]:
    """The calls of a batch body; ProtocolError names what is wrong with it."""
    body = _unpack(data)
    calls = body.get("calls") if isinstance(body, dict) else None
    if not isinstance(calls, list) or not 0 < len(calls) <= MAX_BATCH:
        raise ProtocolError(ErrorCode.BAD_REQUEST,
                            f"a batch needs 'calls': a list of 1 to {MAX_BATCH} calls")
    source, ts = body.get("source"), body.get("ts")
    source = source if isinstance(source, str) else ""
    ts = ts if isinstance(ts, int | float) else 0.0
    out = []
    for i, call in enumerate(calls):
        if not (isinstance(call, list) and len(call) == 3 and isinstance(call[0], str)
                and isinstance(call[1], str) and call[1]):
            raise ProtocolError(ErrorCode.BAD_REQUEST,
                                f"batch call {i} is not [id, action, payload]")
        out.append(Request(call[1], call[2], call[0], source, ts))
    return out


def encode_batch_replies(replies: list[Reply]) -> list[bytes]:
    rows = [[r.id, True, r.result] if r.ok else [r.id, False, r.code, r.message]
            for r in replies]
    return [BATCH_HEADER, msgpack.packb(rows, use_bin_type=True)]


def decode_batch_replies(data: bytes) -> list[Reply]:
    rows = _unpack(data)
    if not isinstance(rows, list):
        raise ProtocolError(ErrorCode.BAD_FRAME, "batch reply is not a list")
    out = []
    for row in rows:
        if not (isinstance(row, list) and len(row) >= 3 and isinstance(row[0], str)):
            raise ProtocolError(ErrorCode.BAD_FRAME, "batch reply entry is not [id, ok, ...]")
        if row[1] is True:
            out.append(Reply(row[0], True, result=row[2]))
        else:
            out.append(Reply(row[0], False, code=str(row[2]),
                             message=str(row[3]) if len(row) > 3 else ""))
    return out
