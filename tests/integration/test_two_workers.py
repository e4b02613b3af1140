"""Two and three workers in one group share the partitions: each exposes only its own
carriers in /metrics, and any answers the API for any carrier (routed to the owner). The API needs
the bearer token, and the token travels with a forwarded request."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from processor.admin.produce import produce
from processor.dev.generate import Traffic, generate
from processor.settings import Settings
from tests.integration.outputs import TopicState, normalise, wait_equal
from tests.integration.procs import cli, free_port, start_worker, wait_for
from tests.oracle import Oracle

pytestmark = pytest.mark.integration

START = 1709078400000  # 2024-02-28T00:00:00Z
TOKEN = "t0ken-for-the-two-worker-test"


def metrics_text(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as resp:
        return str(resp.read().decode())


def carriers_in_metrics(url: str) -> set[str]:
    text = metrics_text(url)
    return {line.split('carrier="')[1].split('"')[0] for line in text.splitlines()
            if line.startswith("carrierwatch_carrier_consecutive_failures{")}


@pytest.mark.parametrize("n", [2, 3])
def test_workers_split_carriers_and_route_requests(n: int, isolated: Settings,
                                                   tmp_path: Path) -> None:
    base = isolated.replace(clock="stream", tick_interval_s=2.0,
                            api_token=TOKEN)
    assert cli(base, "topics", "create").returncode == 0
    messages = list(generate(Traffic(seed=21, carriers=40, events=6_000, start_ms=START,
                                     end_ms=START + 86_400_000)))
    oracle = Oracle()
    oracle.feed(messages)
    produce(base.bootstrap_servers, base.topic(base.input_topic), messages, rate=None,
            progress=None)
    settings = [base.replace(data_dir=tmp_path / f"w{i}", web_port=free_port())
                for i in range(n)]
    workers = [start_worker(settings[0], tmp_path / "w0.log")]
    workers[0].wait_log("Worker ready")
    workers += [start_worker(s, tmp_path / f"w{i}.log") for i, s in enumerate(settings) if i]
    reader = TopicState(base, ("carrier.code-consistency",))
    try:
        for w in workers:
            w.wait_log("Worker ready")
        wait_equal(reader, {"carrier.code-consistency": oracle.consistency()}, timeout=180)

        def split() -> bool:
            owned = [carriers_in_metrics(s.web_url) for s in settings]
            return (all(owned) and sum(map(len, owned)) == len(set().union(*owned))
                    and set().union(*owned) == set(oracle.carriers))

        wait_for(split, 120, "every worker to own carriers, disjoint, covering all")
        want = oracle.consistency()
        for cid in sorted(oracle.carriers):
            for s in settings:
                req = urllib.request.Request(f"{s.web_url}/carriers/{cid}",
                                             headers={"Authorization": f"Bearer {TOKEN}"})
                with urllib.request.urlopen(req, timeout=30) as resp:
                    doc = json.loads(resp.read())
                assert normalise(doc["code_consistency"]) == normalise(want[cid]), cid
        for s in settings:  # the carriers page's list: every worker's, from any of them
            req = urllib.request.Request(f"{s.web_url}/carriers?scope=group",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                group = json.loads(resp.read())
            assert [c["carrier_id"] for c in group["carriers"]] == sorted(oracle.carriers)
            assert (group["workers"], group["unreachable"]) == (n, [])
        for s in settings:
            for header in ({}, {"Authorization": "Bearer wrong"}):
                req = urllib.request.Request(f"{s.web_url}/carriers/c-00001", headers=header)
                with pytest.raises(urllib.error.HTTPError) as refused:
                    urllib.request.urlopen(req, timeout=30)
                assert refused.value.code == 401
        status = cli(settings[-1], "status", "c-00001", "--format", "json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["carrier_id"] == "c-00001"
        exposition = "".join(metrics_text(s.web_url) for s in settings)
    finally:
        reader.close()
        for w in reversed(workers):
            w.stop()
    # No dialled number in a metric or a log line (the workers log at INFO).
    numbers = {json.loads(m.value)["destination"] for m in messages
               if m.valid and b'"destination"' in m.value}
    assert len(numbers) > 100
    logs = "".join(w.log() for w in workers)
    assert "INFO" in logs
    leaked = [n for n in numbers
              if n in logs or n in exposition or f'"{n.lstrip("+")}"' in exposition]
    assert not leaked, leaked[:5]
