"""Inline 'use server' actions in a real IPython shell."""

from __future__ import annotations

import inspect

from IPython.core.interactiveshell import InteractiveShell

from notebook_actions import Action, testing
from notebook_actions._registry import registry

from .conftest import run


def test_top_level_function_becomes_an_inline_action(shell: InteractiveShell) -> None:
    run(
        shell,
        (
            "def greet(name: str, excited: bool = False) -> str:\n"
            '    "use server"\n'
            '    """Say hello."""\n'
            '    return "hi " + name + ("!" if excited else "")\n'
        ),
    )
    greet = shell.user_ns["greet"]
    assert isinstance(greet, Action) and not greet.exported
    assert greet("ann") == "hi ann"
    assert greet.__doc__ == "Say hello."
    assert str(inspect.signature(greet)) == "(name: str, excited: bool = False) -> str"
    assert getattr(greet, "__wrapped__").__name__ == "greet"  # noqa: B009 (set by functools.update_wrapper)
    assert registry.exported("greet") is None  # never by name
    assert registry.get(greet.id) is greet


def test_directive_after_a_docstring_is_not_a_directive(shell: InteractiveShell) -> None:
    run(shell, 'def f():\n    """Doc."""\n    "use server"\n    return 1\n')
    assert not isinstance(shell.user_ns["f"], Action)


def test_double_quoted_and_async_and_nested(shell: InteractiveShell) -> None:
    run(
        shell,
        """
def make(user_id: int):
    async def save(text: str):
        "use server"
        return {"user": user_id, "text": text}
    return save
a = make(1)
b = make(2)
""",
    )
    a, b = shell.user_ns["a"], shell.user_ns["b"]
    assert isinstance(a, Action) and isinstance(b, Action)
    assert a.id != b.id
    assert testing.invoke(a, {"text": "x"}).value == {"user": 1, "text": "x"}
    assert testing.invoke(b, {"text": "y"}).value == {"user": 2, "text": "y"}


def test_closure_values_stay_out_of_what_leaves_the_kernel(shell: InteractiveShell) -> None:
    run(
        shell,
        """
def make():
    api_key = "sk-live-CLOSURE-SECRET"
    def call(q: str):
        'use server'
        return len(api_key) + len(q)
    return call
call = make()
""",
    )
    call = shell.user_ns["call"]
    assert "CLOSURE-SECRET" not in repr(call.info())
    assert "CLOSURE-SECRET" not in repr(call)
    assert testing.invoke(call, {"q": "ab"}).value == len("sk-live-CLOSURE-SECRET") + 2


def test_method_actions_bind_self_per_instance(shell: InteractiveShell) -> None:
    run(
        shell,
        """
class Counter:
    def __init__(self, start):
        self.n = start
    def add(self, k: int) -> int:
        'use server'
        self.n += k
        return self.n
c1, c2 = Counter(10), Counter(100)
""",
    )
    c1, c2 = shell.user_ns["c1"], shell.user_ns["c2"]
    assert c1.add is c1.add  # a stable id per instance
    assert c1.add.id != c2.add.id
    assert "self" not in c1.add.params_schema["properties"]
    assert testing.invoke(c1.add, {"k": 1}).value == 11
    assert testing.invoke(c2.add, {"k": "5"}).value == 105
    assert c1.add(1) == 12  # plain calls behave as before


def test_static_and_class_methods_keep_working(shell: InteractiveShell) -> None:
    run(
        shell,
        """
class K:
    @staticmethod
    def s(x: int):
        'use server'
        return x + 1
s = K.s
""",
    )
    assert shell.user_ns["s"](1) == 2
    assert testing.invoke(shell.user_ns["s"], {"x": 1}).value == 2


def test_inline_actions_go_away_with_their_last_reference(shell: InteractiveShell) -> None:
    run(
        shell,
        """
def make():
    def f():
        'use server'
        return 1
    return f
ids = [make().id for _ in range(3)]
""",
    )
    for action_id in shell.user_ns["ids"]:
        assert registry.get(action_id) is None


def test_only_directive_body_still_defines_a_function(shell: InteractiveShell) -> None:
    run(shell, "def noop():\n    'use server'\n")
    assert shell.user_ns["noop"]() is None


def test_earlier_cell_classes_and_future_annotations_resolve(shell: InteractiveShell) -> None:
    run(shell, "from dataclasses import dataclass\n@dataclass\nclass Point:\n    x: int\n    y: int\n")
    run(
        shell,
        (
            "from __future__ import annotations\n"
            "def norm(p: Point) -> int:\n    'use server'\n    return abs(p.x) + abs(p.y)\n"
        ),
    )
    assert testing.invoke(shell.user_ns["norm"], {"p": {"x": "-3", "y": 4}}).value == 7
