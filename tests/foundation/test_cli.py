"""The CLI contract other issues rely on: exact forms, JSON output, exit codes, clear errors."""

import json
import os
import subprocess
import sys

from common.testing.wait import wait_registered

MESH = [sys.executable, "-m", "common.cli.main"]


def _mesh(*args, env=None, timeout=20, cwd=None):
    return subprocess.run([*MESH, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def test_registry_list_json_and_call_by_name(procs, tmp_path, client_factory):
    reg = procs.registry(str(tmp_path / "r.db"), interval_s=0.5)
    procs.agent(reg.endpoint, "CliEcho", interval_s=0.5)
    wait_registered(client_factory(reg.endpoint), "CliEcho")
    listed = _mesh("registry", "list", "--registry", reg.endpoint, "--json")
    assert listed.returncode == 0, listed.stderr
    assert {"ServiceRegistry", "CliEcho"} <= {r["name"] for r in json.loads(listed.stdout)}
    called = _mesh("call", "CliEcho", "echo", "--data", '{"n": 3}',
                   env={"MESH_REGISTRY": reg.endpoint})
    assert called.returncode == 0 and json.loads(called.stdout) == {"n": 3}
    failed = _mesh("call", "CliEcho", "fail", "--data", '{"code": "nope"}',
                   "--registry", reg.endpoint)
    assert failed.returncode == 1 and "nope" in failed.stderr and failed.stdout == ""


def test_port_zero_registers_the_real_port(procs, tmp_path, client_factory):
    reg = procs.registry(str(tmp_path / "r.db"), interval_s=0.5)
    agent = procs.agent(reg.endpoint, "PortZero", interval_s=0.5)
    found = wait_registered(client_factory(reg.endpoint), "PortZero")
    assert found[0]["endpoint"] == agent.endpoint and not agent.endpoint.endswith(":0")


def test_bad_arguments_get_clear_errors(tmp_path):
    # no flag, no MESH_REGISTRY, no startup config in the folder: say what to pass
    no_registry = _mesh("call", "X", "echo", env={"MESH_REGISTRY": "", "MESH_CONFIG": ""},
                        cwd=tmp_path)
    assert no_registry.returncode == 2
    assert "--registry" in no_registry.stderr and "--config" in no_registry.stderr
    bad_json = _mesh("call", "X", "echo", "--data", "{oops", "--registry", "tcp://127.0.0.1:1")
    assert bad_json.returncode == 2 and "--data is not valid JSON" in bad_json.stderr
    bad_class = _mesh("agent", "run", "no.such.module:Agent", "--name", "X")
    assert bad_class.returncode == 2 and "cannot import 'no.such.module'" in bad_class.stderr
    not_agent = _mesh("agent", "run", "json:JSONDecoder", "--name", "X")
    assert not_agent.returncode == 2 and "not a BaseAgent subclass" in not_agent.stderr


def test_unreachable_registry_times_out_naming_it():
    out = _mesh("registry", "list", "--registry", "tcp://127.0.0.1:9", "--timeout", "0.2")
    assert out.returncode == 1 and "ServiceRegistry did not answer 'list'" in out.stderr


def test_help_documents_the_commands():
    out = _mesh("--help")
    assert out.returncode == 0
    for command in ("registry", "agent", "call"):
        assert command in out.stdout
