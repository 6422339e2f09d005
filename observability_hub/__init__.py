"""observability_hub: arrives with its own issue."""

__all__: list[str] = []
