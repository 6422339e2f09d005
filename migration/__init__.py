"""Migrations: change files, risk scores, staged plans, blue/green executor, journal."""

from migration.change import AgentChange, ChangeFile
from migration.change_check import load_change, parse_change
from migration.executor import Executor, current_definitions, reverse_plan
from migration.gates import GateBreach
from migration.journal import Journal, JournalBusy
from migration.mesh import MeshControl
from migration.plan import build_plan, choose_strategy
from migration.risk import Observed, Risk, load_weights, score
from migration.state import Event, State, transition
from migration.steps import MigrationStep, StepContext

__all__ = [
    "AgentChange", "ChangeFile", "Event", "Executor", "GateBreach", "Journal", "JournalBusy",
    "MeshControl", "MigrationStep", "Observed", "Risk", "State", "StepContext", "build_plan",
    "choose_strategy", "current_definitions", "load_change", "load_weights", "parse_change",
    "reverse_plan", "score", "transition",
]
