"""How fast a revocation cuts a subscription on a launched mesh: writes
benchmarks/results/keys_pub_cut.json.

    .venv/bin/python benchmarks/keys_pub_cut.py [--rounds 5] [--out PATH]

A two-host mesh in curve mode (127.0.17.1 MainPC with the registry, 127.0.17.2 PC2 with its
bundle only, each from its own folder, started by `mesh up`; heartbeat interval 0.3 s, so the
registry publishes a tick every 0.3 s).  An ``intruder`` and the ``operator`` subscribe to the
registry's change events; `mesh keys revoke intruder` runs on MainPC.  Per round: seconds from
the list's signature (its file's mtime) to the intruder's SUB connection being dropped (its
socket monitor's DISCONNECTED) and to the last event it received, and how many events the
operator received in the 1.5 s after the first second (it must keep receiving); then `allow`
again.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curve_hosts import echo_config, two_curve_hosts  # noqa: E402

from common.base_agent import security  # noqa: E402
from common.base_agent.client import Client  # noqa: E402
from common.base_agent.keystore import KeyStore  # noqa: E402
from common.testing.wait import wait_until  # noqa: E402

HOSTS = {"main_pc": "127.0.17.1", "pc2": "127.0.17.2"}
MESH = [sys.executable, "-m", "common.cli.main"]
AFTER_S = 2.5  # watched after each revoke


class _Subscriber:
    """A SUB to the registry's events with identity's keys, and its socket monitor."""

    def __init__(self, ctx: zmq.Context, keys: KeyStore, identity: str, events: str) -> None:
        ring = keys.keyring(identity)
        self.sock = ctx.socket(zmq.SUB)
        self.sock.linger = 0
        self.sock.setsockopt(zmq.RECONNECT_IVL, 10)
        self.sock.curve_serverkey = security.server_key_for(events).encode()
        self.sock.curve_publickey, self.sock.curve_secretkey = ring.public, ring.secret
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.monitor = self.sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self.sock.connect(events)
        self.events: list[float] = []
        self.dropped: list[float] = []

    def pump(self) -> None:
        while self.sock.poll(0):
            self.sock.recv_multipart()
            self.events.append(time.time())
        while self.monitor.poll(0):
            recv_monitor_message(self.monitor)
            self.dropped.append(time.time())

    def close(self) -> None:
        self.sock.disable_monitor()
        self.monitor.close(linger=0)
        self.sock.close(linger=0)


def one_round(main: Path, keys: KeyStore, events: str) -> dict[str, Any]:
    ctx = zmq.Context()
    bad = _Subscriber(ctx, keys, "intruder", events)
    good = _Subscriber(ctx, keys, "operator", events)
    try:
        wait_until(lambda: (bad.pump(), good.pump(),
                            len(bad.events) >= 3 and len(good.events) >= 3)[2], 10, 0.005,
                   "both subscribers receive events")
        cli = subprocess.Popen([*MESH, "keys", "revoke", "intruder"], cwd=main,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while cli.poll() is None:
            bad.pump()
            good.pump()
            time.sleep(0.002)  # polling the subscribers while the CLI runs
        signed = (main / "keys" / "allowlist.json").stat().st_mtime
        end = time.time() + AFTER_S
        while time.time() < end:
            bad.pump()
            good.pump()
            time.sleep(0.002)
        dropped = [t - signed for t in bad.dropped if t > signed]
        return {"intruder_dropped_after_s": round(min(dropped), 3) if dropped else None,
                "intruder_last_event_after_s": round(max(bad.events) - signed, 3),
                "intruder_events_after_1s": sum(t > signed + 1.0 for t in bad.events),
                "operator_events_after_1s": sum(t > signed + 1.0 for t in good.events)}
    finally:
        bad.close()
        good.close()
        ctx.term()
        subprocess.run([*MESH, "keys", "allow", "intruder"], cwd=main, timeout=60,
                       capture_output=True, check=True)


def run(work: Path, rounds: int) -> list[dict[str, Any]]:
    config = echo_config(HOSTS)
    with two_curve_hosts(work, config, HOSTS) as (main, _pc2):
        registry = f"tcp://{HOSTS['main_pc']}:{config['agents'][0]['port']}"
        with Client(source="bench") as client:
            info: dict[str, Any] = {}

            def up() -> bool:
                try:
                    info.update(client.call_endpoint(registry, "info", timeout_s=0.5,
                                                     retries=0))
                    return True
                except Exception:  # noqa: BLE001 - not up yet
                    return False

            wait_until(up, 60, 0.2, "the registry up")
        results = []
        for _ in range(rounds):
            results.append(one_round(main, KeyStore(main / "keys"), info["events_endpoint"]))
            print(json.dumps(results[-1]), flush=True)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" /
                                             "keys_pub_cut.json"))
    args = parser.parse_args()
    result: dict[str, Any] = {"command": f"python benchmarks/keys_pub_cut.py --rounds "
                                         f"{args.rounds}", "cpus": os.cpu_count(),
                              "load_average_at_start": round(os.getloadavg()[0], 1)}
    with tempfile.TemporaryDirectory(prefix="pubcut-", dir="/tmp") as tmp:
        rounds = run(Path(tmp), args.rounds)
    dropped = [r["intruder_dropped_after_s"] for r in rounds
               if r["intruder_dropped_after_s"] is not None]
    result["rounds"] = rounds
    result["intruder_dropped_after_s"] = {
        "median": round(statistics.median(dropped), 3) if dropped else None,
        "max": max(dropped) if dropped else None, "dropped_in": f"{len(dropped)}/{len(rounds)}"}
    result["intruder_events_after_1s"] = sum(r["intruder_events_after_1s"] for r in rounds)
    result["operator_events_after_1s_min"] = min(r["operator_events_after_1s"] for r in rounds)
    result["load_average_at_end"] = round(os.getloadavg()[0], 1)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
