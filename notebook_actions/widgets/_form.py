"""``Form``: a form for an action, built from its signature or from your own markup."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

import traitlets

from .._action import Action
from .._uploads import DEFAULT_MAX_UPLOAD_BYTES
from ._base import ActionDict, ActionTrait, ActionWidget, ResultCallback, actions_by_key
from ._esm import bundle, css
from ._fields import form_fields, label, summary

ResultView = Literal["auto", "text", "json", "html", "none"]
RESULT_VIEWS = ("auto", "text", "json", "html", "none")


class Form(ActionWidget):
    """A form that calls ``action`` on submit: pending state, per-field validation
    errors, the result (or streamed chunks and progress), Cancel.

    ``html``: your own ``<form>`` markup instead; inputs map to parameters by ``name``
    (FormData semantics), and ``<button data-action="key">`` submits to
    ``actions[key]`` (several actions on one form). ``previous_state=True``: the
    action receives its previous result (first ``initial_state``) as its first
    argument. ``on_result`` is called in the kernel with each result.
    """

    _esm = bundle("ui.js", "form.js")
    _css = css("ui.css", "form.css")

    action = ActionTrait()
    actions = ActionDict()
    fields: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    html = traitlets.Unicode("").tag(sync=True)
    description = traitlets.Unicode("").tag(sync=True)
    submit_label = traitlets.Unicode("").tag(sync=True)
    reset = traitlets.Bool(True).tag(sync=True)
    result_view = traitlets.Enum(RESULT_VIEWS, "auto").tag(sync=True)

    def __init__(
        self,
        action: Action[Any],
        *,
        html: str | None = None,
        actions: Mapping[str, Action[Any]] | Sequence[Action[Any]] | None = None,
        submit_label: str | None = None,
        reset: bool = True,
        concurrent: bool = False,
        previous_state: bool = False,
        initial_state: Any = None,
        result_view: ResultView = "auto",
        on_result: ResultCallback | None = None,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        include_traceback: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if previous_state and concurrent:
            message = "previous_state passes each result to the next call, so calls cannot run concurrently"
            raise ValueError(message)
        self._label_given = bool(submit_label)
        shown = self.bind(action, stateful=True, state=initial_state) if previous_state else action
        if not isinstance(cast("object", shown), Action):  # untyped callers pass anything
            # Fail here, naming the problem, rather than in the trait's validation.
            self.bind(shown)
        super().__init__(
            action=shown,
            actions=actions_by_key(actions),
            fields=[] if html else form_fields(shown),
            html=html or "",
            description=summary(action.__doc__),
            submit_label=submit_label or label(action),
            reset=reset,
            result_view=result_view,
            concurrent=concurrent,
            max_upload_bytes=max_upload_bytes,
            include_traceback=include_traceback,
            on_result=on_result,
            **kwargs,
        )

    @traitlets.observe("action")
    def _action_changed(self, change: dict[str, Any]) -> None:
        new = change["new"]
        if new is not None and change["old"] is not None:  # not while __init__ sets it
            with self.hold_sync():
                if not self.html:
                    self.fields = form_fields(new)
                self.description = summary(new.__doc__)
                if not self._label_given:
                    self.submit_label = label(new)

    def __repr__(self) -> str:
        name = self.action.name if self.action is not None else None
        return f"{type(self).__name__}({name})"
