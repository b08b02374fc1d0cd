"""Every test under integration-tests/ carries the `integration` marker, whether its file says so or not.

This file deliberately has no ``pytestmark``: the marker must come from integration-tests/conftest.py,
so that ``-m "not integration"`` never picks an integration test up.
"""

from __future__ import annotations

import pytest


def test_this_unmarked_file_is_marked_integration(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("integration") is not None
