"""Hostile input for socket-level fuzzing, deterministic for a seed.

* :func:`hostile_messages`: request frames for a ROUTER (random, truncated, oversized,
  wrong-version, unknown actions, wrong types, batches, and well-formed requests whose payloads
  carry plausible field names with random values, so handlers' own checks are exercised).
* :func:`hostile_events`: what a hostile publisher sends a SUB socket (its subscribed topic
  first, so the message gets past the filter): garbage, registry-event look-alikes, stream
  look-alikes.
* :func:`hostile_subscriptions`: what a hostile subscriber sends a PUB socket (subscribe,
  unsubscribe, and messages that are neither).
* :func:`raw_stream_payloads`: bytes for a raw TCP or ipc connection: not ZMTP at all,
  truncated greetings, greetings with a wrong version or mechanism, absurd frame lengths.

:mod:`common.testing.fuzz_sockets` sends them.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import msgpack

from common.base_agent import protocol
from common.base_agent.batch import BATCH_HEADER, MAX_BATCH

__all__ = ["KNOWN_ACTIONS", "hostile_events", "hostile_messages", "hostile_subscriptions",
           "oversized_messages", "raw_stream_payloads"]

KNOWN_ACTIONS = ("register", "deregister", "heartbeat", "lookup", "list", "snapshot", "info",
                 "prefer", "echo", "sleep", "fail", "health", "health_check")

# ZMTP 3 greeting: signature (10 bytes), version (2), mechanism (20), as-server (1), filler (31)
_SIGNATURE = b"\xff" + b"\x00" * 8 + b"\x7f"
_GREETING = _SIGNATURE + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31


def _junk(rng: random.Random) -> object:
    return rng.choice([None, True, -1, 2**64 - 1, 3.5, "x" * rng.randint(0, 40), [1, "a"],
                       {"k": [None]}, b"\x00\xff", {"seconds": "soon"}, {"name": 7}])


def _name(rng: random.Random) -> str:
    return rng.choice(["", "é\u202e\x00", "x" * rng.randint(1, 300), f"n{rng.randrange(10**6)}"])


def _number(rng: random.Random) -> object:
    return rng.choice([0, -1, 1e308, float("nan"), rng.randint(-2**63, 2**63 - 1),
                       rng.random() * 100])


# Field names the mesh's handlers read, with a value of the type they expect.  Deliberately
# absent: EchoAgent's ``seconds`` (sleep) and ``lines`` (log), which would only make it slow.
_FIELDS: dict[str, Callable[[random.Random], object]] = {
    "name": _name, "instance_id": _name, "agent": _name, "model": _name, "lease_id": _name,
    "fingerprint": _name, "capability": _name, "host": _name, "version": _name,
    "endpoint": lambda r: f"tcp://192.0.2.{r.randint(1, 254)}:{r.randint(1, 65535)}",
    "seq": _number, "pid": _number, "priority": _number, "used_bytes": _number,
    "vram_mb": _number, "heartbeat_interval_s": _number, "duration_s": _number,
    "health": lambda r: {"status": r.choice(["passing", "warning", "critical", "?"])},
    "event": lambda r: r.choice(["started", "exited", "crashed", "bogus"]),
    "state": lambda r: r.choice(["active", "passive", "bogus"]),
    "hosts": lambda r: r.sample(["main_pc", "pc2", "nope"], r.randint(0, 3)),
    "items": lambda r: [{"kind": "report", "body": {"agent": _name(r)}}, 7],
    "multi": lambda r: r.random() < 0.5, "pinned": lambda r: r.random() < 0.5,
    "wait": lambda r: False, "failover": lambda r: r.random() < 0.5,
    "metadata": lambda r: {"k": _junk(r)}, "holder": lambda r: {"name": _name(r)},
    "capabilities": lambda r: [_name(r)], "endpoints": lambda r: [_name(r)],
}
_FIELD_NAMES = tuple(_FIELDS)


def _payload(rng: random.Random) -> object:
    if rng.random() < 0.5:
        return _junk(rng)
    keys = rng.sample(_FIELD_NAMES, rng.randint(1, 8))
    return {k: _FIELDS[k](rng) if rng.random() < 0.8 else _junk(rng) for k in keys}


def _valid_body(rng: random.Random, action: str) -> bytes:
    body = {"id": str(rng.random()), "action": action, "payload": _payload(rng)}
    return msgpack.packb(body, default=repr)


def _batch(rng: random.Random, actions: Sequence[str]) -> list[bytes]:
    """A batch (Client.pipeline's message): well-formed calls, or a mix with broken ones.
    Batches over 64 calls name no real action: they test the decoder and dispatcher at the
    limit, not the cost of a thousand handler runs (see docs/PROTOCOL.md, "Bounded queues")."""
    big = rng.random() < 0.02  # a full batch costs a thousand dispatches: now and then
    count = rng.choice([MAX_BATCH, MAX_BATCH + 1] if big else [0, 1, 5, 64])
    actions = actions if count <= 64 else ("no_such_action",)
    if rng.random() < 0.5:
        calls: list[object] = [[str(i), rng.choice(actions), _payload(rng)] for i in range(count)]
    else:
        calls = [rng.choice([[str(i), rng.choice(actions), None], [i], "x", [str(i), "", None]])
                 for i in range(count)]
    body = msgpack.packb(rng.choice([{"calls": calls}, calls, {"calls": 5}]), default=repr)
    return [BATCH_HEADER, body if rng.random() < 0.8 else body[: rng.randint(0, len(body))]]


def _one(rng: random.Random, oversize: bool, actions: Sequence[str]) -> list[bytes]:
    kind = rng.randrange(10)
    if kind == 9:
        return _batch(rng, actions)
    if kind == 0:
        return [rng.randbytes(rng.randint(0, 200)) for _ in range(rng.randint(1, 4))]
    if kind == 1:
        body = _valid_body(rng, rng.choice(actions))
        return [protocol.HEADER, body[: rng.randint(0, len(body) - 1)]]
    if kind == 2:
        return [b"AM" + bytes([rng.randint(2, 255)]), _valid_body(rng, "echo")]
    if kind == 3:
        return [protocol.HEADER, msgpack.packb(_junk(rng))]
    if kind == 4:
        return [protocol.HEADER, _valid_body(rng, "no_such_" + str(rng.randint(0, 10**6)))]
    if kind == 5:
        return [protocol.HEADER, _valid_body(rng, rng.choice(actions))]
    if kind == 6:  # legacy single JSON frames: garbage, or nested past the parser's depth
        return [rng.choice([b"{" + rng.randbytes(rng.randint(0, 60)),
                            b'{"a": ' + b"[" * rng.randint(1000, 20_000)])]
    if kind == 7 and oversize:
        return [protocol.HEADER, b"\x00" * (protocol.MAX_MESSAGE_BYTES + 10_000)]
    return [b""] * rng.randint(1, 3)


def hostile_messages(count: int, seed: int = 0, oversize_every: int = 2000,
                     actions: Sequence[str] = KNOWN_ACTIONS) -> Iterator[list[bytes]]:
    """count request messages for a ROUTER; well-formed ones name one of ``actions``.  Every
    ``oversize_every``-th may be one over ZMQ_MAXMSGSIZE, which makes the target hang up
    (0: never; :func:`oversized_messages` sends only those)."""
    rng = random.Random(seed)
    for i in range(count):
        yield _one(rng, oversize=oversize_every > 0 and i % oversize_every == 0,
                   actions=actions)


def oversized_messages(count: int) -> Iterator[list[bytes]]:
    """Bodies just over MAX_MESSAGE_BYTES (answered ``too_large``) and over ZMQ_MAXMSGSIZE
    (the target's libzmq hangs up on the sender), alternately."""
    for i in range(count):
        size = protocol.MAX_MESSAGE_BYTES + (100 if i % 2 else 10_000)
        yield [protocol.HEADER, b"\x00" * size]


def _event_body(rng: random.Random, seq_base: int) -> dict[str, Any]:
    seq = seq_base + rng.randint(1, 3)  # the next genuine numbers: applied, not old news
    return {"seq": rng.choice([_junk(rng), seq, seq, rng.randint(0, 2**40)]),
            "op": rng.choice(["register", "update", "deregister", "expire", "tick", 3]),
            "instance": rng.choice([_junk(rng), _payload(rng), [1],
                                    {"instance_id": _name(rng), "name": _name(rng)}])}


def _event(rng: random.Random, topic: bytes, seq_base: int) -> list[bytes]:
    kind = rng.randrange(6)
    if kind == 0:
        return [topic, *(rng.randbytes(rng.randint(0, 100)) for _ in range(rng.randint(0, 3)))]
    if kind == 1:
        return [topic, protocol.HEADER, msgpack.packb(_event_body(rng, seq_base), default=repr)]
    if kind == 2:
        return [topic, b"AM\x09", msgpack.packb(_event_body(rng, seq_base), default=repr)]
    if kind == 3:
        header = rng.choice([json.dumps(_payload(rng), default=repr), "[1]", "{", "\xff"])
        return [topic, header.encode(), rng.randbytes(rng.randint(0, 99))]
    if kind == 4:
        return [topic + rng.randbytes(rng.randint(1, 20)), b"{}", b"\x01"]
    return [topic, json.dumps({"seq": rng.randint(0, 9), "t_s": "x"}).encode(), b"\x00" * 3]


def hostile_events(count: int, topic: bytes, seed: int = 0,
                   seq_base: int = 0) -> Iterator[list[bytes]]:
    """count messages a hostile publisher sends a SUB subscribed to ``topic``; registry-event
    look-alikes carry sequence numbers just above ``seq_base`` (the genuine publisher's,
    which a hostile one relaying it knows)."""
    rng = random.Random(seed)
    for _ in range(count):
        yield _event(rng, topic, seq_base)


def hostile_subscriptions(count: int, seed: int = 0) -> Iterator[bytes]:
    """count single-frame messages a hostile subscriber (an XSUB) sends a PUB."""
    rng = random.Random(seed)
    for _ in range(count):
        topic = rng.randbytes(rng.randint(0, 64))
        yield rng.choice([b"\x01" + topic, b"\x00" + topic, b"\x02" + topic, b""])


def raw_stream_payloads(count: int, seed: int = 0) -> Iterator[bytes]:
    """count byte strings for raw connections to a ZMTP port (one connection each)."""
    rng = random.Random(seed)
    for _ in range(count):
        kind = rng.randrange(6)
        if kind == 0:
            yield rng.randbytes(rng.randint(1, 2048))
        elif kind == 1:
            yield b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        elif kind == 2:
            yield _GREETING[: rng.randint(1, len(_GREETING) - 1)]
        elif kind == 3:
            yield _SIGNATURE + bytes([rng.choice([1, 2, 4, 255]), 0]) + rng.randbytes(52)
        elif kind == 4:
            mechanism = rng.choice([b"CURVE", b"PLAIN", b"GSSAPI", b"\xff" * 20])
            yield _SIGNATURE + b"\x03\x00" + mechanism.ljust(20, b"\x00")[:20] + b"\x00" * 32
        else:  # a greeting, then a long frame claiming 2**62 bytes
            yield _GREETING + b"\x06" + struct.pack(">Q", 2**62) + rng.randbytes(100)
