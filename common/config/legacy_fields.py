"""Field-level rules for converting the original system's files: key names and settings blocks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.config.issues import ConfigIssue, join_path
from common.config.validation import unknown_key_message

__all__ = [
    "AGENT_FIELDS",
    "HEALTH_KEYS",
    "RESOURCE_KEYS",
    "MergedBlock",
    "env_text",
    "merge_blocks",
]

# legacy agent key -> version-1 key
AGENT_FIELDS = {
    "script_path": "script_path",
    "port": "port",
    "health_check_port": "health_port",
    "required": "required",
    "dependencies": "dependencies",
    "config": "settings",
    "env_vars": "env",
}
HEALTH_KEYS = {
    "interval_seconds": "interval_s",
    "timeout_seconds": "timeout_s",
    "retries": "retries",
    "start_period_seconds": "start_period_s",
}
RESOURCE_KEYS = {"cpu_percent": "cpu_percent", "memory_mb": "memory_mb",
                 "max_threads": "max_threads"}


@dataclass
class MergedBlock:
    """Values of a settings block merged key by key from several places, with where each came
    from (later places win)."""

    values: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    issues: list[ConfigIssue] = field(default_factory=list)


def merge_blocks(blocks: Sequence[tuple[str, Any]], keys: Mapping[str, str] | None,
                 source: str) -> MergedBlock:
    """Merge (path, mapping) blocks; `keys` maps allowed legacy keys to version-1 keys
    (None: any key, kept as is)."""
    merged = MergedBlock()
    for path, block in blocks:
        if block is None:
            continue
        if not isinstance(block, dict):
            merged.issues.append(ConfigIssue(path, "expected a mapping", block, source))
            continue
        for key, value in block.items():
            here = join_path(path, str(key))
            if keys is not None and key not in keys:
                merged.issues.append(ConfigIssue(here, unknown_key_message(str(key), list(keys)),
                                                 value, source))
                continue
            target = str(key) if keys is None else keys[key]
            merged.values[target] = value
            merged.paths[target] = here
    return merged


def env_text(values: Mapping[str, Any]) -> dict[str, Any]:
    """Legacy environment values as the process saw them: scalars become strings."""
    def text(value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value) if isinstance(value, (int, float)) else value
    return {key: text(value) for key, value in values.items()}
