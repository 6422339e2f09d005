"""Process spawning for the launcher: a lean fork server and what each forked agent does.

Kept apart from ``common.launcher`` so the fork server's interpreter imports only this and the
modules it preloads (not the config schema, the CLI or anything else the launcher needs)."""

__all__: list[str] = []
