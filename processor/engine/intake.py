"""A batch's way in: decoded into each carrier's events, mis-keyed ones forwarded to the
route topic at their carrier's partition, invalid ones dead-lettered (contract §2).

An event on the wrong partition for its carrier (mis-keyed or unkeyed input) is forwarded
so that one partition, and so one worker, owns each carrier. A routed value is
``R2|<topic:partition>|<offset>|<arrival ms>|`` + the original bytes: it keeps the input
coordinates, so a copy forwarded again after a restart is skipped like any re-delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
from confluent_kafka import Message

from processor.domain import outcomes
from processor.domain.events import SipEvent, Sourced
from processor.engine.clock import Clock
from processor.engine.ports import Sink
from processor.io import codec, names
from processor.io.partitioning import partition_for
from processor.settings import Settings

log = logging.getLogger(__name__)

# Ticks once went through the route topic; old ones are skipped.
TICK_KEY = b"\x00tick"
# R1, from before arrivals were kept, has no arrival: the route record's timestamp is.
ROUTED = b"R2|"
ROUTED_V1 = b"R1|"
# A call's outcome for a carrier, on the route topic: ``F1|<source>|<offset>|`` + the fact
FACT = b"F1|"
# An attempt on the calls topic: ``A1|`` + [call_key, input partition, *Attempt.to_json()]
ATTEMPT = b"A1|"
# An input partition's progress on the calls topic: ``P1|`` + [partition, newest ts, behind]
PROGRESS = b"P1|"


@dataclass
class Group:
    """One carrier's valid events of a batch, in arrival order."""

    partition: int  # of the newest event of this carrier: that partition owns the carrier
    items: list[Sourced] = field(default_factory=list)
    facts: list[outcomes.FactIn] = field(default_factory=list)  # ended calls' outcomes


@dataclass(frozen=True, slots=True)
class AttemptIn:
    """An attempt read on the calls topic, where it was read."""

    call_key: str
    origin: int  # the input partition whose carrier step sent it
    attempt: outcomes.Attempt
    source: str
    offset: int


@dataclass(frozen=True, slots=True)
class ProgressIn:
    """How far an input partition has read (``origin``): the newest ``ts`` of its events
    (None: none yet) and whether it is still behind its log's end."""

    origin: int
    newest_ms: int | None
    behind: bool
    source: str
    offset: int


@dataclass
class Intake:
    groups: dict[str, Group]  # by carrier
    invalid: dict[int, list[tuple[str, int]]]  # per partition: (source, offset) refused
    last: dict[tuple[str, int], int]  # the last offset read, per (topic, partition)
    calls: dict[int, list[AttemptIn | ProgressIn]] = field(default_factory=dict)  # calls topic


class Router:
    """Splits batches of input and route records; forwards and dead-letters through
    ``sender``."""

    def __init__(self, settings: Settings, sender: Sink, clock: Clock | None = None) -> None:
        self.settings, self.sender = settings, sender
        self.clock = clock or Clock(settings.clock)
        self.input_name = settings.topic(settings.input_topic)
        self.route_name = settings.route_topic
        self.calls_name = settings.calls_topic
        self.dlq_name = settings.topic(names.DLQ)
        self._sources: dict[tuple[str, int], str] = {}  # "topic:partition", made once

    def split(self, batch: Sequence[Message], wall: int) -> Intake:
        """Decode ``batch`` into each carrier's events; route the mis-keyed ones and
        dead-letter the invalid ones (whose coordinates are returned, per partition)."""
        check_future = self.clock.wall
        arrival_wall = wall if check_future else None
        groups: dict[str, Group] = {}
        invalid: dict[int, list[tuple[str, int]]] = {}
        calls: dict[int, list[AttemptIn | ProgressIn]] = {}
        n = self.settings.partitions
        input_name = self.input_name
        last: dict[tuple[str, int], int] = {}
        sources = self._sources
        for msg in batch:
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            if topic is None or partition is None or offset is None:
                continue  # not a record: an error event (``InputReader.poll`` logs those)
            last[topic, partition] = offset
            raw = msg.value()
            is_input = topic == input_name
            if not is_input and msg.key() == TICK_KEY:
                continue
            source = sources.get((topic, partition))
            if source is None:
                source = sources[topic, partition] = f"{topic}:{partition}"
            if not is_input and raw is not None and raw[:3] in (FACT, ATTEMPT, PROGRESS):
                if not self._internal(raw, source, offset, partition, groups=groups,
                                      calls=calls):
                    log.warning("%s offset %d: not a fact or attempt record; skipped",
                                source, offset)
                continue
            ts_type, ts = msg.timestamp()
            arrival = codec.arrival_ms(ts if ts_type else None, msg.headers(), arrival_wall)
            routed = None if is_input else unwrap_routed(raw, arrival)
            decoded: SipEvent | codec.Rejected
            if not is_input and routed is None:
                decoded = codec.Rejected("bad-route-message", "not a routed event")
            else:
                if routed is not None:
                    raw, source, offset, arrival = routed
                decoded = codec.decode(raw, wall if (check_future and is_input) else None)
            if isinstance(decoded, codec.Rejected):
                self._dead_letter(msg, decoded, topic, partition, offset)
                invalid.setdefault(partition, []).append((source, offset))
                continue
            cid = decoded.carrier_id
            owner = partition_for(cid.encode(), n)
            if is_input and owner != partition:
                # Keep the original coordinates: a re-forwarded copy (after a restart) then
                # carries the same source offset and is skipped like any re-delivery.
                wrapped = b"%s%s|%d|%d|%s" % (ROUTED, source.encode(), offset, arrival, raw)
                self.sender.send(self.route_name, cid.encode(), wrapped, owner)
                continue
            grp = groups.get(cid)
            if grp is None:
                grp = groups[cid] = Group(partition)
            grp.partition = partition
            grp.items.append(Sourced(decoded, source, offset, arrival))
        return Intake(groups, invalid, last, calls)

    @staticmethod
    def _internal(raw: bytes, source: str, offset: int, partition: int, *,
                  groups: dict[str, Group],
                  calls: dict[int, list[AttemptIn | ProgressIn]]) -> bool:
        """A fact (route topic) or attempt (calls topic) record: our own, so a malformed
        one is a bug to log, not input to dead-letter."""
        try:
            if raw.startswith(FACT):
                _, src, off, body = raw.split(b"|", 3)
                fact = outcomes.Fact.from_json(orjson.loads(body))
                grp = groups.get(fact.carrier_id)
                if grp is None:
                    grp = groups[fact.carrier_id] = Group(partition)
                grp.facts.append(outcomes.FactIn(fact, src.decode(), int(off)))
            elif raw.startswith(PROGRESS):
                origin, newest, behind = orjson.loads(raw[len(PROGRESS):])
                calls.setdefault(partition, []).append(
                    ProgressIn(int(origin), newest, bool(behind), source, offset))
            else:
                key, origin, *rest = orjson.loads(raw[len(ATTEMPT):])
                calls.setdefault(partition, []).append(
                    AttemptIn(key, origin, outcomes.Attempt.from_json(rest), source, offset))
        except (ValueError, TypeError):
            return False
        return True

    def _dead_letter(self, msg: Message, rejected: codec.Rejected, topic: str, partition: int,
                     offset: int) -> None:
        ts_type, ts = msg.timestamp()
        record = codec.dlq_record(
            rejected, topic=topic, partition=partition, offset=offset,
            timestamp_ms=ts if ts_type else None, key=msg.key(), value=msg.value())
        self.sender.send(self.dlq_name, msg.key(), record)


def unwrap_routed(value: bytes | None,
                  route_arrival: int) -> tuple[bytes, str, int, int] | None:
    """The original bytes, input coordinates and arrival of a routed message (None:
    malformed). A v1 message carries no arrival: the route record's stands for it."""
    if not value:
        return None
    try:
        if value.startswith(ROUTED):
            _, source, offset, arrival, raw = value.split(b"|", 4)
            return raw, source.decode(), int(offset), int(arrival)
        if value.startswith(ROUTED_V1):
            _, source, offset, raw = value.split(b"|", 3)
            return raw, source.decode(), int(offset), route_arrival
    except ValueError:
        return None
    return None
