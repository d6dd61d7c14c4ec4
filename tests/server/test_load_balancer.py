"""Two ``jupyter notebook-actions serve`` servers side by side behind a real haproxy (Debian's
/usr/sbin/haproxy, on loopback), configured by the config docs/beyond.md shows (its ports
changed), health-checked on the readiness route: calls take turns between the servers, an
MCP session stays on the server that started it, a server SIGTERMed under load costs no
request, and one killed under load costs only the requests in flight on it.

One haproxy and two servers for the module, in order (the SIGTERM test stops one; the kill
test starts another on its port and kills that)."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e._servers import descendants, free_port

from ._served import Served, start_serve, write_notebook
from .test_mcp import connect

HAPROXY = Path("/usr/sbin/haproxy")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "beyond.md"
APP = "app.ipynb"
CLIENTS = 4

ACTIONS = """%%use_server
import os


def server() -> int:
    \"\"\"The serve process whose kernel answers.\"\"\"
    return os.getppid()
"""


def haproxy_config(front: int, one: int, two: int) -> str:
    """The docs' haproxy config, with these ports for its 8000, 8001 and 8002."""
    (block,) = re.findall(r"```haproxy\n(.*?)```", DOCS.read_text(), re.DOTALL)
    for documented, port in (("8000", front), ("8001", one), ("8002", two)):
        assert f"127.0.0.1:{documented}" in block
        block = block.replace(f"127.0.0.1:{documented}", f"127.0.0.1:{port}")
    # and a line in haproxy's output for each request, for whoever reads a failure
    block = block.replace("global\n", "global\n    log stdout format raw local0\n")
    block = block.replace("defaults\n", "defaults\n    log global\n    option httplog\n")
    return str(block)


@dataclass
class Cluster:
    front: int
    token: str
    root: Path
    home: Path
    log: Path
    servers: list[Served] = field(default_factory=list)
    haproxy: subprocess.Popen[bytes] | None = None
    started: list[Served] = field(default_factory=list)  # every server, to stop at the end

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def start(self, port: int, name: str) -> Served:
        served = start_serve(self.root, self.home / name, [APP], "--kernels=1", name=name, port=port, token=self.token)
        self.started.append(served)
        served.wait_for(lambda: served.health().status == 200, f"{name} ready")
        return served


class Caller:
    """One client of the load balancer: a keep-alive connection, one call at a time."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.conn = http.client.HTTPConnection("127.0.0.1", cluster.front, timeout=60)

    def call(self) -> tuple[int, int | None]:
        """The status, and which server's kernel answered (None if it failed)."""
        path = f"/notebook-actions/api/notebooks/{APP}/actions/server"
        try:
            self.conn.request("POST", path, b"{}", {**self.cluster.auth, "Content-Type": "application/json"})
            response = self.conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # reconnects on the next request
            return 0, None
        if response.status != 200:
            return response.status, None
        return 200, int(json.loads(body)["value"])

    def close(self) -> None:
        self.conn.close()


@dataclass
class Result:
    started: float
    ended: float
    status: int
    server: int | None


class Load:
    """``CLIENTS`` callers, each calling in a loop until stopped."""

    def __init__(self, cluster: Cluster) -> None:
        self.results: list[Result] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(Caller(cluster),)) for _ in range(CLIENTS)]
        for thread in self._threads:
            thread.start()

    def _run(self, caller: Caller) -> None:
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                status, server = caller.call()
                with self._lock:
                    self.results.append(Result(started, time.monotonic(), status, server))
        finally:
            caller.close()

    def served_by(self, pid: int, since: float = 0.0) -> int:
        with self._lock:
            return sum(1 for r in self.results if r.server == pid and r.started >= since)

    def wait_until(self, test: object, what: str, timeout: float = 60) -> None:
        assert callable(test)
        deadline = time.monotonic() + timeout
        while not test():
            assert time.monotonic() < deadline, f"the load never got to {what}"
            time.sleep(0.02)

    def stop(self) -> list[Result]:
        self._stop.set()
        for thread in self._threads:
            thread.join(90)
        return self.results


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not HAPROXY.exists():
        pytest.fail(f"{HAPROXY} is missing: install Debian's haproxy (.ci/run does)")
    root = tmp_path_factory.mktemp("root")
    home = tmp_path_factory.mktemp("home")
    write_notebook(root / APP, ACTIONS)
    ports = [free_port(), free_port()]
    front = free_port()
    config = home / "haproxy.cfg"
    config.write_text(haproxy_config(front, *ports))
    log = home / "haproxy.log"
    cluster = Cluster(front, secrets.token_hex(16), root, home, log)
    try:
        cluster.servers = [cluster.start(port, f"serve{n + 1}") for n, port in enumerate(ports)]
        with log.open("wb") as output:
            haproxy = cluster.haproxy = subprocess.Popen(
                [str(HAPROXY), "-db", "-f", str(config)], stdout=output, stderr=subprocess.STDOUT
            )
        caller = Caller(cluster)
        deadline = time.monotonic() + 30
        while {caller.call()[1] for _ in range(4)} != {s.process.pid for s in cluster.servers}:
            assert haproxy.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"haproxy never sent calls to both servers:\n{log.read_text()}"
            time.sleep(0.1)
        caller.close()
        yield cluster
    finally:
        if cluster.haproxy is not None:
            cluster.haproxy.terminate()
            cluster.haproxy.wait(10)
        for served in cluster.started:
            served.stop()


def test_plain_calls_take_turns_between_the_servers(cluster: Cluster) -> None:
    caller = Caller(cluster)  # one keep-alive connection: haproxy balances request by request
    try:
        answers = [caller.call() for _ in range(6)]
    finally:
        caller.close()
    assert all(status == 200 for status, _ in answers)
    servers = [server for _, server in answers]
    assert set(servers) == {s.process.pid for s in cluster.servers}
    assert servers[0::2] == [servers[0]] * 3 and servers[1::2] == [servers[1]] * 3


def test_an_mcp_session_stays_on_the_server_that_started_it(cluster: Cluster) -> None:
    url = f"http://127.0.0.1:{cluster.front}/notebook-actions/mcp/notebooks/{APP}"
    bearer = {"Authorization": f"Bearer {cluster.token}"}

    async def sessions() -> list[list[int]]:
        async with connect(url, bearer) as first, connect(url, bearer) as second:
            answers: list[list[int]] = [[], []]
            for _ in range(4):  # interleaved: round robin alone would split each session
                for index, session in enumerate((first, second)):
                    result = await session.call_tool("server", {})
                    assert not result.is_error, result
                    assert result.structured_content is not None
                    answers[index].append(int(result.structured_content["result"]))
            return answers

    first, second = asyncio.run(sessions())
    assert len(set(first)) == 1 and len(set(second)) == 1
    # the two sessions' initialize requests took turns, as plain calls do
    assert {first[0], second[0]} == {s.process.pid for s in cluster.servers}


def test_a_server_sigtermed_under_load_costs_no_request(cluster: Cluster) -> None:
    staying, leaving = cluster.servers
    load = Load(cluster)
    try:
        load.wait_until(lambda: load.served_by(leaving.process.pid) >= 10, "calls on the leaving server")
        leaving.process.send_signal(signal.SIGTERM)
        assert leaving.process.wait(60) == 0  # drained, then stopped
        gone = time.monotonic()
        load.wait_until(lambda: load.served_by(staying.process.pid, since=gone) >= 20, "calls after it left")
    finally:
        results = load.stop()
    assert [r for r in results if r.status != 200] == []
    assert {r.server for r in results if r.started >= gone} == {staying.process.pid}


def test_a_server_killed_under_load_fails_only_its_calls_in_flight(cluster: Cluster) -> None:
    staying, left = cluster.servers
    # A new server where the SIGTERMed one was: haproxy takes it back once it is ready.
    doomed = cluster.start(left.port, "serve3")
    load = Load(cluster)
    try:
        load.wait_until(lambda: load.served_by(doomed.process.pid) >= 10, "calls on the new server")
        with contextlib.suppress(OSError):
            doomed.kernels.update(descendants(doomed.process.pid))  # to end its orphaned kernel after
        doomed.process.kill()
        doomed.process.wait(10)
        dead = time.monotonic()
        load.wait_until(lambda: load.served_by(staying.process.pid, since=dead) >= 20, "calls after the kill")
    finally:
        results = load.stop()
    # Each failed call was on its way to the server as it died (a client whose call failed
    # may send one more before haproxy notices); none sent after it was gone failed.
    failed = [r for r in results if r.status != 200]
    assert all(r.started < dead for r in failed), failed
    after = [r for r in results if r.started > dead]
    assert after and {r.server for r in after} == {staying.process.pid}
