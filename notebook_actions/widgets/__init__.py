"""Widgets that call actions: ``Form``, ``ActionButton``, and ``ActionWidget`` with
``ActionTrait`` for your own anywidgets (their ES module gets ``callAction``)."""

from __future__ import annotations

from ._base import ActionDict, ActionTrait, ActionWidget, action_ref
from ._button import ActionButton
from ._esm import client as client_js
from ._form import Form

__all__ = ["ActionButton", "ActionDict", "ActionTrait", "ActionWidget", "Form", "action_ref", "client_js"]
