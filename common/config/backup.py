"""The ``backup:`` section: scheduled backups and how many are kept (docs/DR.md).

``backup: {every: 6h, keep: 14, to: backups}``: each host's launcher takes a backup of its
own state files (the host holding ``registry`` also the journal and the config) every
``every`` into ``to/HOST-UTCSTAMP`` (relative to the mesh's folder) and deletes all but the
newest ``keep`` of its own.  No ``every``: no scheduled backups (``mesh backup`` by hand).
"""

from __future__ import annotations

from pydantic import Field

from common.config.base import ConfigModel
from common.config.fields import Duration, Text

__all__ = ["BackupConfig"]


class BackupConfig(ConfigModel):
    every: Duration | None = Field(default=None, description="e.g. 6h; none: by hand only")
    keep: int = Field(default=7, ge=1, le=1000)
    to: Text = "backups"
