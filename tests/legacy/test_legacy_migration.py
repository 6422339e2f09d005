"""Migrating a legacy script to a BaseAgent module blue/green under load (issue 18, item 8):
the launcher-registered script keeps serving its callers until the module instance is
preferred, and not one request fails."""

import pytest
import yaml
from legacy_helpers import model_loader

from common.testing.migrate import GATES, PROBE, Load, Migrate, registry_endpoint, worker_serving

MODULE = "common.testing.legacy:ModelLoader"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_legacy_script_migrates_to_a_module_with_no_failed_request(mesh, ports, tmp_path):
    worker = {**model_loader(ports[1], ports[3], health={"ports": ["port"]}), "name": "Worker",
              "dependencies": ["ServiceRegistry"]}
    run = mesh([{"name": "ServiceRegistry", "host": "main_pc", "service": "registry",
                 "module": "service_registry.agent:ServiceRegistry", "port": ports[0]}, worker],
               health={"interval_s": 0.2, "timeout_s": 0.5, "retries": 3})
    run.up("main_pc")
    run.wait(("main_pc",), lambda a: worker_serving(run, ports[1]), timeout_s=30,
             what="the script registered by its launcher")
    load = Load(registry_endpoint(run))
    load.thread.start()
    migrate = Migrate(run, tmp_path)
    # the script answers from a bare REP socket (~1 ms); the module's p95 on this shared
    # 2-core machine is several ms more, which is not the regression the gate looks for
    gates = {**GATES, "latency_floor_ms": 50}
    path = migrate.change([{"agent": "Worker", "module": MODULE, "port": ports[2],
                            "bake_s": 1.5, "gates": gates, "probe": PROBE}])
    plan = migrate("plan", path)
    assert "legacy" in plan.stdout, plan.stdout
    result = migrate("apply", path, "--yes")
    load.stop.set()
    load.thread.join(5)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "result: done" in result.stdout
    print(f"load during the migration: {load.ok} ok, {load.failed} failed")
    assert load.ok > 100 and load.failed == 0, load.errors[:3]
    run.wait(("main_pc",), lambda a: worker_serving(run, ports[2]), timeout_s=10,
             what="only the module instance serving")
    got = run.client.call_endpoint(f"tcp://127.0.0.1:{ports[2]}", "echo", {"text": "hi"})
    assert got == {"status": "success", "echo": "hi", "agent": "Worker"}
    promoted = yaml.safe_load(run.config_path.read_text())["agents"][1]
    assert promoted["module"] == MODULE and "script_path" not in promoted
