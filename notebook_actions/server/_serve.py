"""Where ``jupyter-notebook-actions`` scripts installed before the server's folders (issue 18)
look for ``main``: pip writes the module into the script at install time, so an environment
that has not reinstalled the package still imports this name. New installs use
``_extension_app:main``."""

from __future__ import annotations

from ._extension_app import main

__all__ = ["main"]
