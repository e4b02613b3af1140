"""The worker: Faust's group hands it partitions, it reads them in batches and commits.

Faust is the application (the group and its co-partitioned assignment, the tables and
their recovery, the web server); the hot path is the worker's own loop:

    poll a batch (processor/engine/input.py) -> fold it into the record cache (pipeline.py)
    -> every commit interval: flush the cache (once per key) -> when the broker has
    acknowledged the flush: commit its input offsets (processor/engine/checkpoint.py)

Lifecycle: on assignment (once the tables are recovered) it reads the group's committed
offsets and starts reading there; on revocation it stops, flushes, waits until everything
is acknowledged, commits, and lets go, so the next owner starts exactly where it ended; on
shutdown the same. One partition is read by one worker at a time: it is read only between
Faust's assignment and revocation of it, and a worker that lost its place in the group
cannot commit (processor/runtime/faust_internals.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Generator, Sequence
from typing import Any, TypeVar

import faust

from processor.domain.windows import HOUR_MS
from processor.engine.catch_up import CatchUp
from processor.engine.checkpoint import Checkpoint
from processor.engine.input import InputReader, Key
from processor.engine.pipeline import Pipeline, Stores, default_policy, now_ms
from processor.engine.profiles import Profiles
from processor.engine.sender import POLL_S, Sender
from processor.engine.state import persist_offsets
from processor.engine.view import CarrierRow
from processor.io.connection import client_config
from processor.ops.api import CarrierApi
from processor.ops.metrics import CarrierCollector, Exposition
from processor.runtime import faust_internals, tables, web
from processor.runtime.faust_internals import is_ready
from processor.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

IDLE_S = 0.01  # how long the loop sleeps when librdkafka had nothing for it
IN_FLIGHT = 4  # flushes whose records may be on their way while the next is processed
RETRY_S = 1.0  # after a failed batch or start, wait this long before trying again
REPORT_S = 1.0  # how often catch-up progress is looked at
SHUTDOWN_DRAIN_S = 10.0
# While no batch came for WARM_S, /metrics lines of changed carriers are formatted ahead,
# WARM_BUDGET_S at a time (the event loop is blocked meanwhile): ~1,500 carriers a go.
WARM_S = 0.25
WARM_BUDGET_S = 0.05


class Worker:
    """One worker's tables, reader, pipeline and checkpoint, and the loop that runs them."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.clock = time.monotonic
        self.tables = tables.declare_all(app, settings.topic("carrier.registry"))
        self.input_name = settings.topic(settings.input_topic)
        self.route_name = settings.route_topic
        # Subscribed by Faust's group (so it assigns them with the tables), read by us.
        app.topics.add(app.topic(self.input_name, self.route_name, key_type=bytes,
                                 value_type=bytes, key_serializer="raw",
                                 value_serializer="raw"))
        t = self.tables
        owned = (t.carriers, t.windows, t.dedup, t.partitions, t.latest)
        self.sender = Sender(client_config(settings),
                             {x.changelog_topic.get_topic_name() for x in owned})
        self.stores = Stores.over(tables.for_cache(t))
        self.profiles = Profiles(t.registry, default_policy(settings))
        self.pipeline = Pipeline(settings, self.stores, self.sender, self.profiles)
        self.checkpoint = Checkpoint()
        self.reader: InputReader | None = None
        self.catch_up = CatchUp()
        self.partitions: set[int] = set()  # whose input and route this worker reads now
        self.active = False
        self._generation = 0  # Faust's assignments seen; a start of an older one is void
        self._to_start: int | None = None  # the generation waiting for its tables
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._commit_lock = asyncio.Lock()
        self._to_commit: dict[Key, int] = {}
        self._commit_task: asyncio.Task[None] | None = None
        self._last_flush = self._last_batch = self._last_tick = self._last_report = 0.0
        self._retry_at = 0.0
        self.clean = False  # set by a shutdown that left nothing unacknowledged

    # -- the loop -----------------------------------------------------------------------
    async def run(self) -> None:
        """Read, fold, flush, commit, until the worker stops."""
        self.reader = InputReader(self.settings)
        while not self._stopping:
            if self._to_start is not None and is_ready(self.app):
                await self._start(self._to_start)
            got = await self._step() if self.active else 0
            self._settle()
            while self.checkpoint.in_flight > IN_FLIGHT and not self._stopping:
                await asyncio.sleep(POLL_S)  # the broker is slow or away: wait for it
                self._settle()
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
                for p in sorted(self.partitions):
                    done, _ = await self._run(self.pipeline.tick_steps(p, now_ms()), generation)
                    if not done:
                        return 0
            batch = self.reader.poll(self.settings.batch_max)
            if batch:
                done, positions = await self._run(self.pipeline.steps(batch), generation)
                if not done:
                    return 0
                for key, offset in positions.items():
                    self.checkpoint.advance(key, offset)
                self._last_batch = now
        except Exception:  # a bug or a broken table, not bad input: read it all again
            log.exception("processing failed; everything since the last flush is read "
                          "again in %.0f s", RETRY_S)
            self.pipeline.discard()
            self.reader.seek(self.checkpoint.rewind())
            self._retry_at = now + RETRY_S
            return 0
        if now - self._last_report >= REPORT_S:
            self._last_report = now
            self._report_catch_up()
        if (now - self._last_flush >= self.settings.commit_interval_s
                or self.pipeline.dirty_keys >= self.settings.cache_max_keys):
            self.flush()
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

    def flush(self) -> None:
        """Flush the record cache; its input offsets become committable once acked."""
        self._last_flush = self.clock()
        if self.pipeline.unflushed or self.pipeline.dirty_keys or self.pipeline.publisher.dirty:
            self.checkpoint.sealed(self.pipeline.flush())

    def _settle(self) -> None:
        """Serve delivery reports; commit what became durable (in the background)."""
        self.sender.poll()
        settled = self.checkpoint.settle()
        if settled is None:
            return
        positions, changelog = settled
        persist_offsets(self.stores.all(), changelog, self.partitions)
        self._to_commit.update(positions)
        if self._commit_task is None or self._commit_task.done():
            self._commit_task = asyncio.ensure_future(self._commit())

    async def _commit(self) -> None:
        """Commit every durable position not committed yet, one commit at a time."""
        async with self._commit_lock:
            while self._to_commit:
                positions, self._to_commit = self._to_commit, {}
                if not await faust_internals.commit(self.app, positions):
                    log.info("a commit was refused: the group is rebalancing")

    # -- assignment ---------------------------------------------------------------------
    def assigned(self) -> None:
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
        keys = [(t, p) for p in parts for t in (self.input_name, self.route_name)]
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
        for key, offset in committed.items():
            self.checkpoint.start(key, offset or 0)
            if key[0] == self.input_name:
                log.info("%s[%d]: processing starts at offset %s", key[0], key[1],
                         "0 (nothing committed)" if offset is None else offset)
        self.partitions = set(parts)
        self.active = True
        self.catch_up.begin(self.pipeline.processed)
        self._last_tick = float("-inf")  # the first tick republishes every carrier at once

    async def revoked(self) -> None:
        """Faust takes the partitions away: hand over everything processed, committed."""
        self._generation += 1
        self._to_start = None
        if not self.active:
            return
        self.active = False
        await self._hand_over()
        assert self.reader is not None
        self.reader.unassign()
        self.checkpoint.forget(list(self.checkpoint.processed))
        self.pipeline.forget(self.partitions)
        self.partitions = set()

    async def _hand_over(self) -> None:
        """Flush, wait until the broker acknowledged all of it, commit."""
        self.flush()
        await self.sender.drain()
        self._settle()
        await self._commit()

    async def stop(self) -> None:
        """Stop the loop; hand over what was processed (before Faust stops the tables)."""
        self._stopping = True
        if self._loop_task is not None:
            await self._loop_task
        if self.active:
            self.active = False
            try:
                await asyncio.wait_for(self._hand_over(), timeout=SHUTDOWN_DRAIN_S)
                self.clean = True
            except TimeoutError:
                log.warning("stopping with %d records unacknowledged: their input is not "
                            "committed and will be read again", self.sender.pending())
        else:
            self.clean = self.sender.pending() == 0
        if self.reader is not None:
            self.reader.close()

    # -- what operators see -------------------------------------------------------------
    def lag(self) -> dict[int, int]:
        """Input messages behind the end of the log, per partition being read."""
        out: dict[int, int] = {}
        if self.reader is None:
            return out
        for p in self.partitions:
            key = (self.input_name, p)
            high = self.reader.high_watermark(key)
            position = self.checkpoint.processed.get(key)
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


def register(app: faust.App, settings: Settings) -> Worker:
    """Attach the worker's topics, tables, loop and HTTP views to ``app``."""
    worker = Worker(app, settings)
    app.batch_worker = worker  # type: ignore[attr-defined]

    @app.task
    async def loop() -> None:
        worker._loop_task = asyncio.current_task()
        try:
            await worker.run()
        except Exception:
            log.exception("the worker's loop failed; stopping")
            raise

    @app.on_partitions_revoked.connect
    async def revoked(_app: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        await worker.revoked()

    @app.on_partitions_assigned.connect
    async def assigned(_app: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        worker.assigned()

    _register_http(app, worker, settings)
    _ = (loop, revoked, assigned)
    return worker


def _register_http(app: faust.App, worker: Worker, settings: Settings) -> None:
    """``/metrics`` (formatted ahead while idle) and the carrier API."""
    view = worker.pipeline.view

    @app.timer(WARM_S, on_leader=False)
    async def warm_metrics() -> None:
        if worker.idle_s() >= WARM_S:  # rows change only in batches, cached lines by the hour
            exposition.warm_idle((worker.pipeline.processed, now_ms() // HOUR_MS),
                                 WARM_BUDGET_S)

    collector = CarrierCollector(
        rows=lambda: list(view.owned(worker.owned_partitions())),
        invalid=lambda: sum(n for p, n in view.invalid.items()
                            if p in worker.owned_partitions()),
        now_ms=lambda row: now_ms() if settings.clock == "wall" else row_stream_time(row),
        max_carriers=settings.metrics_max_carriers, lag=worker.lag)
    exposition = Exposition(collector)
    api = CarrierApi(carriers=worker.tables.carriers, windows=worker.tables.windows,
                     latest=worker.tables.latest, profiles=worker.profiles,
                     now_for=worker.pipeline.now_for, default_latest=settings.latest_calls)
    web.register(app, api, carriers_table=worker.tables.carriers,
                 owned_rows=lambda: list(view.owned(worker.owned_partitions())),
                 exposition=exposition, ready=lambda: is_ready(app),
                 token=settings.api_token)
    _ = warm_metrics


def row_stream_time(row: CarrierRow) -> int | None:
    """On the stream clock "now" is the carrier's newest hour with traffic."""
    return max(row.hours) if row.hours else None


__all__: Sequence[str] = ("Worker", "is_ready", "register", "row_stream_time")
