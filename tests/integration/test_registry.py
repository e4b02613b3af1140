"""The carrier registry end to end: import, per-carrier policy, cost and alerts."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from processor.admin import registry as registry_io
from processor.admin.produce import produce
from processor.dev.generate import Traffic, generate
from processor.errors import EXIT_INPUT
from processor.settings import Settings
from tests.integration.outputs import TopicState, diff
from tests.integration.procs import cli, start_worker
from tests.oracle import UNMODELLED_ALERTS, Oracle, to_ms
from tests.schemas import errors

pytestmark = pytest.mark.integration

START = 1709251200000  # 2024-03-01T00:00:00Z
RATES = [
    {"prefix": "44", "per_minute": 0.012, "currency": "EUR"},
    {"prefix": "447", "per_minute": 0.03, "currency": "EUR", "increment_s": 60,
     "minimum_s": 60},
    {"prefix": "1", "per_minute": 0.006, "currency": "EUR", "increment_s": 6, "minimum_s": 30},
]


def profiles(n: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for i in range(n):
        p: dict[str, Any] = {
            "name": f"Carrier {i}",
            "contacts": [{"name": f"NOC {i}", "role": "noc", "email": f"noc{i}@example.net",
                          "phone": f"+1555000{i:04d}"}],
            "rates": RATES,
            "min_sample": 50,
        }
        if i < 5:
            p["failure_codes"] = "route"
        if i == 5:
            p["failure_codes"] = [503, 408]
        if i == 4:  # the generator's dead route: alert at 300 in a row
            p["consecutive_failure_threshold"] = 300
        out[f"c-{i:05d}"] = p
    return out


@pytest.fixture
def settings(isolated: Settings) -> Settings:
    s = isolated.replace(clock="stream", tick_interval_s=2.0,
                         short_call_min_answered=10)
    assert cli(s, "topics", "create").returncode == 0
    return s


def write(path: Path, carriers: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"carriers": carriers}))
    return path


def test_registry_import_refuses_a_bad_file_whole_and_tombstones_removed(
        settings: Settings, tmp_path: Path) -> None:
    good = profiles(3)
    bad = {**good, "c-00001": {**good["c-00001"], "rates": [{"prefix": "x"}]}}
    result = cli(settings, "registry", "import", str(write(tmp_path / "bad.yaml", bad)))
    assert result.returncode == EXIT_INPUT
    assert "nothing was published" in result.stderr
    assert "prefix must be 1-32 digits" in result.stderr
    assert "currency must be a 3-letter" in result.stderr
    assert registry_io.current_keys(settings) == {}

    result = cli(settings, "registry", "import", str(write(tmp_path / "good.yaml", good)))
    assert result.returncode == 0, result.stderr
    assert set(registry_io.current_keys(settings)) == set(good)

    del good["c-00002"]
    result = cli(settings, "registry", "import", str(write(tmp_path / "less.yaml", good)))
    assert result.returncode == 0, result.stderr
    assert "removed c-00002 (tombstone)" in result.stdout
    assert set(registry_io.current_keys(settings)) == {"c-00000", "c-00001"}


def test_profiles_drive_failure_sets_thresholds_cost_and_alerts(settings: Settings,
                                                                  tmp_path: Path) -> None:
    registry = profiles(20)
    result = cli(settings, "registry", "import", str(write(tmp_path / "r.yaml", registry)))
    assert result.returncode == 0, result.stderr
    messages = list(generate(Traffic(seed=11, carriers=24, events=30_000, start_ms=START,
                                     end_ms=START + 3 * 86_400_000, late_share=0.0)))
    oracle = Oracle(profiles=registry)
    oracle.feed(messages)
    produce(settings.bootstrap_servers, settings.topic(settings.input_topic), messages,
            rate=None, progress=None)
    reader = TopicState(settings, ("carrier.consecutive-failures", "carrier.code-consistency",
                                   "carrier.summary.daily", "carrier.alerts"))
    worker = start_worker(settings, tmp_path / "w.log")
    try:
        want = {"carrier.consecutive-failures": oracle.consecutive(),
                "carrier.code-consistency": oracle.consistency(),
                "carrier.summary.daily": oracle.summaries("day")}
        deadline = time.monotonic() + 300
        problems = ["not compared"]
        while problems and time.monotonic() < deadline:
            if reader.poll(1.0):
                continue
            problems = [p for name, exp in want.items() for p in diff(exp, reader.state[name])]
        assert not problems, problems
    finally:
        worker.stop()
        reader.close()

    alerts = [json.loads(v) for name, _, v in reader.raw if name == "carrier.alerts" and v]
    assert all(not errors("alert", a) for a in alerts)
    seen = Counter((a["carrier_id"], a["kind"], a["state"], a["value"], a["threshold"],
                    to_ms(a["at"])) for a in alerts if a["kind"] not in UNMODELLED_ALERTS)
    expected = Counter((a["carrier_id"], a["kind"], a["state"], a["value"], a["threshold"],
                        a["at"]) for a in oracle.alerts)
    assert seen == expected
    assert ("c-00004", "consecutive-failures", "firing") in {
        (a["carrier_id"], a["kind"], a["state"]) for a in alerts}
    for a in alerts:
        assert a["contacts"] == registry.get(a["carrier_id"], {}).get("contacts", [])
    # The FAS-like carrier (c-00002) answers mostly very short calls.
    assert any(a["carrier_id"] == "c-00002" and a["kind"] == "short-calls"
               and a["state"] == "firing" for a in alerts)
    costed = [r for r in reader.state["carrier.summary.daily"].values() if r["cost"]]
    assert costed
    assert all(r["currency"] == "EUR" for r in costed)
