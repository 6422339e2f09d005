"""The registry: section: sqlite by default, etcd with its endpoints, errors with field paths."""

from __future__ import annotations

import pytest
import yaml

from common.config import ConfigError
from common.config.loader import parse_config

ETCD = ["http://10.0.0.1:2379", "http://10.0.0.2:2379", "http://10.0.0.3:2379"]


def _config(registry: object) -> dict:
    with open("startup_config.yaml") as f:
        data = yaml.safe_load(f)
    data["registry"] = registry
    return data


def test_sqlite_is_the_default() -> None:
    data = _config(None)
    del data["registry"]
    assert parse_config(data).registry.backend == "sqlite"


def test_etcd_with_endpoints() -> None:
    config = parse_config(_config({"backend": "etcd", "endpoints": ETCD, "leader_ttl_s": 3}))
    assert (config.registry.backend, config.registry.endpoints) == ("etcd", ETCD)
    assert config.registry.leader_ttl_s == 3


@pytest.mark.parametrize(("registry", "message"), [
    ({"backend": "etcd"}, "registry.endpoints: backend etcd needs the etcd cluster's client URLs"),
    ({"endpoints": ETCD}, "registry.endpoints: only backend etcd takes endpoints"),
    ({"backend": "etcd", "endpoints": ["http://etcd1:2379"]},
     "registry.endpoints[0]: 'http://etcd1:2379': the host must be an IP address"),
    ({"backend": "etcd", "endpoints": ["https://10.0.0.1"]},
     "registry.endpoints[0]: 'https://10.0.0.1' is not an etcd client URL"),
    ({"backend": "etcd", "endpoints": ETCD[:1] * 2}, "registry.endpoints: an endpoint is listed"),
    ({"backend": "etcd", "endpoints": ETCD, "leader_ttl_s": 0}, "registry.leader_ttl_s:"),
    ({"backend": "zookeeper"}, "registry.backend: Input should be 'sqlite' or 'etcd'"),
    ({"backend": "etcd", "endpoints": ETCD, "ttl": 2}, "registry.ttl:"),
])
def test_errors_name_the_field(registry: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_config(registry))
    assert message in str(info.value)
