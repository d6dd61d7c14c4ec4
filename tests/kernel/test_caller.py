"""current_user() in the kernel: set around every kind of call, from the channel, never from the call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from notebook_actions import Caller, NotInAction, action, current_user, testing
from notebook_actions._caller import server_caller, server_user_name
from notebook_actions._dispatcher import Channel

ALICE = Caller(name="alice", display_name="Alice", groups=("staff",), anonymous=False, via="http")


def whoami() -> str:
    return current_user().name


async def whoami_later() -> str:
    await asyncio.sleep(0)
    return current_user().name


def names() -> Iterator[str]:
    yield current_user().name
    yield current_user().via


async def anames() -> AsyncIterator[str]:
    await asyncio.sleep(0)
    yield current_user().name


def test_outside_an_action_it_says_so() -> None:
    with pytest.raises(NotInAction, match="only known while an action runs"):
        current_user()


@pytest.mark.parametrize("fn", [whoami, whoami_later])
async def test_sync_and_async_actions_see_their_caller(fn: object) -> None:
    outcome = await testing.ainvoke(action(fn), caller=ALICE)
    assert outcome.value == "alice"


async def test_generators_see_their_caller_in_every_chunk() -> None:
    assert (await testing.ainvoke(action(names), caller=ALICE)).chunks == ["alice", "http"]
    assert (await testing.ainvoke(action(anames), caller=ALICE)).chunks == ["alice"]


async def test_concurrent_calls_each_see_their_own_caller() -> None:
    gate = asyncio.Event()
    started: list[str] = []

    async def wait_then_say() -> str:
        started.append(current_user().name)
        if len(started) == 2:  # both in flight at once: then each answers
            gate.set()
        await gate.wait()
        return current_user().name

    act = action(wait_then_say)
    bob = Caller(name="bob", display_name="Bob", groups=None, anonymous=False, via="mcp")
    calls = [asyncio.ensure_future(testing.ainvoke(act, caller=who)) for who in (ALICE, bob)]
    assert [c.value for c in await asyncio.gather(*calls)] == ["alice", "bob"]


async def test_a_widget_channel_ignores_a_caller_in_its_message() -> None:
    client = testing.Client()
    act = action(whoami)  # held: the registry keeps actions weakly
    message, _ = testing.invoke_message(act)
    message["caller"] = {"name": "mallory", "display_name": "", "groups": None, "anonymous": False, "via": "http"}
    client.send(message)
    assert (await client.wait(message["id"])).value == server_user_name()


async def test_the_servers_channel_takes_the_caller_the_server_set() -> None:
    got: list[dict[str, object]] = []
    channel = Channel(lambda reply, buffers: got.append(dict(reply)), caller=server_caller)

    def who() -> Caller:
        return current_user()

    act = action(who)
    message, _ = testing.invoke_message(act)
    info = {"name": "alice", "display_name": "Alice", "groups": ["staff"], "anonymous": False, "via": "app"}
    channel.receive({**message, "caller": info})
    assert got[-1]["value"] == {**info}
    channel.receive({**message, "id": "no-caller"})  # an invoke without one is anonymous, not the server's user
    assert got[-1]["value"]["anonymous"] is True
