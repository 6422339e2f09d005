"""The ``mesh`` command: one file per command group, wired together in ``main``."""

__all__: list[str] = []
