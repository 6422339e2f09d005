"""The DR pieces on their own (fast): config checks, the pair's state table and merge, the
shipping receiver's checks, backup retention."""

import hashlib
import sqlite3

import pytest
import yaml

from common.base_agent.errors import MeshError
from common.config.issues import ConfigError
from common.config.loader import load_config
from common.launcher.backups import prune
from common.launcher.shipping import Receiver, snapshot
from service_registry.bstar import PairEvent, PairRole, PairState, transition
from service_registry.replica import merge
from service_registry.state import RegistryState

pytestmark = pytest.mark.timeout(30)


def config(tmp_path, agent_extra, top=None):
    doc = {"version": 1, **(top or {}),
           "hosts": {"main_pc": {"address": "127.0.14.1", "roles": ["registry"]},
                     "pc2": {"address": "127.0.14.2", "roles": ["registry_replica"]}},
           "agents": [{"name": "S", "host": "pc2", "module": "common.testing.agents:EchoAgent",
                       "port": 17301, **agent_extra}]}
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("extra,top,message", [
    ({"failover": {"host": "pc2"}}, None,
     "agents[0].failover.host: is the agent's own host"),
    ({"failover": {"host": "mars"}}, None, "agents[0].failover.host: unknown host"),
    ({"failover": {"host": "main_pc", "state": "warm"}}, None, "agents[0].failover.state"),
    ({}, {"failover": {"confirm_after_s": 1.0}},
     "failover: confirm_after_s (1) must exceed fence_after_s (1.5)"),
    ({}, {"backup": {"every": "soon"}}, "backup.every"),
])
def test_bad_failover_and_backup_config_is_refused_naming_the_field(tmp_path, extra, top,
                                                                    message):
    with pytest.raises(ConfigError) as refused:
        load_config(config(tmp_path, extra, top))
    assert message in str(refused.value)


def test_failover_only_to_the_registry_host(tmp_path):
    path = config(tmp_path, {"failover": {"host": "main_pc"}})
    doc = yaml.safe_load(path.read_text())
    doc["hosts"]["main_pc"]["roles"] = []
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match="only to the host holding the registry role"):
        load_config(path)


def test_two_active_registries_resolve_to_the_primary():
    both = (PairState.ACTIVE, PairEvent.PEER_ACTIVE)
    assert transition(PairRole.PRIMARY, *both) is PairState.ACTIVE
    assert transition(PairRole.BACKUP, *both) is PairState.PASSIVE
    # a restarted registry never takes over from an active peer
    assert transition(PairRole.PRIMARY, PairState.PRIMARY,
                      PairEvent.PEER_ACTIVE) is PairState.PASSIVE
    # the passive one takes over on a client's vote only
    assert transition(PairRole.BACKUP, PairState.PASSIVE,
                      PairEvent.PEER_EXPIRED) is PairState.PASSIVE
    assert transition(PairRole.BACKUP, PairState.PASSIVE, PairEvent.VOTE) is PairState.ACTIVE


def record(name, iid, endpoint):
    return {"name": name, "instance_id": iid, "endpoint": endpoint}


def test_merge_takes_what_claims_nothing_held():
    state = RegistryState()
    state.register(record("A", "a1", "tcp://h:1"))
    taken = merge(state, {"instances": [record("A", "a2", "tcp://h:9"),  # A is held
                                        record("B", "b1", "tcp://h:1"),  # endpoint held
                                        record("C", "c1", "tcp://h:3")],
                          "admitted": {"C": ["tcp://h:3"]}})
    assert [r["instance_id"] for _, r in taken] == ["c1"]
    assert sorted(state.records) == ["a1", "c1"] and state.admitted == {"C": {"tcp://h:3"}}


def test_receiver_refuses_a_copy_that_does_not_match_and_keeps_the_old(tmp_path):
    db = tmp_path / "src.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (42)")
    data = snapshot(db)
    target = tmp_path / "state" / "S.db"
    receiver = Receiver()
    chunk = {"name": "S", "transfer": "t1", "offset": 0, "total": len(data),
             "sha256": hashlib.sha256(data).hexdigest(), "taken_at": 1.0, "data": data}
    assert receiver.chunk(target, chunk)["complete"]
    with pytest.raises(MeshError, match="checksum"):
        receiver.chunk(target, {**chunk, "transfer": "t2", "data": data[:-1] + b"x"})
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT x FROM t").fetchone() == (42,)
    assert receiver.received == {"S": 1.0}


def test_prune_keeps_the_newest_of_each_host(tmp_path):
    for name in ("pc2-1", "pc2-2", "pc2-3", "main_pc-1", "pc2-4.partial"):
        (tmp_path / name).mkdir()
    gone = prune(tmp_path, "pc2", 2)
    assert [p.name for p in gone] == ["pc2-1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["main_pc-1", "pc2-2", "pc2-3",
                                                          "pc2-4.partial"]
