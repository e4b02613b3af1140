"""One carrier's work, end to end: load its state, fold its events, save or delete what
changed, mark what to publish, and refresh what the HTTP API and ``/metrics`` show.

The batch path (``pipeline.py``), the hourly tick (``ticks.py``) and replay's report
(``investigate/report.py``) are loops over ``CarrierStep``; no other code loads, folds or saves a
carrier. Its collaborators are protocols: tables behind the record cache
(``state.Table``), the registry and the sink (``ports.py``) and the clock (``clock.py``),
so it runs as well on the worker's RocksDB and librdkafka as on memory (``memory.py``, the
tests' harness).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson

from processor.domain import outcomes, records
from processor.domain.calllog import Limits
from processor.domain.carrier import chunks_needed, fold, keys_needed
from processor.domain.dedup import ChunkId
from processor.domain.events import Sourced
from processor.domain.model import CarrierState, FoldResult, Policy, WindowId, WindowState
from processor.engine.clock import Clock
from processor.engine.intake import ATTEMPT
from processor.engine.ports import AlertObserver, Registry, Sink
from processor.engine.publish import Publisher
from processor.engine.stores import Stores, push_calls
from processor.engine.view import CarrierView
from processor.io import names
from processor.io.names import chunk_key, window_key
from processor.io.partitioning import partition_for


class Policies:
    """The registry's policies, each read once per batch: a read through Faust's global
    table scans every partition DB, and a carrier needs its policy several times in one
    batch (the fold, its records). ``renew`` at each batch: registry changes apply from
    the next batch on."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._policies: dict[str, Policy] = {}

    def renew(self) -> None:
        self._policies = {}

    def policy_for(self, carrier_id: str) -> Policy:
        policy = self._policies.get(carrier_id)
        if policy is None:
            policy = self._policies[carrier_id] = self.registry.policy_for(carrier_id)
        return policy


class CarrierStep:
    """Does one carrier's batch (or tick) against the record cache; see the module doc."""

    def __init__(self, stores: Stores, registry: Registry, sink: Sink, clock: Clock, *,
                 outputs: Mapping[str, str], latest_calls: int,
                 call_log: Limits | None = None, groups_every_ms: int = 0,
                 alerts: AlertObserver | None = None,
                 calls: tuple[str, int] | None = None) -> None:
        """``outputs``: the topic of each contract output name (``io/names.OUTPUTS``);
        ``latest_calls``: how many final responses a carrier's latest calls keep (0:
        none are kept, nor a call log); ``call_log``: what the call log keeps (None:
        no log); ``alerts``: told of every alert sent, and of those firing in the
        carriers of a partition at its first tick; ``calls``: the calls topic and its
        partitions, where attempts with a ``call_key`` go to be grouped (grouping.py)."""
        self.stores = stores
        self.alerts = alerts
        self.calls = calls
        self.attempts: list[tuple[int, int, str, outcomes.Attempt]] = []  # send_attempts
        self.registry = registry
        self.policies = Policies(registry)
        self.sink = sink
        self.clock = clock
        self.outputs = dict(outputs)
        self.latest_calls = latest_calls
        self.call_log = call_log if latest_calls else None
        self.view = CarrierView()
        self.publisher = Publisher(self._send_output, stores.carriers, stores.windows,
                                   self.policies.policy_for, self.now_for,
                                   wall_ms=clock.wall_ms, live_groups=self.view.set_groups,
                                   fas=self.view.set_fas,
                                   groups_every_ms=groups_every_ms)

    def now_for(self, state: CarrierState) -> int | None:
        """The reference clock of a carrier: the wall clock, or its stream time."""
        return self.clock.now(state.max_ts_ms)

    def __call__(self, partition: int, carrier_id: str, events: Sequence[Sourced], wall: int,
                 *, republish: bool = False, newest: bool = False,
                 facts: Sequence[outcomes.FactIn] = ()) -> FoldResult | None:
        """Fold ``events`` (arrival order; none: retention only) into the carrier's stored
        state, stamped ``wall``; returns the fold's result (None: no such carrier).

        ``republish``: its records go out even if nothing changed (the tick: ``live``
        moves on with the hour); ``newest``: so do its newest hour, day and month (a
        first tick, for consumers that missed them); ``facts``: what ended calls say of
        the carrier."""
        s = self.stores
        key = carrier_id.encode()
        state = s.carriers.load(partition, key)
        if state is None and not events and not facts:
            return None
        # What the carrier had applied before: an event it had is not sent to the calls
        # topic again (its attempt went out before the state recording it: stages).
        applied = (dict(state.applied) if state is not None and self.calls is not None
                   and any(e.event.call_key is not None for e in events) else {})
        policy = self.policies.policy_for(carrier_id)
        res = fold(carrier_id, state,
                   self._windows(partition, carrier_id, state, events, facts),
                   self._chunks(partition, carrier_id, state, policy), events, policy=policy,
                   now_ms=self.clock.now(), wall_ms=wall, owned=True, facts=facts)
        self._save(partition, carrier_id, res, wall)
        if self.calls is not None:
            self._attempts_out(partition, res.accepted, applied)
        shown: Mapping[WindowId, WindowState] = res.windows
        if newest:
            shown = self.newest_windows(partition, res.carrier)
        if newest and self.alerts is not None and any(res.carrier.firing.values()):
            self.alerts.restore(partition, records.firing_alerts(
                res.carrier, policy, self.registry.contacts(carrier_id),
                self.now_for(res.carrier), wall))
        if republish or newest:
            self.publisher.mark(carrier_id, partition, list(shown), state=res.carrier,
                                written=shown)
        self.view.update(partition, res.carrier, shown)
        if self.latest_calls and (events or self.call_log):
            push_calls(s, carrier_id, res.accepted, partition, self.latest_calls,
                       log=self.call_log, now_ms=self.now_for(res.carrier))
        return res

    def _attempts_out(self, partition: int, accepted: Sequence[Sourced],
                      applied: dict[str, int]) -> None:
        """Final responses with a ``call_key`` the carrier had not applied (``applied``:
        its offsets before the fold), kept for the calls topic (``attempts``: the
        pipeline sends them in time order after the batch). A re-delivered event the
        carrier had applied is not sent again: its attempt was acknowledged before the
        carrier record that applied it was written (sender stages), and sent again after
        its call was forgotten it would make a call of its own."""
        for s in accepted:
            ev = s.event
            if ev.call_key is None or ev.code < 200 or s.offset <= applied.get(s.source, -1):
                continue
            self.attempts.append((ev.ts_ms, partition, ev.call_key, outcomes.Attempt(
                ev.identity, ev.carrier_id, ev.code, ev.ts_ms, ev.pdd_ms, ev.attempt,
                ev.customer_id, ev.destination)))

    def send_attempts(self) -> None:
        """The batch's attempts to the calls topic, keyed by ``call_key``, oldest first:
        a calls partition's watermark then moves with event time, not with the order the
        batch's carriers were folded in."""
        if not self.attempts or self.calls is None:
            return
        topic, n = self.calls
        self.attempts.sort(key=lambda a: (a[0], a[3].identity))
        for _, source, key, attempt in self.attempts:
            raw = key.encode()
            self.sink.send(topic, raw, ATTEMPT + orjson.dumps([key, source,
                                                               *attempt.to_json()]),
                           partition_for(raw, n))
        self.attempts = []

    def _windows(self, partition: int, cid: str, state: CarrierState | None,
                 events: Sequence[Sourced],
                 facts: Sequence[outcomes.FactIn] = ()) -> dict[WindowId, WindowState]:
        """The stored windows the events and facts fall in. A carrier lists every window
        stored for it: one it does not list needs no read."""
        out = {}
        for kind, start in keys_needed(events, facts):
            if state is None or start in state.windows[kind]:
                w = self.stores.windows.load(partition, window_key(cid, kind, start).encode())
                if w is not None:
                    out[(kind, start)] = w
        return out

    def _chunks(self, partition: int, cid: str, state: CarrierState | None,
                policy: Policy) -> dict[ChunkId, bytes]:
        """The carrier's stored identities, when its table is to be built: read as bytes,
        not kept by the record cache (the table holds them, in a fifth of the space)."""
        out = {}
        for chunk in chunks_needed(state, policy):
            raw = self.stores.dedup.get(partition, chunk_key(cid, chunk))
            if raw:
                out[chunk] = raw
        return out

    def _save(self, partition: int, cid: str, res: FoldResult, wall: int) -> None:
        """Store what the fold changed (it changed the cache's values in place: every one
        it changed is saved back) and mark the records it touches."""
        s, p, key = self.stores, partition, cid.encode()
        if res.alerts:
            # Sent before the state that records them as sent reaches the changelog: a
            # crash cannot leave the "firing" state there without its alert on the topic.
            contacts = self.registry.contacts(cid)
            for a in res.alerts:
                rec = records.alert(cid, a, contacts, wall)
                self._send_output(names.ALERTS, key, orjson.dumps(rec))
                if self.alerts is not None:
                    self.alerts.observe(p, rec)
        if res.carrier_changed:
            s.carriers.save(p, key, res.carrier)
        for (kind, start), w in res.windows.items():
            s.windows.save(p, window_key(cid, kind, start).encode(), w)
        for kind, start in res.expired:  # listed by the carrier, so stored: no read
            s.windows.delete(p, window_key(cid, kind, start).encode(), stored=True)
        for chunk, raw in res.chunks.items():
            s.dedup.put(p, chunk_key(cid, chunk), raw)
        for chunk in res.expired_chunks:
            s.dedup.delete(p, chunk_key(cid, chunk), stored=True)
        if (res.carrier_changed or res.windows or res.expired or res.republish_carrier
                or res.republish):
            self.publisher.mark(cid, p, [*res.windows.keys(), *res.republish], res.expired,
                                state=res.carrier, written=res.windows)

    def newest_windows(self, partition: int,
                       state: CarrierState) -> dict[WindowId, WindowState]:
        """The newest hour, day and month window of a carrier, as stored."""
        out = {}
        for kind, starts in state.windows.items():
            if starts:
                start = max(starts)
                key = window_key(state.carrier_id, kind, start).encode()
                w = self.stores.windows.load(partition, key)
                if w is not None:
                    out[(kind, start)] = w
        return out

    def _send_output(self, name: str, key: bytes, value: bytes | None) -> None:
        self.sink.send(self.outputs[name], key, value)
