"""Reading and writing the carrier registry topic (``carrier.registry``, compacted).

``carrierwatch registry import FILE`` makes the topic equal to the file: every profile is
published, and a carrier on the topic but not in the file gets a tombstone. A file with any
error changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from processor.domain.registry import Profile, parse_registry, profile_to_json
from processor.errors import BadInputFile, BrokerUnreachable
from processor.io import names
from processor.settings import Settings


class RegistryFileError(BadInputFile):
    """The import file cannot be used; ``errors`` (the details) lists every problem."""

    def __init__(self, path: Path, errors: list[str]) -> None:
        super().__init__(f"{path} refused, nothing was published ({len(errors)} "
                         f"error{'s' if len(errors) != 1 else ''})", errors)
        self.errors = errors


def load_file(path: Path) -> dict[str, Profile]:
    """Parse a YAML or JSON registry file; raises RegistryFileError with every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryFileError(path, [f"{path}: {exc}"]) from None
    doc: Any
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(text)
        else:
            import yaml

            doc = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parse failure is reported the same way
        raise RegistryFileError(path, [f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: "
                                 f"{exc}"]) from None
    profiles, errors = parse_registry(doc)
    if errors:
        raise RegistryFileError(path, errors)
    return profiles


def current_keys(settings: Settings, timeout_s: float = 30.0) -> dict[str, Any]:
    """The registry topic's compacted state: carrier_id -> latest profile (tombstones
    dropped)."""
    from processor.admin.topic_reader import latest, read_to_end

    name = "carrier.registry"
    return latest(read_to_end(settings, [name], timeout_s)[name])


def publish(settings: Settings, profiles: dict[str, Profile]) -> tuple[int, list[str]]:
    """Make the topic equal to ``profiles``; returns (profiles written, carriers removed)."""
    from confluent_kafka import Producer

    from processor.admin.produce import producer_config

    topic = settings.topic(names.REGISTRY)
    existing = current_keys(settings)
    removed = sorted(set(existing) - set(profiles))
    producer = Producer(producer_config(settings))
    failures: list[str] = []

    def on_delivery(err: object, msg: Any) -> None:
        if err is not None:
            failures.append(f"{msg.key()!r}: {err}")

    for cid, profile in profiles.items():
        producer.produce(topic, key=cid.encode(), value=orjson.dumps(profile_to_json(profile)),
                         on_delivery=on_delivery)
    for cid in removed:
        producer.produce(topic, key=cid.encode(), value=None, on_delivery=on_delivery)
    left = producer.flush(30)
    if left or failures:
        raise BrokerUnreachable(f"registry publish incomplete: {left} undelivered, {failures[:3]}")
    return len(profiles), removed
