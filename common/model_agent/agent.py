"""TorchModelAgent: a BaseAgent that owns one torch model under a VRAM lease.

It acquires a lease from the ModelManagerAgent, loads weights (a deterministic synthetic model
of the declared size), serves ``infer``, unloads on request (``vram_unload``, ``unload``) or when
idle, and releases.  Unloading, it offers its weights to the warm tier: kept in host RAM when
the pool says so (``release`` -> ``warm``), dropped on ``vram_drop_warm``; the next load comes
from RAM, else from its checkpoint on disk (common.model_agent.store), and its report says
which and how long it took.  With CUDA it loads onto the granted GPU and reports
``torch.cuda.memory_allocated``; on a CPU-only machine ``weights_scale`` loads a proportionally
smaller real tensor set while the lease accounts the full declared size.

Settings: `common.model_agent.settings.ModelAgentSettings` (``vram_mb`` required).
Actions: ``infer {seed, deadline_s}`` (while the model is not in, it waits up to deadline_s:
common.model_agent.waiting), ``load``, ``unload``, ``model_status``, and the manager's notices.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any

from common.base_agent import BadRequest, BaseAgent, handler, require
from common.base_agent.client import Client
from common.base_agent.errors import MeshError, NoInstanceError, NotFoundError
from common.base_agent.services import service_name
from common.extras import TorchMissing, torch_installed
from common.gpu.backend import MIB
from common.model_agent.settings import ModelAgentSettings
from common.model_agent.state import ModelState, next_state
from common.model_agent.waiting import DEFAULT_DEADLINE_S, LoadWait
from common.vram import protocol as vp
from common.vram.client import LeaseClient

if TYPE_CHECKING or torch_installed():  # the models extra: without it, TorchMissing at setup
    with warnings.catch_warnings():  # torch warns on import where numpy is absent; none is used
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        import torch

        from common.model_agent.store import WeightStore
        from common.model_agent.weights import SyntheticModel, param_bytes

__all__ = ["TorchModelAgent"]

log = logging.getLogger(__name__)
RETRY_S = 0.5  # after a failed call to the manager
TOUCH_EVERY_S = 0.5  # infer marks the lease used at most this often


class TorchModelAgent(BaseAgent):
    capabilities = (vp.HOLDER_CAPABILITY,)
    needs_torch = True  # `mesh up` refuses a host without torch that runs one (common.extras)
    Settings = ModelAgentSettings
    settings: ModelAgentSettings

    def on_setup(self) -> None:
        if not torch_installed():
            raise TorchMissing([self.name])
        s = self.settings
        self.model_name = s.model or self.name
        self.vram_mb = s.vram_mb
        self.true_vram_mb = s.true_vram_mb or self.vram_mb
        self.scale = s.weights_scale
        self.state = ModelState.UNLOADED
        self.want_loaded = s.autoload
        self.load_wait = LoadWait(self.model_name)
        self.lease: dict[str, Any] | None = None
        self.model: SyntheticModel | None = None
        self.unload_asked = ""
        self.last_error = ""
        self._loader: threading.Thread | None = None
        self._loaded: tuple[SyntheticModel, vp.Tier, float | None] | BaseException | None = None
        self.store = WeightStore(self.model_name, int(self.true_vram_mb * MIB * self.scale),
                                 s.weights_dir)
        self.loaded_from: vp.Tier | None = None
        self._uses = 0  # infer calls since the last touch
        self._next_call_at = self._next_keepalive_at = self._touched_at = 0.0
        self.last_used_at = time.monotonic()
        client = Client(self.registry_endpoint, ctx=self.ctx, source=self.name,
                        on_wait=self.pump)  # live while the manager is slow to answer
        # the mesh's service: model_manager agent; run alone, the pool's default name
        manager = s.manager or service_name("model_manager") or vp.DEFAULT_MANAGER
        self.leases = LeaseClient(client, manager=manager,
                                  holder=self._holder(),
                                  timeout_s=s.call_timeout_s)

    def _holder(self) -> dict[str, Any]:
        return {"name": self.name, "instance_id": self.instance_id, "endpoint": self.endpoint,
                "pid": os.getpid(),
                "host": self.settings.host_name or os.environ.get("MESH_HOST") or self.host}

    # -- actions -----------------------------------------------------------------------------
    @handler("infer")
    def infer(self, payload: Any) -> dict[str, Any]:
        seed = require(payload, "seed", int, 0)
        deadline_s = require(payload, "deadline_s", int | float, DEFAULT_DEADLINE_S)
        if deadline_s <= 0:
            raise BadRequest("payload.deadline_s must be > 0")
        self.last_used_at = time.monotonic()
        self._uses += 1
        if self.state is not ModelState.READY or self.model is None:
            self.want_loaded = True  # wait for it (parked), or refused if it cannot be in time
            raise self.load_wait.admit(deadline_s, self.state, self.lease, len(self.parked))
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(1, self.model.width, generator=gen).to(self._device())
        out = float(self.model(x).sum())
        if self.last_used_at - self._touched_at >= TOUCH_EVERY_S:
            self._touched_at = self.last_used_at
            uses, self._uses = self._uses, 0
            self._guard(lambda: self.leases.touch(self.lease["lease_id"],  # type: ignore[index]
                                                  uses))
        return {"model": self.model_name, "output": out, "gpu": self.lease and self.lease["gpu"]}

    @handler("load")
    def load(self, payload: Any = None) -> dict[str, Any]:
        self.want_loaded = True
        return self.model_status()

    @handler("unload")
    def unload(self, payload: Any = None) -> dict[str, Any]:
        self.want_loaded = False
        if self.lease is not None:
            self.unload_asked = self.lease["lease_id"]
        return self.model_status()

    @handler("model_status")
    def model_status(self, payload: Any = None) -> dict[str, Any]:
        return {"model": self.model_name, "state": self.state.value, "lease": self.lease,
                "param_bytes": param_bytes(self.model) if self.model is not None else 0,
                "last_error": self.last_error, "waiting": len(self.parked),
                "load_s": self.load_wait.load_s, "warm": self.store.warm is not None,
                "loaded_from": self.loaded_from and self.loaded_from.value}

    @handler(vp.NOTICE_UNLOAD)
    def on_unload_notice(self, payload: Any) -> dict[str, bool]:
        lease_id = require(payload, "lease_id", str)
        if self.lease is not None and self.lease["lease_id"] == lease_id:
            self.unload_asked = lease_id
            self.want_loaded = False
        return {"ok": True}

    @handler(vp.NOTICE_GRANTED)
    def on_granted_notice(self, payload: Any) -> dict[str, bool]:
        if self.state is ModelState.ACQUIRING and self.lease is not None \
                and self.lease["lease_id"] == require(payload, "lease_id", str):
            self._start_loading(dict(payload))
        return {"ok": True}

    @handler(vp.NOTICE_DROP_WARM)
    def on_drop_warm(self, payload: Any = None) -> dict[str, bool]:
        """The warm tier needs the RAM: the next load comes from disk."""
        self.store.drop()
        return {"ok": True}

    @handler(vp.NOTICE_STARTED)
    def on_manager_started(self, payload: Any = None) -> dict[str, bool]:
        """The manager (re)started knowing no lease and no warm copy: check our lease now, not
        at the next keepalive (it answers not_found: unload, then acquire again), and drop
        weights kept in RAM that its ledger no longer counts."""
        self._next_call_at = self._next_keepalive_at = 0.0
        self.store.drop()
        return {"ok": True}

    # -- the loop ----------------------------------------------------------------------------
    def on_tick(self) -> None:
        now = time.monotonic()
        for request in self.parked.take(overdue_at=now):
            self.answer_parked([request], self.load_wait.overdue(request, self.state, self.lease))
        if self.state is ModelState.LOADING:
            self._finish_loading()
        elif self.unload_asked and self.state in (ModelState.READY, ModelState.ACQUIRING):
            self._unload_and_release()
        elif now >= self._next_call_at:
            self._timers(now)

    def _timers(self, now: float) -> None:
        if self.state is ModelState.UNLOADED and self.want_loaded:
            self._guard(self._acquire)
        elif self.state is ModelState.ACQUIRING:
            self._guard(self._poll_queued)
        elif self.state is ModelState.READY:
            idle_s = self.settings.idle_unload_s
            if idle_s and now - self.last_used_at >= idle_s:
                self.want_loaded = False
                self.unload_asked = self.lease["lease_id"]  # type: ignore[index]
            elif now >= self._next_keepalive_at:
                self._next_keepalive_at = now + self.settings.keepalive_interval_s
                self._guard(self._keepalive)

    def _guard(self, call: Any) -> None:
        """Call the manager; on failure, note it and retry after RETRY_S."""
        try:
            call()
        except NoInstanceError as exc:  # the manager is away (restarting): not our lease's end
            self._retry_later(exc)
        except NotFoundError:
            self._lost_lease("the manager no longer knows the lease")
        except MeshError as exc:
            self._retry_later(exc)

    def _retry_later(self, exc: MeshError) -> None:
        self.last_error = str(exc)
        self._next_call_at = time.monotonic() + RETRY_S
        log.warning("%s: %s", self.name, exc)

    def _acquire(self) -> None:
        s = self.settings
        view = self.leases.acquire(self.model_name, self.vram_mb,
                                   priority=s.priority, pinned=s.pinned, hosts=s.hosts)
        self._on_view(view)

    def _poll_queued(self) -> None:
        self._on_view(self.leases.keepalive(self.lease["lease_id"]))  # type: ignore[index]
        self._next_call_at = time.monotonic() + RETRY_S

    def _keepalive(self) -> None:
        view = self.leases.keepalive(self.lease["lease_id"])  # type: ignore[index]
        if view["status"] != vp.Decision.GRANTED:
            self._lost_lease(f"lease {view['state']}")

    def _on_view(self, view: dict[str, Any]) -> None:
        status = view["status"]
        if status == vp.Decision.GRANTED and self.state is not ModelState.LOADING:
            self._start_loading(view)
        elif status == vp.Decision.QUEUED:
            self.lease = view
            if self.state is ModelState.UNLOADED:
                self.state = next_state(self.state, ModelState.ACQUIRING)
        elif status in (vp.Decision.REFUSED, vp.Decision.ENDED):
            self.last_error = f"lease {status}: {view.get('reason')}"
            log.warning("%s: %s", self.name, self.last_error)
            self.answer_parked(self.parked.take(),
                               self.load_wait.lease_refused(str(view.get("reason"))))
            self.want_loaded = False
            self.lease = None
            if self.state is ModelState.ACQUIRING:
                self.state = next_state(self.state, ModelState.UNLOADED)

    def _start_loading(self, view: dict[str, Any]) -> None:
        self.lease = view
        self.state = next_state(self.state, ModelState.LOADING)
        self.load_wait.load_started()
        self._loaded = None
        device = self._device()

        def load() -> None:
            try:
                self._loaded = self.store.load(device)
            except BaseException as exc:  # reported from the loop thread
                self._loaded = exc

        self._loader = threading.Thread(target=load, name=f"load-{self.name}", daemon=True)
        self._loader.start()

    def _finish_loading(self) -> None:
        if self._loader is None or self._loader.is_alive():
            return
        loaded, self._loader, self._loaded = self._loaded, None, None
        if not isinstance(loaded, tuple):
            self.last_error = f"load failed: {loaded!r}"
            self.state = next_state(self.state, ModelState.UNLOADING)
            self._unload_and_release()
            return
        self.model, self.loaded_from, load_s = loaded
        self.state = next_state(self.state, ModelState.READY)
        self.load_wait.load_finished()
        self.answer_parked(self.parked.take())  # served in the next drain, by the model now in
        self.last_used_at = time.monotonic()
        self._guard(lambda: self.leases.report(self.lease["lease_id"],  # type: ignore[index]
                                               self._used_bytes(), load_s=load_s,
                                               tier=self.loaded_from))

    def _used_bytes(self) -> int:
        device = self._device()
        if device.startswith("cuda"):
            return int(torch.cuda.memory_allocated(device))
        return int(param_bytes(self.model) / self.scale) if self.model is not None else 0

    def _device(self) -> str:
        if not torch.cuda.is_available() or self.lease is None:
            return "cpu"
        return f"cuda:{self.lease.get('gpu_index') or 0}"

    def _unload_and_release(self) -> None:
        """Take the weights off the GPU (into host RAM when they were in, the warm tier may
        keep them), then give the lease back; the pool's answer says whether to keep them."""
        if self.state is not ModelState.UNLOADING:
            self.state = next_state(self.state, ModelState.UNLOADING)
        device = self._device()
        lease, self.lease, self.unload_asked = self.lease, None, ""
        offered = 0
        if lease is not None and self.model is not None:
            self.store.keep(self.model)
            offered = int(param_bytes(self.model) / self.scale)  # what the lease accounted
        self.model = None
        if device.startswith("cuda"):  # the caching allocator gives back only what is freed:
            gc.collect()  # a full collection stalls the loop in proportion to the heap, so
            torch.cuda.empty_cache()  # only where it frees VRAM (refcounts free host RAM)
        self.state = next_state(self.state, ModelState.UNLOADED)
        if lease is not None:
            self._guard(lambda: self._release(lease["lease_id"], offered))
        log.info("%s unloaded %s (%s)", self.name, self.model_name,
                 "kept in RAM" if self.store.warm is not None else "dropped")

    def _release(self, lease_id: str, offered: int) -> None:
        try:
            reply = self.leases.release(lease_id, warm_bytes=offered)
        except MeshError:
            self.store.drop()  # the pool's ledger does not count it
            raise
        if not reply.get("warm"):
            self.store.drop()

    def _lost_lease(self, why: str) -> None:
        """The lease is gone (expired, reclaimed): holding weights now would over-commit."""
        log.warning("%s: %s; unloading", self.name, why)
        self.last_error = why
        if self.state in (ModelState.READY, ModelState.ACQUIRING):
            self.lease = None
            self._unload_and_release()
        self.store.drop()  # a lost lease is no release: the pool counts no warm copy

    def on_stop(self) -> None:
        if self.lease is not None and self.state is not ModelState.UNLOADED:
            try:
                self.leases.release(self.lease["lease_id"], timeout_s=0.3, retries=0)
            except MeshError as exc:
                log.warning("%s: release at stop failed: %s", self.name, exc)
        self.leases.client.close()
