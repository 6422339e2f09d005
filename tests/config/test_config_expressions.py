"""``${PORT_OFFSET}+N``: the one place port expressions are expanded."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.config.expressions import PORT_MAX, resolve_port, shift_port


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 30000), st.integers(1, 30000), st.sampled_from(["", " "]))
def test_expression_is_offset_plus_n(offset: int, term: int, space: str) -> None:
    assert resolve_port(f"${{PORT_OFFSET}}{space}+{space}{term}", offset) == offset + term


@pytest.mark.parametrize("value, offset, port", [
    (7200, 0, 7200), (7200, 100, 7200), ("${PORT_OFFSET}+7200", 0, 7200),
    ("${PORT_OFFSET}+7200", 100, 7300), ("${PORT_OFFSET}+0", 1, 1), (PORT_MAX, 0, PORT_MAX),
])
def test_valid_ports(value: object, offset: int, port: int) -> None:
    assert resolve_port(value, offset) == port


@pytest.mark.parametrize("value, fragment", [
    ("${PORT_OFFSET}", "needs '+ N'"),
    ("${PORT_OFFSET}*2", "needs '+ N'"),
    ("${PORT_OFFSET}+", "is not a non-negative integer"),
    ("${PORT_OFFSET}+-5", "is not a non-negative integer"),
    ("${PORT_OFFSET}+٣", "is not a non-negative integer"),  # a non-ASCII digit
    ("${OFFSET}+7000", "unknown variable ${OFFSET}"),
    ("7000+${PORT_OFFSET}", "not a port"),
    ("", "not a port"),
    (None, "got NoneType"),
    ([7000], "got list"),
    (False, "got bool"),
    (0, "out of range"),
    (-1, "out of range"),
    ("${PORT_OFFSET}+0", "out of range"),
])
def test_invalid_ports(value: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=None) as raised:
        resolve_port(value, 0)
    assert fragment in str(raised.value)


def test_shift_port_keeps_the_written_form() -> None:
    assert shift_port(8211, 1) == 8212
    assert shift_port("${PORT_OFFSET}+8211", 1) == "${PORT_OFFSET}+8212"
    assert shift_port("${PORT_OFFSET}-8211", 1) is None
    assert shift_port(True, 1) is None
