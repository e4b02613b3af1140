"""The benchmark's peers are honest: on a small run they compute what the oracle computes.

(The ceiling decodes every message; naive Faust's, Quix Streams' and Kafka Streams'
counters, code tallies and daily windows equal the oracle's on traffic without the invalid
messages, producer duplicates and very late events that they, written the simple way, do
not handle. The core peers' compacted outputs, on live traffic without producer
duplicates, equal the oracle's streaks, code tallies, hour/day/month sums and live 24 h.)
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from processor.admin.produce import produce
from processor.admin.topic_reader import latest, read_to_end
from processor.dev.generate import Live, Traffic, generate, generate_live
from processor.settings import Settings
from tests.benchmarks import kstreams_peer
from tests.benchmarks.bench import quix_python
from tests.benchmarks.common import result_of
from tests.integration.procs import REPO, cli
from tests.oracle import HOUR, Oracle, to_ms

pytestmark = pytest.mark.integration

START = 1709164800000  # 2024-02-29T00:00:00Z


@pytest.fixture(scope="module", autouse=True)
def peers_made() -> None:
    """The Kafka Streams peers built and the Quix Streams venv made before any peer is
    timed (each under its lock: the test processes share them): in a fresh clone they take
    minutes on a loaded 2-core machine."""
    kstreams_peer.build()
    quix_python()


def run(module: str, *args: str, python: str = sys.executable) -> dict[str, Any]:
    try:
        out = subprocess.run([python, "-m", module, *args], cwd=REPO, capture_output=True,
                             text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired as late:  # say what the peer was doing
        tail = late.stderr.decode(errors="replace") if isinstance(late.stderr, bytes) \
            else (late.stderr or "")
        pytest.fail(f"{module} still running after 300 s; its stderr ends:\n{tail[-3000:]}")
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


@pytest.mark.parametrize("peer", ["quix-core", "kstreams-core"])
def test_core_peers_publish_the_oracles_numbers(isolated: Settings, tmp_path: Path,
                                                peer: str) -> None:
    settings = isolated.replace(partitions=4)
    assert cli(settings, "topics", "create").returncode == 0
    now = 1_764_547_200_000  # 2025-12-01T00:00:00Z: late events fall in November
    # Sent with today's record timestamps (their event ts stay in 2025): stamped a year
    # ago, the input's 7-day retention deleted them at the broker's next check, and the
    # peer waited 300 s for events that were gone.
    messages = [dataclasses.replace(m, arrival_ms=None)
                for m in generate_live(Live(carriers=30, events=6_000, start_ms=now,
                                            duplicate_share=0.0, rate=50.0))]
    topic = settings.topic(settings.input_topic)
    produce(settings.bootstrap_servers, topic, messages, rate=None, progress=None)
    oracle = Oracle()
    oracle.feed(messages)
    module = "tests.benchmarks." + peer.replace("-", "_")
    result = run(module, settings.bootstrap_servers, topic, str(len(messages)),
                 str(tmp_path / "state"),
                 python=quix_python() if peer.startswith("quix") else sys.executable)
    assert result["events"] == len(messages)
    names = [f"{settings.input_topic}.{peer}-carriers", f"{settings.input_topic}.{peer}-windows"]
    got = read_to_end(settings, names)
    carriers, windows = (latest(got[n]) for n in names)
    assert_core_numbers(carriers, windows, oracle)


def sums(docs: list[dict[str, Any]]) -> dict[str, int]:
    """The four window sums, straight from the contract's words."""
    answered = [d for d in docs if 200 <= d["code"] < 300]
    return {"attempts": len(docs), "answered": len(answered),
            "duration_ms": sum(d.get("duration_ms") or 0 for d in answered),
            "pdd_ms": sum(d.get("pdd_ms") or 0 for d in docs)}


def assert_core_numbers(carriers: dict[str, Any], windows: dict[str, Any],
                        oracle: Oracle) -> None:
    expected = {cid: c for cid, c in oracle.carriers.items() if c.codes}
    assert set(carriers) == set(expected)
    for cid, c in expected.items():
        got = carriers[cid]
        assert got["consecutive_failures"] == c.count, cid
        assert got["codes"] == {str(k): n for k, n in c.codes.items()}, cid
        assert (got["total_200"], got["total_404"]) == (c.codes.get(200, 0),
                                                        c.codes.get(404, 0)), cid
        newest = max(to_ms(d["ts"]) for d in c.accepted)  # of final responses
        first = newest // HOUR * HOUR - 23 * HOUR
        live = sums([d for (kind, start), docs in c.windows.items()
                     if kind == "hour" and start >= first for d in docs])
        assert {k: got["live"][k] for k in live} == live, cid
        assert got["live"]["start"] == first, cid
    want = {f"{cid}|{kind}|{start}": sums(docs) for cid, c in expected.items()
            for (kind, start), docs in c.windows.items()}
    assert {k: {f: v[f] for f in ("attempts", "answered", "duration_ms", "pdd_ms")}
            for k, v in windows.items()} == want
