"""The two baseline policies of the VRAM benchmark, on the same simulator as ours."""

from __future__ import annotations

from vram_sim import GPUS_MB, MODELS_MB, Sim, Stats, Workload

__all__ = ["run_ollama", "run_static"]

MAX_LOADED_PER_GPU = 3  # OLLAMA_MAX_LOADED_MODELS' default (3 per GPU)
FREE_FRACTION = 0.8


def run_ollama(work: Workload) -> Stats:
    """Count-limited LRU; evict while the prediction exceeds 80 % of the measured free memory."""
    sim = Sim(work)
    loading: dict[str, str] = {}  # model -> gpu, load in flight
    evicting: set[str] = set()
    blocked: list[str] = []  # models waiting for an idle model to evict
    peak_committed = dict.fromkeys(GPUS_MB, 0.0)

    def on_gpu(gpu: str) -> list[str]:
        return [m for m, g in sim.where.items() if g == gpu and m not in evicting]

    def free(gpu: str) -> float:  # measured: loads in flight are not visible yet
        return GPUS_MB[gpu] - sim.actual_mb[gpu]

    def place(model: str) -> None:
        gpu = max(GPUS_MB, key=free)
        predicted = MODELS_MB[model]
        resident = on_gpu(gpu) + [m for m, g in loading.items() if g == gpu]
        if len(resident) < MAX_LOADED_PER_GPU and predicted <= FREE_FRACTION * free(gpu):
            loading[model] = gpu
            committed = sum(MODELS_MB[m] for m in resident) + predicted
            peak_committed[gpu] = max(peak_committed[gpu], committed)
            sim.at(sim.now + work.load_s_per_gb * predicted / 1024, loaded, model)
            return
        idle = sorted((m for m in on_gpu(gpu) if sim.idle(m)), key=lambda m: sim.last_used[m])
        if not idle:
            blocked.append(model)
            sim.at(sim.now + work.infer_s, retry)
            return
        victim = idle[0]
        evicting.add(victim)
        sim.at(sim.now + work.unload_s, unloaded, victim, model)

    def loaded(model: str) -> None:
        gpu = loading.pop(model)
        ok = sim.materialise(model, gpu)
        sim.flush_waiting(model, ok)

    def unloaded(victim: str, model: str) -> None:
        evicting.discard(victim)
        sim.drop(victim)
        if victim in sim.waiting:
            place(victim)
        place(model)

    def retry() -> None:
        if blocked:
            place(blocked.pop(0))

    def request(model: str) -> None:
        if model in sim.where and model not in evicting:
            sim.serve(model, sim.now, hit=True)
            return
        first = model not in sim.waiting
        sim.waiting.setdefault(model, []).append(sim.now)
        if first and model not in loading and model not in evicting:
            place(model)

    stats = sim.run(request)
    stats.peak_committed_mb = {g: round(v, 1) for g, v in peak_committed.items()}
    return stats


def run_static(work: Workload) -> Stats:
    """The most popular models that fit (by estimate, minus the reserve) loaded at start."""
    sim = Sim(work)
    room = {g: mb - work.reserve_mb for g, mb in GPUS_MB.items()}
    committed = dict.fromkeys(GPUS_MB, 0.0)
    for model in work.popularity:
        gpu = max(room, key=room.get)
        if MODELS_MB[model] <= room[gpu]:
            room[gpu] -= MODELS_MB[model]
            committed[gpu] += MODELS_MB[model]
            sim.materialise(model, gpu)

    def request(model: str) -> None:
        if model in sim.where:
            sim.serve(model, sim.now, hit=True)
        else:
            sim.stats.failed += 1

    stats = sim.run(request)
    stats.peak_committed_mb = {g: round(v, 1) for g, v in committed.items()}
    return stats
