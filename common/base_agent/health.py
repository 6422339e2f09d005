"""Health: the ``HealthCheck`` extension point and the report every agent answers with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from common.strenum import StrEnum

__all__ = ["CheckResult", "HealthCheck", "Status", "legacy_status", "run_check", "worst"]


class Status(StrEnum):
    PASSING = "passing"
    WARNING = "warning"
    CRITICAL = "critical"


_RANK = {Status.PASSING: 0, Status.WARNING: 1, Status.CRITICAL: 2}
_LEGACY = {Status.PASSING: "ok", Status.WARNING: "degraded", Status.CRITICAL: "error"}


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: Status
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status.value, "detail": self.detail}


@runtime_checkable
class HealthCheck(Protocol):
    """One check an agent runs when asked for its health; must return quickly."""

    name: str

    def check(self) -> CheckResult: ...


def worst(results: list[CheckResult]) -> Status:
    return max((r.status for r in results), key=_RANK.__getitem__, default=Status.PASSING)


def legacy_status(status: Status) -> str:
    """The original system's vocabulary: ok / degraded / error."""
    return _LEGACY[status]


def run_check(check: HealthCheck) -> CheckResult:
    """check.check(), with a check that raises reported as critical."""
    try:
        return check.check()
    except Exception as exc:
        return CheckResult(check.name, Status.CRITICAL, f"check raised {exc!r}")
