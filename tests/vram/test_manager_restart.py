"""A restarted ModelManagerAgent (its pool in memory, empty) tells the model agents at once.

Found by the chaos soak: after a kill -9 of the manager the pool knew no lease while the model
agents kept their weights loaded until their next keepalive (5 s in the reference mesh), so
for seconds the pool could grant memory those weights were using.
"""

import time

import pytest

from common.testing.wait import wait_until
from tests.vram.test_processes import MANAGER, holder, lease_of, start_mesh

pytestmark = [pytest.mark.timeout(60), pytest.mark.torch]  # model agents
INTERVAL_S = 0.3
KEEPALIVE_S = 30.0  # the holder would notice the restart this late without the notice


def test_restarted_manager_has_every_holder_back_long_before_their_keepalive(
        procs, tmp_path, client_factory):
    reg, client = start_mesh(procs, tmp_path, client_factory)
    holder(procs, reg, "Holder", 3000, keepalive_interval_s=KEEPALIVE_S)
    wait_until(lambda: lease_of(client, "Holder"), 20, 0.05, "Holder loaded")
    # A holder keeps its lease alive once right after loading; with that one answered, its
    # next keepalive is KEEPALIVE_S away (nothing observable marks it: a bounded pause).
    time.sleep(1.0)
    manager = next(p for p in procs.procs if MANAGER in p.argv)
    manager.kill9()
    restarted_at = time.monotonic()
    procs.agent(reg, "ModelManagerAgent", MANAGER, interval_s=INTERVAL_S,
                extra=manager.argv[manager.argv.index("--settings"):][:2])
    wait_until(lambda: lease_of(client, "Holder"), 15, 0.05, "Holder leased again")  # new pool
    assert time.monotonic() - restarted_at < KEEPALIVE_S / 3
