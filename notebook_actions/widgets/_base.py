"""``ActionWidget``: an anywidget that holds actions and lets its front end call them.

What syncs to the browser (and into a notebook saved with widget state) is each
action's ``{id, name, streaming, doc, schema}``, never the function, its closure, a
bound argument or a result. Calls travel as anywidget custom messages wrapped in
``{"notebook_actions": ...}``; the widget's own ``Channel`` (the one dispatcher)
answers them, and only for the actions this widget was given.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

import anywidget
import traitlets
from pydantic import TypeAdapter, ValidationError

from .._action import Action
from .._dispatcher import Channel
from .._log import log
from .._protocol import WIDGET_VIEW, Buffer, InvokeRequest, Outgoing, view_of
from .._registry import registry
from .._resolve import ACTION_GONE, NOT_AVAILABLE_HERE, Target
from .._threads import route_our_messages_to_their_subshell
from .._uploads import DEFAULT_MAX_UPLOAD_BYTES
from ._esm import with_buttons, with_client

#: The key that wraps every message of ours among a widget's custom messages.
ENVELOPE = "notebook_actions"

ResultCallback = Callable[[Any], object]


def action_ref(action: Action[Any]) -> dict[str, Any]:
    """What the browser may know about an action: its ``info()``'s widget view."""
    return view_of(action.info(), WIDGET_VIEW)


def _not_an_action(value: object) -> str:
    if callable(value):
        name = getattr(value, "__name__", type(value).__name__)
        return (
            f"{name!r} is a plain function, not an action: define it in a %%use_server cell, "
            "start its body with 'use server', or wrap it with notebook_actions.action"
        )
    return f"expected an action, got {type(value).__name__}"


class ActionTrait(traitlets.TraitType[Any, Any]):
    """A trait holding one action (or None). It syncs as ``{id, name, streaming, doc,
    schema}``; the front end cannot change it."""

    info_text = "an action"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_value=None, allow_none=True, **kwargs)
        self.tag(sync=True, to_json=self._to_json, from_json=self._from_json)

    def validate(self, obj: Any, value: Any) -> Any:
        if value is None or isinstance(value, Action):
            return value
        raise traitlets.TraitError(f"{type(obj).__name__}.{self.name}: {_not_an_action(value)}")

    @staticmethod
    def _to_json(value: Action[Any] | None, _widget: Any) -> dict[str, Any] | None:
        return None if value is None else action_ref(value)

    def _from_json(self, _value: Any, widget: Any) -> Any:
        return getattr(widget, str(self.name))  # set in the kernel only


class ActionDict(traitlets.TraitType[Any, Any]):
    """A trait holding actions by key, e.g. the extra buttons of a form."""

    info_text = "a mapping of names to actions"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_value={}, **kwargs)
        self.tag(sync=True, to_json=self._to_json, from_json=self._from_json)

    def validate(self, obj: Any, value: Any) -> Any:
        if not isinstance(value, Mapping):
            self.error(obj, value)
        for key, item in value.items():
            if not isinstance(key, str) or not isinstance(item, Action):
                what = _not_an_action(item) if isinstance(key, str) else "keys must be strings"
                raise traitlets.TraitError(f"{type(obj).__name__}.{self.name}[{key!r}]: {what}")
        return dict(value)

    @staticmethod
    def _to_json(value: Mapping[str, Action[Any]], _widget: Any) -> dict[str, Any]:
        return {key: action_ref(item) for key, item in value.items()}

    def _from_json(self, _value: Any, widget: Any) -> Any:
        return getattr(widget, str(self.name))


def actions_by_key(actions: Mapping[str, Action[Any]] | Sequence[Action[Any]] | None) -> dict[str, Action[Any]]:
    if actions is None:
        return {}
    if isinstance(actions, Mapping):
        return dict(actions)
    return {a.name: a for a in actions}


def in_voila() -> bool:
    """Voila shows a notebook to people who are not its owner: no tracebacks for them."""
    return any(key in os.environ for key in ("VOILA_KERNEL_ID", "VOILA_BASE_URL", "VOILA_SERVER_URL"))


@dataclass
class Binding:
    """Arguments the kernel fixes for every call of an action the widget shows.

    Each call runs the action registered under ``target``'s id with them, so a
    re-run ``%%use_server`` cell is used, and a removed action is reported as such.
    With ``stateful``, the previous result goes first (``useActionState``).
    """

    target: Action[Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    stateful: bool = False
    state: Any = None

    def leading(self) -> tuple[Any, ...]:
        return (self.state, *self.args) if self.stateful else self.args

    def remember(self, action: Action[Any], value: Any) -> None:
        """Keep a result as the next call's state, typed by the state parameter."""
        annotation = action.signature.params[0].annotation if action.signature.params else Any
        if annotation is Any or isinstance(value, bytes):
            self.state = value
            return
        try:
            self.state = TypeAdapter(annotation).validate_python(value)
        except (ValidationError, TypeError) as err:
            log.warning("%s: the previous state does not fit %r (%s); passing it as JSON", action.name, annotation, err)
            self.state = value


def _is_call(data: Any) -> bool:
    """A comm message that carries calls of ours (not a state update, not a reply)."""
    content = data.get("content") if isinstance(data, dict) and data.get("method") == "custom" else None
    return isinstance(content, dict) and ENVELOPE in content


class ActionWidget(anywidget.AnyWidget):
    """Base class for widgets whose front end calls actions.

    Declare ``ActionTrait()`` traits and write ``_esm`` as usual: ``callAction`` and
    ``ActionError`` are in the module's scope::

        class Saver(ActionWidget):
            save = ActionTrait()
            _esm = '''
            export default { render({ model, el }) {
              el.onclick = async () => { el.textContent = await callAction(model, "save", {}) };
            } }'''

    Calls queue (one at a time, in order) unless ``concurrent=True``.
    """

    max_upload_bytes = traitlets.Int(DEFAULT_MAX_UPLOAD_BYTES).tag(sync=True)
    concurrent = traitlets.Bool(False).tag(sync=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        esm = cls.__dict__.get("_esm")
        # (anywidget's add_traits makes subclasses too, with `_esm` a trait by then.)
        if esm is not None and not isinstance(esm, traitlets.TraitType):
            cls._esm = with_client(str(esm))
        sheet = getattr(cls, "_css", None)  # inherited too: a subclass keeps its parent's
        if not isinstance(sheet, traitlets.TraitType):
            cls._css = with_buttons(str(sheet or ""))

    def __init__(
        self,
        *,
        concurrent: bool = False,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        include_traceback: bool | None = None,
        on_result: ResultCallback | None = None,
        **kwargs: Any,
    ) -> None:
        if max_upload_bytes <= 0:
            message = f"max_upload_bytes must be a positive number of bytes, not {max_upload_bytes!r}"
            raise ValueError(message)
        self._on_result = on_result
        self._channel = Channel(
            self._send_reply,
            resolve=self._resolve,
            serial=not concurrent,
            include_traceback=not in_voila() if include_traceback is None else include_traceback,
            max_upload_bytes=max_upload_bytes,
        )
        super().__init__(concurrent=concurrent, max_upload_bytes=max_upload_bytes, **kwargs)
        self.on_msg(self._on_custom_msg)
        if self.comm is not None:  # calls arrive on the subshell the front end chose
            route_our_messages_to_their_subshell(self.comm, _is_call)

    @cached_property
    def _bindings(self) -> dict[str, Binding]:
        # A cached property, so that a subclass may bind before calling __init__.
        return {}

    @traitlets.observe("concurrent")
    def _concurrency_changed(self, change: dict[str, Any]) -> None:
        channel = getattr(self, "_channel", None)
        if channel is not None:
            channel.serial = not change["new"]

    @traitlets.validate("max_upload_bytes")
    def _check_limit(self, proposal: Any) -> Any:
        if getattr(self, "_channel", None) is not None and self.comm is not None:
            message = "max_upload_bytes is fixed when the widget is made: pass it to the constructor"
            raise traitlets.TraitError(message)
        return proposal["value"]

    def bind(
        self, action: Action[Any], *args: Any, stateful: bool = False, state: Any = None, **kwargs: Any
    ) -> Action[Any]:
        """The action to put in a trait so that each call gets ``args``/``kwargs`` (and,
        with ``stateful``, the previous result first); none of them leaves the kernel."""
        if not isinstance(action, Action):
            raise TypeError(_not_an_action(action))
        if stateful and action.streaming:
            message = (
                f"previous_state needs an action that returns its new state; {action.name!r} "
                "is a generator (it streams chunks)"
            )
            raise TypeError(message)
        binding = Binding(action, args, dict(kwargs), stateful, state)
        shown = action.bind(*binding.leading(), **binding.kwargs)
        self._bindings[shown.id] = binding
        return shown

    # --- which actions this widget's front end may call ------------------------------

    def held_actions(self) -> Iterable[Action[Any]]:
        """Every action in this widget's action traits."""
        for name, trait in self.traits().items():
            if isinstance(trait, ActionTrait):
                value = getattr(self, name)
                if value is not None:
                    yield value
            elif isinstance(trait, ActionDict):
                yield from getattr(self, name).values()

    def _resolve(self, message: InvokeRequest) -> Target | str:
        """The channel's resolve hook: only held actions, with their bound arguments."""
        action_id = message.get("action")
        if not isinstance(action_id, str) or not any(held.id == action_id for held in self.held_actions()):
            return NOT_AVAILABLE_HERE
        binding = self._bindings.get(action_id)
        # The action registered under the id now: a re-run %%use_server cell's version.
        found = registry.get(action_id if binding is None else binding.target.id)
        if found is None:
            return ACTION_GONE
        if binding is None:
            return Target(found, on_result=self._result)
        return Target(found, binding.leading(), binding.kwargs, partial(self._bound_result, binding, found))

    def _bound_result(self, binding: Binding, action: Action[Any], value: Any) -> None:
        if binding.stateful:
            binding.remember(action, value)
        self._result(value)

    def _result(self, value: Any) -> None:
        if self._on_result is not None:
            try:
                self._on_result(value)
            except Exception:
                log.exception("the on_result callback of %s raised", type(self).__name__)

    # --- the transport: custom messages in the envelope ----------------------------

    def _on_custom_msg(self, _widget: Any, content: Any, buffers: Sequence[Buffer] | None) -> None:
        if isinstance(content, dict) and ENVELOPE in content:  # (else: the widget's own messages)
            self._channel.receive(content[ENVELOPE], buffers or ())

    def _send_reply(self, reply: Outgoing, buffers: list[Buffer]) -> None:
        self.send({ENVELOPE: reply}, buffers)

    def close(self) -> None:
        if hasattr(self, "_channel"):  # (also called by __del__ after a failed __init__)
            self._channel.close()
        super().close()
