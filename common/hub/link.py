"""HubLink: an agent's heartbeat to its host's hub, failing over to the other hub (Binary Star
client side).  While its launcher vouches for it (common.base_agent.vouch) the link sends
nothing itself: each probe's reply carries its next report, and the launcher's batch takes it.

Every heartbeat interval the link sends a ``hub_report`` (health, metrics, per-action stats).
Each report must be acknowledged within ``ack_timeout_s``; when it is not, the hub is taken for
gone, the link switches to the other hub and resends the same report (same ``seq``, so nothing
is lost) flagged ``failover``.  While away from home, a reply saying the replying hub hears
its peer again (``peer_state`` not ``expired``) sends the link back home, but not before
``home_hold_s`` (two intervals, at least 1 s) so that a backup which has not yet noticed the
death of the home hub does not bounce the link straight back to it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import zmq

from common.base_agent import protocol
from common.base_agent.health import CheckResult, Status
from common.base_agent.heartbeat import Heartbeat
from common.base_agent.protocol import Request
from common.base_agent.sockets import connect, replies
from common.hub.protocol import ACTION_REPORT
from common.hub.report import build_report

if TYPE_CHECKING:
    from common.base_agent.agent import BaseAgent, LinkFactory

__all__ = ["ACK_TIMEOUT_MAX_S", "HubLink", "ack_timeout_s", "hub_link"]

log = logging.getLogger(__name__)

ACK_TIMEOUT_MAX_S = 0.5
ACK_TIMEOUT_MIN_S = 0.15
PEER_GONE = ("", "unknown", "expired")


def ack_timeout_s(interval_s: float) -> float:
    """How long a report may wait for its ack: half an interval, within [0.15, 0.5] s."""
    return min(ACK_TIMEOUT_MAX_S, max(ACK_TIMEOUT_MIN_S, interval_s / 2))


class HubLink:
    """Pushes the agent's heartbeat to ``endpoints[0]`` (home) or ``endpoints[1]``."""

    name = "hub"

    def __init__(self, ctx: zmq.Context, agent: BaseAgent, endpoints: Sequence[str],
                 clock: Any = time.monotonic) -> None:
        if not endpoints:
            raise ValueError("HubLink needs at least one hub endpoint")
        self.endpoints = list(endpoints)
        self.agent = agent
        self.heartbeat = Heartbeat(agent.heartbeat_interval_s, clock=clock)
        self.ack_timeout_s = ack_timeout_s(agent.heartbeat_interval_s)
        self.index = 0  # which endpoint we report to
        self.seq = 0
        self.failovers = 0
        self.last_reply: dict[str, Any] = {}
        self.home_hold_s = max(1.0, 2 * agent.heartbeat_interval_s)
        self._away_since = 0.0
        self._clock = clock
        self._ctx = ctx
        self._sock: zmq.Socket | None = None
        self._pending: tuple[str, float, dict[str, Any]] | None = None  # id, sent at, body
        self._vouched_until = 0.0  # the launcher reports for us till then (vouched)

    @property
    def endpoint(self) -> str:
        return self.endpoints[self.index]

    @property
    def socket(self) -> zmq.Socket:
        if self._sock is None:
            self._sock = connect(self._ctx, zmq.DEALER, self.endpoint, hwm=10)
        return self._sock

    def tick(self) -> None:
        if self._pending is not None:
            if self._clock() - self._pending[1] > self.ack_timeout_s:
                self._fail_over()
            return
        if self.heartbeat.send_due():
            if self._clock() < self._vouched_until:  # our launcher's batch carries our report
                self.heartbeat.sent()
                return
            self.seq += 1
            self._send(build_report(self.agent, self.seq, failover=self.index != 0))

    def unvouch(self) -> None:
        """The launcher that vouched for us is stuck: report on our own, the first now."""
        if self._vouched_until:
            self._vouched_until = 0.0
            self.heartbeat.reset()

    def vouched(self, request: dict[str, Any], health: dict[str, Any]) -> dict[str, Any]:
        """A launcher probe vouching for us (common.base_agent.vouch): our next report goes
        in the probe's reply, for the launcher's ``hub_report_batch``; none of our own for
        hold_s."""
        self._vouched_until = self._clock() + request["hold_s"]
        self.seq += 1
        return {"hub_report": build_report(self.agent, self.seq, failover=False, health=health)}

    def due_in_s(self) -> float:
        if self._pending is not None:
            return max(0.0, self._pending[1] + self.ack_timeout_s - self._clock())
        return max(self.heartbeat.due_in_s(), self._vouched_until - self._clock())

    def _send(self, body: dict[str, Any]) -> None:
        req = Request(ACTION_REPORT, body, source=self.agent.name)
        self._pending = (req.id, self._clock(), body)
        self.heartbeat.sent()
        try:
            self.socket.send_multipart(protocol.encode_request(req), zmq.NOBLOCK)
        except zmq.Again:  # no connection yet; the ack deadline decides
            pass

    def _fail_over(self) -> None:
        assert self._pending is not None
        if len(self.endpoints) == 1:  # nowhere else to go: keep the socket (a late ack still
            self._pending = None      # lands) and let the next beat carry fresh figures
            return
        body = self._pending[2]
        old = self.endpoint
        self._switch((self.index + 1) % len(self.endpoints))
        self._away_since = self._clock()
        self.failovers += 1
        log.warning("%s: hub %s silent for %.2f s; reporting to %s", self.agent.name, old,
                    self.ack_timeout_s, self.endpoint)
        self._send({**body, "failover": self.index != 0})

    def _switch(self, index: int) -> None:
        self.close()
        self.index = index

    def on_readable(self) -> None:
        for reply in replies(self.socket, f"hub {self.endpoint}"):
            if self._pending is None or reply.id != self._pending[0]:
                continue  # a late reply to a report we already resent elsewhere
            self._pending = None
            self.heartbeat.heard()
            self.last_reply = reply.result if reply.ok and isinstance(reply.result, dict) else {}
            if not reply.ok:
                log.warning("hub %s refused a report: %s %s", self.endpoint, reply.code,
                            reply.message)
            self._maybe_go_home()
            return

    def _maybe_go_home(self) -> None:
        if self.index == 0 or self._clock() - self._away_since < self.home_hold_s:
            return
        if self.last_reply.get("peer_state", "") not in PEER_GONE:
            log.info("%s: home hub %s is back; reporting there", self.agent.name,
                     self.endpoints[0])
            self._switch(0)

    def check(self) -> CheckResult:
        if self._clock() < self._vouched_until:
            return CheckResult(self.name, Status.PASSING, "reported by its launcher")
        if self.last_reply and self.index == 0:
            return CheckResult(self.name, Status.PASSING, f"reporting to {self.endpoint}")
        if self.last_reply:
            return CheckResult(self.name, Status.PASSING,
                               f"reporting to backup hub {self.endpoint}")
        return CheckResult(self.name, Status.PASSING, "no hub has acknowledged yet")

    def close(self, graceful: bool = False) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None


def hub_link(endpoints: Sequence[str]) -> LinkFactory:
    """A link factory for ``BaseAgent(links=[hub_link([home, other])])``."""
    hubs = [e for e in endpoints if e]

    def factory(ctx: zmq.Context, agent: BaseAgent) -> HubLink:
        return HubLink(ctx, agent, hubs)

    return factory
