"""The failover state machine: Binary Star transitions, and impossible ones raise."""

import pytest

from common.hub.protocol import Role
from observability_hub.states import FailoverError, HubEvent, HubState, initial_state, transition

pytestmark = pytest.mark.timeout(10)


def run(role, events):
    state = initial_state(role)
    for event in events:
        state = transition(role, state, event)
    return state


def test_central_becomes_active_when_edge_is_backup_or_passive():
    assert run(Role.CENTRAL, [HubEvent.PEER_BACKUP]) is HubState.ACTIVE
    assert run(Role.CENTRAL, [HubEvent.PEER_PASSIVE]) is HubState.ACTIVE


def test_returning_central_waits_for_sync_before_going_active():
    assert run(Role.CENTRAL, [HubEvent.PEER_ACTIVE]) is HubState.PRIMARY
    assert run(Role.CENTRAL, [HubEvent.PEER_ACTIVE, HubEvent.SYNCED]) is HubState.ACTIVE


def test_edge_takes_over_only_on_a_vote():
    passive = [HubEvent.PEER_ACTIVE]
    assert run(Role.EDGE, [*passive, HubEvent.PEER_EXPIRED]) is HubState.PASSIVE
    assert run(Role.EDGE, [*passive, HubEvent.PEER_EXPIRED, HubEvent.VOTE]) is HubState.ACTIVE


def test_edge_hands_over_when_central_pulls_its_state():
    active = [HubEvent.PEER_ACTIVE, HubEvent.PEER_EXPIRED, HubEvent.VOTE]
    assert run(Role.EDGE, [*active, HubEvent.PEER_PRIMARY]) is HubState.ACTIVE
    assert run(Role.EDGE, [*active, HubEvent.PEER_PRIMARY, HubEvent.HANDOVER]) \
        is HubState.PASSIVE


@pytest.mark.parametrize("role,event", [(Role.CENTRAL, HubEvent.PEER_PRIMARY),
                                        (Role.CENTRAL, HubEvent.HANDOVER),
                                        (Role.EDGE, HubEvent.PEER_BACKUP),
                                        (Role.EDGE, HubEvent.SYNCED)])
def test_impossible_transitions_raise(role, event):
    with pytest.raises(FailoverError):
        transition(role, HubState.ACTIVE, event)


def test_two_central_hubs_do_not_crash_each_other(hub_pair, client_factory):
    central, _ = hub_pair()
    other = client_factory().call_endpoint(central.endpoint, "hub_peer",
                                           {"hub": "Rogue", "role": "central",
                                            "state": "primary"})
    assert other["role"] == "central"  # answered; the impossible state was logged, not raised
    assert central.ready.is_set() and central._thread.is_alive()
