"""Fixtures of the secrets tests: unique secret values, and a two-host mesh declaring them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from secret_helpers import Secrets, marker, mesh_agents, mesh_config, variable

from common.testing.mesh import MeshRun, free_ports


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Secrets:
    """Fresh values; the variables are set in this process, so `mesh up` inherits them."""
    made = Secrets(marker(), marker(), marker(), tmp_path / "secrets" / "signer.key",
                   variable("SIGNER_KEY"), variable("HUB_TOKEN"), variable("UNSET"))
    made.file.parent.mkdir()
    made.file.write_text(made.file_value + "\n")
    made.file.chmod(0o600)
    monkeypatch.setenv(made.env_var, made.env_value)
    monkeypatch.setenv(made.hub_var, made.hub_value)
    monkeypatch.delenv(made.unset_var, raising=False)
    return made


@pytest.fixture
def secret_ports() -> list[int]:
    return free_ports(6)


@pytest.fixture
def secret_mesh(procs: Any, tmp_path: Path, secrets: Secrets, secret_ports: list[int]):
    """A MeshRun of `mesh_agents` (not started)."""
    run = MeshRun(procs, tmp_path, mesh_config(tmp_path, mesh_agents(secrets, secret_ports)))
    yield run
    run.close()
