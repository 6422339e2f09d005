"""What CURVE costs, and how fast a revocation reaches and cuts: writes
benchmarks/results/security.json.

    .venv/bin/python benchmarks/security.py [--trials 2] [--calls 3000] [--out PATH]

Plain and curve are measured in one run, on the same machine, one after the other:
  * call path: an EchoAgent in its own process at 127.0.15.1, called from here: sequential
    ``health`` calls through the Client (p50/p99), and a pipelined DEALER (window 200) for the
    rate;
  * the per-request allow-list check on its own: draining the same queued requests from a
    CURVE ROUTER with and without it (``ZapResponder.recv`` vs ``recv_frames``);
  * start-up of the reference mesh (startup_config.yaml moved to 127.0.15.1/.2 and a port
    offset): from `mesh up --host all` to every agent ready, and the CPU the idle mesh then
    uses over IDLE_S (launchers, fork servers and every agent);
  * revocation: a small two-host mesh (127.0.15.1 MainPC with every key, 127.0.15.2 PC2 with
    its bundle only, each from its own folder); an identity streams requests to a PC2 agent
    while `mesh keys revoke` runs on MainPC: seconds from the signature to PC2's launcher
    installing the list, and to the last answer the stream got; then `allow` again.
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

import psutil
import yaml
import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curve_hosts import echo_config, two_curve_hosts  # noqa: E402

from common.base_agent import protocol, security  # noqa: E402
from common.base_agent.client import Client  # noqa: E402
from common.base_agent.keystore import KeyStore  # noqa: E402
from common.base_agent.sockets import bind, new_socket, recv_frames  # noqa: E402
from common.base_agent.zap import ZapResponder  # noqa: E402
from common.testing.mesh import MeshRun  # noqa: E402
from common.testing.processes import ProcessTracker  # noqa: E402
from common.testing.reference import reference_config  # noqa: E402
from common.testing.wait import wait_until  # noqa: E402

HOSTS = {"main_pc": "127.0.15.1", "pc2": "127.0.15.2"}
OFFSET = 15000
IDLE_S = 10.0
WINDOW = 200
MESH = [sys.executable, "-m", "common.cli.main"]
ECHO = """
import sys
from common.base_agent.agent import BaseAgent
agent = BaseAgent("Echo", sys.argv[1])
agent.setup()
print(agent.endpoint, flush=True)
agent.run()
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def make_keys(folder: Path, extra: tuple[str, ...] = ()) -> KeyStore:
    store = KeyStore(folder)
    store.init(list(HOSTS), ["Echo", "operator", "launcher-main_pc", "launcher-pc2", *extra])
    return store


def use(mode: str, store: KeyStore) -> None:
    if mode == "curve":
        security.configure(store.dir, "operator", "main_pc", HOSTS)
    else:
        security.configure(None)


def call_path(mode: str, store: KeyStore, calls: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MESH_KEYS_DIR", None)
    if mode == "curve":
        env.update(security.child_env("Echo"))
        env[security.HOST_ENV] = "main_pc"
    proc = subprocess.Popen([sys.executable, "-c", ECHO, f"tcp://{HOSTS['main_pc']}:0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        assert proc.stdout is not None
        endpoint = proc.stdout.readline().strip()
        with Client(source="bench") as client:
            for _ in range(200):  # warm: the handshake, the caches
                client.call_endpoint(endpoint, "health", timeout_s=5)
            lat = []
            for _ in range(calls):
                t0 = time.perf_counter()
                client.call_endpoint(endpoint, "health", timeout_s=5)
                lat.append((time.perf_counter() - t0) * 1e6)
        rate = pipelined(endpoint, calls * 5)
        return {"p50_us": round(pct(lat, 0.5), 1), "p99_us": round(pct(lat, 0.99), 1),
                "pipelined_per_s": round(rate)}
    finally:
        proc.terminate()
        proc.wait(10)


def pipelined(endpoint: str, total: int) -> float:
    ctx = zmq.Context()
    sock = new_socket(ctx, zmq.DEALER)
    security.secure_client(sock, endpoint)
    sock.connect(endpoint)
    frames = protocol.encode_request(protocol.Request("health", None, source="bench"))
    sent = got = 0
    t0 = time.perf_counter()
    while got < total:
        while sent < total and sent - got < WINDOW:
            sock.send_multipart(frames)
            sent += 1
        if sock.poll(5000):
            sock.recv_multipart()
            got += 1
        else:
            raise TimeoutError(f"pipelined: no reply after {got} of {total}")
    elapsed = time.perf_counter() - t0
    sock.close(linger=0)
    ctx.term()
    return total / elapsed


def check_cost(store: KeyStore, n: int = 50_000) -> dict[str, Any]:
    """Drain n queued requests from a CURVE ROUTER with and without the User-Id check."""
    use("curve", store)
    ctx = zmq.Context()
    zap = ZapResponder(ctx, store, security.allow_view())  # type: ignore[arg-type]
    router = new_socket(ctx, zmq.ROUTER, hwm=n * 2)
    endpoint = bind(router, f"tcp://{HOSTS['main_pc']}:0")
    dealer = new_socket(ctx, zmq.DEALER, hwm=n * 2)
    security.secure_client(dealer, endpoint)
    dealer.connect(endpoint)
    frames = protocol.encode_request(protocol.Request("health", None, source="bench"))
    dealer.send_multipart(frames)
    deadline = time.monotonic() + 10
    while not router.poll(10):  # the handshake asks our ZAP handler first
        zap.on_readable()
        if time.monotonic() > deadline:
            raise TimeoutError("no handshake")
    recv_frames(router)
    out = {}
    for label, read in (("without_check", lambda: recv_frames(router, zmq.NOBLOCK)),
                        ("with_check", lambda: zap.recv(router)),
                        ("without_check_again", lambda: recv_frames(router, zmq.NOBLOCK))):
        for _ in range(n):
            dealer.send_multipart(frames)
        time.sleep(1.5)  # let all n arrive: the drain below times reading only
        t0 = time.perf_counter()
        for _ in range(n):
            if read() is None:
                raise AssertionError("the check dropped an allowed request")
        out[label] = round((time.perf_counter() - t0) / n * 1e6, 3)
    out["check_us_per_request"] = round(
        out["with_check"] - (out["without_check"] + out["without_check_again"]) / 2, 3)
    for sock in (dealer, router):
        sock.close(linger=0)
    zap.close()
    ctx.term()
    use("plain", store)
    return {"requests": n, "us_per_request": out}


def start_reference(mode: str, work: Path) -> dict[str, Any]:
    config = reference_config(work, OFFSET, addresses=HOSTS)
    if mode == "curve":
        config["global"].update(security="curve", keys_dir=str(work / "keys"))
    (work / "mesh.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    if mode == "curve":
        made = subprocess.run([*MESH, "keys", "init", "--config", str(work / "mesh.yaml")],
                              capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        security.configure(work / "keys", "operator", None, HOSTS)
    else:
        security.configure(None)
    procs = ProcessTracker(str(work))
    run = MeshRun(procs, work, config)
    try:
        t0 = time.monotonic()
        up = run.up()
        run.wait(tuple(HOSTS), lambda a: len(a) == len(config["agents"]) and all(
            x["ready"] for x in a.values()), timeout_s=240, what="every agent ready")
        ready_s = time.monotonic() - t0
        root = psutil.Process(up.proc.pid)
        tree = [root, *root.children(recursive=True)]
        before = sum(_cpu(p) for p in tree)
        time.sleep(IDLE_S)  # measuring idle: nothing to wait for
        idle = (sum(_cpu(p) for p in tree) - before) / IDLE_S
        return {"all_ready_s": round(ready_s, 2), "idle_cpu_cores": round(idle, 3),
                "processes": len(tree)}
    finally:
        subprocess.run([*MESH, "down", "--config", str(work / "mesh.yaml")],
                       capture_output=True, timeout=120)
        run.close()
        procs.close()
        security.configure(None)


def _cpu(proc: psutil.Process) -> float:
    try:
        times = proc.cpu_times()
        return times.user + times.system
    except psutil.NoSuchProcess:
        return 0.0


def revocation(work: Path, rounds: int) -> dict[str, Any]:
    config = echo_config(HOSTS)
    ports = [agent["port"] for agent in config["agents"]]
    with two_curve_hosts(work, config, HOSTS) as (main, pc2):
        return _revocations(main, pc2, ports, rounds)


def _revocations(main: Path, pc2: Path, ports: list[int], rounds: int) -> dict[str, Any]:
    keys = KeyStore(main / "keys")
    b_endpoint = f"tcp://{HOSTS['pc2']}:{ports[2]}"
    reached, cut, allowed = [], [], []
    with Client(source="bench") as client:
        wait_until(lambda: _answers(client, b_endpoint), 60, 0.2, "PC2's agent B up")
    for _ in range(rounds):
        stream = _Stream(b_endpoint, keys)
        wait_until(lambda s=stream: s.step() or len(s.answered) > 10, 10, 0,
                   "B answering the intruder")
        before = _version(pc2)
        cli = subprocess.Popen([*MESH, "keys", "revoke", "intruder"], cwd=main,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while cli.poll() is None:
            stream.step()
        signed = (main / "keys" / "allowlist.json").stat().st_mtime
        end = time.time() + 3.0
        while time.time() < end:
            stream.step()
        wait_until(lambda b=before: _version(pc2) > b, 10, 0.01, "PC2 has the list")
        reached.append((pc2 / "keys" / "allowlist.json").stat().st_mtime - signed)
        cut.append(max(stream.answered) - signed)
        stream.close()
        before = _version(pc2)
        subprocess.run([*MESH, "keys", "allow", "intruder"], cwd=main, timeout=60,
                       capture_output=True, check=True)
        signed = (main / "keys" / "allowlist.json").stat().st_mtime
        wait_until(lambda b=before: _version(pc2) > b, 10, 0.01, "PC2 has the list")
        allowed.append((pc2 / "keys" / "allowlist.json").stat().st_mtime - signed)

    def summary(values: list[float]) -> dict[str, float]:
        return {"median_s": round(statistics.median(values), 3),
                "max_s": round(max(values), 3)}

    return {"rounds": rounds, "revoke_reaches_pc2": summary(reached),
            "allow_reaches_pc2": summary(allowed),
            "last_answer_after_revoke_on_pc2": summary(cut)}


def _answers(client: Client, endpoint: str) -> bool:
    try:
        client.call_endpoint(endpoint, "health", timeout_s=0.5, retries=0)
        return True
    except Exception:  # noqa: BLE001 - not up yet
        return False


def _version(folder: Path) -> int:
    return json.loads((folder / "keys" / "allowlist.json").read_text())["version"]


class _Stream:
    def __init__(self, endpoint: str, keys: KeyStore) -> None:
        ring = keys.keyring("intruder")
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.curve_serverkey = security.server_key_for(endpoint).encode()
        self.sock.curve_publickey, self.sock.curve_secretkey = ring.public, ring.secret
        self.sock.connect(endpoint)
        self.answered: list[float] = []
        self.frames = protocol.encode_request(protocol.Request("health", None))

    def step(self) -> None:
        try:
            self.sock.send_multipart(self.frames, zmq.NOBLOCK)
        except zmq.Again:
            pass
        if self.sock.poll(10):
            while self.sock.poll(0):
                self.sock.recv_multipart()
                self.answered.append(time.time())

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "security.json"))
    args = parser.parse_args()
    shown = [a for a in sys.argv[1:] if a != "--out" and a != args.out]
    result: dict[str, Any] = {"command": " ".join(["python benchmarks/security.py", *shown]),
                              "cpus": os.cpu_count(),
                              "load_average_at_start": round(os.getloadavg()[0], 1)}
    with tempfile.TemporaryDirectory(prefix="sec-", dir="/tmp") as tmp:
        store = make_keys(Path(tmp) / "keys")
        calls: dict[str, list[dict[str, Any]]] = {}
        for mode in ("plain", "curve", "plain", "curve")[: 2 * max(1, args.trials)]:
            use(mode, store)
            calls.setdefault(mode, []).append(call_path(mode, store, args.calls))
            use("plain", store)
        result["call_path"] = {m: {k: round(statistics.median(r[k] for r in runs), 1)
                                   for k in runs[0]} for m, runs in calls.items()}
        c, p = result["call_path"]["curve"], result["call_path"]["plain"]
        result["call_path"]["ratio_curve_over_plain"] = {
            "p50": round(c["p50_us"] / p["p50_us"], 3), "p99": round(c["p99_us"] / p["p99_us"], 3),
            "pipelined_rate": round(c["pipelined_per_s"] / p["pipelined_per_s"], 3)}
        print(json.dumps(result["call_path"]), flush=True)
        result["allow_list_check"] = check_cost(store)
        print(json.dumps(result["allow_list_check"]), flush=True)
        if not args.skip_startup:
            runs: dict[str, list[dict[str, Any]]] = {}
            for trial in range(args.trials):
                for mode in ("plain", "curve"):
                    work = Path(tmp) / f"ref-{mode}-{trial}"
                    work.mkdir()
                    runs.setdefault(mode, []).append(start_reference(mode, work))
                    print(mode, runs[mode][-1], flush=True)
            result["reference_startup"] = {
                m: {"all_ready_s": round(statistics.median(r["all_ready_s"] for r in rs), 2),
                    "idle_cpu_cores": round(statistics.median(r["idle_cpu_cores"] for r in rs),
                                            3),
                    "trials": rs} for m, rs in runs.items()}
            s = result["reference_startup"]
            s["ratio_curve_over_plain"] = {
                "all_ready": round(s["curve"]["all_ready_s"] / s["plain"]["all_ready_s"], 3),
                "idle_cpu": round(s["curve"]["idle_cpu_cores"] /
                                  max(s["plain"]["idle_cpu_cores"], 1e-6), 3)}
        work = Path(tmp) / "revocation"
        work.mkdir()
        result["revocation"] = revocation(work, args.rounds)
        print(json.dumps(result["revocation"]), flush=True)
    result["load_average_at_end"] = round(os.getloadavg()[0], 1)  # a shared machine
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
