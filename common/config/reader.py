"""Read a YAML config file with `yaml.safe_load` semantics, reporting duplicate keys.

Plain `yaml.safe_load` keeps the last of two equal keys and drops the first without a word; in
the legacy MainPC layout, where agents are keyed by name, that silently loses an agent. Here a
duplicate key is an issue with both line numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from common.config.issues import ConfigIssue

__all__ = ["read_yaml"]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that records duplicate mapping keys instead of overwriting silently."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, int, Any]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if _hashable(key) and key in seen:
                self.duplicates.append((line, seen[key], key))
            elif _hashable(key):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _hashable(key: Any) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True


def read_yaml(path: str | Path) -> tuple[Any, list[ConfigIssue]]:
    """The parsed document and the issues met on the way (unreadable file, bad YAML, duplicate
    keys). The document is None when it could not be parsed at all."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ConfigIssue("", f"cannot read the file: {exc}", source=source)]
    try:
        loader = _StrictLoader(text)  # its reader already refuses control characters
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        return None, [ConfigIssue("", f"not valid YAML: {_yaml_reason(exc)}", source=source)]
    issues = [ConfigIssue(f"line {line}", f"duplicate key, first at line {first}; YAML keeps only "
                          "the last one", key, source=source)
              for line, first, key in loader.duplicates]
    return data, issues


def _yaml_reason(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return str(problem)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
