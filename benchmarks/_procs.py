"""Processes the benchmarks start (servers, kernels behind them), and their stopping.

Everything listens on 127.0.0.1 only, lives in one temporary directory, and is stopped
(with every process it started in turn) when the ``Workspace`` closes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import psutil  # type: ignore[import-untyped]
from typing_extensions import Self


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Process:
    """A child process whose output goes to a log file in the workspace."""

    def __init__(self, name: str, argv: Sequence[str], *, env: dict[str, str], cwd: Path, log: Path) -> None:
        self.name = name
        self.log = log
        self._log_file: IO[bytes] = log.open("wb")
        self.popen = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15) -> None:
        """SIGINT/SIGTERM, then SIGKILL; also kills any descendant still alive after that."""
        if self.alive():
            try:
                descendants = psutil.Process(self.pid).children(recursive=True)
            except psutil.Error:
                descendants = []
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    self.popen.send_signal(sig)
                try:
                    self.popen.wait(timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
            _, still = psutil.wait_procs(descendants, timeout=5)
            for proc in still:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)
        self._log_file.close()


WORK = Path(__file__).with_name(".work")


class Workspace:
    """A temporary directory with Jupyter's paths inside it, and the processes started in it.

    Everything is removed on ``close``, and every process stopped, also on SIGTERM (see
    ``__main__``)."""

    def __init__(self) -> None:
        # Under benchmarks/.work/ rather than /tmp, where sweeps of stale directories by
        # name have removed a live run's files.
        WORK.mkdir(exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
        self._processes: list[Process] = []
        self._logs = 0
        for sub in ("runtime", "config", "data", "ipython", "notebooks", "logs"):
            (self.root / sub).mkdir()
        self.env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(self.root / "runtime"),
            "JUPYTER_CONFIG_DIR": str(self.root / "config"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "IPYTHONDIR": str(self.root / "ipython"),
            "PYTHONUNBUFFERED": "1",
        }

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def runtime(self) -> Path:
        return self.root / "runtime"

    def log(self, name: str) -> Path:
        """A fresh log file's path."""
        self._logs += 1
        return self.root / "logs" / f"{self._logs:02d}-{name}.log"

    def start(self, name: str, argv: Sequence[str]) -> Process:
        log = self.log(name)
        process = Process(name, argv, env=self.env, cwd=self.notebooks, log=log)
        self._processes.append(process)
        return process

    def stop(self, process: Process) -> None:
        process.stop()
        if process in self._processes:
            self._processes.remove(process)

    def close(self) -> None:
        while self._processes:
            self._processes.pop().stop()
        shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(OSError):
            WORK.rmdir()  # when no other run is using it

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_until(check: object, what: str, timeout: float, process: Process | None = None) -> None:
    """Poll ``check()`` until it returns true; fail with the process's log if it died."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            message = f"{process.name} exited while waiting for {what}:\n{process.log_tail()}"
            raise RuntimeError(message)
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.1)
    tail = f":\n{process.log_tail()}" if process is not None else ""
    message = f"timed out after {timeout:.0f} s waiting for {what}{tail}"
    raise TimeoutError(message)


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    message = f"/proc/{pid}/status has no {field}"
    raise RuntimeError(message)


def memory_bytes(pid: int) -> tuple[int, int]:
    """The process's resident memory now and its peak (VmHWM) since the last reset."""
    return _status_kib(pid, "VmRSS") * 1024, _status_kib(pid, "VmHWM") * 1024


def reset_peak(pid: int) -> None:
    """Start the process's peak-memory mark afresh from its current resident size."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
