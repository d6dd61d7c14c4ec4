"""The threadsafe opt-ins in a real IPython shell: the flag, where it comes from, what it keeps."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from notebook_actions import testing
from notebook_actions._magic import Registered
from notebook_actions._registry import registry

from .conftest import run


def test_use_server_threadsafe_marks_every_function_of_the_cell(shell: InteractiveShell) -> None:
    run(shell, "%%use_server --threadsafe\ndef a() -> int:\n    return 1\ndef b() -> int:\n    return 2\n")
    a, b = registry.exported("a"), registry.exported("b")
    assert a is not None and b is not None
    assert a.threadsafe and b.threadsafe and a.info()["threadsafe"]
    text = repr(Registered([a, b], []))
    assert text.count("[threadsafe]") == 2
    assert "no subshells" not in text  # (outside a kernel, nothing to say about subshells)


def test_without_the_flag_only_the_decorated_function_is_threadsafe(shell: InteractiveShell) -> None:
    run(
        shell,
        "%%use_server\nfrom notebook_actions import action\n"
        "@action(threadsafe=True)\ndef safe() -> int:\n    return 1\n"
        "def plain() -> int:\n    return 2\n",
    )
    safe, plain = registry.exported("safe"), registry.exported("plain")
    assert safe is not None and safe.threadsafe
    assert plain is not None and not plain.threadsafe


def test_rerunning_without_the_flag_drops_it_and_keeps_the_id(shell: InteractiveShell) -> None:
    run(shell, "%%use_server --threadsafe\ndef f() -> int:\n    return 1\n", cell_id="c1")
    before = registry.exported("f")
    run(shell, "%%use_server\ndef f() -> int:\n    return 1\n", cell_id="c1")
    after = registry.exported("f")
    assert before is not None and after is not None
    assert before.threadsafe and not after.threadsafe and after.id == before.id


def test_the_decorator_over_an_inline_action_and_bound_copies(shell: InteractiveShell) -> None:
    run(
        shell,
        "from notebook_actions import action\n"
        "@action(threadsafe=True)\ndef scale(k: int, x: int) -> int:\n    'use server'\n    return k * x\n"
        "triple = scale.bind(3)\n",
    )
    scale, triple = shell.user_ns["scale"], shell.user_ns["triple"]
    assert scale.threadsafe
    assert registry.get(scale.id) is scale  # marked in place: the same action, the same id
    assert triple.threadsafe  # a bound copy keeps the promise
    assert testing.invoke(triple, {"x": 2}).value == 6


def test_other_arguments_are_refused_with_what_to_do(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match=r"--threadsafe.*--fast"):
        shell.run_cell_magic("use_server", "--fast", "def g() -> int:\n    return 1\n")
