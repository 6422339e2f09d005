"""The chaos soak's books can fail: a removal no fault explains is a registration lost, a lease
of a dead or replaced holder is leaked, a journal row that changed or vanished is lost."""

import os
import sqlite3
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # packages before benchmarks/*.py

from chaos_invariants import classify, leaked_leases  # noqa: E402
from chaos_migrate import MigrationWorkload  # noqa: E402

from migration import Journal  # noqa: E402

ALIVE = os.getpid()
DEAD = 2**22 + 12345  # above pid_max on Linux: no such process


def removal(name, pid, t_s, instance_id="i1"):
    return {"t_s": t_s, "name": name, "instance_id": instance_id, "pid": pid,
            "alive": pid == ALIVE}


def test_only_removals_no_fault_explains_are_lost():
    faults = [{"kind": "agent_stop", "action": "stop", "pid": ALIVE, "t_s": 10.0,
               "resumed_s": 11.5},
              {"kind": "partition", "action": "partition", "pid": 0, "t_s": 20.0,
               "resumed_s": 22.0}]
    rows = classify([removal("A", DEAD, 5.0), removal("A", ALIVE, 12.0),
                     removal("P", ALIVE, 24.0), removal("M", ALIVE, 30.0),
                     removal("A", ALIVE, 40.0), removal("P", ALIVE, 40.0)],
                    faults, migrated="M", pc2={"P"})
    assert [r["cause"] for r in rows] == ["dead", "paused", "partitioned", "migrated",
                                          "lost", "lost"]


def test_leases_of_dead_replaced_or_doubled_holders_are_leaked():
    def lease(lease_id, name, instance_id, pid):
        return {"lease_id": lease_id, "model": name,
                "holder": {"name": name, "instance_id": instance_id, "pid": pid}}

    leases = [lease("L1", "A", "a2", ALIVE), lease("L2", "B", "b1", ALIVE),
              lease("L3", "C", "c1", DEAD), lease("L4", "A", "a2", ALIVE)]
    leaked = leaked_leases(leases, live={"A": "a2", "B": "b2", "C": "c1"})
    assert [le["lease_id"] for le in leaked] == ["L2", "L3", "L4"]


def test_a_journal_row_changed_or_deleted_after_it_was_seen_is_lost(tmp_path):
    journal = Journal(str(tmp_path / "migrations.db"))
    mid = journal.create({"stages": []}, "change.yaml")
    for step in ("admit", "start", "shift"):
        journal.record(mid, 0, "Leaf", step, "intent")
    journal.close()
    workload = MigrationWorkload(SimpleNamespace(run_dir=str(tmp_path), config_path=None),
                                 "Leaf", every_s=60.0)
    workload._note()
    assert workload.check()["entries_lost"] == 0
    with sqlite3.connect(tmp_path / "migrations.db") as db:
        db.execute("DELETE FROM steps WHERE step='start'")
        db.execute("UPDATE steps SET phase='done' WHERE step='shift'")
    assert workload.check()["entries_lost"] == 2
