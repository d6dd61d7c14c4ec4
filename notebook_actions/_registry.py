"""The kernel's actions, by id (every action) and by name (exported ones)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from ._action import Action


class Registry:
    """Exported actions live as long as their name; inline ones as long as something
    (the user's namespace, a widget) holds them, so a closure made per call does
    not pile up."""

    def __init__(self) -> None:
        self._by_id: weakref.WeakValueDictionary[str, Action[Any]] = weakref.WeakValueDictionary()
        self._exported: dict[str, Action[Any]] = {}
        #: called (with no arguments) whenever the exported actions change
        self.listeners: list[Callable[[], None]] = []

    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener()

    def add(self, action: Action[Any]) -> Action[Any]:
        if action.exported:
            previous = self._exported.get(action.name)
            if previous is not None:
                # Re-running the cell replaces the action but keeps its id, so widgets
                # already showing it use the new version.
                action.id = previous.id
            self._exported[action.name] = action
        self._by_id[action.id] = action
        if action.exported:
            self._changed()
        return action

    def remove(self, name: str) -> None:
        """Forget an exported action: clients holding its id are told it is gone."""
        action = self._exported.pop(name, None)
        if action is not None:
            self._by_id.pop(action.id, None)
            self._changed()

    def get(self, action_id: str) -> Action[Any] | None:
        return self._by_id.get(action_id)

    def exported(self, name: str) -> Action[Any] | None:
        return self._exported.get(name)

    def exported_actions(self) -> list[Action[Any]]:
        return sorted(self._exported.values(), key=lambda a: a.name)

    def clear(self) -> None:
        self._by_id.clear()
        if self._exported:
            self._exported.clear()
            self._changed()


registry = Registry()
