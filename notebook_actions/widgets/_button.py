"""``ActionButton``: a button that calls an action with arguments fixed in the kernel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import traitlets

from .._action import Action
from ._base import ActionTrait, ActionWidget, ResultCallback
from ._esm import bundle, css
from ._fields import label as action_label
from ._form import RESULT_VIEWS, ResultView


class ActionButton(ActionWidget):
    """A button that calls ``action(**args)`` (or ``action(*args)``) on click.

    The arguments stay in the kernel (bound to the action, like JS ``bind``): the
    browser sees the action's name and the schema of what is left, which must be
    nothing required. Clicks while a call is pending queue, unless ``concurrent``.
    """

    _esm = bundle("ui.js", "button.js")
    _css = css("ui.css", "button.css")

    action = ActionTrait()
    label = traitlets.Unicode("").tag(sync=True)
    tooltip = traitlets.Unicode("").tag(sync=True)
    result_view = traitlets.Enum(RESULT_VIEWS, "auto").tag(sync=True)

    def __init__(
        self,
        action: Action[Any],
        args: Mapping[str, Any] | Sequence[Any] | None = None,
        label: str | None = None,
        *,
        tooltip: str = "",
        result_view: ResultView = "auto",
        previous_state: bool = False,
        initial_state: Any = None,
        concurrent: bool = False,
        on_result: ResultCallback | None = None,
        include_traceback: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if previous_state and concurrent:
            message = "previous_state passes each result to the next call, so calls cannot run concurrently"
            raise ValueError(message)
        positional: tuple[Any, ...] = ()
        named: dict[str, Any] = {}
        if isinstance(args, Mapping):
            named = dict(args)
        elif args is not None:
            if isinstance(args, (str, bytes)):
                message = "args must be a mapping of parameter names to values, or a sequence of values"
                raise TypeError(message)
            positional = tuple(args)
        if positional or named or previous_state:
            shown = self.bind(action, *positional, stateful=previous_state, state=initial_state, **named)
        else:
            shown = action if isinstance(cast("object", action), Action) else self.bind(action)
        missing = [p.name for p in shown.signature.params if p.required]
        if missing:
            message = (
                f"ActionButton({action.name}) would call it without {', '.join(missing)}: "
                f"pass them in args, e.g. args={{{', '.join(f'{m!r}: ...' for m in missing)}}}"
            )
            raise TypeError(message)
        super().__init__(
            action=shown,
            label=label if label is not None else action_label(action),
            tooltip=tooltip,
            result_view=result_view,
            concurrent=concurrent,
            include_traceback=include_traceback,
            on_result=on_result,
            **kwargs,
        )

    def __repr__(self) -> str:
        name = self.action.name if self.action is not None else None
        return f"{type(self).__name__}({name}, label={self.label!r})"
