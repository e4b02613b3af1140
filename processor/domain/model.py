"""A carrier's stored values and the fold's result: the carrier record, a window, the
policy that decides its numbers, and what a fold changed."""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from processor.domain import dedup, live
from processor.domain.alerts import Alert, DestinationAsrRule, ShortCallRule
from processor.domain.codes import ALL_FAILURES
from processor.domain.consecutive import Streak
from processor.domain.events import Sourced
from processor.domain.fas import FasRule
from processor.domain.rates import RateCard
from processor.domain.seen import Seen
from processor.domain.streak_cause import Cause
from processor.domain.summary import Stats
from processor.domain.windows import KINDS, Retention

WindowId = tuple[str, int]  # (kind, start_ms)


@dataclass(frozen=True, slots=True)
class Policy:
    """What decides a carrier's numbers; per-carrier values come from the registry."""

    failures: frozenset[int] = ALL_FAILURES
    threshold: int = 1000
    min_sample: int = 100
    retention: Retention = field(default_factory=Retention)
    dedup_window_ms: int = dedup.DEFAULT_WINDOW_MS
    dedup_inline: int = dedup.INLINE_IDENTITIES  # identities in the record's tail, at most
    counted_once: bool = True  # False (benchmarks only): no dedup, no offset watermarks
    rates: RateCard = field(default_factory=lambda: RateCard(()))
    destinations_top: int = 20  # groups shown per window; the rest summed as "other"
    destination_asr: DestinationAsrRule | None = None  # off unless the registry sets it
    short_calls: ShortCallRule = field(default_factory=ShortCallRule)
    fas: FasRule = field(default_factory=FasRule)  # the fas-suspect thresholds


@dataclass(slots=True)
class CarrierState:
    carrier_id: str
    streak: Streak = field(default_factory=Streak)
    codes: dict[int, int] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)
    windows: dict[str, list[int]] = field(default_factory=lambda: {k: [] for k in KINDS})
    buckets: list[int] = field(default_factory=list)  # legacy dedup buckets: see ``ids``
    max_ts_ms: int | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"applied": 0, "duplicate": 0,
                                                            "late": 0})
    updated_ms: int = 0
    firing: dict[str, bool] = field(default_factory=dict)  # alert kind -> firing
    hours: live.Ring = field(default_factory=dict)
    # Written before identities were chunks (dedup.py): read once, then sealed.
    ids: dict[int, dict[str, str]] = field(default_factory=dict)
    arrival_ms: int | None = None  # the dedup clock: newest input record timestamp seen
    # The ring's rows summed (live.total), kept as rows are added and pruned; None: not
    # summed yet (not stored: summed again once after a load).
    live_sums: list[int] | None = None
    firing_since: dict[str, int] = field(default_factory=dict)  # firing kind -> its start
    # Identities (dedup.py): the dedup table's chunks per arrival bucket, the tail not
    # sealed into one yet (flat hash, where, arrival triples) and, not stored, the table
    # they make (None: not built since the record was read).
    chunks: dict[int, int] = field(default_factory=dict)
    tail: array[int] = field(default_factory=lambda: array("Q"))
    seen: Seen | None = None
    # destination-asr (only with the rule on): hour start -> group -> [attempts, answered]
    # over the live window, and (not stored) their sums per group
    dest_hours: dict[int, dict[str, list[int]]] = field(default_factory=dict)
    dest_live: dict[str, list[int]] | None = None
    cause: Cause = field(default_factory=Cause)  # the streak's failures by class, customer
    # Answer supervision (fas_fold.py): hour -> its fas row over the live window, UTC day ->
    # the baseline's row, and (not stored) their sums
    fas_hours: dict[int, list[int]] = field(default_factory=dict)
    fas_days: dict[int, list[int]] = field(default_factory=dict)
    fas_live: list[int] | None = None
    fas_base: list[int] | None = None

    def copy(self) -> CarrierState:
        return CarrierState(self.carrier_id, self.streak, dict(self.codes), dict(self.applied),
                            {k: list(v) for k, v in self.windows.items()}, list(self.buckets),
                            self.max_ts_ms, dict(self.counts), self.updated_ms,
                            dict(self.firing), {h: list(r) for h, r in self.hours.items()},
                            {b: dict(m) for b, m in self.ids.items()}, self.arrival_ms,
                            None if self.live_sums is None else list(self.live_sums),
                            dict(self.firing_since), dict(self.chunks), array("Q", self.tail),
                            None if self.seen is None else self.seen.copy(),
                            {h: {g: list(r) for g, r in m.items()}
                             for h, m in self.dest_hours.items()},
                            None if self.dest_live is None else
                            {g: list(r) for g, r in self.dest_live.items()},
                            self.cause.copy(),
                            {h: list(r) for h, r in self.fas_hours.items()},
                            {d: list(r) for d, r in self.fas_days.items()},
                            None if self.fas_live is None else list(self.fas_live),
                            None if self.fas_base is None else list(self.fas_base))

    @property
    def total_final(self) -> int:
        return sum(self.codes.values())

    def to_json(self) -> dict[str, Any]:
        s = self.streak
        return {"id": self.carrier_id,
                "s": [s.count, s.max_count, s.started_ms, s.last_code, s.last_event_ms,
                      s.last_connected_ms],
                "c": {str(k): v for k, v in self.codes.items()}, "ap": self.applied,
                "w": self.windows, "b": self.buckets, "m": self.max_ts_ms, "n": self.counts,
                "u": self.updated_ms, "al": self.firing,
                "h": {str(h): r for h, r in self.hours.items()}, "a": self.arrival_ms,
                "as": self.firing_since, "dc": {str(b): n for b, n in self.chunks.items()},
                "dt": self.tail.tolist(),
                **({"dh": {str(h): m for h, m in self.dest_hours.items()}}
                   if self.dest_hours else {}),
                **({"sc": self.cause.to_json()} if self.cause.failures else {}),
                **({"fh": {str(h): r for h, r in self.fas_hours.items()}}
                   if self.fas_hours else {}),
                **({"fd": {str(d): r for d, r in self.fas_days.items()}}
                   if self.fas_days else {}),
                **({"i": {str(b): m for b, m in self.ids.items()}} if self.ids else {})}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CarrierState:
        return cls(d["id"], Streak(*d["s"]), {int(k): v for k, v in d["c"].items()},
                   dict(d["ap"]), {k: list(v) for k, v in d["w"].items()},
                   list(d.get("b", ())), d["m"], dict(d["n"]), d["u"], dict(d.get("al", {})),
                   {int(h): list(r) for h, r in d.get("h", {}).items()},
                   {int(b): dict(m) for b, m in d.get("i", {}).items()}, d.get("a"),
                   firing_since=dict(d.get("as", {})),
                   chunks={int(b): n for b, n in d.get("dc", {}).items()},
                   tail=array("Q", d.get("dt", ())),
                   dest_hours={int(h): {g: list(r) for g, r in m.items()}
                               for h, m in d.get("dh", {}).items()},
                   cause=Cause.from_json(d["sc"]) if "sc" in d else Cause(),
                   fas_hours={int(h): list(r) for h, r in d.get("fh", {}).items()},
                   fas_days={int(k): list(r) for k, r in d.get("fd", {}).items()})


@dataclass(slots=True)
class WindowState:
    stats: Stats = field(default_factory=Stats)
    applied: dict[str, int] = field(default_factory=dict)
    updated_ms: int = 0
    # destination group -> its counters (domain/destinations.py); empty in windows written
    # before groups were kept
    dests: dict[str, list[int]] = field(default_factory=dict)
    # hour windows: their failures by class and customer (streak_cause.py), for the live
    # window's breakdown
    fails: Cause = field(default_factory=Cause)
    # hour and day windows: answer-supervision counters (fas.py); empty until an answer
    fas: list[int] = field(default_factory=list)
    # call outcomes (outcomes.py): the failover row and the pairs (answered on -> calls);
    # empty until a call that tried this carrier ended
    fo: list[int] = field(default_factory=list)
    fp: dict[str, int] = field(default_factory=dict)

    def copy(self) -> WindowState:
        return WindowState(self.stats.copy(), dict(self.applied), self.updated_ms,
                           {g: list(r) for g, r in self.dests.items()}, self.fails.copy(),
                           list(self.fas), list(self.fo), dict(self.fp))

    def to_json(self) -> dict[str, Any]:
        d = {"s": self.stats.to_json(), "ap": self.applied, "u": self.updated_ms,
             "g": self.dests}
        if self.fails.failures:
            d["fx"] = self.fails.to_json()
        if self.fas:
            d["fa"] = self.fas
        if self.fo:
            d["fo"], d["fp"] = self.fo, self.fp
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WindowState:
        return cls(Stats.from_json(d["s"]), dict(d["ap"]), d["u"],
                   {g: list(r) for g, r in d.get("g", {}).items()},
                   Cause.from_json(d["fx"]) if "fx" in d else Cause(), list(d.get("fa", ())),
                   list(d.get("fo", ())), dict(d.get("fp", {})))


@dataclass(slots=True)
class FoldResult:
    carrier: CarrierState
    carrier_changed: bool = False
    windows: dict[WindowId, WindowState] = field(default_factory=dict)
    expired: list[WindowId] = field(default_factory=list)
    chunks: dict[dedup.ChunkId, bytes] = field(default_factory=dict)  # sealed: to store
    expired_chunks: list[dedup.ChunkId] = field(default_factory=list)  # to delete
    results: dict[str, int] = field(default_factory=lambda: {"applied": 0, "duplicate": 0,
                                                             "late": 0})
    alerts: list[Alert] = field(default_factory=list)
    accepted: list[Sourced] = field(default_factory=list)  # not producer duplicates
    # Re-delivered events (already applied): their records may never have been published
    # (a crash between the state write and the send), so they are published again.
    republish_carrier: bool = False
    republish: set[WindowId] = field(default_factory=set)
    # Working notes of the fold: windows known listed by the carrier, and the live
    # window's first hour as of the last prune (nothing older is left in the ring).
    listed: set[WindowId] = field(default_factory=set)
    pruned_at: int | None = None
    owned: bool = False  # the stored values are the fold's to change (``fold(owned=)``)
    finals: int = 0  # the carrier's final responses (``total_final``), kept as they count


def record_transition(cur: CarrierState, res: FoldResult, kind: str, firing: bool,
                      alert: Alert | None) -> None:
    """An alert rule's answer: on a transition, the flag and its start change and the
    alert is one of the fold's results."""
    if alert is not None:
        cur.firing[kind] = firing
        cur.firing_since.pop(kind, None)
        if firing:
            cur.firing_since[kind] = alert.at_ms
        res.alerts.append(alert)
        res.carrier_changed = True
