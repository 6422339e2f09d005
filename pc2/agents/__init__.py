"""PC2's 22 reference agents (plus its edge hub): thin subclasses of ``common.kinds``."""

__all__: list[str] = []
