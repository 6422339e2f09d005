"""Test helpers shipped with the package: agents, processes, waiting, pytest fixtures."""

from common.testing.agents import EchoAgent
from common.testing.processes import MeshProcess, ProcessTracker
from common.testing.wait import wait_until

__all__ = ["EchoAgent", "MeshProcess", "ProcessTracker", "wait_until"]
