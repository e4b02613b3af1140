"""Shared fixtures: one real Kafka broker for the whole test session, on free ports."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from processor import localbroker
from processor.settings import Settings
from tests.integration.procs import REPO, free_port

TEST_BROKER_DIR = REPO / ".local" / "test-broker"


@pytest.fixture(scope="session")
def broker() -> Iterator[Settings]:
    """Start the project's own broker (fresh KRaft data) and stop it at the end."""
    port, cport, sport = free_port(), free_port(), free_port()
    settings = Settings(
        broker=f"kafka://127.0.0.1:{port}", broker_port=port, broker_controller_port=cport,
        broker_dir=TEST_BROKER_DIR,
        # A SASL_SSL listener as well, for tests/integration/test_security.py.
        broker_secure_port=sport, sasl_username="carrierwatch-test",
        sasl_password=uuid.uuid4().hex,
    )
    localbroker.stop(settings)  # a broker left by an aborted session
    shutil.rmtree(TEST_BROKER_DIR / "kraft-data", ignore_errors=True)
    (TEST_BROKER_DIR / "broker.log").unlink(missing_ok=True)
    localbroker.start(settings)
    try:
        yield settings
    finally:
        localbroker.stop(settings)


@pytest.fixture
def isolated(broker: Settings, tmp_path: Path) -> Settings:
    """Settings for one test: its own topic prefix, app id, data dir and web port."""
    tag = uuid.uuid4().hex[:8]
    return broker.replace(
        topic_prefix=f"t{tag}", app_id=f"cw-test-{tag}", data_dir=tmp_path / "data",
        web_port=free_port(),
    )
