"""Declarative topics: ``topics/topics.toml`` turned into specs, created and verified.

A topic that exists with the wrong partition count or cleanup policy is reported as an
error rather than used: a compacted output that silently deletes, or an input with a
different partition count than the processor's changelogs, loses data later.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processor.errors import BrokerUnreachable, CarrierwatchError
from processor.io.connection import client_config
from processor.settings import Settings

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


def observe(settings: Settings, names: Iterable[str], timeout_s: float = 15.0) -> dict[
    str, ObservedTopic
]:
    """Partition counts and the declared config keys of the named topics that exist."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import ConfigResource  # type: ignore[attr-defined]

    seen: list[str] = []
    admin = _admin(settings, seen)
    try:
        md = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        admin.poll(0)  # serves the error callbacks: the real reason (TLS, SASL, refused)
        why = seen[-1] if seen else str(exc)
        raise BrokerUnreachable(f"cannot read topic metadata from {settings.bootstrap_servers} "
                                f"({settings.security_protocol}): {why}") from None
    wanted = [n for n in names if n in md.topics]
    resources = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in wanted]
    configs: dict[str, dict[str, str]] = {}
    if resources:
        for res, fut in admin.describe_configs(resources, request_timeout=timeout_s).items():
            try:
                entries = fut.result(timeout=timeout_s)
            except KafkaException as exc:
                if "UNKNOWN_TOPIC" not in str(exc):
                    raise TopicsError(f"cannot describe topic {res.name}: {exc}") from None
                continue  # listed, not yet known to the broker answering: not there yet
            configs[res.name] = {k: str(v.value) for k, v in entries.items()}
    return {
        n: ObservedTopic(n, len(md.topics[n].partitions), configs[n]) for n in wanted
        if n in configs
    }


def create(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the declared topics that are missing; returns the names created."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

    specs = load_specs(settings)
    existing = observe(settings, [s.name for s in specs], timeout_s)
    missing = [s for s in specs if s.name not in existing]
    if not missing:
        return []
    new = [
        NewTopic(s.name, num_partitions=s.partitions, replication_factor=s.replication,
                 config=dict(s.config))
        for s in missing
    ]
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
    return [s.name for s in missing]


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


def check(settings: Settings, timeout_s: float = 15.0) -> list[str]:
    """The list of mismatches between declarations and broker (empty when all is well)."""
    specs = load_specs(settings)
    return compare(specs, observe(settings, [s.name for s in specs], timeout_s))
