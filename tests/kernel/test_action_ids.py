"""Pool-wide action ids: two kernel processes given the same pool key derive the same ids
for the same code; ids still tell apart closures over different values; without a key, or
with another key, they differ."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What a notebook's cells do: inline actions closing over a list id, bound actions, an
# object in a closure (counted, as it cannot be part of the identity).
PROGRAM = """
import json, sys
from notebook_actions import action
from notebook_actions._action_ids import set_pool_key

if sys.argv[1]:
    set_pool_key(sys.argv[1])

def todo_list(list_id):
    def toggle(todo_id: int) -> int:
        return todo_id + list_id
    return action(toggle)

class Db: pass

def with_db(db):
    def query() -> str:
        return repr(db)
    return action(query)

one, two, one_again = todo_list(1), todo_list(2), todo_list(1)
db = Db()
q1, q2 = with_db(db), with_db(db)
print(json.dumps({
    "one": one.id, "two": two.id, "one_again": one_again.id,
    "bound_5": one.bind(5).id, "bound_6": one.bind(6).id,
    "q1": q1.id, "q2": q2.id,
}))
"""


def ids(key: str) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, key], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return dict(json.loads(done.stdout))


@pytest.fixture(scope="module")
def key() -> str:
    return "ab" * 32


def test_kernels_with_the_same_key_derive_the_same_ids(key: str) -> None:
    first, second = ids(key), ids(key)
    assert first == second
    # The closure's value is part of the identity: list 2's toggle is not list 1's.
    assert first["one"] != first["two"]
    assert first["one"] == first["one_again"]  # the same closure over the same value: the same action
    assert first["bound_5"] != first["bound_6"] != first["one"]
    assert first["q1"] != first["q2"]  # an object in the closure: told apart by the order they were made
    assert all(len(value) == 22 for value in first.values())  # 128 bits, as random ids


def test_without_the_key_ids_are_random_and_another_key_gives_other_ids(key: str) -> None:
    pooled, other, random_a, random_b = ids(key), ids("cd" * 32), ids(""), ids("")
    assert set(pooled.values()).isdisjoint(other.values())
    assert set(random_a.values()).isdisjoint(random_b.values())
    assert random_a["one"] != random_a["one_again"]
