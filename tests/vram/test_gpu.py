"""On a real GPU (``make gpu-check``): the nvml backend, a CUDA model agent under the pool, and the
warm tier's pinned host copies.  Marked ``gpu``: skipped, with the reason, where there is no
CUDA device or NVML does not start; never needed for CI."""

import pytest

from common.model_agent import ModelState, TorchModelAgent
from common.testing.wait import wait_until
from tests.vram.conftest import INTERVAL_S

pytestmark = [pytest.mark.gpu, pytest.mark.torch, pytest.mark.timeout(120)]

MB = 1 << 20
HOSTS = {"main_pc": {"gpu": {"backend": "nvml", "warm_ram_mb": 8192}}}


@pytest.fixture
def gpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device (torch.cuda.is_available() is False)")
    from common.gpu.nvml import NvmlBackend, NvmlUnavailable
    try:
        backend = NvmlBackend()
    except NvmlUnavailable as exc:
        pytest.skip(str(exc))
    yield torch, backend
    backend.close()


def test_nvml_sees_the_gpu_and_this_process_memory(gpu):
    torch, backend = gpu
    (first, *_) = backend.gpus()
    assert first.total_bytes > 0 and first.used_bytes <= first.total_bytes
    before = first.used_bytes
    block = torch.empty(512 * MB, dtype=torch.uint8, device="cuda:0")
    torch.cuda.synchronize()
    assert backend.gpus()[0].used_bytes >= before + 256 * MB
    mine = [p for p in backend.processes() if p.pid == __import__("os").getpid()]
    if mine:  # None where the driver cannot attribute memory (containers without host PIDs)
        assert mine[0].used_bytes >= 512 * MB
    del block


def test_a_cuda_model_agent_leases_loads_reports_and_goes_warm_in_pinned_ram(
        gpu, manager, agents, registry, leases, tmp_path):
    torch, _ = gpu
    manager(hosts=HOSTS, local_host="main_pc", reserve_mb=1024, estimate_margin=0.0)
    agent = agents(TorchModelAgent("CudaModel", registry=registry.endpoint,
                                   heartbeat_interval_s=INTERVAL_S,
                                   settings={"vram_mb": 2048, "hosts": ["main_pc"],
                                             "host_name": "main_pc", "keepalive_interval_s": 0.2,
                                             "weights_dir": str(tmp_path / "weights")}))
    wait_until(lambda: agent.state is ModelState.READY, 60, what="loaded on the GPU")
    assert next(agent.model.parameters()).is_cuda
    client = leases()
    (lease,) = client.status()["leases"]
    assert lease["reported_mb"] >= 2000  # torch.cuda.memory_allocated, or NVML's figure
    for action, tier in (("unload", "warm"), ("load", "resident"), ("unload", "warm")):
        client.client.call("CudaModel", action, {})
        wait_until(lambda tier=tier: client.status()["models"]["CudaModel"]["tier"] == tier, 30,
                   what=f"CudaModel {tier}")
    assert all(p.is_pinned() for p in agent.store.warm.parameters())
    client.client.call("CudaModel", "vram_drop_warm", {})  # as the pool does when RAM is short
    client.client.call("CudaModel", "load", {})
    wait_until(lambda: client.status()["models"]["CudaModel"]["cold_load_s"] is not None, 60,
               what="a load from disk")
    times = client.status()["models"]["CudaModel"]
    assert times["warm_load_s"] < times["cold_load_s"], times
