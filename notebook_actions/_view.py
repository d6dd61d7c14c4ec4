"""``View`` and ``revalidate``: the notebook's ``revalidatePath``.

A view is an output that renders in the kernel from current data (a query, a
DataFrame) and re-renders when an action says the data changed::

    todos = View(lambda: render_todos(list_id), tags=["todos"])
    def add(title: str):
        'use server'
        insert(title)
        revalidate("todos")     # every view tagged "todos" renders again

It is an ipywidgets ``HTML`` widget, so it updates wherever widgets work (JupyterLab,
Notebook 7, Voila), and only its rendered HTML ever reaches the browser.
"""

from __future__ import annotations

import html
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import ipywidgets

_views: weakref.WeakSet[View] = weakref.WeakSet()


class View(ipywidgets.HTML):  # type: ignore[misc]
    """Renders ``render()`` (HTML text, or anything with ``_repr_html_``) now and on
    every ``revalidate`` of one of its ``tags``."""

    def __init__(self, render: Callable[[], Any], tags: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._render = render
        self.tags = frozenset(tags)
        _views.add(self)
        self.refresh()

    def refresh(self) -> None:
        """Render again now."""
        try:
            content = self._render()
        except Exception as err:  # show the problem where the view is, keep the kernel going
            self.value = f'<pre class="notebook-actions-view-error">{html.escape(repr(err))}</pre>'
            return
        self.value = content._repr_html_() if hasattr(content, "_repr_html_") else str(content)


def revalidate(*tags: str) -> int:
    """Re-render every live view with one of ``tags`` (all views when none are given).

    Returns how many views rendered again.
    """
    wanted = set(tags)
    count = 0
    for view in list(_views):
        if not wanted or view.tags & wanted:
            view.refresh()
            count += 1
    return count
