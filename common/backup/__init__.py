"""Backups of the mesh's state and their restore (``mesh backup``, ``mesh restore``; docs/DR.md)."""

from common.backup.inventory import inventory
from common.backup.manifest import FORMAT, BackupError, verify
from common.backup.restore import restore
from common.backup.take import take_backup
from common.launcher.state_files import StateFile

__all__ = ["FORMAT", "BackupError", "StateFile", "inventory", "restore", "take_backup", "verify"]
