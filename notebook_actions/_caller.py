"""Who is calling the running action: ``current_user()``.

The caller is set around each call by the channel that runs it (a context variable, so it
follows the call into its task, its generator and a threadsafe action's lane), never from
the call's arguments. On the server's comm it is what the server authenticated (the invoke's
``caller``, which the server sets itself: nothing a client sends reaches it). A widget's
messages come over the kernel's own websocket, which only the server's user can open (it
runs code in the kernel): a widget's caller is that user, named from the kernel's
environment (``JUPYTERHUB_USER`` under JupyterHub, else the account the kernel runs as);
a ``caller`` field in a widget's message is ignored.
"""

from __future__ import annotations

import contextlib
import getpass
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast, get_args

from ._protocol import InvokeRequest, Via

NOT_IN_ACTION = (
    "current_user() is only known while an action runs: call it inside the action's body "
    "(a %%use_server function or an @action, called by a widget, HTTP, MCP or an app page)"
)


class NotInAction(RuntimeError):
    """``current_user()`` was called outside a running action."""


@dataclass(frozen=True)
class Caller:
    """Who called the running action, as the server authenticated them."""

    #: a stable name for the caller (a username), the key for per-user state
    name: str
    #: a name to show
    display_name: str
    #: the caller's groups, or None when the identity source does not know them
    groups: tuple[str, ...] | None
    #: no credential identifies the caller
    anonymous: bool
    #: the front door the call came through: "widget", "http", "mcp" or "app"
    via: Via


_current: ContextVar[Caller] = ContextVar("notebook_actions.caller")


def current_user() -> Caller:
    """The caller of the running action (``NotInAction`` outside one)."""
    try:
        return _current.get()
    except LookupError:
        raise NotInAction(NOT_IN_ACTION) from None


@contextlib.contextmanager
def calling_as(caller: Caller) -> Iterator[None]:
    """``caller`` is ``current_user()`` for what runs in the block, and for the tasks it starts."""
    token = _current.set(caller)
    try:
        yield
    finally:
        _current.reset(token)


def server_user_name() -> str:
    """The user the server (and its kernels) run for: JupyterHub's user, else the account."""
    name = os.environ.get("JUPYTERHUB_USER")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's arbitrary user)
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "user"


#: What a channel's invokes are made by: the message in, its caller out.
CallerOf = Callable[[InvokeRequest], Caller]


def widget_caller(_message: InvokeRequest) -> Caller:
    """A widget's caller: the server's user, whatever the message says."""
    name = server_user_name()
    return Caller(name=name, display_name=name, groups=None, anonymous=False, via="widget")


ANONYMOUS = Caller(name="anonymous", display_name="Anonymous", groups=None, anonymous=True, via="http")


def server_caller(message: InvokeRequest) -> Caller:
    """The caller the server put in the invoke (an invoke without one: anonymous)."""
    info: Any = message.get("caller")
    if not isinstance(info, dict):
        return ANONYMOUS
    via = cast("Via", info.get("via"))
    groups = info.get("groups")
    name = info.get("name")
    if not isinstance(name, str) or via not in get_args(Via):
        return ANONYMOUS
    display = info.get("display_name")
    return Caller(
        name=name,
        display_name=display if isinstance(display, str) and display else name,
        groups=tuple(str(g) for g in groups) if isinstance(groups, list) else None,
        anonymous=bool(info.get("anonymous")),
        via=via,
    )
