"""Served notebooks (``c.NotebookActions.serve``): a real server primes real kernels, routes to
the least busy one, reports failures, heals and reloads."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import textwrap
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest

from notebook_actions.server import _pool

from .conftest import JSON, body, server_test

APP = "apps/app.ipynb"

LOAD = "%load_ext notebook_actions"

ACTIONS = '''
%%use_server
import os
import time
from pathlib import Path


def pid() -> int:
    return os.getpid()


def cwd() -> str:
    return os.getcwd()


def version() -> str:
    return VERSION


def hold(flag: str) -> int:
    """Hold this kernel (a sync action) until the file ``flag`` exists."""
    while not Path(flag).exists():
        time.sleep(0.01)
    return os.getpid()
'''


def cells(*sources: str) -> list[str]:
    return [textwrap.dedent(source).strip() for source in sources]


def app(version: str = "v1") -> list[str]:
    return cells(LOAD, f"VERSION = {version!r}", ACTIONS)


def write_notebook(path: Path, sources: list[str]) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: the server never reads half a notebook.
    partial = path.with_suffix(".partial")
    nbformat.write(notebook, partial)
    partial.replace(path)


@dataclass
class Served:
    notebooks: dict[str, list[str]] = field(default_factory=lambda: {APP: app()})
    kernels: int = 2
    options: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def served() -> Served:
    """What the test's server serves; override with ``@pytest.mark.parametrize``."""
    return Served()


@pytest.fixture
def notebook_actions_config(served: Served, jp_root_dir: Path) -> dict[str, Any]:
    for path, sources in served.notebooks.items():
        write_notebook(jp_root_dir / path, sources)
    return {"serve": list(served.notebooks), "kernels_per_notebook": served.kernels, **served.options}


Fetch = Callable[..., Awaitable[Any]]


async def status(jp_fetch: Fetch) -> dict[str, Any]:
    response = await jp_fetch("notebook-actions", "api", "status")
    notebooks: list[dict[str, Any]] = body(response)["notebooks"]
    return {notebook["path"]: notebook for notebook in notebooks}


async def wait_for(jp_fetch: Fetch, test: Callable[[dict[str, Any]], bool], timeout: float = 90) -> dict[str, Any]:
    """The status, once ``test`` holds of it (the server's own state, polled)."""
    deadline = time.monotonic() + timeout
    while True:
        now = await status(jp_fetch)
        if test(now):
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"status never got there: {json.dumps(now, indent=1)}")
        await asyncio.sleep(0.1)


def states(now: dict[str, Any], path: str = APP) -> list[str]:
    return [kernel["state"] for kernel in now[path]["kernels"]]


def all_ready(path: str = APP) -> Callable[[dict[str, Any]], bool]:
    return lambda now: all(state == "ready" for state in states(now, path))


async def call(jp_fetch: Fetch, name: str, args: Any = None, path: str = APP) -> Any:
    return await jp_fetch(
        "notebook-actions",
        "api",
        "notebooks",
        *path.split("/"),
        "actions",
        name,
        method="POST",
        body=json.dumps(args or {}),
        headers=dict(JSON),  # a copy: jp_fetch adds the token to the dict it is given
        raise_error=False,
    )


@server_test
async def test_every_kernel_of_the_pool_is_primed_in_the_notebooks_folder(
    jp_fetch: Fetch, jp_root_dir: Path, jp_serverapp: Any
) -> None:
    now = await wait_for(jp_fetch, all_ready())
    kernels = now[APP]["kernels"]
    assert len({k["id"] for k in kernels}) == 2
    assert all(k["id"] in jp_serverapp.kernel_manager for k in kernels)
    assert all(k["last_primed"] and k["in_flight"] == 0 and "failure" not in k for k in kernels)

    response = await call(jp_fetch, "cwd")
    assert response.code == 200
    assert body(response) == {"value": str(jp_root_dir / "apps")}
    listing = body(await jp_fetch("notebook-actions", "api", "notebooks", "apps", "app.ipynb", "actions"))
    assert {"pid", "cwd", "version", "hold"} <= {a["name"] for a in listing["actions"]}
    assert listing["kernel_id"] in {k["id"] for k in kernels}
    document = body(await jp_fetch("notebook-actions", "api", "notebooks", "apps", "app.ipynb", "openapi.json"))
    assert any(route.endswith("/actions/hold") for route in document["paths"])


@server_test
async def test_a_request_goes_to_the_kernel_with_fewest_requests_in_flight(jp_fetch: Fetch, tmp_path: Path) -> None:
    await wait_for(jp_fetch, all_ready())
    flag = tmp_path / "release"
    holding = asyncio.ensure_future(call(jp_fetch, "hold", {"flag": str(flag)}))
    try:
        # The slow sync action holds one kernel ...
        now = await wait_for(jp_fetch, lambda now: sorted(k["in_flight"] for k in now[APP]["kernels"]) == [0, 1])
        busy = next(k["id"] for k in now[APP]["kernels"] if k["in_flight"] == 1)
        # ... while the other answers: again and again, never behind it.
        answered = [await call(jp_fetch, "pid") for _ in range(3)]
        assert [r.code for r in answered] == [200, 200, 200]
        assert not holding.done()
        assert len({body(r)["value"] for r in answered}) == 1
    finally:
        flag.touch()
    held = await holding
    assert held.code == 200
    assert body(held)["value"] != body(answered[0])["value"]
    after = await status(jp_fetch)
    assert busy in {k["id"] for k in after[APP]["kernels"]}
    assert all(k["in_flight"] == 0 for k in after[APP]["kernels"])


BROKEN = "apps/broken.ipynb"


def broken() -> list[str]:
    return cells(LOAD, "VERSION = 'v1'", ACTIONS, "1 / 0  # the SECRET-denominator")


@pytest.mark.parametrize(
    "served", [Served(notebooks={BROKEN: broken(), APP: app()}, kernels=1, options={"timeout": 5})]
)
@server_test
async def test_a_raising_cell_fails_the_prime_in_status_and_503s_while_other_notebooks_serve(
    jp_fetch: Fetch, jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_pool, "RETRY_FIRST_SECONDS", 0.2)
    # Retried with backoff: the second failure is the first retry's.
    now = await wait_for(jp_fetch, lambda now: now[BROKEN]["kernels"][0].get("failure", {}).get("attempts", 0) >= 2)
    failure = now[BROKEN]["kernels"][0]["failure"]
    assert states(now, BROKEN) == ["failed"]
    assert failure["cell"] == 4
    assert failure["type"] == "ZeroDivisionError"
    assert len(failure["digest"]) == 12
    assert "cell 4" in failure["message"] and "exception_message" not in failure
    assert "SECRET" not in json.dumps(now)

    response = await call(jp_fetch, "pid", path=BROKEN)
    assert response.code == 503
    assert int(response.headers["Retry-After"]) >= 1
    error = body(response)
    assert "cell 4" in error["message"] and "ZeroDivisionError" in error["message"]
    assert error["cell"] == 4 and error["type"] == "ZeroDivisionError" and error["digest"]
    assert "SECRET" not in response.body.decode()

    # The other notebook of the same server serves all along.
    await wait_for(jp_fetch, all_ready(APP))
    assert (await call(jp_fetch, "version")).code == 200


@pytest.mark.parametrize(
    "served",
    [Served(notebooks={BROKEN: broken()}, kernels=1, options={"timeout": 5, "expose_exception_messages": True})],
)
@server_test
async def test_a_fixed_notebook_is_primed_at_once_and_serves(
    jp_fetch: Fetch, jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No retry would come for minutes: only the file's change can explain a new prime.
    monkeypatch.setattr(_pool, "RETRY_FIRST_SECONDS", 600.0)
    now = await wait_for(jp_fetch, lambda now: states(now, BROKEN) == ["failed"])
    assert now[BROKEN]["kernels"][0]["failure"]["exception_message"] == "division by zero"
    write_notebook(jp_root_dir / BROKEN, app("fixed"))
    await wait_for(jp_fetch, all_ready(BROKEN), timeout=60)
    response = await call(jp_fetch, "version", path=BROKEN)
    assert response.code == 200 and body(response) == {"value": "fixed"}


SHOP = "apps/shop.ipynb"
SECRET_FROM_ENV = """
%%use_server
import os

SHOP_KEY = os.environ["SHOP_KEY"]


def price() -> int:
    return 1
"""


@pytest.mark.parametrize(
    "served",
    [Served(notebooks={SHOP: cells(LOAD, SECRET_FROM_ENV)}, kernels=1, options={"expose_exception_messages": True})],
)
@server_test
async def test_a_raising_use_server_cell_fails_the_prime_with_the_exception_its_code_raised(
    jp_fetch: Fetch, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "SHOP_KEY" not in os.environ  # what the kernels inherit
    monkeypatch.setattr(_pool, "RETRY_FIRST_SECONDS", 600.0)
    now = await wait_for(jp_fetch, lambda now: states(now, SHOP) == ["failed"])
    failure = now[SHOP]["kernels"][0]["failure"]
    # not %%use_server's own UsageError ("the cell raised, so no action was registered")
    assert failure["type"] == "KeyError" and failure["exception_message"] == "'SHOP_KEY'"
    assert failure["cell"] == 2 and "raised KeyError" in failure["message"]


@pytest.mark.parametrize(
    "served", [Served(notebooks={APP: cells("VERSION = 1", "def pid():\n    return 1")}, kernels=1)]
)
@server_test
async def test_a_notebook_that_never_loads_the_extension_fails_with_what_to_add(jp_fetch: Fetch) -> None:
    now = await wait_for(jp_fetch, lambda now: states(now) == ["failed"])
    message = now[APP]["kernels"][0]["failure"]["message"]
    assert "%load_ext notebook_actions" in message and "add" in message
    response = await call(jp_fetch, "pid")
    assert response.code == 503 and "%load_ext notebook_actions" in body(response)["message"]


def gated() -> list[str]:
    """The app, with a first cell that waits for a file ``go`` beside the notebook: its
    kernels stay priming till then."""
    wait = "import pathlib, time\nwhile not pathlib.Path('go').exists():\n    time.sleep(0.02)"
    return [wait, *app()]


@pytest.mark.parametrize("served", [Served(notebooks={APP: gated()}, kernels=1, options={"timeout": 1})])
@server_test
async def test_requests_before_any_kernel_is_ready_get_503_with_retry_after(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    await wait_for(jp_fetch, lambda now: states(now) == ["priming"])
    response = await call(jp_fetch, "pid")
    assert response.code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert "no kernel" in body(response)["message"] and "priming" in body(response)["message"]
    (jp_root_dir / "apps" / "go").touch()
    await wait_for(jp_fetch, all_ready())
    assert (await call(jp_fetch, "pid")).code == 200


@pytest.mark.parametrize("served", [Served(notebooks={APP: gated()}, kernels=1, options={"timeout": 60})])
@server_test
async def test_requests_before_any_kernel_is_ready_wait_for_one(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    await wait_for(jp_fetch, lambda now: states(now) == ["priming"])
    waiting = asyncio.ensure_future(call(jp_fetch, "version"))
    await asyncio.sleep(0.5)  # not a race: whatever the delay, the request must still be waiting
    assert not waiting.done()
    (jp_root_dir / "apps" / "go").touch()
    response = await waiting
    assert response.code == 200 and body(response) == {"value": "v1"}


def kernel_pid(serverapp: Any, kernel_id: str) -> int:
    pid: int = serverapp.kernel_manager.get_kernel(kernel_id).provisioner.pid
    return pid


def held_primes() -> list[str]:
    """The app, with a first cell that waits while a file ``hold-primes`` is beside the
    notebook: a test holds a kernel's next prime back for as long as it needs."""
    wait = "import pathlib, time\nwhile pathlib.Path('hold-primes').exists():\n    time.sleep(0.02)"
    return [wait, *app()]


@pytest.mark.parametrize("served", [Served(notebooks={APP: held_primes()})])
@server_test
async def test_a_killed_kernel_fails_its_requests_the_other_answers_and_the_pool_heals(
    jp_fetch: Fetch, jp_serverapp: Any, jp_root_dir: Path, tmp_path: Path
) -> None:
    now = await wait_for(jp_fetch, all_ready())
    hold_primes = jp_root_dir / "apps" / "hold-primes"
    hold_primes.touch()  # the killed kernel's new prime waits till the test has checked the other
    flag = tmp_path / "never"
    holding = asyncio.ensure_future(call(jp_fetch, "hold", {"flag": str(flag)}))
    now = await wait_for(jp_fetch, lambda now: sorted(k["in_flight"] for k in now[APP]["kernels"]) == [0, 1])
    doomed = next(k["id"] for k in now[APP]["kernels"] if k["in_flight"] == 1)
    survivor = next(k["id"] for k in now[APP]["kernels"] if k["id"] != doomed)
    killed_at = time.monotonic()
    os.kill(kernel_pid(jp_serverapp, doomed), signal.SIGKILL)

    # In flight on it: 503, once the server notices (its restarter's interval).
    held = await holding
    assert held.code == 503
    # From then on, every request succeeds, on the other kernel, while the first heals.
    survivor_pid = kernel_pid(jp_serverapp, survivor)
    answered = [await call(jp_fetch, "pid") for _ in range(5)]
    assert [r.code for r in answered] == [200] * 5
    assert {body(r)["value"] for r in answered} == {survivor_pid}
    assert states(await status(jp_fetch)).count("ready") == 1  # the other still restarting or priming
    hold_primes.unlink()
    await wait_for(jp_fetch, all_ready(), timeout=30 - (time.monotonic() - killed_at))
    pids = {body(await call(jp_fetch, "pid"))["value"] for _ in range(4)}
    assert len(pids) == 2 and survivor_pid in pids


@pytest.mark.parametrize("served", [Served(notebooks={APP: held_primes()}, kernels=1)])
@server_test
async def test_a_killed_kernel_leaves_the_rotation_at_once_and_status_says_why(
    jp_fetch: Fetch,
    jp_serverapp: Any,
    jp_root_dir: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    (before,) = (await wait_for(jp_fetch, all_ready()))[APP]["kernels"]
    assert before["pid"] == kernel_pid(jp_serverapp, before["id"])
    assert before["restarts"] == 0 and before["last_error"] is None
    hold_primes = jp_root_dir / "apps" / "hold-primes"
    hold_primes.touch()  # the kernel cannot be back (primed) until the test says so
    os.kill(before["pid"], signal.SIGKILL)

    # Out of rotation, heard from the process's exit (the restarter polls, and says otherwise).
    now = await wait_for(jp_fetch, lambda now: states(now) != ["ready"], timeout=30)
    (after,) = now[APP]["kernels"]
    assert after["state"] in ("restarting", "priming") and after["pid"] != before["pid"]
    assert after["last_error"]["message"].startswith(f"the kernel's process ({before['pid']}) ended")
    assert after["last_error"]["at"] > before["last_primed"]
    hold_primes.unlink()
    (back,) = (await wait_for(jp_fetch, all_ready(), timeout=60))[APP]["kernels"]
    assert back["restarts"] == 1 and back["id"] == before["id"]
    assert back["pid"] == kernel_pid(jp_serverapp, back["id"]) != before["pid"]
    assert body(await call(jp_fetch, "pid")) == {"value": back["pid"]}
    # One restart path (the restarter's; the pool's own would log "Kernel restarted: <id>"), and no
    # delete_subshell_request for the old process's subshell reaching the new process.
    logged = caplog.text
    assert "Kernel died before replying to kernel_info" not in logged
    assert f"Kernel restarted: {before['id']}" not in logged
    assert "delete_subshell" not in capfd.readouterr().err


@pytest.mark.parametrize("served", [Served(options={"reload": True})])
@server_test
async def test_reload_primes_kernels_again_one_at_a_time_and_never_stops_answering(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    await wait_for(jp_fetch, all_ready())
    write_notebook(jp_root_dir / APP, app("v2"))
    seen: list[tuple[int, Any]] = []
    watched: list[list[str]] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        response = await call(jp_fetch, "version")
        seen.append((response.code, body(response).get("value")))
        now = await status(jp_fetch)
        watched.append(states(now))
        # Done once both kernels answer the new version.
        if all(s == "ready" for s in states(now)):
            answers = [await call(jp_fetch, "version") for _ in range(2)]
            if all(body(a).get("value") == "v2" for a in answers):
                break
    assert all(code == 200 for code, _ in seen), seen
    assert {value for _, value in seen} == {"v1", "v2"}  # it answered all along, old then new
    assert all("ready" in kernels for kernels in watched), watched  # one kernel at a time ...
    assert any(kernels.count("ready") == 1 for kernels in watched), watched  # ... and each did go


@server_test
async def test_status_needs_authentication(jp_fetch: Fetch) -> None:
    response = await jp_fetch("notebook-actions", "api", "status", headers={"Authorization": ""}, raise_error=False)
    assert response.code == 403


@pytest.mark.parametrize("served", [Served(notebooks={}, kernels=1)])
@server_test
async def test_a_server_that_serves_nothing_says_so_and_notebook_routes_use_sessions(jp_fetch: Fetch) -> None:
    assert await status(jp_fetch) == {}
    response = await call(jp_fetch, "pid", path="elsewhere.ipynb")
    assert response.code == 404 and "no running session" in body(response)["message"]


@pytest.mark.parametrize("served", [Served(notebooks={}, kernels=1, options={"serve": ["apps/missing.ipynb"]})])
@server_test
async def test_a_missing_notebook_fails_saying_paths_are_relative_to_the_root(jp_fetch: Fetch) -> None:
    now = await wait_for(jp_fetch, lambda now: states(now, "apps/missing.ipynb") == ["failed"])
    (kernel,) = now["apps/missing.ipynb"]["kernels"]
    assert kernel["id"] is None  # no kernel started for a notebook it cannot read
    assert "root directory" in kernel["failure"]["message"]
    response = await call(jp_fetch, "pid", path="apps/missing.ipynb")
    assert response.code == 503 and "root directory" in body(response)["message"]
    # A path that is not served: a server with a UI says to open it, and names what it serves.
    response = await call(jp_fetch, "pid", path="missing.ipynb")
    message = body(response)["message"]
    assert response.code == 404 and "open it in Jupyter" in message
    assert message.endswith(
        "serves apps/missing.ipynb (GET /a%40b/notebook-actions/api/notebooks/apps/missing.ipynb/actions)"
    )


@pytest.mark.parametrize(
    "served",
    [
        Served(
            notebooks={APP: [*app(), "import time\nwhile True:\n    time.sleep(0.05)"]},
            kernels=1,
            options={"prime_timeout": 1},
        )
    ],
)
@server_test
async def test_a_cell_that_runs_past_the_prime_timeout_fails_the_prime(jp_fetch: Fetch) -> None:
    now = await wait_for(jp_fetch, lambda now: states(now) == ["failed"])
    failure = now[APP]["kernels"][0]["failure"]
    assert failure["cell"] == 4 and failure["type"] == "CellTimeoutError"
    assert "prime_timeout" in failure["message"]


@server_test
async def test_a_pool_kernel_shut_down_or_restarted_through_the_api_is_replaced_or_primed_again(
    jp_fetch: Fetch,
) -> None:
    now = await wait_for(jp_fetch, all_ready())
    first, second = now[APP]["kernels"]
    await jp_fetch("api", "kernels", first["id"], method="DELETE")
    now = await wait_for(
        jp_fetch, lambda now: all_ready()(now) and first["id"] not in {k["id"] for k in now[APP]["kernels"]}
    )
    assert second["id"] in {k["id"] for k in now[APP]["kernels"]}

    await jp_fetch("api", "kernels", second["id"], "restart", method="POST", body="{}")
    now = await wait_for(
        jp_fetch,
        lambda now: (
            all_ready()(now)
            and any(k["id"] == second["id"] and k["last_primed"] != second["last_primed"] for k in now[APP]["kernels"])
        ),
    )
    answers = {body(await call(jp_fetch, "version"))["value"] for _ in range(4)}
    assert answers == {"v1"}


@pytest.mark.parametrize("served", [Served(notebooks={APP: [*app(), "import os\nos._exit(1)"]}, kernels=1)])
@server_test
async def test_a_cell_that_ends_the_kernel_fails_the_prime_and_is_retried(
    jp_fetch: Fetch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_pool, "RETRY_FIRST_SECONDS", 0.2)
    now = await wait_for(jp_fetch, lambda now: now[APP]["kernels"][0].get("failure", {}).get("attempts", 0) >= 2)
    failure = now[APP]["kernels"][0]["failure"]
    assert failure["cell"] == 4 and failure["type"] == "DeadKernelError"
    assert "died while running cell 4" in failure["message"]
