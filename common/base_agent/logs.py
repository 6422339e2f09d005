"""Every log record carries the agent name: a record factory reads it from the running thread."""

from __future__ import annotations

import logging
import threading

__all__ = ["LOG_FORMAT", "bind_agent_name", "configure_logging", "install_agent_field"]

LOG_FORMAT = "%(asctime)s %(levelname)s [%(agent)s] %(name)s: %(message)s"

_local = threading.local()
_installed = False
_lock = threading.Lock()


def bind_agent_name(name: str) -> None:
    """Records logged from this thread from now on carry ``agent=name``."""
    install_agent_field()
    _local.agent = name


def install_agent_field() -> None:
    """Add ``record.agent`` to every record of the process (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        base = logging.getLogRecordFactory()

        def factory(*args, **kwargs):  # type: ignore[no-untyped-def]
            record = base(*args, **kwargs)
            record.agent = getattr(_local, "agent", "-")
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def configure_logging(level: str = "INFO") -> None:
    """Process-wide logging for agent processes and the CLI: to stderr with the agent field."""
    install_agent_field()
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
