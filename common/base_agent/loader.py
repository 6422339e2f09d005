"""Find an agent class from its ``package.module:Class`` reference."""

from __future__ import annotations

import importlib

from common.base_agent.agent import BaseAgent

__all__ = ["load_agent_class"]


def load_agent_class(spec: str) -> type[BaseAgent]:
    """``package.module:Class`` -> the class, checked to be a BaseAgent subclass.

    Raises ValueError naming what is wrong."""
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ValueError(f"{spec!r} is not MODULE:CLASS (e.g. common.testing.agents:EchoAgent)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r}: {exc}") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseAgent)):
        raise ValueError(f"{spec!r} is not a BaseAgent subclass")
    return cls
