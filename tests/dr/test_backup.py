"""mesh backup under write load -> mesh down -> state wiped -> mesh restore -> mesh up: the
registrations, admissions, migration history, hub history and stored memories written before
the backup are back.  A truncated, an altered and a wrong-version backup are each refused
with exit 2 naming the problem, and touch nothing."""

import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import yaml

from common.backup import verify
from common.base_agent.client import Client
from common.testing.mesh import free_ports
from common.testing.wait import wait_until
from migration.journal import Journal
from service_registry.store import SqliteBackend

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
A, B = "127.0.14.1", "127.0.14.2"
STATE = ("logs", "state", "run")


def mesh_config():
    ports = free_ports(6, A)
    return {
        "version": 1,
        "global": {"heartbeat_interval_s": 0.5, "stop_timeout_s": 3, "log_dir": "logs",
                   "health": {"interval_s": 0.3, "timeout_s": 0.5, "retries": 3,
                              "start_period_s": 15}},
        "backup": {"every": 3, "keep": 2},
        "hosts": {"main_pc": {"address": A, "roles": ["registry", "hub_central"],
                              "launcher_port": ports[0], "env": {"MESH_STATE_DIR": "state"}},
                  "pc2": {"address": B, "launcher_port": ports[1],
                          "env": {"MESH_STATE_DIR": "state"}}},
        "agents": [
            {"name": "ServiceRegistry", "host": "main_pc", "service": "registry",
             "module": "service_registry.agent:ServiceRegistry", "port": ports[2]},
            {"name": "ObservabilityHub", "host": "main_pc", "service": "hub",
             "module": "observability_hub.hub:ObservabilityHub", "port": ports[3],
             "ports": {"http_port": ports[4]}},
            {"name": "Memory", "host": "pc2", "module": "common.kinds.store:StoreAgent",
             "port": ports[5]},
        ],
    }


def mesh(folder, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "common.cli.main", *args, "--config",
                           "mesh.yaml"], cwd=folder, capture_output=True, text=True,
                          timeout=timeout)


def up(folder):
    return subprocess.Popen([sys.executable, "-m", "common.cli.main", "up", "--host", "all",
                             "--config", "mesh.yaml", "--detach"], cwd=folder,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_backup_under_load_then_wipe_restore_up(tmp_path):
    cfg = mesh_config()
    (tmp_path / "mesh.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    registry = f"tcp://{A}:{cfg['agents'][0]['port']}"
    client = Client(registry, source="test")
    stop = threading.Event()
    try:
        assert up(tmp_path).wait(60) == 0
        wait_until(lambda: _answers(client, "Memory"), 40, interval_s=0.2, what="mesh up")
        client.call("Memory", "store", {"text": "remember the milk", "key": "milk"},
                    idempotent=False)
        client.call_registry("admit", {"name": "Memory", "endpoints": ["tcp://10.0.0.9:1"]})
        journal = Journal(str(tmp_path / "run" / "migrations.db"))
        mid = journal.create({"stages": []}, "change.yaml")
        journal.close()
        writer = threading.Thread(target=_write_load, args=(registry, stop), daemon=True)
        writer.start()
        out = mesh(tmp_path, "backup", "--to", "b1", "--json")
        assert out.returncode == 0, out.stderr
        manifest = json.loads(out.stdout)
        kinds = {e["kind"] for e in manifest["files"]}
        assert {"registry", "hub", "store", "journal", "config", "vram"} <= kinds, kinds
        stop.set()
        writer.join(5)
        _scheduled_backups_kept(tmp_path)
        assert mesh(tmp_path, "down").returncode == 0
        for folder in STATE:
            shutil.rmtree(tmp_path / folder, ignore_errors=True)

        _refused_each_way(tmp_path)
        out = mesh(tmp_path, "restore", "b1")
        assert out.returncode == 0, out.stderr
        _restored_files_hold_the_past(tmp_path)
        assert up(tmp_path).wait(60) == 0
        got = wait_until(lambda: _answers(client, "Memory", "milk"), 40, interval_s=0.2,
                         what="the restored store answering")
        assert got["text"] == "remember the milk"
        snap = client.call_registry("snapshot")
        assert snap["admitted"] == {"Memory": ["tcp://10.0.0.9:1"]}
        history = Journal(str(tmp_path / "run" / "migrations.db")).history()
        assert [m["id"] for m in history] == [mid]
    finally:
        stop.set()
        mesh(tmp_path, "down")
        client.close()


def _refused_each_way(tmp_path):
    bad = {}
    for name in ("truncated", "altered", "version"):
        shutil.copytree(tmp_path / "b1", tmp_path / name)
        bad[name] = tmp_path / name
    manifest = json.loads((tmp_path / "b1" / "manifest.json").read_text())
    store = next(e["file"] for e in manifest["files"] if e["kind"] == "store")
    data = (tmp_path / "b1" / store).read_bytes()
    (bad["truncated"] / store).write_bytes(data[: len(data) // 2])
    (bad["altered"] / store).write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    manifest["format"] = 2
    (bad["version"] / "manifest.json").write_text(json.dumps(manifest))
    for name, words in (("truncated", "truncated"), ("altered", "checksum"),
                        ("version", "format 2")):
        out = mesh(tmp_path, "restore", name)
        assert out.returncode == 2 and words in out.stderr, (name, out.stderr)
        assert not any((tmp_path / folder).exists() for folder in STATE), name


def _scheduled_backups_kept(tmp_path):
    """backup: {every: 3, keep: 2}: each launcher's own backups, the newest two, each whole."""
    def kept(host):
        found = sorted((tmp_path / "backups").glob(f"{host}-*"))
        return found if len(found) == 2 and not any(p.suffix == ".partial" for p in found) \
            else None

    for host in ("main_pc", "pc2"):
        for folder in wait_until(lambda h=host: kept(h), 15, interval_s=0.2,
                                 what=f"{host}'s scheduled backups"):
            kinds = {e["kind"] for e in verify(folder)["files"]}
            assert ("journal" in kinds) == (host == "main_pc"), kinds
            assert ("store" in kinds) == (host == "pc2"), kinds


def _restored_files_hold_the_past(tmp_path):
    """Before anything runs again: the registrations and the hub's history are on disk."""
    _, records = SqliteBackend(tmp_path / "logs" / "registry.db").load()
    assert {"ServiceRegistry", "ObservabilityHub", "Memory"} <= {r["name"] for r in records}
    events = sqlite3.connect(tmp_path / "logs" / "ObservabilityHub.events.db")
    try:
        assert events.execute("SELECT COUNT(*) FROM events").fetchone()[0] > 0
    finally:
        events.close()


def _answers(client, name, key=None):
    try:
        client.invalidate(name)
        if key is None:
            return client.call(name, "stats", timeout_s=0.5, retries=0)
        return client.call(name, "get", {"key": key}, timeout_s=0.5, retries=0)
    except Exception:  # noqa: BLE001 - not up yet
        return None


def _write_load(registry, stop):
    with Client(registry, source="load") as client:
        n = 0
        while not stop.is_set():
            try:
                client.call("Memory", "store", {"text": f"load {n}"}, timeout_s=1.0,
                            idempotent=False)
            except Exception:  # noqa: BLE001 - the load goes on whatever one call does
                time.sleep(0.05)
            n += 1
