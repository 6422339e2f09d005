"""Map field paths of a converted config back to where they were written in the source files.

A legacy file is converted into the version-1 schema before it is validated; an error found at
``agents[21].health_port`` is then reported where the operator wrote it, e.g.
``main_pc_startup_config.yaml: agent_groups.learning_knowledge.LearningOrchestrationService
.health_check_port``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from common.config.issues import ConfigIssue

__all__ = ["PathMap"]


@dataclass
class PathMap:
    """Longest-prefix rewriting of issue paths: (converted prefix) -> (source file, path)."""

    entries: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(self, prefix: str, source: str, original: str) -> None:
        self.entries[prefix] = (source, original)

    def translate(self, issue: ConfigIssue) -> ConfigIssue:
        prefix = self._longest_prefix(issue.path)
        if prefix is None:
            return issue
        source, original = self.entries[prefix]
        rest = issue.path[len(prefix):]
        if rest.startswith(".") and not original:
            rest = rest[1:]
        return replace(issue, path=original + rest, source=issue.source or source)

    def translate_all(self, issues: Iterable[ConfigIssue]) -> list[ConfigIssue]:
        """Translated issues, each reported once (a file-wide setting copied into every agent
        gives one error, not one per agent)."""
        seen: set[tuple[str | None, str, str, str]] = set()
        result = []
        for issue in (self.translate(issue) for issue in issues):
            key = (issue.source, issue.path, issue.message, repr(issue.value))
            if key not in seen:
                seen.add(key)
                result.append(issue)
        return result

    def _longest_prefix(self, path: str) -> str | None:
        best = None
        for prefix in self.entries:
            matches = path == prefix or (path.startswith(prefix) and path[len(prefix)] in ".[")
            if matches and (best is None or len(prefix) > len(best)):
                best = prefix
        return best
