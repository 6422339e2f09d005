"""Hostile frames for socket-level fuzzing: random, truncated, oversized, wrong-version,
unknown actions, wrong types.  Deterministic for a seed."""

from __future__ import annotations

import random
from collections.abc import Iterator

import msgpack

from common.base_agent import protocol

__all__ = ["hostile_messages"]

KNOWN_ACTIONS = ("register", "deregister", "heartbeat", "lookup", "list", "snapshot", "info",
                 "prefer", "echo", "sleep", "fail", "health", "health_check")


def _junk(rng: random.Random) -> object:
    return rng.choice([None, True, -1, 2**64 - 1, 3.5, "x" * rng.randint(0, 40), [1, "a"],
                       {"k": [None]}, b"\x00\xff", {"seconds": "soon"}, {"name": 7}])


def _valid_body(rng: random.Random, action: str) -> bytes:
    return msgpack.packb({"id": str(rng.random()), "action": action, "payload": _junk(rng)})


def _one(rng: random.Random, oversize: bool) -> list[bytes]:
    kind = rng.randrange(9)
    if kind == 0:
        return [rng.randbytes(rng.randint(0, 200)) for _ in range(rng.randint(1, 4))]
    if kind == 1:
        body = _valid_body(rng, rng.choice(KNOWN_ACTIONS))
        return [protocol.HEADER, body[: rng.randint(0, len(body) - 1)]]
    if kind == 2:
        return [b"AM" + bytes([rng.randint(2, 255)]), _valid_body(rng, "echo")]
    if kind == 3:
        return [protocol.HEADER, msgpack.packb(_junk(rng))]
    if kind == 4:
        return [protocol.HEADER, _valid_body(rng, "no_such_" + str(rng.randint(0, 10**6)))]
    if kind == 5:
        return [protocol.HEADER, _valid_body(rng, rng.choice(KNOWN_ACTIONS[:7]))]
    if kind == 6:
        return [b"{" + rng.randbytes(rng.randint(0, 60))]
    if kind == 7 and oversize:
        return [protocol.HEADER, b"\x00" * (protocol.MAX_MESSAGE_BYTES + 10_000)]
    return [b""] * rng.randint(1, 3)


def hostile_messages(count: int, seed: int = 0,
                     oversize_every: int = 2000) -> Iterator[list[bytes]]:
    rng = random.Random(seed)
    for i in range(count):
        yield _one(rng, oversize=i % oversize_every == 0)
