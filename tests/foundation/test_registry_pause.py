"""A paused registry does not expire live instances for the silence it caused itself.

Found by the chaos soak: after a SIGSTOP of 1.6 s the registry read only part of the heartbeats
queued meanwhile before its expiry sweep ran, and expired seven live agents on SIGCONT.
"""

import signal
import time

import pytest

from common.testing.wait import wait_registered, wait_until

INTERVAL_S = 0.2  # TTL 0.5 s
PAUSE_S = 1.5


@pytest.mark.timeout(60)
def test_registry_sigstop_expires_no_live_instance(procs, tmp_path, client_factory):
    reg = procs.registry(str(tmp_path / "reg.db"), interval_s=INTERVAL_S)
    client = client_factory(reg.endpoint)
    names = [f"Live{i}" for i in range(5)]
    for name in names:
        procs.agent(reg.endpoint, name, interval_s=INTERVAL_S)
    before = {name: _record(client, reg, name) for name in names}
    reg.signal(signal.SIGSTOP)
    try:
        time.sleep(PAUSE_S)  # the fault: the registry paused this long
    finally:
        reg.signal(signal.SIGCONT)
    # every agent finds the registry again (re-registering if it gave up on it meanwhile)
    wait_until(lambda: all(client.call_endpoint(reg.endpoint, "lookup", {"name": n})
                           for n in names), 10, interval_s=0.05, what="all registered")
    time.sleep(3 * INTERVAL_S)  # beyond the TTL: what matters is who is left after it
    assert {name: _record(client, reg, name) for name in names} == before


def _record(client, reg, name):
    found = wait_registered(client, name)
    assert len(found) == 1
    return found[0]["instance_id"], found[0]["registered_at"]
