"""Helpers to run carrierwatch processes (workers, CLI) as real subprocesses in tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from processor.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRIERWATCH_")}
    env.update(settings.as_env())
    env.update(extra or {})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cli(settings: Settings, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``carrierwatch ARGS`` with ``settings`` in the environment."""
    return subprocess.run(
        [sys.executable, "-m", "processor.cli.main", *args],
        env=child_env(settings), cwd=REPO, capture_output=True, text=True, timeout=timeout,
        check=False,
    )


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


class Proc:
    """A long-running child (a worker) with its output in a log file."""

    def __init__(self, argv: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        self.popen = subprocess.Popen(
            argv, env=dict(env), cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, needle: str, timeout: float = 90.0, poll: float = 0.2) -> None:
        def seen() -> bool:
            if self.popen.poll() is not None:
                code = self.popen.returncode
                raise RuntimeError(f"process exited ({code}):\n{self.log()[-4000:]}")
            return needle in self.log()

        wait_for(seen, timeout, f"{needle!r} in {self.log_path}", poll)

    def stop(self, timeout: float = 60.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()
        return self.popen.returncode

    def kill(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        self._log.close()


def start_worker(settings: Settings, log_path: Path, module: str = "processor.cli.main",
                 args: tuple[str, ...] = ("worker",), extra_env: Mapping[str, str] | None = None,
                 ) -> Proc:
    return Proc([sys.executable, "-m", module, *args], child_env(settings, extra_env), log_path)
