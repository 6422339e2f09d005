"""The VRAM benchmark's workload and discrete-event simulator (virtual time).

Four policies serve the same request stream on the same simulated GPUs (24 GB + 12 GB):
  * ours: the real VramPool (main_pc.model_manager.pool) driven with the simulator's clock:
    evicted weights go to the warm tier (host RAM, within each host's budget) and come back
    from there; victims by expected cost (use rate x reload time from their tier);
  * vllm_sleep_like: the same pool and RAM tier (vLLM's sleep mode: weights offloaded to host
    RAM, woken from there), victims least recently used, no cost model;
  * ollama: count-limited LRU per GPU; a new load evicts while the predicted size exceeds 80 %
    of the GPU's free memory as measured (loads still in flight are not yet visible: the race
    behind Ollama's OOM reports); estimates are never corrected;
  * static: the most popular models that fit are loaded at start; the rest are never served.
A model's real size differs from its declared estimate (x0.8 to x1.2).  A load that finds
less real free memory than the model really needs is an out-of-memory event: the load fails.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field

from common.gpu.backend import MIB
from common.vram.protocol import (
    NOTICE_DROP_WARM,
    NOTICE_GRANTED,
    NOTICE_UNLOAD,
    LeaseState,
    Tier,
)
from main_pc.model_manager import GpuSlot, Policy, VramPool
from main_pc.model_manager.lease import Holder

__all__ = ["GPUS_MB", "MODELS_MB", "WARM_MB", "Sim", "Stats", "Workload", "run_ours"]

GPUS_MB = {"main_pc:0": 24576, "pc2:0": 12288}
# The roster's GPU agents, the models §5 of original_system.md names, and a few more.
MODELS_MB = {"model-suite": 6450, "tinyllama": 2800, "nllb-600m": 2400, "buffalo-face": 1000,
             "minilm": 300, "silero-vad": 100, "whisper-large-v3": 6000, "xtts-v2": 4000,
             "mistral-7b-q4": 4200, "phi-3-mini-q4": 2250, "llava-7b": 8000,
             "sdxl-turbo": 7000, "codellama-13b-q4": 9000, "bge-embed": 600,
             "bge-reranker": 1200}


WARM_MB = {"main_pc": 32768, "pc2": 16384}  # RAM budgets for the warm tier


@dataclass
class Workload:
    requests: int = 4000
    rate_per_s: float = 20.0
    zipf_s: float = 1.1
    seed: int = 7
    infer_s: float = 0.05
    load_s_per_gb: float = 1.0  # configured load cost per GB of weights, from disk
    warm_s_per_gb: float = 0.05  # from pinned host RAM (PCIe 4.0 x16, about 20-25 GB/s)
    unload_s: float = 0.2
    reserve_mb: int = 1536
    arrivals: list[tuple[float, str]] = field(default_factory=list)
    true_mb: dict[str, float] = field(default_factory=dict)

    def build(self) -> Workload:
        rng = random.Random(self.seed)
        names = list(MODELS_MB)
        rng.shuffle(names)  # popularity rank independent of size
        weights = [1.0 / (rank + 1) ** self.zipf_s for rank in range(len(names))]
        t = 0.0
        self.arrivals = []
        for _ in range(self.requests):
            t += rng.expovariate(self.rate_per_s)
            self.arrivals.append((t, rng.choices(names, weights)[0]))
        self.true_mb = {m: mb * rng.uniform(0.8, 1.2) for m, mb in MODELS_MB.items()}
        self.popularity = names
        return self


@dataclass
class Stats:
    served: int = 0
    failed: int = 0
    hits: int = 0
    evictions: int = 0
    oom: int = 0
    times_s: list[float] = field(default_factory=list)
    peak_committed_mb: dict[str, float] = field(default_factory=dict)
    peak_actual_mb: dict[str, float] = field(default_factory=dict)


class Sim:
    """Event loop, GPU memory as it really is, and request bookkeeping shared by policies."""

    def __init__(self, work: Workload) -> None:
        self.work, self.now, self.stats = work, 0.0, Stats()
        self.events: list = []
        self.seq = itertools.count()
        self.actual_mb = dict.fromkeys(GPUS_MB, 0.0)
        self.where: dict[str, str] = {}  # loaded model -> gpu
        self.last_used: dict[str, float] = {}
        self.busy_until: dict[str, float] = {}
        self.waiting: dict[str, list[float]] = {}  # model -> arrival times waiting for a load
        self.peak_actual: dict[str, float] = dict.fromkeys(GPUS_MB, 0.0)

    def at(self, t: float, fn, *args) -> None:
        heapq.heappush(self.events, (t, next(self.seq), fn, args))

    def run(self, on_request) -> Stats:
        for t, model in self.work.arrivals:
            self.at(t, on_request, model)
        while self.events:
            self.now, _, fn, args = heapq.heappop(self.events)
            fn(*args)
        self.stats.peak_actual_mb = {g: round(v, 1) for g, v in self.peak_actual.items()}
        return self.stats

    def serve(self, model: str, arrived: float, hit: bool) -> None:
        done = self.now + self.work.infer_s
        self.busy_until[model] = max(self.busy_until.get(model, 0.0), done)
        self.last_used[model] = done
        self.stats.served += 1
        self.stats.hits += hit
        self.stats.times_s.append(done - arrived)

    def materialise(self, model: str, gpu: str) -> bool:
        """The load finishes: its real memory appears; False (and an OOM) if it is not there."""
        need = self.work.true_mb[model]
        if self.actual_mb[gpu] + need > GPUS_MB[gpu]:
            self.stats.oom += 1
            return False
        self.actual_mb[gpu] += need
        self.where[model] = gpu
        self.peak_actual[gpu] = max(self.peak_actual[gpu], self.actual_mb[gpu])
        return True

    def drop(self, model: str) -> None:
        gpu = self.where.pop(model)
        self.actual_mb[gpu] -= self.work.true_mb[model]
        self.stats.evictions += 1

    def flush_waiting(self, model: str, ok: bool) -> None:
        for arrived in self.waiting.pop(model, []):
            if ok:
                self.serve(model, arrived, hit=False)
            else:
                self.stats.failed += 1

    def idle(self, model: str) -> bool:
        return self.busy_until.get(model, 0.0) <= self.now and model not in self.waiting


def run_ours(work: Workload, eviction: str = "cost") -> Stats:
    """Our pool with its warm tier; eviction "lru" is the vLLM-sleep-like policy."""
    sim = Sim(work)
    slots = [GpuSlot(g.split(":")[0], 0, g, mb * MIB, work.reserve_mb * MIB)
             for g, mb in GPUS_MB.items()]
    policy = Policy(min_idle_s=work.infer_s + 0.01, keepalive_ttl_s=1e12,
                    reserve_mb=work.reserve_mb, eviction=eviction,
                    warm_load_s_per_gb=work.warm_s_per_gb, cold_load_s_per_gb=work.load_s_per_gb)
    pool = VramPool(slots, policy, clock=lambda: sim.now,
                    warm_budgets={h: mb * MIB for h, mb in WARM_MB.items()})
    lease_of: dict[str, str] = {}
    in_ram: set[str] = set()  # models whose weights the warm tier keeps

    def after() -> None:
        notices, pool.notices = pool.notices, []
        for notice in notices:
            if notice.action == NOTICE_DROP_WARM and notice.copy is not None:
                in_ram.discard(notice.copy.model)
            elif notice.lease is None:
                continue
            elif notice.action == NOTICE_UNLOAD:
                model = notice.lease.model  # unload_s, then the copy into RAM
                took = work.unload_s + work.warm_s_per_gb * work.true_mb[model] / 1024
                sim.at(max(sim.now, sim.busy_until.get(model, 0.0)) + took, unloaded, model)
            elif notice.action == NOTICE_GRANTED:
                start_load(notice.lease.model, notice.lease.gpu, notice.lease.tier)

    def start_load(model: str, gpu: str, tier: Tier) -> None:
        """From RAM when the pool granted it on the host that keeps its copy, else disk."""
        in_ram.discard(model)
        rate = work.warm_s_per_gb if tier is Tier.WARM else work.load_s_per_gb
        took = rate * work.true_mb[model] / 1024
        sim.at(sim.now + took, loaded, model, gpu, tier, took)

    def loaded(model: str, gpu: str, tier: Tier, took: float) -> None:
        ok = sim.materialise(model, gpu)
        if ok:
            pool.report(lease_of[model], int(work.true_mb[model] * MIB), load_s=took, tier=tier)
            pool.keepalive(lease_of[model], used=True)
        else:
            pool.release(lease_of.pop(model))
        sim.flush_waiting(model, ok)
        after()

    def unloaded(model: str) -> None:
        sim.drop(model)
        _, kept = pool.release(lease_of.pop(model),
                               warm_bytes=int(work.true_mb[model] * MIB))
        if kept:
            in_ram.add(model)
        if model in sim.waiting:  # requests came in while it was being evicted
            acquire(model)
        after()

    def acquire(model: str) -> None:
        new = pool.acquire(model, MODELS_MB[model] * MIB, holder=Holder(model, model, "sim"))
        lease_of[model] = new.lease_id
        if new.state is LeaseState.GRANTED:
            start_load(model, new.gpu, new.tier)

    def request(model: str) -> None:
        lease = pool.leases.get(lease_of.get(model, ""))
        if lease is not None and lease.state is LeaseState.LOADED:
            pool.keepalive(lease.lease_id, used=True)
            sim.serve(model, sim.now, hit=True)
            return
        sim.waiting.setdefault(model, []).append(sim.now)
        if lease is None:
            acquire(model)
        after()

    stats = sim.run(request)
    stats.peak_committed_mb = {g: round(b / MIB, 1) for g, b in pool.peak_committed.items()}
    return stats
