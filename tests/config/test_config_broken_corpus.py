"""Every config under broken/ is rejected, each error naming the field its header expects.

Each file starts with one or more lines ``# expect: PATH: MESSAGE FRAGMENT`` (PATH ``-`` for an
error about the whole file). The errors reported must be exactly those: one per expect line,
with that field path and a message containing the fragment; no extra, cascading errors.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import ConfigError, ConfigIssue, load_config, validate_files

BROKEN = Path(__file__).parent / "broken"
CORPUS = sorted(BROKEN.glob("*.yaml"))


def expectations(path: Path) -> list[tuple[str, str]]:
    expected = []
    for line in path.read_text().splitlines():
        if line.startswith("# expect: "):
            field, _, fragment = line.removeprefix("# expect: ").partition(": ")
            expected.append(("" if field == "-" else field, fragment))
    return expected


def matches(issue: ConfigIssue, field: str, fragment: str) -> bool:
    return issue.path == field and fragment in issue.message


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 25
    assert all(expectations(path) for path in CORPUS), "every file declares what it expects"


@pytest.mark.parametrize("path", CORPUS, ids=[path.stem for path in CORPUS])
def test_broken_config_is_rejected_naming_the_field(path: Path) -> None:
    config, issues = validate_files([path])
    assert config is None
    expected = expectations(path)
    report = "\n".join(str(issue) for issue in issues)
    for field, fragment in expected:
        assert any(matches(issue, field, fragment) for issue in issues), (
            f"expected {field}: {fragment!r} in\n{report}")
    assert len(issues) == len(expected), f"unexpected extra errors:\n{report}"
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.errors == issues
