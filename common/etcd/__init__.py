"""A small etcd v3 client over etcd's HTTP/JSON gateway (stdlib only): kv, leases, txns, watch."""

from common.etcd.client import EtcdClient, EtcdUnavailable, KeyValue
from common.etcd.watch import Watcher, WatchEvent

__all__ = ["EtcdClient", "EtcdUnavailable", "KeyValue", "WatchEvent", "Watcher"]
