"""The operator's surface on a running worker: HTTP API, /metrics and the CLI, against the
oracle."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from processor.dev.generate import Traffic, generate
from processor.errors import EXIT_UNKNOWN_CARRIER
from processor.settings import Settings
from tests.integration.outputs import drained_worker, normalise
from tests.integration.procs import REPO, Proc, cli
from tests.oracle import HOUR, Oracle, iso_key, start_of, to_ms

pytestmark = pytest.mark.integration

START = 1709078400000  # 2024-02-28T00:00:00Z


def http(settings: Settings, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(f"{settings.web_url}{path}", timeout=30) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def get_json(settings: Settings, path: str) -> Any:
    status, _, body = http(settings, path)
    assert status == 200, (path, body)
    return json.loads(body)


def scrape(settings: Settings) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, ctype, body = http(settings, "/metrics")
    assert status == 200
    assert ctype.startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.fixture(scope="module")
def running(broker: Settings, tmp_path_factory: pytest.TempPathFactory,
            ) -> Iterator[tuple[Settings, Oracle, Proc]]:
    """One worker over known traffic (stream clock), drained and equal to the oracle."""
    from tests.integration.procs import free_port

    tmp = tmp_path_factory.mktemp("api")
    settings = broker.replace(topic_prefix="api", app_id="cw-api", data_dir=tmp / "data",
                              web_port=free_port(), clock="stream", tick_interval_s=2.0,
                              metrics_max_carriers=25)
    assert cli(settings, "topics", "create").returncode == 0
    messages = list(generate(Traffic(seed=3, carriers=30, events=12_000, start_ms=START,
                                     end_ms=START + 2 * 86_400_000)))
    with drained_worker(settings, messages, tmp / "w.log") as (oracle, worker):
        yield settings, oracle, worker


def test_health_and_readiness(running: tuple[Settings, Oracle, Proc]) -> None:
    settings, _, _ = running
    assert get_json(settings, "/healthz") == {"status": "alive"}
    assert get_json(settings, "/readyz") == {"ready": True}


def test_carrier_list_and_status_equal_the_oracle(running: tuple[Settings, Oracle, Proc],
                                                 ) -> None:
    settings, oracle, _ = running
    listed = get_json(settings, "/carriers")["carriers"]
    assert [c["carrier_id"] for c in listed] == sorted(oracle.carriers)
    for cid in ("c-00000", "c-00004", "c-00017"):
        doc = get_json(settings, f"/carriers/{cid}")
        assert normalise(doc["consecutive_failures"]) == normalise(oracle.consecutive()[cid])
        assert normalise(doc["code_consistency"]) == normalise(oracle.consistency()[cid])
        assert normalise(doc["live"]) == normalise(oracle.live()[cid])


def test_summaries_with_range_and_csv(running: tuple[Settings, Oracle, Proc]) -> None:
    settings, oracle, _ = running
    cid = "c-00001"
    want = {k: v for k, v in oracle.summaries("hour").items() if k.startswith(cid + "|")}
    got = get_json(settings, f"/carriers/{cid}/summary?window=hour")["summaries"]
    assert {f"{cid}|hour|{r['start']}": r for r in got}.keys() == want.keys()
    for r in got:
        assert normalise(r) == normalise(want[f"{cid}|hour|{r['start']}"])
    since, until = "2024-02-29T00:00:00Z", "2024-02-29T06:00:00Z"
    ranged = get_json(settings, f"/carriers/{cid}/summary?window=hour&from={since}&to={until}")
    starts = [to_ms(r["start"]) for r in ranged["summaries"]]
    assert starts
    assert all(to_ms(since) <= s < to_ms(until) for s in starts)
    assert starts == sorted(starts)
    status, ctype, body = http(settings, f"/carriers/{cid}/summary?window=day&format=csv")
    assert status == 200
    assert ctype.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    days = {k: v for k, v in oracle.summaries("day").items() if k.startswith(cid + "|")}
    assert len(rows) == len(days)
    for row in rows:
        exp = days[f"{cid}|day|{row['start']}"]
        assert int(row["attempts"]) == exp["attempts"]
        assert float(row["asr"]) == pytest.approx(exp["asr"])


def test_latest_calls_newest_first(running: tuple[Settings, Oracle, Proc]) -> None:
    settings, oracle, _ = running
    for cid in ("c-00002", "c-00009"):
        calls = get_json(settings, f"/carriers/{cid}/latest-calls?limit=7")["calls"]
        want = oracle.latest(cid, 7)
        assert [(c["call_id"], c["code"], to_ms(c["ts"])) for c in calls] == \
            [(d["call_id"], d["code"], to_ms(d["ts"])) for d in want]
        assert set(calls[0]) == {"call_id", "code", "reason", "ts", "duration_ms", "pdd_ms",
                                 "destination", "customer_id"}


def test_errors_are_json_and_say_what_is_wrong(running: tuple[Settings, Oracle, Proc]) -> None:
    settings, _, _ = running
    status, _, body = http(settings, "/carriers/no-such-carrier")
    assert status == 404
    assert json.loads(body)["error"] == "unknown-carrier"
    for path, needle in [("/carriers/c-00001/summary?window=week", "window"),
                         ("/carriers/c-00001/summary?from=yesterday", "from"),
                         ("/carriers/c-00001/summary?from=2024-03-01T00:00:00Z"
                          "&to=2024-02-01T00:00:00Z", "before"),
                         ("/carriers/c-00001/latest-calls?limit=0", "limit")]:
        status, _, body = http(settings, path)
        assert status == 400, path
        assert needle in json.loads(body)["detail"]


def test_metrics_equal_the_oracle_with_the_carrier_cap(running: tuple[Settings, Oracle, Proc],
                                                       ) -> None:
    settings, oracle, _ = running
    m = scrape(settings)
    carriers = sorted(oracle.carriers)
    exported, rest = carriers[:25], carriers[25:]
    cons = oracle.consecutive()
    for cid in exported:
        c = oracle.carriers[cid]
        assert m[("carrierwatch_carrier_consecutive_failures", (("carrier", cid),))] == \
            cons[cid]["consecutive_failures"]
        for code, n in c.codes.items():
            key = ("carrierwatch_carrier_responses_total", (("carrier", cid), ("code", str(code))))
            assert m[key] == n
        assert m[("carrierwatch_carrier_reliable", (("carrier", cid),))] == \
            (1 if c.codes.get(404) else 0)
        assert c.max_ts is not None
        hour_key = f"{cid}|hour|{iso_key(start_of('hour', c.max_ts))}"
        assert m[("carrierwatch_carrier_window_attempts", (("carrier", cid), ("window", "hour")))] \
            == oracle.summaries("hour")[hour_key]["attempts"]
        live = oracle.live()[cid]
        assert m[("carrierwatch_carrier_window_attempts", (("carrier", cid), ("window", "live")))] \
            == live["attempts"]
        if live["asr"] is not None:
            assert m[("carrierwatch_carrier_window_asr", (("carrier", cid), ("window", "live")))] \
                == pytest.approx(live["asr"])
    assert not any(labels == (("carrier", cid),) for cid in rest for (_, labels) in m)
    other_503 = sum(oracle.carriers[c].codes.get(503, 0) for c in rest)
    assert m[("carrierwatch_carrier_responses_total", (("carrier", "_other"), ("code", "503")))] \
        == other_503
    totals = {k: sum(c.results[k] for c in oracle.carriers.values())
              for k in ("applied", "duplicate", "late")}
    for result, n in {**totals, "invalid": oracle.invalid_count()}.items():
        assert m[("carrierwatch_events_total", (("result", result),))] == n
    assert HOUR  # the oracle's hour constant is the one the windows use


def test_cli_queries_read_the_api(running: tuple[Settings, Oracle, Proc]) -> None:
    settings, oracle, _ = running
    out = cli(settings, "status", "c-00003", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["code_consistency"]["total_final"] == sum(oracle.carriers["c-00003"].codes.values())
    table = cli(settings, "status", "c-00003")
    assert table.returncode == 0
    assert "c-00003" in table.stdout
    assert "consecutive_failures" in table.stdout.splitlines()[0]
    out = cli(settings, "summary", "c-00003", "--window", "day", "--format", "csv")
    assert out.returncode == 0
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    days = {k: v for k, v in oracle.summaries("day").items() if k.startswith("c-00003|")}
    assert sorted(int(r["attempts"]) for r in rows) == sorted(v["attempts"] for v in days.values())
    out = cli(settings, "latest-calls", "c-00003", "--limit", "3", "--format", "csv")
    assert [r["call_id"] for r in csv.DictReader(io.StringIO(out.stdout))] == \
        [d["call_id"] for d in oracle.latest("c-00003", 3)]
    missing = cli(settings, "status", "nope")
    assert missing.returncode == EXIT_UNKNOWN_CARRIER
    assert "404" in missing.stderr


def test_exposition_passes_promtool_check_metrics(running: tuple[Settings, Oracle, Proc],
                                                  ) -> None:
    settings, _, _ = running
    _, _, body = http(settings, "/metrics")
    result = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_real_prometheus_scrapes_the_worker(running: tuple[Settings, Oracle, Proc],
                                              tmp_path: Path) -> None:
    """Debian's prometheus scrapes /metrics; its query API returns the oracle's values."""
    from tests.integration.procs import free_port, wait_for

    settings, oracle, _ = running
    port = free_port()
    config = tmp_path / "prometheus.yml"
    target = settings.web_url.removeprefix("http://")
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(REPO / "deploy/prometheus/rules/carrierwatch.rules.yml")],
        "scrape_configs": [{"job_name": "carrierwatch",
                            "static_configs": [{"targets": [target]}]}],
    }))
    prom = Proc(["prometheus", f"--config.file={config}",
                 f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{port}"], os.environ, tmp_path / "prom.log")
    try:
        def query(q: str) -> list[dict[str, Any]]:
            url = f"http://127.0.0.1:{port}/api/v1/query?{urllib.parse.urlencode({'query': q})}"
            try:
                with urllib.request.urlopen(url, timeout=10) as resp:
                    return list(json.loads(resp.read())["data"]["result"])
            except (urllib.error.URLError, ConnectionError):
                return []

        wait_for(lambda: bool(query('up{job="carrierwatch"} == 1')), 60, "a first scrape")
        cons = oracle.consecutive()
        for cid in ("c-00000", "c-00004", "c-00011"):
            result = query(f'carrierwatch_carrier_consecutive_failures{{carrier="{cid}"}}')
            assert float(result[0]["value"][1]) == cons[cid]["consecutive_failures"]
        result = query('sum(carrierwatch_events_total{result="applied"})')
        assert float(result[0]["value"][1]) == sum(c.results["applied"]
                                                  for c in oracle.carriers.values())
        result = query("count(carrierwatch_carrier_reliable == 0)")
        exported = sorted(oracle.carriers)[:25]
        assert float(result[0]["value"][1]) == sum(
            1 for cid in exported if not oracle.carriers[cid].codes.get(404))
    finally:
        prom.stop()
