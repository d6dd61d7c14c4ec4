"""The readiness route and SIGTERM draining, on a real ``jupyter notebook-actions serve``
process: ``/notebook-actions/health`` answers without a token, 503 while a served notebook
has no ready kernel and 200 once it has, with nothing else in the body; SIGTERM lets a
call in flight finish, refuses new ones with 503 and Retry-After, and exits 0.

One server for the module, in order: the prime waits on a file the test creates (so the
test sees the server before its notebook has a ready kernel), and the last test drains it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._served import Served, request, start_serve, write_notebook

APP = "app.ipynb"
OTHER = "other.ipynb"


@pytest.fixture(scope="module")
def flags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flags")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, flags: Path) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("root")
    # The prime of OTHER waits until the test says; APP's slow() waits until the test says.
    write_notebook(
        root / OTHER,
        f"import pathlib, time\nwhile not pathlib.Path({str(flags / 'prime')!r}).exists():\n    time.sleep(0.02)",
        "%%use_server\ndef ping() -> str:\n    return 'pong'\n",
    )
    write_notebook(
        root / APP,
        f"""%%use_server
import pathlib
import time

STARTED = pathlib.Path({str(flags / "started")!r})
RELEASE = pathlib.Path({str(flags / "release")!r})


def slow() -> str:
    STARTED.touch()
    while not RELEASE.exists():
        time.sleep(0.01)
    return "finished"


def ping() -> str:
    return "pong"
""",
    )
    server = start_serve(root, tmp_path_factory.mktemp("home"), [APP, OTHER], "--kernels=1")
    yield server
    (flags / "prime").touch()
    (flags / "release").touch()
    server.stop()


def test_health_is_503_until_every_served_notebook_has_a_ready_kernel(served: Served, flags: Path) -> None:
    served.wait_for(lambda: served.status()[APP]["kernels"][0]["state"] == "ready", "app.ipynb ready")
    assert served.status()[OTHER]["kernels"][0]["state"] != "ready"  # its prime waits for the flag
    response = served.health()  # no token
    assert response.status == 503
    assert response.body == b"unavailable\n"  # no names, no counts, no reasons
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["cache-control"] == "no-store"

    (flags / "prime").touch()
    served.wait_for(lambda: served.health().status == 200, "health 200")
    response = served.health()
    assert response.body == b"ready\n"
    assert served.call(OTHER, "ping").json() == {"value": "pong"}


def test_health_needs_no_token_and_tells_nothing_else(served: Served) -> None:
    served.wait_for(lambda: served.health().status == 200, "health 200")
    for method in ("GET", "HEAD"):
        response = request(served.port, method, "/notebook-actions/health", headers={"Authorization": "token wrong"})
        assert response.status == 200
        assert response.body == (b"ready\n" if method == "GET" else b"")
        assert not {"set-cookie", "retry-after"} & set(response.headers)
    # the status route, beside it, still wants the token
    assert request(served.port, "GET", "/notebook-actions/api/status").status == 403


def test_sigterm_finishes_calls_in_flight_refuses_new_ones_and_exits_0(served: Served, flags: Path) -> None:
    results: list[tuple[int, bytes]] = []

    def call_slow() -> None:
        response = served.call(APP, "slow", timeout=120)
        results.append((response.status, response.body))

    caller = threading.Thread(target=call_slow)
    caller.start()
    served.wait_for((flags / "started").exists, "slow() to start in the kernel")

    served.process.send_signal(signal.SIGTERM)
    served.wait_for(lambda: served.health().status == 503, "health 503 while draining", timeout=30)
    refused = served.call(OTHER, "ping")
    assert refused.status == 503
    assert refused.headers["retry-after"] == "1"
    assert "shutting down" in refused.json()["message"]
    assert served.health().body == b"unavailable\n"
    assert served.process.poll() is None  # still draining: slow() has not finished

    (flags / "release").touch()
    caller.join(120)
    assert results == [(200, b'{"value": "finished"}')]
    assert served.process.wait(60) == 0
