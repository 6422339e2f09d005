"""Typed errors of the mesh.  Errors cross the wire as codes; the client turns codes back
into these types (STYLE 8): known codes get their own class, the rest ``RemoteError``."""

from __future__ import annotations

import builtins

from common.base_agent.protocol import ErrorCode

__all__ = [
    "BadRequest",
    "CircuitOpenError",
    "ConflictError",
    "MeshError",
    "MeshTimeoutError",
    "NoInstanceError",
    "NotFoundError",
    "RemoteError",
    "UnknownActionError",
    "remote_error",
]


class MeshError(Exception):
    """Base of every mesh error.  A handler may raise one to answer with its ``code``."""

    code = ErrorCode.INTERNAL

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(MeshError):
    """The payload is missing a field or has one of the wrong type."""

    code = ErrorCode.BAD_REQUEST


class MeshTimeoutError(MeshError, builtins.TimeoutError):
    """No reply within the deadline, after every retry; names the peer and the action."""

    code = ErrorCode.TIMEOUT

    def __init__(self, peer: str, action: str, timeout_s: float, attempts: int) -> None:
        super().__init__(f"{peer} did not answer {action!r} within {timeout_s:g} s "
                         f"({attempts} attempt{'s' if attempts != 1 else ''})")
        self.peer, self.action, self.timeout_s, self.attempts = peer, action, timeout_s, attempts


class CircuitOpenError(MeshError):
    """The peer failed repeatedly; calls are refused until the breaker half-opens."""

    code = ErrorCode.UNAVAILABLE

    def __init__(self, peer: str, retry_in_s: float) -> None:
        super().__init__(f"circuit to {peer} is open; next trial in {retry_in_s:.2f} s")
        self.peer, self.retry_in_s = peer, retry_in_s


class RemoteError(MeshError):
    """The peer answered with an error; ``code`` is the remote code."""

    def __init__(self, peer: str, action: str, code: str, message: str) -> None:
        super().__init__(f"{peer} {action!r} failed: {code}: {message}", code)
        self.peer, self.action, self.remote_message = peer, action, message


class ConflictError(RemoteError):
    """The registry refused a second live claimant of a single-instance name."""


class NotFoundError(RemoteError):
    """The name, instance or object asked for does not exist."""


class NoInstanceError(NotFoundError):
    """The registry has no live instance of the name now: one that should be there is
    restarting, expired or on the far side of a partition, so for it this is transient."""


class UnknownActionError(RemoteError):
    """The peer has no handler for the action."""


_BY_CODE: dict[str, type[RemoteError]] = {
    ErrorCode.CONFLICT: ConflictError,
    ErrorCode.NOT_FOUND: NotFoundError,
    ErrorCode.UNKNOWN_ACTION: UnknownActionError,
}


def remote_error(peer: str, action: str, code: str, message: str) -> RemoteError:
    """The typed exception for an error reply."""
    return _BY_CODE.get(code, RemoteError)(peer, action, code, message)
