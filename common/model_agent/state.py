"""The model agent's state machine: an Enum and its one transition function."""

from __future__ import annotations

from common.strenum import StrEnum

__all__ = ["ModelState", "TransitionError", "next_state"]


class ModelState(StrEnum):
    UNLOADED = "unloaded"  # no weights, no lease
    ACQUIRING = "acquiring"  # the lease request is queued at the manager
    LOADING = "loading"  # lease granted; weights loading in the loader thread
    READY = "ready"  # serving infer
    UNLOADING = "unloading"  # asked to unload (eviction, idle, request); then release


_ALLOWED = {
    ModelState.UNLOADED: {ModelState.ACQUIRING, ModelState.LOADING},
    ModelState.ACQUIRING: {ModelState.LOADING, ModelState.UNLOADING, ModelState.UNLOADED},
    ModelState.LOADING: {ModelState.READY, ModelState.UNLOADING, ModelState.UNLOADED},
    ModelState.READY: {ModelState.UNLOADING},
    ModelState.UNLOADING: {ModelState.UNLOADED},
}


class TransitionError(RuntimeError):
    pass


def next_state(current: ModelState, to: ModelState) -> ModelState:
    if to not in _ALLOWED[current]:
        raise TransitionError(f"model agent: {current} -> {to} is not allowed")
    return to
