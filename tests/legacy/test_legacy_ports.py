"""Declared ports checked at run time (issue 18, item 4): what a script's processes listen on
against its entry; an undeclared port and a `*` bind that also takes the other host's
address (both hosts on this machine) are reported with the port."""

import os
import subprocess
import sys

import pytest
from legacy_helpers import IDENTITY, legacy_entry

from common.config import parse_config
from common.launcher.port_audit import local_addresses, port_issues


@pytest.mark.slow
def test_undeclared_port_and_wildcard_bind_are_reported(mesh, ports):
    entry = legacy_entry("DynamicIdentityAgent", "main_pc", IDENTITY, ports[0], ports[1],
                         args=["--port", "${PORT}", "--health-port", "${HEALTH_PORT}"])
    entry["ports"] = {}  # the hidden HTTP port at health_port + 1 left undeclared
    run = mesh([entry])
    run.up("main_pc")
    agent = run.wait(("main_pc",), lambda a: len(a["DynamicIdentityAgent"]["port_issues"]) >= 4,
                     what="the port issues reported")["DynamicIdentityAgent"]
    issues = agent["port_issues"]
    assert f"undeclared port {ports[1] + 1} (bound on 0.0.0.0)" in issues
    assert f"port {ports[0]} bound on * also takes 127.0.0.2:{ports[0]} of host pc2 " \
        "(same machine)" in issues
    assert not any(f"undeclared port {p} " in i for p in ports[:2] for i in issues)
    shown = subprocess.run([sys.executable, "-m", "common.cli.main", "status", "--config",
                            str(run.config_path), "--host", "main_pc"], capture_output=True,
                           text=True, timeout=30, env={**os.environ, "COLUMNS": "250"})
    assert f"undeclared port {ports[1] + 1}" in shown.stdout, shown.stdout
    log = (run.workdir / "proc-0-up.log")
    if log.exists():  # the launcher's own log, where the tracker keeps one
        assert f"undeclared port {ports[1] + 1}" in log.read_text()


def test_port_issues_name_each_port_once_per_finding():
    config = parse_config({
        "version": 1, "hosts": {"a": {"address": "127.0.0.1"}, "b": {"address": "10.9.9.9"}},
        "agents": [{"name": "S", "host": "a", "script_path": "s.py", "port": 7000,
                    "health_port": 7001}]})
    cfg = config.agent("S")
    bound = {("127.0.0.1", 7000), ("0.0.0.0", 7001), ("127.0.0.1", 7002)}
    assert port_issues(cfg, bound, {"b": "127.0.0.2"}) == [
        "port 7001 bound on * also takes 127.0.0.2:7001 of host b (same machine)",
        "undeclared port 7002 (bound on 127.0.0.1)"]
    assert local_addresses({"lo2": "127.0.0.2", "far": "203.0.113.7"}) == {"lo2": "127.0.0.2"}
