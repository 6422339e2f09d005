"""PUB/SUB streams: a generated-signal source and stages that subscribe, transform, publish.

Messages are three frames: topic, a JSON header, raw bytes (may be empty).  Every streaming
agent answers ``stream_info`` with its PUB endpoint; a stage subscribes to its ``upstream``'s
``topics`` as soon as the upstream answers (a declared dependency, retried on a timer).
SignalSource (AudioCapture) publishes 16 kHz int16 frames of a synthetic utterance pattern:
tone bursts ("speech") over low noise, at ``frame_rate_hz`` (default 10, to keep CPU low).
"""

from __future__ import annotations

import array
import json
import logging
import math
import random
import time
from typing import Any

import zmq
from pydantic import Field

from common.base_agent import MeshError, handler
from common.base_agent.key_switch import (
    ServerKeyWatch,
    close_watched,
    key_stale,
    watch_if_rotating,
)
from common.base_agent.sockets import bind, connect, new_socket
from common.kinds.base import MeshAgent

__all__ = ["SAMPLE_RATE_HZ", "SignalSource", "StreamStage", "decode", "frame_rms"]

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16000
FRAME_MS = 100
CONNECT_RETRY_S = 0.2
Message = tuple[str, dict[str, Any], bytes]


def frame_rms(data: bytes) -> float:
    samples = array.array("h", data)
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples[::8]) / len(samples[::8]))


def decode(frames: list[bytes]) -> Message:
    return frames[0].decode(), json.loads(frames[1]), frames[2] if len(frames) > 2 else b""


class _Publisher(MeshAgent):
    """Owns the PUB socket on the declared ``pub_port`` (if any)."""

    def setup_kind(self) -> None:
        self.pub: zmq.Socket | None = None
        self.published = 0
        if "pub_port" in self.ports:
            self.pub = new_socket(self.ctx, zmq.PUB)
            if self.zap is not None:  # a subscriber revoked while connected is cut
                self.zap.guard(self.pub)
            bind(self.pub, f"tcp://{self.host}:{self.ports['pub_port']}")

    def publish(self, topic: str, header: dict[str, Any], data: bytes = b"") -> None:
        if self.pub is not None:
            self.pub.send_multipart([topic.encode(), json.dumps(header).encode(), data],
                                    zmq.NOBLOCK)
            self.published += 1

    def stop_kind(self) -> None:
        if self.pub is not None:
            self.pub.close(linger=0)

    @handler("stream_info")
    def stream_info(self, payload: Any = None) -> dict[str, Any]:
        port = self.ports.get("pub_port")
        return {"pub_endpoint": f"tcp://{self.host}:{port}" if port else None,
                "published": self.published}


class SignalSource(_Publisher):
    capabilities = ("stream",)
    topic = "audio"
    pattern_s = (0.6, 0.4, 1.2, 0.8)  # burst on, off, on, off ... (seconds), repeating

    class Settings(_Publisher.Settings):
        frame_rate_hz: float = Field(default=10.0, ge=0)  # 0: silent

    settings: Settings

    def setup_kind(self) -> None:
        super().setup_kind()
        self.rate_hz = self.settings.frame_rate_hz
        self.rng = random.Random(self.name)
        self.t_s = 0.0
        self._next_at = time.monotonic()

    def _speaking(self, t_s: float) -> bool:
        t = t_s % sum(self.pattern_s)
        for i, length in enumerate(self.pattern_s):
            if t < length:
                return i % 2 == 0
            t -= length
        return False

    def frame(self) -> bytes:
        n = SAMPLE_RATE_HZ * FRAME_MS // 1000
        amp = 8000 if self._speaking(self.t_s) else 0
        out = array.array("h", (int(amp * math.sin(2 * math.pi * 220 * (self.t_s + i /
                                SAMPLE_RATE_HZ))) + self.rng.randint(-300, 300)
                                for i in range(0, n)))
        self.t_s += FRAME_MS / 1000
        return out.tobytes()

    def on_tick(self) -> None:
        now = time.monotonic()
        if self.rate_hz > 0 and now >= self._next_at:
            self._next_at = max(self._next_at + 1 / self.rate_hz, now - 1.0)
            self.publish(self.topic, {"seq": self.published, "t_s": round(self.t_s, 3),
                                      "rate_hz": SAMPLE_RATE_HZ}, self.frame())


class StreamStage(_Publisher):
    """Subscribe to ``upstream``'s ``topics`` (none if empty); ``process`` each message."""

    capabilities = ("stream",)
    upstream = ""
    topics: tuple[str, ...] = ("",)

    class Settings(_Publisher.Settings):
        upstream: str | None = None  # None: the class's own upstream

    settings: Settings

    def setup_kind(self) -> None:
        super().setup_kind()
        self.received = 0
        self.rejected = 0  # messages that could not be decoded or processed
        self.sub: zmq.Socket | None = None
        self._sub_key: ServerKeyWatch | None = None  # while the upstream's host key rotates
        self._pub_endpoint = ""
        if self.settings.upstream is not None:
            self.upstream = self.settings.upstream
        self._connect_at = 0.0

    def on_tick(self) -> None:
        """Subscribe once the upstream answers (ready is not yet registered: retry on a timer);
        again when the upstream's host key rotates (a refused handshake is not retried)."""
        if self.sub is not None and key_stale(self._sub_key, self._pub_endpoint, self.sub):
            self._unsubscribe()
        if self.sub is None and self.upstream and time.monotonic() >= self._connect_at:
            try:
                info = self.call(self.upstream, "stream_info", {}, timeout_s=0.5)
            except MeshError as exc:
                self._connect_at = time.monotonic() + CONNECT_RETRY_S
                log.debug("%s: upstream %s not reachable yet: %s", self.name, self.upstream, exc)
                return
            self._pub_endpoint = info["pub_endpoint"]
            self.sub = connect(self.ctx, zmq.SUB, self._pub_endpoint)
            self._sub_key = watch_if_rotating(self.sub, self._pub_endpoint)
            for topic in self.topics:
                self.sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
            self.watch_socket(self.sub, self._on_readable)

    def _unsubscribe(self) -> None:
        assert self.sub is not None
        self.unwatch_socket(self.sub)
        close_watched(self.sub, self._sub_key, self._pub_endpoint)
        self._sub_key = self.sub = None

    def stop_kind(self) -> None:
        if self.sub is not None:
            self._unsubscribe()
        super().stop_kind()

    def _on_readable(self) -> None:
        assert self.sub is not None
        for _ in range(64):
            try:
                frames = self.sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.received += 1
            try:
                outputs = self.process(*decode(frames))
            except Exception as exc:  # a publisher's malformed message must not stop the stage
                self.rejected += 1
                log.log(logging.WARNING if self.rejected == 1 else logging.DEBUG,
                        "%s: dropped a malformed stream message (%d so far): %r",
                        self.name, self.rejected, exc)
                continue
            for out in outputs:
                self.publish(*out)

    def process(self, topic: str, header: dict[str, Any], data: bytes) -> list[Message]:
        return []

    @handler("stream_stats")
    def stream_stats(self, payload: Any = None) -> dict[str, Any]:
        return {"received": self.received, "rejected": self.rejected,
                "published": self.published, "subscribed": self.sub is not None}
