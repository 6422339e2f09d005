"""kill -9 of the migrate process at every step, then `mesh migrate resume`: never half done.

The migrate process is forked from the test (the CLI's own code, modules already imported) so
that eight kills fit the time budget; it SIGKILLs itself at the step (MESH_MIGRATE_FAULT).
"""

import json
import os
import signal

import pytest
import typer

from common.cli import migrate_cmd
from common.testing.migrate import GATES, PROBE
from tests.migration.test_apply import assert_single

STEPS = ["admit", "start", "ready", "bake", "promote", "finish"]
LOOSE = {**GATES, "latency_p95_ratio_max": 20.0}  # this test is about the journal, not latency


def forked_apply(run, path, fault):
    pid = os.fork()
    if pid == 0:  # the migrate process
        code = 1
        try:
            os.environ["MESH_MIGRATE_FAULT"] = fault
            migrate_cmd.apply(path, str(run.config_path), run.run_dir, None, [], None, True,
                              False)
        except typer.Exit as exc:
            code = exc.exit_code
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1]


def in_process(command, *args):
    try:
        command(*args)
    except typer.Exit as exc:
        return exc.exit_code
    return 0


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_kill9_at_each_step_is_recovered_by_resume(worker_mesh, ports):
    run, migrate = worker_mesh
    port = ports[1]
    for i, step in enumerate(STEPS):
        phase = "before" if i % 2 else "after"
        new_port = ports[2] if port != ports[2] else ports[3]
        path = migrate.change([{"agent": "Worker", "settings": {"n": i}, "port": new_port,
                                "bake_s": 0.3, "gates": LOOSE, "probe": PROBE}])
        status = forked_apply(run, path, f"{step}@{phase}")
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, step
        code = in_process(migrate_cmd.resume, None, str(run.config_path), run.run_dir, None)
        assert code == 0, step
        assert_single(run, new_port)
        got = run.client.call_endpoint(f"tcp://127.0.0.1:{new_port}", "settings")
        assert got["settings"]["n"] == i, step
        port = new_port
    history = json.loads(migrate("history", "--json").stdout)
    assert [m["state"] for m in history] == ["done"] * len(STEPS)


@pytest.mark.slow
def test_manual_rollback_of_a_finished_migration(worker_mesh, ports):
    run, migrate = worker_mesh
    path = migrate.change([{"agent": "Worker", "settings": {"n": 1}, "port": ports[2],
                            "bake_s": 0.3, "gates": LOOSE, "probe": PROBE}])
    assert migrate("apply", path, "--yes").returncode == 0
    result = migrate("rollback", "1")
    assert "result: rolled_back" in result.stdout, result.stdout + result.stderr
    assert_single(run, ports[1])
