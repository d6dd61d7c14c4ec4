"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notebook_actions._registry import registry


@pytest.fixture(autouse=True)
def _reset_registry() -> Iterator[None]:
    """Every test starts with no actions registered in this process."""
    registry.clear()
    yield
    registry.clear()
