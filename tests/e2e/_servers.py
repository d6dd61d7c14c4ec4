"""Real Jupyter servers for the browser tests: started on a free loopback port, stopped for sure.

Each server gets its own copy of ``notebooks/`` and its own Jupyter config, data, runtime,
IPython and JupyterLab settings folders under a temporary root, so nothing is read from or
written to the user's home. Stopping one asks it to shut its kernels down, then ends its
process group, then any kernel process it started that is still alive (kernels run in a
session of their own, so the process group does not cover them).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
BIN = Path(sys.executable).parent
# The API key the JupyterLab server's kernels read (secrets.ipynb): made up per run, so
# finding it in the page can only mean it leaked.
API_KEY = f"sk-e2e-{secrets.token_hex(12)}"
START_TIMEOUT = 120.0  # seconds; a shared 2-core machine can be slow to start JupyterLab

# JupyterLab (and Notebook 7) user settings: no news or update checks (no network, no toasts).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    # Save widget state in notebooks, so that tests can check what it holds.
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True},
}


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after "pid (comm)" (comm may hold spaces and parentheses)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendants(pid: int) -> dict[int, str]:
    """The processes ``pid`` started, and theirs (Linux: read from /proc), with their start
    times, so that a PID the system has since given to another process is never signalled."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = _stat(entry.name)
                children.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child, started in children.get(todo.pop(), []):
            if child not in found:
                found[child] = started
                todo.append(child)
    return found


def _alive(pid: int, started: str) -> bool:
    try:
        return _stat(pid)[19] == started and _stat(pid)[0] != "Z"
    except (OSError, IndexError):
        return False


def end(pid: int, started: str) -> None:
    """SIGTERM the process ``pid`` that started at ``started``, then SIGKILL it if it stays."""
    deadline = time.monotonic() + 10
    signum = signal.SIGTERM
    while _alive(pid, started):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        if time.monotonic() > deadline:
            signum = signal.SIGKILL
        time.sleep(0.1)  # it is not our child: there is nothing to wait on


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment of a server and its kernels: Jupyter's folders under ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
    folders = {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "IPYTHONDIR": "ipython",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
    }
    for name, folder in folders.items():
        path = home / folder
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["JUPYTER_PREFER_ENV_PATH"] = "1"
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    for setting, value in LAB_SETTINGS.items():
        path = home / "lab-settings" / setting
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    env.update(extra)
    return env


@dataclass
class Server:
    """A running ``jupyter lab``, ``jupyter notebook`` or ``voila``."""

    kind: str
    root: Path  # the folder it serves: a copy of notebooks/
    port: int
    token: str
    process: subprocess.Popen[bytes]
    log: Path
    kernels: dict[int, str] = field(default_factory=dict)  # PID: start time

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def page_url(self, path: str) -> str:
        """``path`` under the server, with the token that logs the browser in."""
        separator = "&" if "?" in path else "?"
        return f"{self.url}{path}{separator}token={self.token}"

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"token {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def remember_kernels(self) -> None:
        """Note the PIDs of the kernels it runs, so that stop() can end them for sure."""
        if self.process.poll() is None:
            self.kernels.update(descendants(self.process.pid))

    def shutdown_kernels(self) -> None:
        """End every kernel of a Jupyter server (not Voila: it has no REST API for them)."""
        if self.kind == "voila":
            return
        self.remember_kernels()
        for session in self.api("GET", "api/sessions"):
            with contextlib.suppress(urllib.error.HTTPError):
                self.api("DELETE", f"api/sessions/{session['id']}")
        for kernel in self.api("GET", "api/kernels"):
            with contextlib.suppress(urllib.error.HTTPError):
                self.api("DELETE", f"api/kernels/{kernel['id']}")

    def stop(self) -> None:
        self.remember_kernels()
        if self.process.poll() is None and self.kind != "voila":
            with contextlib.suppress(OSError, urllib.error.URLError, TimeoutError):
                self.shutdown_kernels()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)
        else:
            # Its process group may outlive it (children it started).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        for pid, started in self.kernels.items():
            end(pid, started)


def copy_notebooks(root: Path) -> Path:
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns("*.sqlite3", ".ipynb_checkpoints"))
    return root


def start(kind: str, home: Path, args: list[str], env: dict[str, str] | None = None) -> Server:
    """Start a server of ``kind`` ("lab", "notebook" or "voila") serving a copy of notebooks/."""
    root = copy_notebooks(home / "notebooks")
    environment = isolated_env(home, env or {})
    token = secrets.token_hex(24)
    last_error = ""
    for attempt in range(3):  # the free port may be taken between choosing and binding it
        port = free_port()
        if kind == "voila":
            command = [
                str(BIN / "voila"),
                *args,
                "--no-browser",
                "--Voila.ip=127.0.0.1",
                f"--Voila.port={port}",
                f"--Voila.token={token}",
                f"--Voila.root_dir={root}",
            ]
        else:
            command = [
                str(BIN / "jupyter"),
                kind,
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                "--ServerApp.allow_root=True",  # containers and CI often run as root
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                *args,
            ]
        log = home / f"{kind}-{attempt}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=root,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, ended as one in stop()
            )
        server = Server(kind, root, port, token, process, log)
        try:
            wait_until_up(server)
        except BaseException as error:
            last_error = str(error)
            server.stop()
            if isinstance(error, KeyboardInterrupt) or "address already in use" not in server.log_tail().lower():
                raise
            continue
        return server
    message = f"{kind} did not start after 3 attempts: {last_error}"
    raise RuntimeError(message)


def wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            message = f"{server.kind} exited with {server.process.returncode}:\n{server.log_tail()}"
            raise RuntimeError(message)
        try:
            if server.kind == "voila":
                # Voila has no status endpoint, and GET / would start a kernel: a TCP connect will do.
                with socket.create_connection(("127.0.0.1", server.port), timeout=2):
                    return
            else:
                server.api("GET", "api/status", timeout=5)
                return
        except (OSError, urllib.error.URLError):
            pass
        # Poll again soon; returns at once if the server exits meanwhile.
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=0.25)
    message = f"{server.kind} did not answer within {START_TIMEOUT:.0f} s:\n{server.log_tail()}"
    raise TimeoutError(message)
