"""The benchmark's peers are honest: on a small run they compute what the oracle computes.

(The ceiling decodes every message; naive Faust's, Quix Streams' and Kafka Streams'
counters, code tallies and daily windows equal the oracle's on traffic without the invalid
messages, producer duplicates and very late events that they, written the simple way, do
not handle.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from processor.settings import Settings
from processor.tools.generate import Traffic, generate
from processor.tools.produce import produce
from tests.benchmarks.bench import quix_python
from tests.benchmarks.common import result_of
from tests.integration.procs import REPO, cli
from tests.oracle import Oracle

pytestmark = pytest.mark.integration

START = 1709164800000  # 2024-02-29T00:00:00Z


def run(module: str, *args: str, python: str = sys.executable) -> dict[str, Any]:
    out = subprocess.run([python, "-m", module, *args], cwd=REPO, capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    result = result_of(out.stdout)
    assert result is not None, out.stdout[-2000:] + out.stderr[-2000:]
    return result


def test_peers_compute_the_oracles_numbers(isolated: Settings, tmp_path: Path) -> None:
    settings = isolated.replace(partitions=4)
    assert cli(settings, "topics", "create").returncode == 0
    messages = list(generate(Traffic(seed=3, carriers=30, events=6_000, start_ms=START,
                                     end_ms=START + 3 * 86_400_000, duplicate_share=0.0,
                                     late_share=0.0, invalid_share=0.0)))
    topic = settings.topic(settings.input_topic)
    produce(settings.bootstrap_servers, topic, messages, rate=None, progress=None)
    oracle = Oracle()
    oracle.feed(messages)

    ceiling = run("tests.benchmarks.ceiling", settings.bootstrap_servers, topic,
                  str(len(messages)))
    assert ceiling["events"] == len(messages)
    assert ceiling["decoded"] == len(messages)

    naive = tmp_path / "naive.json"
    result = run("tests.benchmarks.naive_faust", settings.bootstrap_servers, topic,
                 str(len(messages)), str(tmp_path / "naive-data"), "--dump", str(naive))
    assert result["events"] == len(messages)
    assert_oracles_numbers(json.loads(naive.read_text()), oracle)

    quix = tmp_path / "quix.json"
    result = run("tests.benchmarks.quix_peer", settings.bootstrap_servers, topic,
                 str(len(messages)), str(tmp_path / "quix-state"), "--dump", str(quix),
                 python=quix_python())
    assert result["events"] == len(messages)
    assert_oracles_numbers(json.loads(quix.read_text()), oracle)

    kstreams = tmp_path / "kstreams.json"
    result = run("tests.benchmarks.kstreams_peer", settings.bootstrap_servers, topic,
                 str(len(messages)), str(tmp_path / "kstreams-state"), "--dump", str(kstreams))
    assert result["events"] == len(messages)
    assert_oracles_numbers(json.loads(kstreams.read_text()), oracle)


def assert_oracles_numbers(got: dict[str, Any], oracle: Oracle) -> None:
    carriers = oracle.carriers
    assert got["consecutive"] == {
        cid: c.count for cid, c in carriers.items() if c.codes}
    assert Counter(got["codes"]) == Counter({f"{cid}|{code}": n for cid, c in carriers.items()
                                             for code, n in c.codes.items()})
    days = {f"{cid}|{datetime.fromtimestamp(start / 1000, tz=UTC):%Y-%m-%d}": len(docs)
            for cid, c in carriers.items() for (kind, start), docs in c.windows.items()
            if kind == "day"}
    assert got["daily"] == days
