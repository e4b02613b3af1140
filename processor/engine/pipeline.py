"""The batch pipeline: decode, route, fold and cache a batch of input records; flush.

No Faust here: records come as confluent-kafka messages (input.py), are split per carrier
(intake.py), and each carrier's events go through one ``CarrierStep`` (step.py) into the
record cache (state.py, stores.py); records go to the sink.

``steps`` folds a batch into the cache; ``flush`` (once per commit interval) writes each
changed key once and builds each changed output record once, in the sender's stage order,
and returns the tracker that says when all of it is acknowledged (checkpoint.py).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence

import orjson
from confluent_kafka import Message

from processor.engine.clock import Clock
from processor.engine.grouping import CallGrouping
from processor.engine.intake import PROGRESS, Router
from processor.engine.ports import AlertObserver, Registry
from processor.engine.profiles import call_log_limits
from processor.engine.sender import CARRIER_STAGE, Sender, Tracker
from processor.engine.slices import Slicer
from processor.engine.step import CarrierStep
from processor.engine.stores import Stores, count_invalid
from processor.engine.ticks import Ticker
from processor.io import names
from processor.settings import Settings

IDLE_ALLOWANCE_MS = 600_000  # a caught-up partition's progress on the wall clock: 10 min ago


class Pipeline:
    """Folds batches into the record cache of one worker and flushes it."""

    def __init__(self, settings: Settings, stores: Stores, sender: Sender,
                 registry: Registry, clock: Clock | None = None, *,
                 alerts: AlertObserver | None = None) -> None:
        self.stores = stores
        self.sender = sender
        self.clock = clock or Clock(settings.clock)
        self.router = Router(settings, sender, self.clock)
        self.step = CarrierStep(stores, registry, sender, self.clock,
                                outputs={n: settings.topic(n) for n in names.OUTPUTS},
                                latest_calls=settings.latest_calls,
                                call_log=call_log_limits(settings),
                                groups_every_ms=int(settings.destinations_publish_s * 1000),
                                alerts=alerts,
                                calls=(settings.calls_topic, settings.partitions))
        self.grouping = CallGrouping(stores.grouping, sender,
                                     outcomes_topic=settings.topic(names.OUTCOMES),
                                     route_topic=settings.route_topic,
                                     partitions=settings.partitions,
                                     settle_ms=int(settings.call_settle_s * 1000))
        self.ticker = Ticker(self.step)
        self.publisher = self.step.publisher
        self.view = self.step.view
        self.processed = 0  # events processed since the start
        self.unflushed = 0  # of those, since the last flush
        self.calls_topic, self.partitions = settings.calls_topic, settings.partitions
        self._newest: dict[int, int] = {}  # input partition -> newest event ts processed
        self._progress_sent: dict[int, tuple[int | None, bool]] = {}

    # -- the cache ----------------------------------------------------------------------
    @property
    def dirty_keys(self) -> int:
        return sum(s.dirty_keys for s in self.stores.all())

    def flush(self) -> Tracker:
        """Write every changed key and output record once; the records of everything
        processed since the last flush are counted by the returned tracker."""
        self.publisher.publish()
        for store in self.stores.all():
            store.write_dirty(self.sender)
        self.unflushed = 0
        return self.sender.seal()

    def discard(self) -> None:
        """Forget what was processed since the last flush (it is read again)."""
        for store in self.stores.all():
            store.discard()
        self.publisher.discard()
        self.step.attempts = []
        self.unflushed = 0

    def send_progress(self, partitions: set[int], lag: Mapping[int, int]) -> None:
        """Tell every calls partition how far each of ``partitions`` has read (the newest
        event ``ts``, and whether it is behind its log's end), when that changed: the
        calls partitions' event time is the oldest of them (grouping.py). ``lag``: the
        messages left to read, per partition; one not in it (not fetched yet, or nothing
        processed since it was assigned) is behind, never idle: a worker that just took a
        partition over must hold the event time back until it has read it. On the wall
        clock, a partition that is not behind has read everything older than the wall
        clock less ``IDLE_ALLOWANCE_MS`` (late events aside), so an idle one does not hold
        the calls back."""
        wall = self.clock.wall_ms() if self.clock.wall else None
        for p in sorted(partitions):
            newest, late = self._newest.get(p), lag.get(p, 1) > 0
            if wall is not None and not late:
                newest = max(newest or 0, wall - IDLE_ALLOWANCE_MS)
            now = (newest, late)
            if self._progress_sent.get(p) == now:
                continue
            self._progress_sent[p] = now
            value = PROGRESS + orjson.dumps([p, *now])
            for q in range(self.partitions):
                # After the attempts it covers are acknowledged (stage 0 of the same flush):
                # progress never reaches a calls partition ahead of an attempt it covers.
                self.sender.send(self.calls_topic, b"%d" % p, value, q, CARRIER_STAGE)

    def forget(self, partitions: set[int]) -> None:
        """The partitions changed hands (after a flush made durable)."""
        for p in partitions:
            self._newest.pop(p, None)
            self._progress_sent.pop(p, None)
        self.publisher.forget()
        for store in self.stores.all():
            store.drop(partitions)
        self.ticker.forget(partitions)
        for p in partitions:
            self.view.drop_partition(p)

    # -- the batch and the tick ---------------------------------------------------------
    def process(self, batch: Sequence[Message]) -> dict[tuple[str, int], int]:
        """``steps`` without pauses."""
        steps = self.steps(batch)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                last: dict[tuple[str, int], int] = done.value
                return last

    def steps(self, batch: Sequence[Message]) -> Generator[None, None, dict[tuple[str, int], int]]:
        """Decode, route and fold ``batch`` (confluent-kafka messages) into the cache,
        pausing (a ``yield``) between carriers when a slice is used up (``slices.py``);
        never raises on bad input. Returns the last offset of each (topic, partition)."""
        self.step.policies.renew()  # registry changes apply from the next batch on
        wall = self.clock.wall_ms()
        intake = self.router.split(batch, wall)
        slicer = Slicer()
        newest = self._newest
        for cid, grp in intake.groups.items():
            if grp.items:
                top = max(s.event.ts_ms for s in grp.items)
                if top > newest.get(grp.partition, -1):
                    newest[grp.partition] = top
            self.step(grp.partition, cid, grp.items, wall, facts=grp.facts)
            if slicer.due():
                yield
        self.step.send_attempts()
        for partition, attempts in intake.calls.items():
            self.grouping(partition, attempts)
        for partition, coordinates in intake.invalid.items():
            self.view.invalid[partition] = count_invalid(self.stores, partition, coordinates)
        self.processed += len(batch)
        self.unflushed += len(batch)
        return intake.last

    def tick_steps(self, partition: int, tick_ms: int) -> Generator[None, None, None]:
        """The hourly tick of ``partition`` (ticks.py), once per hour of ``tick_ms``."""
        return self.ticker.steps(partition, tick_ms)
