"""Shared fixtures: one real Kafka broker for the whole test session, on free ports.

Under pytest-xdist (``make test`` runs two processes) each process has its own session and
so its own broker, in its own directory; the broker jars are fetched once, under a lock.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from processor.dev import broker_files, localbroker
from processor.settings import Settings
from tests.integration.procs import REPO, free_port

TEST_BROKER_DIR = REPO / ".local" / "test-broker"


def _broker_dir() -> Path:
    """This session's broker directory, its ``libs`` shared with every other session's."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    TEST_BROKER_DIR.mkdir(parents=True, exist_ok=True)
    with open(REPO / ".local" / "test-broker.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        broker_files.ensure_jars(Settings(broker_dir=TEST_BROKER_DIR))
    if not worker:
        return TEST_BROKER_DIR
    own = REPO / ".local" / f"test-broker-{worker}"
    own.mkdir(parents=True, exist_ok=True)
    if not (own / "libs").exists():
        (own / "libs").symlink_to(TEST_BROKER_DIR / "libs")
    return own


@pytest.fixture(scope="session")
def broker() -> Iterator[Settings]:
    """Start the project's own broker (fresh KRaft data) and stop it at the end."""
    broker_dir = _broker_dir()
    port, cport, sport = free_port(), free_port(), free_port()
    settings = Settings(
        broker=f"kafka://127.0.0.1:{port}", broker_port=port, broker_controller_port=cport,
        broker_dir=broker_dir,
        # A SASL_SSL listener as well, for tests/integration/test_security.py.
        broker_secure_port=sport, sasl_username="carrierwatch-test",
        sasl_password=uuid.uuid4().hex,
    )
    localbroker.stop(settings)  # a broker left by an aborted session
    shutil.rmtree(broker_dir / "kraft-data", ignore_errors=True)
    (broker_dir / "broker.log").unlink(missing_ok=True)
    with running(settings):
        yield settings


@contextmanager
def running(settings: Settings) -> Iterator[Settings]:
    """The local broker of ``settings`` (one node or a cluster), stopped on the way out."""
    localbroker.start(settings)
    try:
        yield settings
    finally:
        localbroker.stop(settings)


def isolate(settings: Settings, tmp_path: Path, name: str = "test") -> Settings:
    """Settings for one test: its own topic prefix, app id, data dir and web port."""
    tag = uuid.uuid4().hex[:8]
    return settings.replace(
        topic_prefix=f"{name[0]}{tag}", app_id=f"cw-{name}-{tag}", data_dir=tmp_path / "data",
        web_port=free_port(),
    )


@pytest.fixture
def isolated(broker: Settings, tmp_path: Path) -> Settings:
    """Settings for one test on the session's broker (``isolate``)."""
    return isolate(broker, tmp_path)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``-n 2 --dist loadgroup`` (``make test``) the fault tests run one after the
    other in one process (each loads the machine), as do the cluster tests (one 3-node
    cluster for them all), and the long end-to-end test is a group of its own, so the
    biggest pieces can run side by side; xdist spreads the rest."""
    for item in items:
        if item.get_closest_marker("cluster"):
            item.add_marker(pytest.mark.xdist_group("cluster"))  # one 3-node cluster
        elif item.get_closest_marker("faults"):
            item.add_marker(pytest.mark.xdist_group("faults"))
        elif item.nodeid.endswith("test_outputs_equal_the_oracle_through_restarts_and_rebuilds"):
            item.add_marker(pytest.mark.xdist_group("processing"))
