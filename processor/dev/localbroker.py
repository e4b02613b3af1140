"""The local single-node Apache Kafka (KRaft) used for development and tests.

The broker's jars come from Maven Central through ``deploy/kafka/pom.xml`` (cached in
the local Maven repository), are copied into ``<broker_dir>/libs`` and run as one
combined broker+controller process bound to 127.0.0.1. Nothing is installed by hand.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from processor.dev.broker_files import (
    KAFKA_DEPLOY_DIR,
    BrokerError,
    broker_paths,
    classpath,
    ensure_jars,
    java,
    log_config_flag,
    scram_users,
    secure_config,
)
from processor.settings import Settings


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str
    detail: str


def bootstrap_address(settings: Settings) -> str:
    return f"127.0.0.1:{settings.broker_port}"


def _write_config(settings: Settings) -> Path:
    p = broker_paths(settings)
    template = (KAFKA_DEPLOY_DIR / "server.properties.template").read_text()
    text = template.format(
        port=settings.broker_port,
        controller_port=settings.broker_controller_port,
        log_dirs=p["data"],
    )
    if settings.broker_secure_port:
        text += secure_config(settings)
    p["config"].write_text(text)
    p["config"].chmod(0o600)
    return p["config"]


def _cluster_id() -> str:
    """A Kafka-style UUID: 16 random bytes, URL-safe base64 without padding."""
    while True:
        cid = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def _format_storage(settings: Settings, libs: Path, config: Path) -> None:
    data = broker_paths(settings)["data"]
    if (data / "meta.properties").is_file():
        return
    data.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [java(), "-Xmx256m", log_config_flag(), "-cp", classpath(libs),
         "kafka.tools.StorageTool", "format",
         "-t", _cluster_id(), "-c", str(config), *scram_users(settings)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise BrokerError(f"formatting KRaft storage failed:\n{proc.stdout}{proc.stderr}")


def _read_pid(settings: Settings) -> int | None:
    pid_file = broker_paths(settings)["pid"]
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not a running broker.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state != "Z"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def answers_metadata(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """True when a Kafka broker at ``bootstrap`` answers a metadata request."""
    host, _, port = bootstrap.rpartition(":")
    if not port_open(int(port), host or "127.0.0.1"):
        return False
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0,
                         "socket.timeout.ms": int(timeout_s * 1000)})
    try:
        md = admin.list_topics(timeout=timeout_s)
    except KafkaException:
        return False
    return bool(md.brokers)


def status(settings: Settings) -> BrokerStatus:
    pid = _read_pid(settings)
    bootstrap = bootstrap_address(settings)
    if pid is None:
        if port_open(settings.broker_port):
            return BrokerStatus(False, None, bootstrap,
                                f"not running from {settings.broker_dir}, but port "
                                f"{settings.broker_port} is in use by another process")
        return BrokerStatus(False, None, bootstrap, "not running")
    if answers_metadata(bootstrap):
        return BrokerStatus(True, pid, bootstrap, f"running (pid {pid}) at {bootstrap}")
    return BrokerStatus(False, pid, bootstrap, f"process {pid} is up but not answering yet")


def start(settings: Settings, out: TextIO = sys.stderr) -> BrokerStatus:
    """Start the broker and wait until it answers a metadata request; no-op if it runs."""
    current = status(settings)
    if current.running:
        return current
    if current.pid is None and port_open(settings.broker_port):
        raise BrokerError(current.detail)
    if current.pid is not None:  # started but not answering: give it the usual time below
        return _wait_ready(settings, current.pid, time.monotonic())
    p = broker_paths(settings)
    p["root"].mkdir(parents=True, exist_ok=True)
    libs = ensure_jars(settings, out)
    config = _write_config(settings)
    _format_storage(settings, libs, config)
    cmd = [
        java(), f"-Xmx{settings.broker_heap}", f"-Xms{settings.broker_heap}",
        "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
        log_config_flag(), "-cp", classpath(libs), "kafka.Kafka", str(config),
    ]
    began = time.monotonic()
    with open(p["log"], "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    p["pid"].write_text(f"{proc.pid}\n")
    return _wait_ready(settings, proc.pid, began, proc)


def _wait_ready(settings: Settings, pid: int, began: float,
                proc: subprocess.Popen[bytes] | None = None) -> BrokerStatus:
    bootstrap = bootstrap_address(settings)
    deadline = began + settings.broker_start_timeout_s
    while time.monotonic() < deadline:
        exited = proc.poll() is not None if proc is not None else not _alive(pid)
        if exited:
            raise BrokerError(
                f"the broker exited during start-up; last log lines:\n{_tail(settings)}"
            )
        if answers_metadata(bootstrap, timeout_s=1.0):
            took = time.monotonic() - began
            return BrokerStatus(True, pid, bootstrap, f"running (pid {pid}) at {bootstrap}, "
                                                      f"ready in {took:.1f} s")
        time.sleep(0.25)
    stop(settings)
    raise BrokerError(f"the broker did not answer within {settings.broker_start_timeout_s:.0f} s; "
                      f"last log lines:\n{_tail(settings)}")


def stop(settings: Settings, timeout_s: float = 30.0) -> BrokerStatus:
    """Stop the broker (SIGTERM, then SIGKILL after ``timeout_s``); leaves no process."""
    p = broker_paths(settings)
    pid = _read_pid(settings)
    if pid is not None:
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _alive(pid):
                _reap(pid)
                time.sleep(0.05)
    p["pid"].unlink(missing_ok=True)
    return BrokerStatus(False, None, bootstrap_address(settings), "stopped")


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect the broker if it is our own child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _tail(settings: Settings, lines: int = 30) -> str:
    try:
        text = broker_paths(settings)["log"].read_text(errors="replace")
    except FileNotFoundError:
        return "(no broker log)"
    return "\n".join(text.splitlines()[-lines:])
