"""What was promoted stays promoted: the config file is rewritten (comments kept), the previous
file kept beside it and both hashes journaled; rollback writes the previous file back."""

import difflib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from common.cli import migrate_cmd
from common.config import load_config
from common.testing.migrate import GATES, PROBE
from migration.change import AgentChange
from migration.definitions import apply_change, used_ports
from migration.writeback import PROMOTE_STEP, RESTORE_STEP
from migration.yaml_edit import promoted_text
from tests.migration.test_apply import assert_single
from tests.migration.test_resume import forked_apply, in_process

SHIPPED = Path(__file__).resolve().parents[2] / "startup_config.yaml"
LOOSE = {**GATES, "latency_p95_ratio_max": 20.0}  # these tests are about the file, not latency
HEADER = "# Worker mesh of the write-back tests: the operator's notes live in comments"
BEFORE_WORKER = "# Worker: the agent the migrations change"
SETTING_NOTE = "# 5 ms per echo"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


def add_comments(path: Path) -> bytes:
    """The operator's comments in the test mesh's config (its launcher read it already)."""
    text = path.read_text().replace("- name: Worker", f"{BEFORE_WORKER}\n- name: Worker")
    text = text.replace("delay_ms: 5", f"delay_ms: 5  {SETTING_NOTE}")
    path.write_text(f"{HEADER}\n{text}")
    return path.read_bytes()


def promote(run, migrate, port, **change):
    path = migrate.change([{"agent": "Worker", "port": port, "bake_s": 0.3, "gates": LOOSE,
                            "probe": PROBE, **change}])
    result = migrate("apply", path, "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def history(migrate):
    return {m["id"]: m for m in json.loads(migrate("history", "--json").stdout)}


def down_and_up(run):
    """`mesh down`, then `mesh up` again; the foreground launcher is this test's child: it is
    reaped while `mesh down` runs, before the new one starts."""
    up = run.procs.procs[-1]
    down = subprocess.Popen([sys.executable, "-m", "common.cli.main", "down", "--host",
                             "main_pc", "--config", str(run.config_path), "--run-dir",
                             run.run_dir], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    up.proc.wait(20)
    out, _ = down.communicate(timeout=10)
    assert down.returncode == 0, out
    run.up("main_pc")
    run.wait_ready(("main_pc",))


def test_promotion_changes_only_the_changed_keys_of_the_shipped_config(tmp_path):
    path = tmp_path / "startup_config.yaml"
    shutil.copyfile(SHIPPED, path)
    config = load_config(path)
    agent = next(a for a in config.agents if a.settings and a.module)
    port = max(used_ports(config, {})) + 1
    key = next(iter(agent.settings))
    change = AgentChange(agent=agent.name, version="2.0", port=port,
                         settings={key: "changed", "added_key": 1})
    new = apply_change(agent, change, port)
    text = path.read_text()
    written = promoted_text(text, [(agent.model_dump(mode="json", by_alias=True),
                                    new.model_dump(mode="json", by_alias=True))])
    path.write_text(written)
    assert comments(written) == comments(text)
    diff = [d for d in difflib.ndiff(text.splitlines(), written.splitlines())
            if d[:1] in "+-"]
    removed = [d[2:].strip() for d in diff if d.startswith("-")]
    assert all(line.startswith(("port:", "settings:", f"{key}:")) for line in removed), diff
    assert len(diff) <= 8, diff
    after = load_config(path)
    assert [a for a in after.agents if a.name != agent.name] == \
        [a for a in config.agents if a.name != agent.name]
    assert next(a for a in after.agents if a.name == agent.name) == new


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_promotion_is_written_back_runs_after_down_and_up_and_rollback_restores_it(
        worker_mesh, ports):
    run, migrate = worker_mesh
    original = add_comments(run.config_path)
    promote(run, migrate, ports[2], version="2.0", settings={"greeting": "v2"})
    promoted = run.config_path.read_bytes()
    assert comments(promoted.decode()) == comments(original.decode())
    assert SETTING_NOTE in promoted.decode() and HEADER in promoted.decode()
    worker = yaml.safe_load(promoted)["agents"][1]
    assert worker["port"] == ports[2]
    assert worker["settings"] == {"delay_ms": 5, "greeting": "v2"}
    assert worker["env"] == {"MESH_AGENT_VERSION": "2.0"}
    files = history(migrate)[1]["config"][PROMOTE_STEP]
    assert files["path"] == str(run.config_path)
    assert (files["sha256_before"], files["sha256_after"]) == (sha(original), sha(promoted))
    assert Path(files["backup"]).read_bytes() == original

    down_and_up(run)
    assert_single(run, ports[2])
    got = run.client.call_endpoint(f"tcp://127.0.0.1:{ports[2]}", "settings")
    assert got["settings"]["greeting"] == "v2"

    result = migrate("rollback", "1")
    assert "result: rolled_back" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0
    assert run.config_path.read_bytes() == original
    assert_single(run, ports[1])
    restored = history(migrate)[1]["config"][RESTORE_STEP]
    assert (restored["sha256_before"], restored["sha256_after"]) == (sha(promoted),
                                                                    sha(original))
    assert Path(restored["backup"]).read_bytes() == promoted
    assert "sha256" in migrate("show", "1").stdout


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_rollback_after_a_manual_edit_refuses_unless_forced(worker_mesh, ports):
    run, migrate = worker_mesh
    original = add_comments(run.config_path)
    promote(run, migrate, ports[2], settings={"greeting": "v2"})
    promoted = run.config_path.read_bytes()
    edited = promoted + b"# edited by hand after the promotion\n"
    run.config_path.write_bytes(edited)

    refused = migrate("rollback", "1")
    said = "".join(refused.stderr.split())
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert sha(promoted) in said and sha(edited) in said and "--force" in said
    assert history(migrate)[1]["state"] == "done"
    assert run.config_path.read_bytes() == edited
    assert_single(run, ports[2])

    forced = migrate("rollback", "1", "--force")
    assert "result: rolled_back" in forced.stdout, forced.stdout + forced.stderr
    assert run.config_path.read_bytes() == original
    kept = history(migrate)[1]["config"][RESTORE_STEP]["backup"]
    assert Path(kept).read_bytes() == edited
    assert_single(run, ports[1])


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_kill9_around_the_config_write_is_finished_by_resume(worker_mesh, ports):
    """Killed before the write (file untouched), after it (written, not journaled): resume
    tells which from the file's hash and finishes; the rollback's write likewise."""
    run, migrate = worker_mesh
    files = []
    for mid, (phase, port) in enumerate([("after", ports[2]), ("before", ports[3])], 1):
        before = run.config_path.read_bytes()
        path = migrate.change([{"agent": "Worker", "settings": {"n": mid}, "port": port,
                                "bake_s": 0.3, "gates": LOOSE, "probe": PROBE}])
        status = forked_apply(run, path, f"{PROMOTE_STEP}@{phase}")
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        assert (run.config_path.read_bytes() == before) == (phase == "before")
        assert in_process(migrate_cmd.resume, None, str(run.config_path), run.run_dir,
                          None) == 0
        record = history(migrate)[mid]
        assert record["state"] == "done"
        files.append(record["config"][PROMOTE_STEP])
        assert files[-1]["sha256_before"] == sha(before)
        assert files[-1]["sha256_after"] == sha(run.config_path.read_bytes())
        assert yaml.safe_load(run.config_path.read_text())["agents"][1]["port"] == port
        assert_single(run, port)

    killed = migrate("rollback", "2", fault=f"{RESTORE_STEP}@after")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert in_process(migrate_cmd.resume, None, str(run.config_path), run.run_dir, None) == 0
    assert history(migrate)[2]["state"] == "rolled_back"
    assert sha(run.config_path.read_bytes()) == files[1]["sha256_before"]
    assert_single(run, ports[2])
