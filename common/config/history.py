"""The ``events:`` and ``alertmanager:`` sections: the hubs' incident history and where they
send their alerts.

Part of the one schema (`common.config.schema.MeshConfig`); the host plan hands both to the two
hubs (``common.launcher.services``).  docs/CONFIG.md says what each field does.
"""

from __future__ import annotations

import urllib.parse

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.config.fields import Duration

__all__ = ["AlertmanagerConfig", "EventsConfig"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class EventsConfig(_Section):
    """``events:``: how much history each hub keeps (the older and the surplus are dropped)."""

    max_age: Duration = Field(default=30 * 86400, description="e.g. 30d; older events go")
    max_rows: int = Field(default=200_000, ge=100, description="the oldest beyond this go")


class AlertmanagerConfig(_Section):
    """``alertmanager:``: the active hub posts its alerts to ``url``/api/v2/alerts (firing
    ones with startsAt, again every ``resend_every_s``; resolved ones once, with endsAt)."""

    url: str = Field(description="the Alertmanager's base URL, e.g. http://10.0.0.5:9093")
    timeout_s: float = Field(default=2.0, gt=0, le=30, description="per POST")
    resend_every_s: float = Field(default=60.0, gt=0, le=3600, description=(
        "firing alerts are posted again this often (below Alertmanager's resolve_timeout)"))

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("must be a base URL without ?query or #fragment")
        return value.rstrip("/")
