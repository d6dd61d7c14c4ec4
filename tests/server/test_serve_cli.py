"""``jupyter notebook-actions serve`` as a user runs it: the README's command, a real process
on a free loopback port, answering the README's curl; a kernel killed, and the pool healing."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e._servers import BIN, NOTEBOOKS, descendants, end, free_port, isolated_env
from tests.test_readme import blocks, curl_blocks, json_documents, run_curl, section

SERVE = section("Serve a notebook")
(COMMAND,) = [b for b in blocks("bash", SERVE) if b.lstrip().startswith("jupyter notebook-actions serve")]
START_SECONDS = 120.0


@dataclass
class Serve:
    """A running ``jupyter notebook-actions serve``."""

    process: subprocess.Popen[bytes]
    port: int
    token: str
    log: Path
    base_url: str = "/"
    env: dict[str, str] = field(default_factory=dict)  # the server's (its Jupyter folders)
    kernels: dict[int, str] = field(default_factory=dict)  # PID: start time, to end them for sure

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    def get(self, path: str) -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def status(self) -> dict[str, Any]:
        code, body = self.get("notebook-actions/api/status")
        assert code == 200, body
        self.kernels.update(descendants(self.process.pid))
        return {notebook["path"]: notebook for notebook in body["notebooks"]}

    def wait_for(self, test: Callable[[dict[str, Any]], bool], timeout: float = START_SECONDS) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.tail()}")
            with contextlib.suppress(OSError):
                now = self.status()
                if test(now):
                    return now
            if time.monotonic() > deadline:
                raise AssertionError(f"serve never got there:\n{self.tail()}")
            time.sleep(0.1)

    def kernel_pid(self, kernel_id: str) -> int:
        """The process of a kernel, found by its connection file on its command line."""
        for pid in descendants(self.process.pid):
            with contextlib.suppress(OSError):
                if f"kernel-{kernel_id}.json" in Path(f"/proc/{pid}/cmdline").read_text():
                    return pid
        raise AssertionError(f"no process for kernel {kernel_id}")

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.kernels.update(descendants(self.process.pid))
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # the server shuts its kernels down
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for pid, started in self.kernels.items():
            end(pid, started)


def ready(path: str, count: int) -> Callable[[dict[str, Any]], bool]:
    return lambda now: path in now and [k["state"] for k in now[path]["kernels"]] == ["ready"] * count


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    """Start the README's command (or ``command``) in a folder holding a copy of notebooks/."""
    started: list[Serve] = []
    work = tmp_path / "work"
    shutil.copytree(NOTEBOOKS, work / "notebooks", ignore=shutil.ignore_patterns("*.sqlite3", ".ipynb_checkpoints"))
    env = isolated_env(tmp_path / "home", {})

    def start(command: str = COMMAND, *options: str, base_url: str = "/") -> Serve:
        port, token = free_port(), secrets.token_hex(16)
        args = shlex.split(command)
        assert args[:3] == ["jupyter", "notebook-actions", "serve"]
        args = [
            str(BIN / "jupyter"),
            *args[1:],
            f"--port={port}",
            "--ip=127.0.0.1",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            *options,
        ]
        log = tmp_path / f"serve-{len(started)}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                args, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
            )
        server = Serve(process, port, token, log, base_url, env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


TODO = "notebooks/todo_app.ipynb"


def test_the_readme_command_serves_the_todo_app_and_heals_a_killed_kernel(serve: Callable[..., Serve]) -> None:
    server = serve()  # as the README says it: no --allow-root, though containers and CI run as root
    now = server.wait_for(ready(TODO, 2))
    # It prints the notebook's URL, the one the README and the notebook name.
    assert f"serving {TODO}: its actions at /notebook-actions/api/notebooks/{TODO}/actions" in server.log.read_text()
    notebook = json.loads((NOTEBOOKS / "todo_app.ipynb").read_text())
    assert any(COMMAND.split(" --")[0] in "".join(cell["source"]) for cell in notebook["cells"])
    kernel_ids = [k["id"] for k in now[TODO]["kernels"]]
    # A path the server does not serve (say, relative to the notebooks' folder): a server with
    # no UI names what it serves, rather than advising to open the notebook in Jupyter.
    code, wrong = server.get("notebook-actions/api/notebooks/todo_app.ipynb/actions")
    assert code == 404
    assert wrong["message"] == (
        f"notebook 'todo_app.ipynb' is not served here: this server serves {TODO} "
        f"(GET /notebook-actions/api/notebooks/{TODO}/actions)"
    )

    env = {"JUPYTER_URL": server.url.rstrip("/"), "JUPYTER_TOKEN": server.token}
    (block,) = curl_blocks(SERVE)
    added, listed, actions, state = json_documents(run_curl(block, env))
    assert added == {"value": "Added 'Water the plants'"}
    assert [todo["title"] for todo in listed["value"]] == ["Water the plants"]
    assert {a["name"] for a in actions["actions"]} == {"add_todo", "list_todos"}
    # What HTTP and MCP callers read of an action: no view is "above" for them.
    assert all("above" not in action["doc"] for action in actions["actions"])
    assert actions["kernel_id"] in kernel_ids
    assert all(a["url"].endswith(f"/{TODO}/actions/{a['name']}") for a in actions["actions"])
    assert [(n["path"], [k["state"] for k in n["kernels"]]) for n in state["notebooks"]] == [(TODO, ["ready", "ready"])]

    doomed, survivor = kernel_ids
    killed_at = time.monotonic()
    os.kill(server.kernel_pid(doomed), signal.SIGKILL)
    # From the moment the server notices (its restarter's interval), every request succeeds,
    # on the other kernel ...
    server.wait_for(lambda now: [k["state"] for k in now[TODO]["kernels"] if k["id"] == doomed] != ["ready"])
    for _ in range(5):
        code, body = server.get(f"notebook-actions/api/notebooks/{TODO}/actions")
        assert code == 200, body
        assert body["kernel_id"] == survivor
    # Kernels share no memory, but they share the SQLite file: the survivor sees the to-do.
    (_, listed, _, _) = json_documents(run_curl(block, env))
    assert [todo["title"] for todo in listed["value"]] == ["Water the plants"] * 2
    # ... and the pool is back to two ready kernels within 30 s.
    server.wait_for(ready(TODO, 2), timeout=30 - (time.monotonic() - killed_at))


def test_serve_takes_the_root_dir_base_url_and_reload(serve: Callable[..., Serve], tmp_path: Path) -> None:
    server = serve(
        "jupyter notebook-actions serve todo_app.ipynb --reload",
        f"--ServerApp.root_dir={tmp_path / 'work' / 'notebooks'}",
        "--ServerApp.base_url=/a%40b/",
        base_url="/a%40b/",
    )
    now = server.wait_for(ready("todo_app.ipynb", 1))
    primed = now["todo_app.ipynb"]["kernels"][0]["last_primed"]
    notebook = tmp_path / "work" / "notebooks" / "todo_app.ipynb"
    notebook.write_text(notebook.read_text())  # a change: with --reload, a new prime
    server.wait_for(
        lambda now: ready("todo_app.ipynb", 1)(now) and now["todo_app.ipynb"]["kernels"][0]["last_primed"] != primed
    )


def test_serve_without_a_notebook_says_what_to_do(tmp_path: Path) -> None:
    env = isolated_env(tmp_path / "home", {})
    for args, expected in ((["serve"], "name at least one notebook"), ([], "usage")):
        done = subprocess.run(
            [str(BIN / "jupyter"), "notebook-actions", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert expected in done.stderr and "jupyter notebook-actions serve NOTEBOOK" in done.stderr
