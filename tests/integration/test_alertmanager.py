"""Alerts reach people (issue 31): a real worker posts to Debian's ``prometheus-alertmanager``
on loopback, routed by the file ``carrierwatch alertmanager config`` wrote from the
registry (checked by ``amtool check-config``), to a local webhook receiver. A failing
carrier's alert arrives grouped by carrier with its contacts and explanation, and resolves
when the carrier recovers; with Alertmanager down for 30 s, nothing is lost."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from processor.admin.produce import Message, produce
from processor.settings import Settings
from tests.integration.procs import Proc, cli, free_port, start_worker, wait_for

pytestmark = pytest.mark.integration

THRESHOLD = 50
CONTACTS = {"c-dead": [{"name": "Acme NOC", "role": "noc", "email": "noc@acme.example",
                        "phone": "+15550100"}],
            "c-two": [{"name": "Two Ops", "role": "noc", "email": "ops@two.example",
                       "phone": None}]}


class Receiver:
    """A webhook receiver: every notification Alertmanager posts, in order."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                got.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self, carrier: str, status: str) -> list[dict[str, Any]]:
        """The alerts of notifications for ``carrier`` (its group) with ``status``."""
        return [a for n in self.got if n["groupLabels"].get("carrier") == carrier
                for a in n["alerts"] if a["status"] == status]


def start_alertmanager(config: Path, tmp: Path, port: int) -> Proc:
    binary = shutil.which("prometheus-alertmanager")
    if binary is None:
        pytest.fail("prometheus-alertmanager is needed: deploy/system-deps.sh alertmanager")
    proc = Proc([binary, f"--config.file={config}", f"--storage.path={tmp / 'am-data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                {"PATH": "/usr/bin:/bin"}, tmp / "alertmanager.log")
    proc.wait_log("Listening", timeout=30)
    return proc


def events(carrier: str, codes: list[int], start_ms: int) -> list[Message]:
    return [Message(carrier.encode(), orjson.dumps({
        "carrier_id": carrier, "call_id": f"{carrier}-{start_ms}-{i}", "code": code,
        "ts": start_ms + i, "customer_id": "cust-1",
        **({"duration_ms": 60_000} if code == 200 else {})}), True, carrier)
        for i, code in enumerate(codes)]


@pytest.fixture
def setup(broker: Settings, tmp_path: Path) -> Iterator[tuple[Settings, Receiver, Path, int]]:
    settings = broker.replace(topic_prefix="am", app_id="cw-am", data_dir=tmp_path / "data",
                              web_port=free_port(), alertmanager_url="",
                              alertmanager_resend_s=2.0)
    assert cli(settings, "topics", "create").returncode == 0
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump({"carriers": {
        cid: {"contacts": contacts, "consecutive_failure_threshold": THRESHOLD}
        for cid, contacts in CONTACTS.items()}}))
    assert cli(settings, "registry", "import", str(registry)).returncode == 0
    receiver = Receiver()
    config = tmp_path / "alertmanager.yml"
    made = cli(settings, "alertmanager", "config", "--out", str(config),
               "--webhook-url", receiver.url, "--group-wait", "1s", "--group-interval", "1s",
               "--repeat-interval", "1h")
    assert made.returncode == 0, made.stderr
    check = subprocess.run(["amtool", "check-config", str(config)], capture_output=True,
                           text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    routes = yaml.safe_load(config.read_text())["route"]["routes"]
    assert sorted(r["matchers"][0] for r in routes) == ['carrier="c-dead"', 'carrier="c-two"']
    try:
        yield settings, receiver, config, free_port()
    finally:
        receiver.server.shutdown()


def test_alerts_reach_the_receiver_grouped_and_survive_an_outage(
        setup: tuple[Settings, Receiver, Path, int], tmp_path: Path) -> None:
    settings, receiver, config, port = setup
    am = start_alertmanager(config, tmp_path, port)
    settings = settings.replace(alertmanager_url=f"http://127.0.0.1:{port}")
    worker = start_worker(settings, tmp_path / "worker.log")
    topic = settings.topic(settings.input_topic)
    now = int(time.time() * 1000)
    try:
        # A dead route: the streak passes the threshold.
        produce(settings, topic, events("c-dead", [503] * (THRESHOLD + 10), now), rate=None,
                progress=None)
        wait_for(lambda: receiver.alerts("c-dead", "firing"), 120, "c-dead firing")
        fired = receiver.alerts("c-dead", "firing")[0]
        assert fired["labels"] == {"alertname": "consecutive-failures", "carrier": "c-dead",
                                   "severity": "critical"}
        notes = fired["annotations"]
        assert "noc@acme.example" in notes["contacts"]
        assert "Acme NOC" in notes["contacts"]
        assert notes["summary"] == f"c-dead: {THRESHOLD} failed calls in a row"
        assert notes["explanation"].startswith("route failure")
        assert next(n for n in receiver.got
                    if n["groupLabels"].get("carrier") == "c-dead")["receiver"] == \
            "carrier-c-dead"
        # It recovers: resolved.
        produce(settings, topic, events("c-dead", [200], now + 100), rate=None, progress=None)
        wait_for(lambda: receiver.alerts("c-dead", "resolved"), 60, "c-dead resolved")

        # Alertmanager down for 30 s: c-two fails meanwhile, then c-dead again and back.
        am.stop()
        produce(settings, topic, events("c-two", [503] * (THRESHOLD + 1), now + 200),
                rate=None, progress=None)
        produce(settings, topic, events("c-dead", [503] * THRESHOLD, now + 300), rate=None,
                progress=None)
        time.sleep(30)
        seen = len(receiver.got)
        am = start_alertmanager(config, tmp_path, port)
        wait_for(lambda: receiver.alerts("c-two", "firing"), 60, "c-two firing after the outage")
        wait_for(lambda: len(receiver.alerts("c-dead", "firing")) >= 2, 60,
                 "c-dead's second streak after the outage")
        assert len(receiver.got) > seen
        assert "ops@two.example" in receiver.alerts("c-two", "firing")[0]["annotations"][
            "contacts"]
        log = worker.log()
        assert "alertmanager" in log  # the failed posts were logged...
        failures = log.count("posted again in")
        assert 0 < failures <= 30 / 2 + 3  # ...once per resend interval, no storm
    finally:
        worker.stop()
        am.stop()
