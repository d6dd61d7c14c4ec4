"""``Action``: a function that clients may invoke, known to them only by an opaque id."""

from __future__ import annotations

import functools
import inspect
import re
import weakref
from collections.abc import Callable
from functools import cached_property
from typing import Any, Generic, TypeVar, cast, overload

from ._action_ids import action_id_for
from ._protocol import ActionInfo
from ._schema import Signature, strip_annotated

F = TypeVar("F", bound=Callable[..., Any])


class Action(Generic[F]):
    """A server action: call it like the function; clients reach it by ``id``.

    ``exported`` actions (from a ``%%use_server`` cell) are also reachable by
    ``name`` over HTTP; inline ones (``'use server'`` in a function body) only by
    their id, through a widget that was handed them.
    """

    def __init__(
        self,
        func: F,
        *,
        exported: bool = False,
        name: str | None = None,
        action_id: str | None = None,
        bound: tuple[Any, ...] = (),
        bound_kwargs: dict[str, Any] | None = None,
        threadsafe: bool = False,
        max_concurrency: int | None = None,
    ) -> None:
        if max_concurrency is not None and max_concurrency < 1:
            message = f"max_concurrency must be at least 1 (or None for no limit), not {max_concurrency}"
            raise ValueError(message)
        if not callable(cast("object", func)):  # untyped callers pass anything
            message = f"an action must wrap a function, not {type(func).__name__}"
            raise TypeError(message)
        functools.update_wrapper(self, func)  # __name__, __doc__, __wrapped__, __qualname__
        self.func: F = func
        self.name: str = name or func.__name__
        self.exported = exported
        #: The author's promise that the body is safe beside a running cell: it may run
        #: on another thread, at the same time as the cell (see ``_threads``).
        self.threadsafe = threadsafe
        #: At most this many calls of it in flight on a server (its HTTP, MCP and app calls;
        #: the server holds the rest until one finishes). None: no limit.
        self.max_concurrency = max_concurrency
        # Random, or in a served pool's kernel the same in every kernel of the pool (see _action_ids).
        self.id = action_id or action_id_for(
            func, name=self.name, exported=exported, bound=bound, bound_kwargs=bound_kwargs
        )
        self._bound = bound
        self._bound_kwargs = bound_kwargs or {}
        self._methods: weakref.WeakKeyDictionary[Any, Action[Any]] = weakref.WeakKeyDictionary()
        self._fixing: dict[tuple[int, frozenset[str]], Signature] = {}
        self.is_async = inspect.iscoroutinefunction(func)
        self.is_async_gen = inspect.isasyncgenfunction(func)
        self.is_gen = inspect.isgeneratorfunction(func)

    @property
    def streaming(self) -> bool:
        return self.is_gen or self.is_async_gen

    @cached_property
    def signature(self) -> Signature:
        return Signature(
            self.func, self.name, streaming=self.streaming, skip=len(self._bound), fixed=frozenset(self._bound_kwargs)
        )

    def signature_fixing(self, leading: int, names: frozenset[str] = frozenset()) -> Signature:
        """The signature clients see when the kernel also fixes ``leading`` positional
        arguments and the parameters ``names`` (a widget's bound arguments). Made once
        per action and shape, not per call."""
        if not leading and not names:
            return self.signature
        key = (leading, names)
        found = self._fixing.get(key)
        if found is None:
            found = self._fixing[key] = Signature(
                self.func,
                self.name,
                streaming=self.streaming,
                skip=len(self._bound) + leading,
                fixed=frozenset(self._bound_kwargs) | names,
            )
        return found

    @property
    def params_schema(self) -> dict[str, Any]:
        return self.signature.params_schema

    @property
    def returns_schema(self) -> dict[str, Any]:
        return self.signature.returns_schema

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*self._bound, *args, **{**self._bound_kwargs, **kwargs})

    def bind(self, *args: Any, **kwargs: Any) -> Action[F]:
        """A new inline action with some arguments fixed in the kernel (like JS ``bind``).

        The fixed values never leave the kernel; the new action's schema leaves them out.
        """
        bound = Action(
            self.func,
            exported=False,
            name=self.name,
            bound=(*self._bound, *args),
            bound_kwargs={**self._bound_kwargs, **kwargs},
            threadsafe=self.threadsafe,
            max_concurrency=self.max_concurrency,
        )
        from ._registry import registry

        registry.add(bound)
        return bound

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Action[F]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> Action[Any]: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> Action[Any]:
        # `'use server'` in a method: each instance gets its own action, with `self`
        # bound in the kernel and a stable id for that instance.
        if instance is None:
            return self
        try:
            return self._methods[instance]
        except KeyError:
            method = self.bind(instance)
            self._methods[instance] = method
            return method
        except TypeError:  # instances that cannot be weakly referenced
            return self.bind(instance)

    @property
    def signature_text(self) -> str:
        params = ", ".join(_param_text(p.name, p.annotation, p.default, p.secret) for p in self.signature.params)
        return f"{self.name}({params})"

    def info(self) -> ActionInfo:
        """What may leave the kernel about this action: never globals, closures or secrets."""
        info: ActionInfo = {
            "id": self.id,
            "name": self.name,
            "exported": self.exported,
            "doc": inspect.cleandoc(self.__doc__ or ""),
            "signature": self.signature_text,
            "streaming": self.streaming,
            "threadsafe": self.threadsafe,
            "params": self.params_schema,
            "returns": self.returns_schema,
            "files": {p.name: p.is_many for p in self.signature.params if p.is_file},
        }
        if self.max_concurrency is not None:
            info["max_concurrency"] = self.max_concurrency
        return info

    def __repr__(self) -> str:
        kind = "exported" if self.exported else "inline"
        return f"<{kind} action {self.signature_text} id={self.id[:6]}…>"


def _annotation_text(annotation: Any) -> str:
    # Our own types by their public name (``UploadedFile``, not ``notebook_actions._files.UploadedFile``).
    return _OWN_MODULE.sub("", inspect.formatannotation(strip_annotated(annotation)))


_OWN_MODULE = re.compile(r"\bnotebook_actions\.(?:_\w+\.)*")


def _param_text(name: str, annotation: Any, default: Any, secret: bool) -> str:
    text = name
    if annotation is not Any:
        text += f": {_annotation_text(annotation)}"
    if default is not inspect.Parameter.empty:
        text += " = ***" if secret else f" = {default!r}"
    return text


@overload
def action(
    func: F,
    /,
    *,
    name: str | None = None,
    exported: bool = False,
    threadsafe: bool = False,
    max_concurrency: int | None = None,
) -> Action[F]: ...
@overload
def action(
    func: None = None,
    /,
    *,
    name: str | None = None,
    exported: bool = False,
    threadsafe: bool = False,
    max_concurrency: int | None = None,
) -> Callable[[F], Action[F]]: ...


def action(
    func: F | None = None,
    /,
    *,
    name: str | None = None,
    exported: bool = False,
    threadsafe: bool = False,
    max_concurrency: int | None = None,
) -> Action[F] | Callable[[F], Action[F]]:
    """Make ``func`` an action (inline unless ``exported=True``), with or without arguments.

    ``@action`` is what ``'use server'`` does for you; use it in plain Python modules.
    ``threadsafe=True`` lets it answer while a cell runs: its body runs on another
    thread, beside the cell, so it must not touch state the cell is using.
    ``max_concurrency=N``: at most N calls of it in flight on a server (HTTP, MCP, app
    pages); the others wait their turn, up to the server's timeout.
    """
    from ._registry import registry

    def wrap(f: F) -> Action[F]:
        if isinstance(f, Action):
            if name in (None, f.name) and exported == f.exported:
                # Over a `'use server'` function: mark that action, keep its id.
                f.threadsafe = f.threadsafe or threadsafe
                if max_concurrency is not None:
                    f.max_concurrency = max_concurrency
                return f
            threadsafe_already = f.threadsafe
            f = f.func
        else:
            threadsafe_already = False
        made = Action(
            f,
            exported=exported,
            name=name,
            threadsafe=threadsafe or threadsafe_already,
            max_concurrency=max_concurrency,
        )
        return registry.add(made)

    if func is None:
        return wrap
    return wrap(func)
