"""Every client reaches a SASL_SSL (SCRAM-SHA-512) broker from the security settings alone:
topic creation (confluent-kafka admin), traffic (confluent-kafka producer), the worker
(Faust/aiokafka) and the CLI. Wrong credentials and an untrusted certificate are refused
with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.admin.produce import produce
from processor.dev import broker_files
from processor.dev.generate import Traffic, generate
from processor.settings import Settings
from tests.integration.outputs import TopicState, wait_equal
from tests.integration.procs import cli, start_worker
from tests.oracle import Oracle

pytestmark = pytest.mark.integration

START = 1709251200000


def secured(isolated: Settings, broker: Settings) -> Settings:
    return isolated.replace(
        broker=f"kafka://127.0.0.1:{broker.broker_secure_port}", security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512", ssl_ca_file=str(broker_files.ca_file(broker)),
        clock="stream", tick_interval_s=2.0)


def test_everything_runs_over_sasl_ssl(isolated: Settings, broker: Settings,
                                       tmp_path: Path) -> None:
    secure = secured(isolated, broker)
    created = cli(secure, "topics", "create")
    assert created.returncode == 0, created.stderr
    messages = list(generate(Traffic(seed=71, carriers=10, events=3_000, start_ms=START,
                                     end_ms=START + 86_400_000)))
    oracle = Oracle()
    oracle.feed(messages)
    produce(secure, secure.topic(secure.input_topic), messages, rate=None, progress=None)
    reader = TopicState(isolated, ("carrier.code-consistency",))  # plaintext listener
    worker = start_worker(secure, tmp_path / "w.log")
    try:
        wait_equal(reader, {"carrier.code-consistency": oracle.consistency()}, timeout=180)
        status = cli(secure, "status", "c-00001", "--format", "json")
        assert status.returncode == 0, status.stderr
    finally:
        worker.stop()
        reader.close()
    assert secure.sasl_password not in worker.log()


def test_wrong_password_and_untrusted_certificate_are_refused(isolated: Settings,
                                                              broker: Settings) -> None:
    secure = secured(isolated, broker)
    wrong = cli(secure.replace(sasl_password="not-the-password"), "topics", "check",
                timeout=90)
    assert wrong.returncode != 0
    assert "SASL authentication error: Authentication failed" in wrong.stderr, wrong.stderr
    untrusted = cli(secure.replace(ssl_ca_file=""), "topics", "check", timeout=90)
    assert untrusted.returncode != 0
    assert "certificate verify failed" in untrusted.stderr, untrusted.stderr
