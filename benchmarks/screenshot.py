"""Regenerate docs/dashboard-mesh.png: the hub dashboard with the full reference mesh running.

Starts startup_config.yaml (standard ports: the dashboard is http://127.0.0.1:9000/) with
``mesh up --host all --detach``, waits until all agents are ready and the hub reports every one
passing, takes a headless Chromium screenshot, then ``mesh down``.

    .venv/bin/python benchmarks/screenshot.py [--out docs/dashboard-mesh.png]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "startup_config.yaml"
DASHBOARD = "http://127.0.0.1:9000/"
MESH = [sys.executable, "-m", "common.cli.main"]
EXPECTED = 78  # the hub's count: 77 roster agents + ModelManagerAgent
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--window-size=1600,1000", "--virtual-time-budget=5000"]


def passing() -> int:
    """How many agents the hub reports passing (0 while it does not answer)."""
    try:
        with urllib.request.urlopen(DASHBOARD + "api/health", timeout=2) as resp:
            doc = json.load(resp)
    except (OSError, ValueError):
        return 0
    return int(doc.get("counts", {}).get("passing", 0))


def wait_passing(timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    seen = 0
    while time.monotonic() < deadline:
        seen = passing()
        print(f"hub: {seen} passing", flush=True)
        if seen >= EXPECTED:
            return seen
        time.sleep(1.0)  # polling the hub's HTTP API for progress, bounded by the deadline
    return seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(ROOT / "docs" / "dashboard-mesh.png"))
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()
    subprocess.run([*MESH, "up", "--host", "all", "--config", CONFIG, "--detach"], cwd=ROOT,
                   check=True, timeout=60)
    try:
        seen = wait_passing(args.timeout)
        profile = tempfile.mkdtemp(prefix="chromium-")
        subprocess.run(["chromium", *CHROMIUM[1:], f"--user-data-dir={profile}",
                        f"--screenshot={args.out}", DASHBOARD], check=True, timeout=120,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"{args.out}: {seen} agents passing")
    finally:
        subprocess.run([*MESH, "down", "--config", CONFIG], cwd=ROOT, timeout=180)


if __name__ == "__main__":
    main()
