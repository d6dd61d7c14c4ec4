"""``View`` and ``revalidate``: the notebook's ``revalidatePath``, with live forms inside.

A view is an output that renders in the kernel from current data (a query, a
DataFrame) and re-renders when an action says the data changed. Forms in its HTML
call the actions it holds, as each row of a Next.js list carries its own form::

    def render():
        return "".join(
            f"<form data-action='toggle'><input type='hidden' name='todo_id' value='{i}'>"
            f"{title} <button>Done</button> <button data-action='delete'>Delete</button></form>"
            for i, title in rows()
        )

    todos = View(render, actions=[toggle, delete], tags=["todos"])

    def toggle(todo_id: int):
        'use server'
        ...
        revalidate("todos")     # every view tagged "todos" renders again

It is an ``ActionWidget``, so it updates wherever widgets work (JupyterLab, Notebook 7,
Voila). Its synced state is the rendered HTML and the held actions' ``{id, name,
schema}``: never the render function, a bound argument or a result.
"""

from __future__ import annotations

import html
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import traitlets

from ._action import Action
from ._action_ids import action_id_for
from ._registry import registry
from ._uploads import DEFAULT_MAX_UPLOAD_BYTES
from .widgets._base import ActionDict, ActionTrait, ActionWidget, ResultCallback
from .widgets._esm import bundle, css
from .widgets._form import RESULT_VIEWS, ResultView

#: The key of a render announcement among the view's custom messages (see view.js).
ANNOUNCE = "notebook_actions_view"

_views: weakref.WeakSet[View] = weakref.WeakSet()

Actions = Mapping[str, Action[Any]] | Sequence[Action[Any]] | None


def _by_name(actions: Mapping[str, Any] | Sequence[Any] | None) -> dict[str, Any]:
    """A view's actions by the name its HTML calls them by (``data-action``)."""
    if actions is None:
        return {}
    if isinstance(actions, Mapping):
        return dict(actions)
    held: dict[str, Any] = {}
    for item in actions:
        # Not an action? ActionDict says so, naming it.
        name = item.name if isinstance(item, Action) else str(getattr(item, "__name__", type(item).__name__))
        if name in held:
            message = (
                f"View holds two actions named {name!r}: pass a mapping instead, "
                f"e.g. actions={{'{name}': ..., '{name}_2': ...}}, and use those names in data-action"
            )
            raise ValueError(message)
        held[name] = item
    return held


class View(ActionWidget):
    """Renders ``render()`` (HTML text, or anything with ``_repr_html_``) now and on
    every ``revalidate`` of one of its ``tags``.

    ``actions``: what forms in the HTML may call. ``<form data-action="toggle">``
    submits its fields (hidden inputs included) to the action named ``toggle``;
    ``<button data-action="delete">`` in a form calls ``delete`` instead, as
    ``formAction`` does. A mapping gives the actions other names. Each form shows its
    own pending state, field errors and errors; a form stays pending until the view's
    re-rendered HTML arrives. ``previous_state=True``: each action receives its
    previous result (first ``initial_state``) as its first argument.
    """

    _esm = bundle("view.js")
    _css = css("ui.css", "form.css", "view.css")

    value = traitlets.Unicode("").tag(sync=True)
    #: How many times the view rendered again; the front end waits for this number.
    rendered = traitlets.Int(0).tag(sync=True)
    actions = ActionDict()
    #: Renders the HTML afresh and returns it: how an app page shows the view (docs/apps.md).
    render_action = ActionTrait()
    result_view = traitlets.Enum(RESULT_VIEWS, "none").tag(sync=True)

    def __init__(
        self,
        render: Callable[[], Any],
        *,
        actions: Actions = None,
        tags: Iterable[str] = (),
        previous_state: bool = False,
        initial_state: Any = None,
        concurrent: bool = False,
        result_view: ResultView = "none",
        on_result: ResultCallback | None = None,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        include_traceback: bool | None = None,
        **kwargs: Any,
    ) -> None:
        given: object = render  # (typed as callable, but called from notebooks with anything)
        if not callable(given):
            message = f"View needs a function that returns HTML, not {type(render).__name__}"
            raise TypeError(message)
        if previous_state and concurrent:
            message = "previous_state passes each result to the next call, so calls cannot run concurrently"
            raise ValueError(message)
        held = _by_name(actions)
        if previous_state:
            held = {name: self.bind(item, stateful=True, state=initial_state) for name, item in held.items()}
        self._render = render
        self.tags = frozenset(tags)
        super().__init__(
            value=self._html(),
            actions=held,
            render_action=_render_action(self, render),
            result_view=result_view,
            concurrent=concurrent,
            max_upload_bytes=max_upload_bytes,
            include_traceback=include_traceback,
            on_result=on_result,
            **kwargs,
        )
        _views.add(self)

    def _html(self) -> str:
        try:
            content = self._render()
        except Exception as err:  # show the problem where the view is, keep the kernel going
            return f'<pre class="notebook-actions-view-error">{html.escape(repr(err))}</pre>'
        return str(content._repr_html_()) if hasattr(content, "_repr_html_") else str(content)

    def refresh(self) -> None:
        """Render again now."""
        content = self._html()
        with self.hold_sync():  # one update: the HTML and its number
            self.value = content
            self.rendered += 1
        # On the custom channel, in order with the replies: the front end learns that this
        # render is on its way before it sees the reply of the action that caused it.
        self.send({ANNOUNCE: {"rendered": self.rendered}})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(actions={sorted(self.actions)}, tags={sorted(self.tags)})"


def _render_action(view: View, render: Callable[[], Any]) -> Action[Any]:
    """An inline action that renders ``view`` again (without changing it) and returns the
    HTML. Its id derives from ``render``'s identity, so every kernel of a served pool
    agrees on it (see ``_action_ids``)."""
    ref = weakref.ref(view)

    def render_view() -> str:
        found = ref()
        return "" if found is None else found._html()

    action_id = action_id_for(render, name="render", exported=False, role="view")
    return registry.add(Action(render_view, name="render", action_id=action_id))


def revalidate(*tags: str) -> int:
    """Re-render every live view with one of ``tags`` (all views when none are given).

    Returns how many views rendered again.
    """
    wanted = set(tags)
    count = 0
    for view in list(_views):
        if view.comm is None:  # closed
            _views.discard(view)
            continue
        if not wanted or view.tags & wanted:
            view.refresh()
            count += 1
    return count
