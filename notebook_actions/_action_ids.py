"""Action ids: random in a kernel of its own, derived from a shared key in a served pool.

A kernel of a served pool (``jupyter notebook-actions serve``) is told its pool's key
before the notebook's first cell runs. Its ids are then an HMAC of each action's
identity under that key, so every kernel primed from the same notebook derives the same
ids, and an app page that got its ids from one kernel's prime can call any kernel of the
pool, or a kernel primed again after it died. The key never leaves the server and the
kernels, so the ids stay unguessable; an action's identity never leaves the kernel.

An action's identity is its function's module and qualified name, its name, whether it
is exported, and the values its closure holds (the to-do view's ``toggle`` closes over
``list_id``): plain values (numbers, strings, ``None`` and tuples of them) by value,
functions by their qualified name, actions by their id. Anything else (a database
connection, an object) is named by its type and counted: the first such action made with
that identity gets one id, the second another, as the same cells run in the same order
in every kernel. Without a key (a kernel of a notebook in JupyterLab), ids are random.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

#: 128 bits, as random ids have.
ID_BYTES = 16

_key: bytes | None = None
_made: Counter[str] = Counter()

_PLAIN = (int, float, str, bytes, bool, type(None))


def set_pool_key(key_hex: str) -> None:
    """Called by the server (a silent execution) before a pool kernel's first cell."""
    global _key
    key = bytes.fromhex(key_hex)
    if len(key) < ID_BYTES:
        message = "a pool key needs at least 16 bytes"
        raise ValueError(message)
    _key = key
    _made.clear()


def pooled() -> bool:
    return _key is not None


def random_id() -> str:
    """128 random bits, unrelated to the action's name, new in every kernel process."""
    return secrets.token_urlsafe(ID_BYTES)


def _describe(value: Any) -> tuple[str, bool]:
    """A value as part of an identity, and whether that description is the value itself."""
    if isinstance(value, _PLAIN):
        return repr(value), True
    if isinstance(value, tuple | frozenset):
        parts = [_describe(item) for item in sorted(value, key=repr)] if isinstance(value, frozenset) else None
        parts = parts if parts is not None else [_describe(item) for item in value]
        return "(" + ",".join(text for text, _ in parts) + ")", all(exact for _, exact in parts)
    action_id = getattr(value, "id", None)
    if callable(value) and isinstance(action_id, str) and hasattr(value, "func"):  # an Action
        return f"action:{action_id}", True
    if callable(value) and hasattr(value, "__qualname__"):
        return f"function:{getattr(value, '__module__', '')}.{value.__qualname__}", True
    kind = type(value)
    return f"object:{kind.__module__}.{kind.__qualname__}", False


def _closure(func: Callable[..., Any]) -> Iterable[Any]:
    for cell in getattr(func, "__closure__", None) or ():
        try:
            yield cell.cell_contents
        except ValueError:  # noqa: PERF203  # a cell not filled yet (a function that refers to itself)
            yield None


def derive(parts: Iterable[Any]) -> str:
    """The id of an action with this identity: random without a pool key."""
    if _key is None:
        return random_id()
    described = [_describe(part) for part in parts]
    identity = "\x1f".join(text for text, _ in described)
    if not all(exact for _, exact in described):
        # Not all of it is a value: count the actions made with this identity.
        count = _made[identity]
        _made[identity] += 1
        identity += f"\x1e{count}"
    digest = hmac.new(_key, identity.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:ID_BYTES]).rstrip(b"=").decode("ascii")


def action_id_for(
    func: Callable[..., Any],
    *,
    name: str,
    exported: bool,
    bound: tuple[Any, ...] = (),
    bound_kwargs: dict[str, Any] | None = None,
    role: str = "",
) -> str:
    """The id of a new action wrapping ``func`` (``role`` tells apart actions made from
    the same function for different purposes, such as a view's render action)."""
    if _key is None:
        return random_id()
    head = f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', type(func).__qualname__)}"
    kwargs = tuple(sorted((bound_kwargs or {}).items()))
    return derive((head, name, exported, role, tuple(_closure(func)), tuple(bound), kwargs))
