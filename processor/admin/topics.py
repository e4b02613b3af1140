"""Declarative topics: ``topics/topics.toml`` turned into specs, created and verified.

A topic that exists with the wrong partition count or cleanup policy is reported as an
error rather than used: a compacted output that silently deletes, or an input with a
different partition count than the processor's changelogs, loses data later.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processor.errors import BrokerUnreachable, CarrierwatchError
from processor.io.connection import client_config
from processor.settings import Settings

log = logging.getLogger(__name__)
TOPICS_FILE = Path(__file__).resolve().parents[2] / "topics" / "topics.toml"


class TopicsError(CarrierwatchError):
    """Topics are missing or differ from their declaration."""


@dataclass(frozen=True)
class TopicSpec:
    """One topic as the processor needs it on the broker."""

    contract_name: str
    name: str
    role: str
    partitions: int
    replication: int
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedTopic:
    """What the broker says about a topic."""

    name: str
    partitions: int
    config: Mapping[str, str]
    replication: int = 1  # replicas of its first partition


FULL_REPLICATION = 3  # from this many brokers on: 3 replicas, 2 in sync


def replication_for(brokers: int, asked: int = 0) -> tuple[int, int]:
    """(replication factor, min.insync.replicas): ``asked`` if given, else 3 on a cluster
    of 3 or more ``brokers`` (with 2 in sync, one broker may die without losing an
    acknowledged write under acks=all), else 1."""
    rf = asked or (FULL_REPLICATION if brokers >= FULL_REPLICATION else 1)
    return rf, min_insync_for(rf)


def min_insync_for(replicas: int) -> int:
    """Replicas that must hold a write before it is acknowledged: 2 from 3 on, else 1."""
    return 2 if replicas >= FULL_REPLICATION else 1


def load_specs(settings: Settings, path: Path = TOPICS_FILE) -> list[TopicSpec]:
    """Read the declarations and resolve names, partitions and replication from settings."""
    with path.open("rb") as fh:
        doc = tomllib.load(fh)
    specs = []
    for entry in doc.get("topic", []):
        specs.append(_spec(entry, settings))
    return specs


def _spec(entry: Mapping[str, Any], settings: Settings) -> TopicSpec:
    config = {"cleanup.policy": str(entry["cleanup_policy"])}
    if "retention_ms" in entry:
        config["retention.ms"] = str(int(entry["retention_ms"]))
    if "max_message_bytes" in entry:
        config["max.message.bytes"] = str(int(entry["max_message_bytes"]))
    contract_name = str(entry["name"]).format(app_id=settings.app_id)
    return TopicSpec(
        contract_name=contract_name,
        name=settings.topic(contract_name),
        role=str(entry["role"]),
        partitions=int(entry.get("partitions", settings.partitions)),
        replication=int(entry.get("replication", settings.replication)),
        config=config,
    )


def spec_by_contract_name(specs: Iterable[TopicSpec], contract_name: str) -> TopicSpec:
    for spec in specs:
        if spec.contract_name == contract_name:
            return spec
    raise KeyError(contract_name)


def compare(specs: Iterable[TopicSpec], observed: Mapping[str, ObservedTopic]) -> list[str]:
    """Every difference between the declarations and the broker, as readable lines."""
    problems = []
    for spec in specs:
        seen = observed.get(spec.name)
        if seen is None:
            problems.append(f"{spec.name}: missing (run `carrierwatch topics create`)")
            continue
        if seen.partitions != spec.partitions:
            problems.append(
                f"{spec.name}: has {seen.partitions} partitions, declared {spec.partitions}"
            )
        for key, want in spec.config.items():
            have = seen.config.get(key)
            if have != want:
                problems.append(f"{spec.name}: {key}={have}, declared {want}")
    return problems


def _admin(settings: Settings, errors: list[str] | None = None) -> Any:
    """An admin client; connection errors (refused, TLS, SASL) are appended to ``errors``."""
    from confluent_kafka.admin import AdminClient

    def on_error(err: Any) -> None:
        if errors is not None:
            errors.append(str(err.str() if hasattr(err, "str") else err))

    conf: dict[str, Any] = {**client_config(settings), "log_level": 0, "error_cb": on_error}
    return AdminClient(conf)


def brokers(settings: Settings, timeout_s: float = 15.0) -> int:
    """How many brokers the cluster has (its metadata lists)."""
    return len(_metadata(settings, timeout_s).brokers)


def _metadata(settings: Settings, timeout_s: float) -> Any:
    from confluent_kafka import KafkaException

    seen: list[str] = []
    admin = _admin(settings, seen)
    try:
        return admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        admin.poll(0)  # serves the error callbacks: the real reason (TLS, SASL, refused)
        why = seen[-1] if seen else str(exc)
        raise BrokerUnreachable(f"cannot read topic metadata from {settings.bootstrap_servers} "
                                f"({settings.security_protocol}): {why}") from None


def observe(settings: Settings, names: Iterable[str], timeout_s: float = 30.0) -> dict[
    str, ObservedTopic
]:
    """Partition counts, replicas and the declared config keys of the named topics that
    exist. A cluster that is electing a controller or moving leaders (a node just died)
    is asked again, with a fresh client, until ``timeout_s``."""
    import time

    from confluent_kafka import KafkaException

    deadline = time.monotonic() + timeout_s
    md = _metadata(settings, timeout_s)
    wanted = [n for n in names if n in md.topics]
    configs: dict[str, dict[str, str]] = {}
    todo = list(wanted)
    while todo:
        left = max(1.0, deadline - time.monotonic())
        retry, last = [], ""
        for name, result in _describe(settings, todo, min(left, 10.0)):
            if isinstance(result, dict):
                configs[name] = result
            elif "UNKNOWN_TOPIC" in str(result):
                continue  # listed, not yet known to the broker answering: not there yet
            elif isinstance(result, KafkaException) and _transient(result) \
                    and time.monotonic() < deadline:
                retry.append(name)
                last = str(result)
            else:
                raise TopicsError(f"cannot describe topic {name}: {result}")
        if retry:
            log.info("describing topics again (%s)", last)
            time.sleep(0.5)
        todo = retry
    return {
        n: ObservedTopic(n, len(md.topics[n].partitions), configs[n],
                         len(md.topics[n].partitions[0].replicas)
                         if 0 in md.topics[n].partitions else 1)
        for n in wanted if n in configs
    }


def _describe(settings: Settings, names: list[str], timeout_s: float,
              ) -> list[tuple[str, dict[str, str] | Exception]]:
    """Each topic's config, or the error describing it gave."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import ConfigResource  # type: ignore[attr-defined]

    admin = _admin(settings)  # fresh: a dead node's metadata is not reused
    resources = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in names]
    out: list[tuple[str, dict[str, str] | Exception]] = []
    for res, fut in admin.describe_configs(resources, request_timeout=timeout_s).items():
        try:
            entries = fut.result(timeout=timeout_s + 1)
        except KafkaException as exc:
            out.append((res.name, exc))
            continue
        out.append((res.name, {k: str(v.value) for k, v in entries.items()}))
    return out


def _transient(exc: Any) -> bool:
    """A timeout, a lost connection or a node that is not the leader (yet): asking again
    helps."""
    err = exc.args[0] if exc.args else None
    if err is None or not hasattr(err, "retriable"):
        return False
    from confluent_kafka import KafkaError

    return bool(err.retriable()) or err.code() in (KafkaError._TIMED_OUT, KafkaError._TRANSPORT,
                                                   KafkaError._ALL_BROKERS_DOWN)


def replication_of_input(settings: Settings) -> int:
    """The input topic's replication factor: what the worker's changelogs copy when
    ``replication`` is 0 (from the cluster)."""
    name = settings.topic(settings.input_topic)
    seen = observe(settings, [name]).get(name)
    return seen.replication if seen is not None else 1


@dataclass(frozen=True)
class Created:
    """What ``create`` made, and the replication it chose (and why)."""

    names: list[str]
    replication: int
    min_insync: int
    brokers: int

    @property
    def choice(self) -> str:
        return (f"replication factor {self.replication}, min.insync.replicas "
                f"{self.min_insync} ({self.brokers} broker{'s' * (self.brokers != 1)})")


def create(settings: Settings, timeout_s: float = 30.0) -> Created:
    """Create the declared topics that are missing, with the replication of
    ``replication_for`` (a topic's own ``replication`` in topics.toml wins)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

    specs = load_specs(settings)
    existing = observe(settings, [s.name for s in specs], timeout_s)
    missing = [s for s in specs if s.name not in existing]
    n_brokers = brokers(settings, timeout_s)
    rf, min_isr = replication_for(n_brokers, settings.replication)
    if not missing:
        return Created([], rf, min_isr, n_brokers)
    new = []
    for s in missing:
        replicas, in_sync = replication_for(n_brokers, s.replication or rf)
        new.append(NewTopic(s.name, num_partitions=s.partitions, replication_factor=replicas,
                            config={**s.config, "min.insync.replicas": str(in_sync)}))
    errors = []
    admin = _admin(settings)  # keep a reference: a collected client cancels its futures
    # operation_timeout: the broker answers once the topics are created, not merely
    # accepted (librdkafka's default, 0, answers at once; a busy broker then lists them
    # only later, and a check right after called them missing).
    for name, fut in admin.create_topics(new, operation_timeout=timeout_s,
                                         request_timeout=timeout_s).items():
        try:
            fut.result(timeout=timeout_s)
        except KafkaException as exc:  # collect every failure, then report them all
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                errors.append(f"{name}: {exc}")
    if errors:
        raise TopicsError("could not create topics:\n  " + "\n  ".join(errors))
    return Created([s.name for s in missing], rf, min_isr, n_brokers)


def check_settled(settings: Settings, wait_s: float = 30.0) -> list[str]:
    """``check``, but topics that are only missing get ``wait_s`` to appear: a topic just
    created may not be in the broker's metadata yet. Any other mismatch returns at once."""
    import time

    deadline = time.monotonic() + wait_s
    while True:
        problems = check(settings)
        only_missing = all(p.endswith("missing (run `carrierwatch topics create`)")
                           for p in problems)
        if not problems or not only_missing or time.monotonic() >= deadline:
            return problems
        time.sleep(0.5)


def check(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """The list of mismatches between declarations and broker (empty when all is well)."""
    specs = load_specs(settings)
    return compare(specs, observe(settings, [s.name for s in specs], timeout_s))
