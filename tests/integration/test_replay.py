"""Replaying a recorded file through an isolated processor, and cleaning up after it."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from processor.admin.produce import produce
from processor.dev.generate import Traffic, generate
from processor.settings import Settings
from tests.integration.outputs import diff
from tests.integration.procs import REPO, cli
from tests.oracle import UNMODELLED_ALERTS, Oracle, file_arrivals, to_ms

pytestmark = pytest.mark.integration

START = 1709078400000  # 2024-02-28T00:00:00Z


def end_offsets(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    c = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": "probe"})
    md = c.list_topics(timeout=10)
    out = {(t, p): c.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
           for t in topics if t in md.topics for p in md.topics[t].partitions}
    c.close()
    return out


def latest_values(settings: Settings, name: str) -> list[dict[str, object]]:
    from processor.admin.topic_reader import read_to_end

    return [v for _, v in read_to_end(settings, [name])[name] if v is not None]


def without_times(doc: object) -> object:
    """A report with its name and wall-clock stamps removed: what must repeat exactly."""
    if isinstance(doc, dict):
        return {k: without_times(v) for k, v in doc.items() if k not in ("updated_at", "name")}
    if isinstance(doc, list):
        return [without_times(v) for v in doc]
    return doc


def test_replay_report_equals_the_oracle_and_touches_nothing_else(isolated: Settings,
                                                                  tmp_path: Path) -> None:
    # "Production": its own topics with traffic, and a committed consumer group.
    prod = isolated
    assert cli(prod, "topics", "create").returncode == 0
    live = list(generate(Traffic(seed=1, carriers=5, events=500, start_ms=START,
                                 end_ms=START + 3_600_000)))
    produce(prod.bootstrap_servers, prod.topic(prod.input_topic), live, rate=None,
            progress=None)
    prod_topics = [t for t in AdminClient({"bootstrap.servers": prod.bootstrap_servers})
                   .list_topics(timeout=10).topics if t.startswith(prod.topic_prefix + ".")]
    before = end_offsets(prod, prod_topics)

    recorded = list(generate(Traffic(seed=9, carriers=12, events=6_000, start_ms=START,
                                     end_ms=START + 2 * 86_400_000)))
    path = tmp_path / "incident.jsonl"
    path.write_bytes(b"".join(m.value + b"\n" for m in recorded))
    oracle = Oracle()
    oracle.feed(file_arrivals(recorded))
    name = f"t{uuid.uuid4().hex[:6]}"
    out = tmp_path / "report"
    result = cli(prod, "replay", str(path), "--name", name, "--min-streak", "5", "--out",
                 str(out), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Consecutive-failure streaks" in result.stdout

    report = json.loads((out / "report.json").read_text())
    assert report["sent"] == len(recorded)
    assert [b["line"] for b in report["bad_lines"]] == \
        [i + 1 for i, m in enumerate(recorded) if not m.valid]
    assert not diff(oracle.consistency(), report["consistency"])
    assert not diff(oracle.consecutive(), report["consecutive"])
    days = {f"{r['carrier_id']}|day|{r['start']}": r for r in report["daily"]}
    assert not diff(oracle.summaries("day"), days)
    spans = [(s["carrier_id"], s["started"], s["peak"], s["ended"], s["ended_by"])
             for c in oracle.carriers.values() for s in c.spans if s["peak"] >= 5]
    got = [(s["carrier_id"], to_ms(s["started_at"]), s["peak"],
            to_ms(s["ended_at"]) if s["ended_at"] else None, s["ended_by"])
           for s in report["streaks"]]
    assert sorted(got) == sorted(spans)
    alerts = sorted((a["carrier_id"], a["kind"], a["state"], to_ms(a["at"]))
                    for a in report["alerts"] if a["kind"] not in UNMODELLED_ALERTS)
    assert alerts == sorted((a["carrier_id"], a["kind"], a["state"], a["at"])
                            for a in oracle.alerts)
    for name_csv in ("streaks.csv", "code-consistency.csv", "summary-daily.csv",
                     "summary-hourly.csv", "alerts.csv", "bad-lines.csv"):
        assert (out / name_csv).read_text().count("\n") >= 1
    inv = prod.replace(topic_prefix=f"replay-{name}")
    dlq = latest_values(inv, "sip.responses.dlq")
    assert sorted(base64.b64decode(d["value_b64"]) for d in dlq) == \
        sorted(m.value for m in recorded if not m.valid)

    # The same input replayed again under another name gives the same report.
    again = f"{name}b"
    result = cli(prod, "replay", str(path), "--name", again, "--min-streak", "5", "--out",
                 str(tmp_path / "again"), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    second = json.loads((tmp_path / "again" / "report.json").read_text())
    assert without_times(second) == without_times(report)
    assert cli(prod, "replay", "--cleanup", again).returncode == 0

    # Production topics are untouched; the investigation's things exist until cleaned up.
    assert end_offsets(prod, prod_topics) == before
    admin = AdminClient({"bootstrap.servers": prod.bootstrap_servers})
    mine = [t for t in admin.list_topics(timeout=10).topics
            if t.startswith((f"replay-{name}.", f"carrierwatch-replay-{name}-"))]
    assert mine
    data = prod.data_dir.parent / "replays" / name
    assert data.exists()
    result = cli(prod, "replay", "--cleanup", name)
    assert result.returncode == 0, result.stderr
    left = [t for t in admin.list_topics(timeout=10).topics
            if t.startswith((f"replay-{name}.", f"carrierwatch-replay-{name}-"))]
    assert left == []
    assert not data.exists()
    groups = admin.list_consumer_groups().result(timeout=30)
    assert f"carrierwatch-replay-{name}" not in {g.group_id for g in groups.valid}
    assert REPO.exists()


def test_csv_and_topic_range_sources(isolated: Settings, tmp_path: Path) -> None:
    """A CSV of call records replays through a column mapping; a topic range replays exactly
    the messages whose broker timestamps fall inside it, without moving any group."""
    import csv as csv_mod
    import time

    prod = isolated
    assert cli(prod, "topics", "create").returncode == 0
    rows = list(generate(Traffic(seed=5, carriers=6, events=1_500, start_ms=START,
                                 end_ms=START + 86_400_000, invalid_share=0.0,
                                 duplicate_share=0.0)))
    docs = [json.loads(m.value) for m in rows]
    path = tmp_path / "cdr.csv"
    with path.open("w", newline="") as fh:
        w = csv_mod.writer(fh)
        w.writerow(["trunk", "callid", "sip_code", "time", "billsec_ms", "dialled"])
        for d in docs:
            w.writerow([d["carrier_id"], d["call_id"], d["code"], d["ts"],
                        d.get("duration_ms", ""), d.get("destination", "")])
    name = f"c{uuid.uuid4().hex[:6]}"
    out = tmp_path / "csv-report"
    result = cli(prod, "replay", str(path), "--name", name, "--out", str(out), "--map",
                 "carrier_id=trunk,call_id=callid,code=sip_code,ts=time,"
                 "duration_ms=billsec_ms,destination=dialled", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    oracle = Oracle()
    oracle.feed([type(m)(m.key, json.dumps({k: d[k] for k in (
        "carrier_id", "call_id", "code", "ts", "duration_ms", "destination") if k in d}).encode(),
        True, m.carrier_id) for m, d in zip(rows, docs, strict=True)])
    assert not diff(oracle.consistency(), report["consistency"])
    assert (out / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli(prod, "replay", "--cleanup", name).returncode == 0

    # Topic range: three bursts, the middle one is the incident.
    topic = prod.topic(prod.input_topic)
    bursts = []
    for seed in (1, 2, 3):
        burst = list(generate(Traffic(seed=seed, carriers=4, events=300, start_ms=START,
                                      end_ms=START + 3_600_000, invalid_share=0.0,
                                      duplicate_share=0.0)))
        # CreateTime is stamped when produce() is called: at or after this instant, and
        # before the next burst's (each burst is flushed before the next begins).
        began = int(time.time() * 1000)
        produce(prod.bootstrap_servers, topic, burst, rate=None, progress=None)
        bursts.append((began, burst))
        time.sleep(0.05)
    since = bursts[1][0]
    until = bursts[2][0]
    consumer = Consumer({"bootstrap.servers": prod.bootstrap_servers, "group.id": "prod-grp",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    got = 0
    while got < 900:
        got += len(consumer.consume(1000, timeout=2))
    consumer.commit(asynchronous=False)
    committed_before = sorted((tp.partition, tp.offset) for tp in consumer.committed(
        [TopicPartition(topic, p) for p in range(prod.partitions)], timeout=10))
    consumer.close()
    name = f"r{uuid.uuid4().hex[:6]}"
    out = tmp_path / "range-report"
    result = cli(prod, "replay", "--from-topic", prod.input_topic, "--since", str(since),
                 "--until", str(until), "--name", name, "--out", str(out), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    middle = Oracle()
    middle.feed(bursts[1][1])
    assert report["sent"] == len(bursts[1][1])
    assert not diff(middle.consistency(), report["consistency"])
    check = Consumer({"bootstrap.servers": prod.bootstrap_servers, "group.id": "prod-grp"})
    after = sorted((tp.partition, tp.offset) for tp in check.committed(
        [TopicPartition(topic, p) for p in range(prod.partitions)], timeout=10))
    check.close()
    assert after == committed_before
    assert cli(prod, "replay", "--cleanup", name).returncode == 0
