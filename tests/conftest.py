"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing import globalipapp
from jupyter_client.manager import KernelManager

from notebook_actions._registry import registry


@pytest.fixture(autouse=True)
def _reset_registry() -> Iterator[None]:
    """Every test starts with no actions registered in this process."""
    registry.clear()
    yield
    registry.clear()


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    """A real IPython shell with the extension loaded, and a clean namespace."""
    globalipapp.start_ipython()
    ip = globalipapp.get_ipython()
    ip.reset(new_session=True)
    ip.run_line_magic("load_ext", "notebook_actions")
    yield ip
    ip.run_line_magic("unload_ext", "notebook_actions")
    ip.reset(new_session=True)


@pytest.fixture(scope="module")
def kernel() -> Iterator[KernelManager]:
    """A real kernel (jupyter_client), shared by a test module."""
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    try:
        yield km
    finally:
        km.shutdown_kernel(now=True)
