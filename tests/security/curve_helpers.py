"""Probes for the CURVE tests: does a client with these keys (or none) complete a handshake
with an endpoint, and does it get any message back?"""

from __future__ import annotations

import time
from dataclasses import dataclass

import zmq
from zmq.utils.monitor import recv_monitor_message

from common.base_agent import protocol

HANDSHAKE_EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                    | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)


@dataclass(frozen=True)
class Keys:
    server_public: bytes
    public: bytes
    secret: bytes


@dataclass
class Probe:
    endpoint: str
    sock: zmq.Socket
    monitor: zmq.Socket
    succeeded: bool = False
    failures: int = 0
    messages: int = 0


def open_probe(ctx: zmq.Context, endpoint: str, kind: int, keys: Keys | None) -> Probe:
    """A DEALER (sending a health request) or SUB (subscribed to everything) to endpoint."""
    sock = ctx.socket(kind)
    sock.linger = 0
    if keys is not None:
        sock.curve_serverkey = keys.server_public
        sock.curve_publickey = keys.public
        sock.curve_secretkey = keys.secret
    if kind == zmq.SUB:
        sock.setsockopt(zmq.SUBSCRIBE, b"")
    monitor = sock.get_monitor_socket(HANDSHAKE_EVENTS)
    sock.connect(endpoint)
    if kind == zmq.DEALER:
        request = protocol.Request(protocol.ACTION_HEALTH, None, source="probe")
        try:  # queued until a handshake completes; refused before one, if none can
            sock.send_multipart(protocol.encode_request(request), zmq.NOBLOCK)
        except zmq.Again:
            pass
    return Probe(endpoint, sock, monitor)


def run_probes(probes: list[Probe], until_s: float, stop_when_all_succeeded: bool) -> None:
    """Collect handshake events and messages on every probe for up to until_s."""
    poller = zmq.Poller()
    for p in probes:
        poller.register(p.monitor, zmq.POLLIN)
        poller.register(p.sock, zmq.POLLIN)
    deadline = time.monotonic() + until_s
    while time.monotonic() < deadline:
        ready = dict(poller.poll(50))
        for p in probes:
            if p.monitor in ready:
                event = recv_monitor_message(p.monitor)["event"]
                p.succeeded |= event == zmq.EVENT_HANDSHAKE_SUCCEEDED
                p.failures += event != zmq.EVENT_HANDSHAKE_SUCCEEDED
            if p.sock in ready:
                p.sock.recv_multipart()
                p.messages += 1
        if stop_when_all_succeeded and all(p.succeeded for p in probes):
            return


def close_probes(probes: list[Probe]) -> None:
    for p in probes:
        p.sock.disable_monitor()
        p.monitor.close(linger=0)
        p.sock.close(linger=0)
