"""`mesh config import-legacy` (issue 18, item 7): the rebuilt legacy pair becomes one
version-1 config, its defects fixed and commented, that `mesh config check` accepts."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

LEGACY = Path(__file__).parent.parent / "config" / "legacy"
PAIR = [str(LEGACY / "pc2_startup_config.yaml"), str(LEGACY / "main_pc_startup_config.yaml")]


def mesh(*args):
    return subprocess.run([sys.executable, "-m", "common.cli.main", *args],
                          capture_output=True, text=True, timeout=60)


def test_the_legacy_pair_imports_to_a_config_that_check_accepts(tmp_path):
    out = tmp_path / "startup_config.yaml"
    done = mesh("config", "import-legacy", *PAIR, "-o", str(out), "--root", "/srv/original")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out}: 77 agents, 34 fixes")
    text = out.read_text()
    assert "  # StreamingTTSAgent: FIX: no longer depends on TTSService: that closed the " \
           "dependency cycle TTSService -> StreamingInterruptHandler -> StreamingTTSAgent " \
           "-> TTSService" in text
    assert "  # VisionProcessingAgent: FIX: port 7150 -> " in text
    assert text.count(": FIX: health_port ") == 31  # each hidden-port clash, moved
    checked = mesh("config", "check", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith(f"OK {out}: 77 agents on 2 hosts (main_pc 54, pc2 23)")
    data = yaml.safe_load(text)
    assert all(a["script_path"] and a["cwd"] == "/srv/original" for a in data["agents"])
    assert "TTSService" not in next(a for a in data["agents"]
                                    if a["name"] == "StreamingTTSAgent")["dependencies"]


def test_existing_output_is_kept_and_json_lists_the_fixes(tmp_path):
    out = tmp_path / "startup_config.yaml"
    out.write_text("mine\n")
    refused = mesh("config", "import-legacy", *PAIR, "-o", str(out))
    assert refused.returncode == 2 and "exists; give --force" in refused.stderr
    assert out.read_text() == "mine\n"
    done = mesh("config", "import-legacy", *PAIR, "-o", str(out), "--force", "--json")
    report = json.loads(done.stdout)
    assert report["ok"] and report["agents"] == 77 and len(report["fixes"]) == 34
    assert {"where": "hosts.pc2", "what": "env.PYTHONPATH is '${PYTHONPATH}:${PWD}/..': the "
            "launcher passes it as written, without shell expansion"} in report["fixes"]


def test_a_file_that_is_not_the_originals_is_refused_naming_it(tmp_path):
    bad = tmp_path / "other.yaml"
    bad.write_text("version: 1\nhosts: {}\n")
    done = mesh("config", "import-legacy", str(bad))
    assert done.returncode == 2
    assert f"{bad}" in done.stderr and "not one of the original's two startup files" \
        in done.stderr
