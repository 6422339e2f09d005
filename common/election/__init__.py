"""Leaders by etcd election: one holder per role, bound to a lease (docs/SCALING.md)."""

from common.election.election import Election, current_leader
from common.election.settings import ElectionSettings

__all__ = ["Election", "ElectionSettings", "current_leader"]
