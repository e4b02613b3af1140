"""Topic declarations resolve against settings; the comparison names every mismatch."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.admin.topics import ObservedTopic, compare, load_specs
from processor.settings import Settings

CONTRACT_TOPICS = {
    "sip.responses", "sip.responses.dlq", "carrier.registry", "carrier.consecutive-failures",
    "carrier.code-consistency", "carrier.summary.hourly", "carrier.summary.daily",
    "carrier.summary.monthly", "carrier.summary.live", "carrier.alerts", "carrier.destinations",
    "carrier.anomalies", "call.outcomes",
}


def test_every_contract_topic_is_declared_with_prefix_and_partitions() -> None:
    specs = load_specs(Settings(topic_prefix="inv7", partitions=6, app_id="cw"))
    assert {s.contract_name for s in specs} == CONTRACT_TOPICS | {"cw-route", "cw-calls"}
    assert all(s.name == f"inv7.{s.contract_name}" for s in specs)
    assert all(s.partitions == 6 for s in specs)
    compacted = {s.contract_name for s in specs if s.config["cleanup.policy"] == "compact"}
    assert compacted == CONTRACT_TOPICS - {"sip.responses", "sip.responses.dlq",
                                           "carrier.alerts"}


def test_compare_reports_missing_partitions_and_policy() -> None:
    specs = load_specs(Settings(partitions=4))
    observed = {
        s.name: ObservedTopic(s.name, s.partitions, dict(s.config)) for s in specs
    }
    assert compare(specs, observed) == []
    observed["carrier.summary.daily"] = ObservedTopic("carrier.summary.daily", 2,
                                                      {"cleanup.policy": "compact"})
    observed["carrier.alerts"] = ObservedTopic("carrier.alerts", 4, {
        "cleanup.policy": "compact", "retention.ms": "2592000000"})
    del observed["sip.responses"]
    assert compare(specs, observed) == [
        "sip.responses: missing (run `carrierwatch topics create`)",
        "carrier.summary.daily: has 2 partitions, declared 4",
        "carrier.alerts: cleanup.policy=compact, declared delete",
    ]


def test_replication_follows_the_cluster_unless_asked() -> None:
    """Issue 33: 3 replicas with 2 in sync on 3 or more brokers, else 1; an explicit factor
    wins, with 2 in sync from 3 replicas on."""
    from processor.admin.topics import replication_for

    assert [replication_for(n) for n in (1, 2, 3, 5)] == [(1, 1), (1, 1), (3, 2), (3, 2)]
    assert replication_for(5, asked=2) == (2, 1)
    assert replication_for(1, asked=3) == (3, 2)


@pytest.mark.parametrize(("replication", "in_sync"), [(1, "1"), (3, "2")])
def test_the_changelogs_replicate_like_the_topics(tmp_path: Path, replication: int,
                                                  in_sync: str) -> None:
    """Issue 33: the worker's changelog topics get the replication of the declared topics,
    with the same min.insync.replicas rule."""
    from processor.runtime.app import create_app
    from processor.runtime.tables import declare_all

    app = create_app(Settings(data_dir=tmp_path, replication=replication), with_worker=False)
    assert app.conf.topic_replication_factor == replication
    t = declare_all(app, "carrier.registry")
    for table in (t.carriers, t.windows, t.dedup, t.partitions, t.latest):
        assert table.extra_topic_configs == {"min.insync.replicas": in_sync}
