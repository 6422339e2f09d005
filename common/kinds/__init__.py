"""Reusable agent kinds: the reference mesh's 77 agents are thin subclasses of these.

Each kind does one small real job: route by name, store in SQLite, stream over PUB/SUB, hold
and publish state, queue and schedule work, watch other agents, or hold a torch model
(``common.kinds.model.ModelWorker``, imported on its own: it brings torch).
"""

from common.kinds.base import MeshAgent
from common.kinds.coordinator import RequestCoordinatorKind
from common.kinds.monitor import MonitorAgent
from common.kinds.relay import RelayAgent
from common.kinds.router import ResponderKind, RouterAgent
from common.kinds.state import StateHolder
from common.kinds.store import StoreAgent
from common.kinds.stream import SignalSource, StreamStage
from common.kinds.tasks import SchedulerAgent, TaskQueueAgent

__all__ = [
    "MeshAgent",
    "MonitorAgent",
    "RelayAgent",
    "RequestCoordinatorKind",
    "ResponderKind",
    "RouterAgent",
    "SchedulerAgent",
    "SignalSource",
    "StateHolder",
    "StoreAgent",
    "StreamStage",
    "TaskQueueAgent",
]
