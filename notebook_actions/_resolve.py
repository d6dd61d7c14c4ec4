"""Resolution: what an invoke runs (a ``Target``), or why it cannot.

A transport says how through a ``Resolve``: the registry's exported actions by name and
any action by id (``by_registry``, the default), or a widget's own actions with their
bound arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._action import Action
from ._protocol import InvokeRequest
from ._registry import Registry, registry
from ._schema import Signature

ACTION_GONE = (
    "this action is no longer available in the kernel (the kernel restarted, "
    "or the cell that made it was re-run without it): re-run that cell"
)
NOT_AVAILABLE_HERE = "this action is not available here"


@dataclass(frozen=True)
class Target:
    """What an invoke runs: an action, and the arguments the kernel fixes for the call.

    ``args`` go first (a widget's bound arguments, a stateful widget's previous
    state), ``kwargs`` are fixed by name; clients neither see nor send either, and the
    arguments a client sends are validated against what is left. ``on_result`` sees
    each result as the client does (its JSON value, or ``bytes``).
    """

    action: Action[Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    on_result: Callable[[Any], object] | None = None

    @property
    def signature(self) -> Signature:
        return self.action.signature_fixing(len(self.args), frozenset(self.kwargs))

    def call(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return self.action(*self.args, *args, **{**self.kwargs, **kwargs})


#: Says what an invoke runs, or why it cannot (the message of a ``not_found`` reply).
Resolve = Callable[[InvokeRequest], "Target | str"]


def by_registry(actions: Registry = registry, allow: Callable[[Action[Any]], bool] | None = None) -> Resolve:
    """Exported actions by ``name``, any action by its id; ``allow`` narrows them."""

    def resolve(message: InvokeRequest) -> Target | str:
        name = message.get("name")
        if isinstance(name, str):
            found = actions.exported(name)
            if found is None:
                return (
                    f"no exported action {name!r} in this kernel: run the %%use_server cell "
                    "that defines it (after %load_ext notebook_actions)"
                )
        else:
            found = actions.get(str(message.get("action")))
            if found is None:
                return ACTION_GONE
        if allow is not None and not allow(found):
            return NOT_AVAILABLE_HERE
        return Target(found)

    return resolve
