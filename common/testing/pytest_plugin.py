"""pytest fixtures for mesh tests: tracked contexts, in-process agents, real processes.

Use from a conftest.py: ``pytest_plugins = ["common.testing.pytest_plugin"]``.
Every fixture closes what it opened, so a test leaves no socket, context or process behind.
A registry to test against: ``procs.registry(db)`` (a real process), or an in-process
``ServiceRegistry`` passed to ``agents``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq

from common.base_agent.agent import BaseAgent
from common.base_agent.client import Client
from common.testing.processes import ProcessTracker

__all__ = ["agents", "client_factory", "procs", "zmq_ctx"]

@pytest.fixture
def zmq_ctx() -> Iterator[zmq.Context]:
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
def agents() -> Iterator[Callable[..., BaseAgent]]:
    """start(agent) -> agent: starts an in-process agent, stops it after the test."""
    started: list[BaseAgent] = []

    def start(agent: BaseAgent) -> BaseAgent:
        agent.start()
        started.append(agent)
        return agent

    yield start
    for agent in reversed(started):
        if not agent.stop(timeout_s=5.0):
            agent.kill()


@pytest.fixture
def client_factory(zmq_ctx: zmq.Context) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(registry: str | None = None, **kw: Any) -> Client:
        client = Client(registry, ctx=zmq_ctx, **kw)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def procs(tmp_path: Any) -> Iterator[ProcessTracker]:
    """Real `mesh` processes; all are stopped after the test and none may be left alive."""
    tracker = ProcessTracker(log_dir=str(tmp_path))
    yield tracker
    leaked = tracker.close()
    assert not leaked, f"processes left alive: {leaked}"
