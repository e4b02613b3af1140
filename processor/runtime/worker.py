"""The worker: Faust's group hands it partitions, it reads them in batches and commits.

Faust is the application (the group and its co-partitioned assignment, the tables and
their recovery, the web server); the hot path is the worker's own loop:

    poll a batch (engine/input.py) -> fold it into the record cache (engine/pipeline.py)
    -> every commit interval: flush the cache (once per key) -> once the broker has
    acknowledged the flush: commit its input offsets (committer.py)

Lifecycle: on assignment (once the tables are recovered) it starts reading at the group's
committed offsets; on revocation and shutdown it stops, flushes, waits until everything is
acknowledged and commits, so the next owner starts exactly where it ended. A partition is
read only between Faust's assignment and revocation of it, so by one worker at a time, and
a worker that lost its place in the group cannot commit (faust_internals.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Generator
from typing import Any, TypeVar

import faust

from processor.engine.catch_up import CatchUp
from processor.engine.input import InputReader
from processor.engine.pipeline import Pipeline
from processor.engine.profiles import Profiles, default_policy
from processor.engine.sender import POLL_S, Sender
from processor.engine.stores import Stores
from processor.io import names
from processor.io.connection import client_config
from processor.ops.alertmanager import AlertDelivery
from processor.runtime import tables
from processor.runtime.committer import Committer
from processor.runtime.faust_internals import is_ready
from processor.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

IDLE_S = 0.01  # how long the loop sleeps when librdkafka had nothing for it
IN_FLIGHT = 4  # flushes whose records may be on their way while the next is processed
RETRY_S = 1.0  # after a failed batch or start, wait this long before trying again
REPORT_S = 1.0  # how often catch-up progress is looked at
SHUTDOWN_DRAIN_S = 10.0


class Worker:
    """One worker's tables, reader, pipeline and committer, and the loop that runs them.

    Its lifecycle follows Faust's: ``on_assign`` (reading starts once the tables are
    recovered), ``on_revoke`` (hand everything processed over, committed) and
    ``on_shutdown`` (the same, before Faust stops the tables)."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.clock = time.monotonic
        self.tables = tables.declare_all(app, settings.topic(names.REGISTRY))
        self.input_name = settings.topic(settings.input_topic)
        self.route_name = settings.route_topic
        self.calls_name = settings.calls_topic
        # Subscribed by Faust's group (so it assigns them with the tables), read by us.
        app.topics.add(app.topic(self.input_name, self.route_name, self.calls_name,
                                 key_type=bytes,
                                 value_type=bytes, key_serializer="raw",
                                 value_serializer="raw"))
        t = self.tables
        owned = (t.carriers, t.windows, t.dedup, t.partitions, t.latest)
        self.sender = Sender(client_config(settings),
                             {x.changelog_topic.get_topic_name() for x in owned})
        self.stores = Stores.over(tables.for_cache(t))
        self.profiles = Profiles(tables.WholeTable(t.registry), default_policy(settings))
        # Alerts also go to Alertmanager when it is configured (ops/alertmanager.py).
        self.delivery = (AlertDelivery(settings.alertmanager_url, settings.alertmanager_resend_s)
                         if settings.alertmanager_url else None)
        self.pipeline = Pipeline(settings, self.stores, self.sender, self.profiles,
                                 alerts=self.delivery)
        self.committer = Committer(app, self.sender, self.pipeline, self.stores.all())
        self.reader: InputReader | None = None
        self.catch_up = CatchUp()
        self.partitions: set[int] = set()  # whose input and route this worker reads now
        self.active = False
        self._generation = 0  # Faust's assignments seen; a start of an older one is void
        self._to_start: int | None = None  # the generation waiting for its tables
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._last_batch = self._last_tick = self._last_report = self._last_publish = 0.0
        self._retry_at = 0.0
        self.clean = False  # set by a shutdown that left nothing unacknowledged

    # -- the loop -----------------------------------------------------------------------
    async def run(self) -> None:
        """Read, fold, flush, commit, until the worker stops."""
        self.reader = InputReader(self.settings)
        if self.delivery is not None:
            self.delivery.start()
        while not self._stopping:
            if self._to_start is not None and is_ready(self.app):
                await self._start(self._to_start)
            got = await self._step() if self.active else 0
            self.committer.settle(self.partitions)
            while self.committer.in_flight > IN_FLIGHT and not self._stopping:
                await asyncio.sleep(POLL_S)  # the broker is slow or away: wait for it
                self.committer.settle(self.partitions)
            await asyncio.sleep(0 if got else IDLE_S)

    async def _step(self) -> int:
        """One round of the loop while partitions are assigned; returns the batch size."""
        assert self.reader is not None
        now = self.clock()
        if now < self._retry_at:
            return 0
        batch: list[Any] = []
        generation = self._generation
        try:
            if now - self._last_tick >= self.settings.tick_interval_s:
                self._last_tick = now
                wall = self.pipeline.clock.wall_ms()
                for p in sorted(self.partitions):
                    done, _ = await self._run(self.pipeline.tick_steps(p, wall), generation)
                    if not done:
                        return 0
            batch = self.reader.poll(self.settings.batch_max)
            if batch:
                done, positions = await self._run(self.pipeline.steps(batch), generation)
                if not done:
                    return 0
                self.committer.advance(positions)
                self._last_batch = now
        except Exception:  # a bug or a broken table, not bad input: read it all again
            log.exception("processing failed; everything since the last flush is read "
                          "again in %.0f s", RETRY_S)
            self.pipeline.discard()
            self.reader.seek(self.committer.rewind())
            self._retry_at = now + RETRY_S
            return 0
        if now - self._last_report >= REPORT_S:
            self._last_report = now
            self._report_catch_up()
        if (now - self.committer.last_flush >= self.settings.commit_interval_s
                or self.pipeline.dirty_keys >= self.settings.cache_max_keys):
            self.pipeline.send_progress(self.partitions, self.lag())
            self.committer.seal_flush()
            self._last_publish = now
        elif (len(batch) < self.settings.batch_max
              and now - self._last_publish >= self.settings.publish_interval_s):
            # Only while the input is keeping up (a short batch): behind a backlog, records
            # sent early would be replaced within the second at the cost of building them.
            self._last_publish = now
            self.pipeline.publisher.publish(flush=False)  # counted by the next flush's tracker
        return len(batch)

    async def _run(self, steps: Generator[None, None, T], generation: int) -> tuple[bool, Any]:
        """Run ``steps``, letting the event loop serve others at each pause: (True, what
        they return), or (False, None) if the partitions were revoked meanwhile. The rest
        is then left to their next owner, who reads the batch again (its offsets were not
        advanced; what was folded is skipped by the per-key offsets)."""
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return True, done.value
            await asyncio.sleep(0)
            if generation != self._generation or not self.active:
                steps.close()
                return False, None

    # -- assignment ---------------------------------------------------------------------
    def on_assign(self) -> None:
        """Faust assigned partitions; they are read once the tables are recovered."""
        self._generation += 1
        self._to_start = self._generation

    async def _start(self, generation: int) -> None:
        """Start reading the assigned input and route partitions where the group is."""
        assert self.reader is not None
        if self.clock() < self._retry_at:
            return
        parts = sorted({tp.partition for tp in self.app.assignor.assigned_actives()
                        if tp.topic == self.input_name})
        keys = [(t, p) for p in parts
                for t in (self.input_name, self.route_name, self.calls_name)]
        try:
            committed = await asyncio.get_running_loop().run_in_executor(
                None, self.reader.committed, keys)
        except Exception as exc:  # noqa: BLE001 - the broker: try again shortly
            log.warning("could not read the committed offsets of %s: %s; trying again",
                        keys, exc)
            self._retry_at = self.clock() + RETRY_S
            return
        if generation != self._generation or self._to_start != generation:
            return  # a rebalance came meanwhile
        self._to_start = None
        self.reader.assign(committed)
        self.committer.on_assign(committed)
        for key, offset in committed.items():
            if key[0] == self.input_name:
                log.info("%s[%d]: processing starts at offset %s", key[0], key[1],
                         "0 (nothing committed)" if offset is None else offset)
        self.partitions = set(parts)
        self.active = True
        self.catch_up.begin(self.pipeline.processed)
        self._last_tick = float("-inf")  # the first tick republishes every carrier at once

    async def on_revoke(self) -> None:
        """Faust takes the partitions away: hand over everything processed, committed."""
        self._generation += 1
        self._to_start = None
        if not self.active:
            return
        self.active = False
        await self.committer.hand_over(self.partitions)
        assert self.reader is not None
        self.reader.unassign()
        self.committer.on_revoke()
        self.pipeline.forget(self.partitions)
        if self.delivery is not None:
            self.delivery.drop(self.partitions)
        self.partitions = set()

    async def on_shutdown(self) -> None:
        """Stop the loop; hand over what was processed (before Faust stops the tables)."""
        self._stopping = True
        if self._loop_task is not None:
            await self._loop_task
        if self.active:
            self.active = False
            try:
                await asyncio.wait_for(self.committer.hand_over(self.partitions),
                                       timeout=SHUTDOWN_DRAIN_S)
                self.clean = True
            except TimeoutError:
                log.warning("stopping with %d records unacknowledged: their input is not "
                            "committed and will be read again", self.sender.pending())
        else:
            self.clean = self.sender.pending() == 0
        if self.reader is not None:
            self.reader.close()
        if self.delivery is not None:
            await asyncio.to_thread(self.delivery.stop)

    # -- what operators see -------------------------------------------------------------
    def lag(self) -> dict[int, int]:
        """Input messages behind the end of the log, per partition being read."""
        out: dict[int, int] = {}
        if self.reader is None:
            return out
        for p in self.partitions:
            key = (self.input_name, p)
            high = self.reader.high_watermark(key)
            position = self.committer.checkpoint.processed.get(key)
            if high is not None and position is not None:
                out[p] = max(0, high - position)
        return out

    def owned_partitions(self) -> set[int]:
        return {tp.partition for tp in self.app.assignor.assigned_actives()
                if tp.topic == self.input_name}

    def idle_s(self) -> float:
        return self.clock() - self._last_batch

    def _report_catch_up(self) -> None:
        if not self.catch_up.done:
            line = self.catch_up.observe(self.partitions, self.lag(),
                                         self.pipeline.processed)
            if line:
                log.info(line)
