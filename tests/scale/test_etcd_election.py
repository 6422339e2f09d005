"""Leaders by election on a real etcd: one leader, a fast handover on resignation, a new
leader after the holder goes silent, and no leader while etcd has no quorum."""

from __future__ import annotations

import pytest

from common.election import Election, current_leader
from common.etcd import EtcdClient
from common.testing.etcd import EtcdCluster, etcd_unavailable_reason
from common.testing.mesh import free_ports
from common.testing.wait import wait_until

pytestmark = pytest.mark.skipif(etcd_unavailable_reason() is not None,
                                reason=str(etcd_unavailable_reason()))


@pytest.fixture
def etcd(tmp_path):
    host = "127.0.12.1"
    with EtcdCluster(tmp_path / "etcd", [host], tuple(free_ports(2, host))) as cluster:
        yield cluster


@pytest.fixture
def candidates(etcd):
    made = [Election(etcd.endpoints, "hub_central", f"hub-{i}").start() for i in range(3)]
    yield made
    for election in made:
        election.stop()


def _leaders(candidates):
    return [c.candidate for c in candidates if c.is_leader]


def test_exactly_one_leader_and_etcd_names_it(etcd, candidates):
    leader = wait_until(lambda: _leaders(candidates), 5.0, what="a leader")
    assert len(leader) == 1
    assert current_leader(EtcdClient(etcd.endpoints), "hub_central") == leader[0]
    wait_until(lambda: all(c.holder == leader[0] for c in candidates), 2.0,
               what="every candidate knows the leader")


def test_a_resigning_leader_is_replaced_at_once_and_a_silent_one_within_the_ttl(candidates):
    first = wait_until(lambda: [c for c in candidates if c.is_leader], 5.0)[0]
    first.stop()  # resigns: its lease is revoked
    second = wait_until(lambda: [c for c in candidates if c.is_leader], 1.0,
                        what="a new leader within 1 s of a resignation")[0]
    assert second is not first
    second._stop.set()  # its thread ends as in a dead process: no keep-alive, no revoke
    wait_until(lambda: not second.is_leader, 2.0, what="the silent leader steps down")
    third = wait_until(lambda: [c for c in candidates if c.is_leader and c is not second],
                       3.5, what="a new leader within the TTL and a claim period")
    assert len(third) == 1 and third[0] is not first


def test_no_leader_without_etcd(etcd, candidates):
    wait_until(lambda: _leaders(candidates), 5.0, what="a leader")
    etcd.close()
    wait_until(lambda: not _leaders(candidates), 2.5, what="the leader steps down")
    etcd.restart(0)
    wait_until(lambda: len(_leaders(candidates)) == 1, 8.0, what="one leader again")
