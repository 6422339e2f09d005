"""The original's crash-looper under the launcher (issue 18, item 3): it swallows its
exception and exits 0 shortly after each start, and is flagged as a crash loop."""

from legacy_helpers import MEMORY, legacy_entry


def test_script_exiting_zero_after_a_swallowed_exception_is_flagged(mesh, ports):
    entry = legacy_entry("MemoryOrchestratorService", "main_pc", MEMORY, ports[0], ports[1],
                         env={"MEMORY_ORCHESTRATOR_PORT": "${PORT}",
                              "MEMORY_ORCHESTRATOR_HEALTH_PORT": "${HEALTH_PORT}",
                              "MEMORY_ORCHESTRATOR_FAIL_AFTER_S": "0.5"},
                         restart={"stable_s": 5, "crash_loop_starts": 3,
                                  "backoff_initial_s": 0.1, "backoff_max_s": 0.2},
                         # never killed as hung on a busy machine: every exit is its own
                         health={"timeout_s": 3, "retries": 3})
    run = mesh([entry])
    run.up("main_pc")
    agent = run.wait(("main_pc",), lambda a: a["MemoryOrchestratorService"]["crash_loop"],
                     timeout_s=30, what="the crash loop flagged")["MemoryOrchestratorService"]
    assert agent["last_exit_code"] == 0 and agent["restarts"] >= 2
    events = run.status("main_pc")["events"]
    loop = [e for e in events if e["event"] == "crash_loop"]
    assert loop and all(e["code"] == 0 and e["starts"] >= 3 for e in loop), loop
    log = (run.workdir / "logs" / "main_pc" / "MemoryOrchestratorService.log").read_text()
    assert "lost the connection to redis" in log  # the swallowed exception, logged by it
