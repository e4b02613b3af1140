"""Call outcomes (issue 32): the attempts of one originating call (one ``call_key``) over
the carriers it was sent to, grouped until the call ends, and what each carrier did in it.

- **Grouping**: attempts are told apart by their event identity (a re-delivered attempt
  adds nothing) and put in order by ``attempt`` (their position, from the SBC), else by
  ``ts``. Attempts may arrive in any order and from any carrier's partition.
- **Settling**: a call ends when it has an answered (2xx) attempt and every attempt
  numbered before it has arrived, or when no new attempt came for ``settle_ms`` of event
  time (the calls partition's newest ``ts``, its watermark, has passed the call's newest
  attempt by that much). A call is settled once; an attempt for a settled call is late.
- **Per call**: the attempts in order, the final carrier and code, the customer and the
  destination (``outcome``).
- **Per carrier** (``facts``): for each carrier the call tried, one fact: the call (with
  the time of the carrier's first attempt in it), whether the call was answered (its last
  attempt was), ``rescued_elsewhere`` (an attempt failed here and a later one was
  answered on another carrier, which is the pair's other end) and ``rescued_here`` (this
  carrier answered after another one failed). Summed in a window's ``Row``.

A failure here is any final response of 300 or more: for routing, a redirect or a busy
callee is as much a failed attempt as a 503.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# A window's failover row, then its pairs (the carrier that answered -> calls)
CALLS, ANSWERED_CALLS, RESCUED_ELSEWHERE, RESCUED_HERE = range(4)
WIDTH = 4
TOP_PAIRS = 10


@dataclass(frozen=True, slots=True)
class Attempt:
    identity: str  # the event's (contract §1): a re-delivery is the same attempt
    carrier_id: str
    code: int
    ts_ms: int
    pdd_ms: int | None = None
    attempt: int | None = None
    customer_id: str | None = None
    destination: str | None = None

    def to_json(self) -> list[Any]:
        return [self.identity, self.carrier_id, self.code, self.ts_ms, self.pdd_ms,
                self.attempt, self.customer_id, self.destination]

    @classmethod
    def from_json(cls, d: Sequence[Any]) -> Attempt:
        return cls(*d)


@dataclass(slots=True)
class Call:
    call_key: str
    attempts: list[Attempt] = field(default_factory=list)
    last_ts: int = 0  # its newest attempt's ts: the settle clock starts there
    settled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"k": self.call_key, "a": [a.to_json() for a in self.attempts],
                "t": self.last_ts, "s": self.settled}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Call:
        return cls(d["k"], [Attempt.from_json(a) for a in d["a"]], d["t"], d["s"])


def add(call: Call, a: Attempt) -> bool:
    """Add an attempt; False when it was already there (a re-delivery)."""
    if any(x.identity == a.identity for x in call.attempts):
        return False
    call.attempts.append(a)
    call.last_ts = max(call.last_ts, a.ts_ms)
    return True


def ordered(attempts: Iterable[Attempt]) -> list[Attempt]:
    """By position when the SBC numbered them, else by time (numbered ones first)."""
    return sorted(attempts, key=lambda a: (a.attempt is None, a.attempt or 0, a.ts_ms,
                                           a.identity))


def _answered(a: Attempt) -> bool:
    return 200 <= a.code < 300


def complete(call: Call) -> bool:
    """Answered, with every attempt numbered before the answer arrived."""
    for a in call.attempts:
        if _answered(a):
            if a.attempt is None:
                return True
            have = {x.attempt for x in call.attempts if x.attempt is not None}
            if all(n in have for n in range(1, a.attempt)):
                return True
    return False


def settles(call: Call, watermark_ms: int, settle_ms: int) -> str | None:
    """How the call ends now: ``answer``, ``timeout`` or None (not yet)."""
    if call.settled:
        return None
    if complete(call):
        return "answer"
    if watermark_ms - call.last_ts >= settle_ms:
        return "timeout"
    return None


def outcome(call: Call, settled_by: str) -> dict[str, Any]:
    """The ``call.outcomes`` record of a settled call."""
    att = ordered(call.attempts)
    last = att[-1]
    known = [a for a in att if a.customer_id is not None]
    dest = [a for a in att if a.destination is not None]
    return {
        "call_key": call.call_key,
        "attempts": [{"carrier_id": a.carrier_id, "code": a.code, "ts_ms": a.ts_ms,
                      "pdd_ms": a.pdd_ms, "attempt": a.attempt} for a in att],
        "final_carrier": last.carrier_id,
        "final_code": last.code,
        "answered": _answered(last),
        "customer_id": known[0].customer_id if known else None,
        "destination": dest[0].destination if dest else None,
        "settled_by": settled_by,
    }


@dataclass(frozen=True, slots=True)
class Fact:
    """What one call says of one carrier it tried."""

    carrier_id: str
    ts_ms: int  # the carrier's first attempt in the call: the window it counts in
    answered_call: bool
    rescued_elsewhere: str | None  # the carrier that answered after a failure here
    rescued_here: bool

    def row(self) -> list[int]:
        out = [0] * WIDTH
        out[CALLS] = 1
        out[ANSWERED_CALLS] = int(self.answered_call)
        out[RESCUED_ELSEWHERE] = int(self.rescued_elsewhere is not None)
        out[RESCUED_HERE] = int(self.rescued_here)
        return out

    def to_json(self) -> list[Any]:
        return [self.carrier_id, self.ts_ms, self.answered_call, self.rescued_elsewhere,
                self.rescued_here]

    @classmethod
    def from_json(cls, d: Sequence[Any]) -> Fact:
        return cls(*d)


@dataclass(frozen=True, slots=True)
class FactIn:
    """A fact as a carrier reads it: from the calls partition that settled the call
    (``source``), at a position (``offset``) that grows along that source, so a fact sent
    again is skipped like a re-delivered event."""

    fact: Fact
    source: str
    offset: int


def facts(call: Call) -> list[Fact]:
    """One fact per carrier the call tried (in the order first tried)."""
    att = ordered(call.attempts)
    answered_call = _answered(att[-1])
    winner = next((i for i, a in enumerate(att) if _answered(a)), None)
    out = []
    for carrier in dict.fromkeys(a.carrier_id for a in att):
        mine = [i for i, a in enumerate(att) if a.carrier_id == carrier]
        elsewhere = None
        here = False
        if winner is not None:
            by = att[winner].carrier_id
            failed_before = [i for i in mine if i < winner and att[i].code >= 300]
            if by != carrier and failed_before:
                elsewhere = by
            if by == carrier and any(att[i].code >= 300 and att[i].carrier_id != carrier
                                     for i in range(winner)):
                here = True
        out.append(Fact(carrier, att[mine[0]].ts_ms, answered_call, elsewhere, here))
    return out


def count(row: list[int], pairs: dict[str, int], fact: Fact) -> None:
    """A fact into a window's row and pairs."""
    for i, n in enumerate(fact.row()):
        row[i] += n
    if fact.rescued_elsewhere is not None:
        pairs[fact.rescued_elsewhere] = pairs.get(fact.rescued_elsewhere, 0) + 1


def total(rows: Iterable[tuple[Sequence[int], Mapping[str, int]]]) -> tuple[list[int],
                                                                          dict[str, int]]:
    row, pairs = [0] * WIDTH, dict[str, int]()
    for r, p in rows:
        for i, n in enumerate(r):
            row[i] += n
        for b, n in p.items():
            pairs[b] = pairs.get(b, 0) + n
    return row, pairs


def figures(row: Sequence[int], pairs: Mapping[str, int], attempts: int,
            answered_attempts: int) -> dict[str, Any]:
    """A window's failover figures: calls and their ASR beside the attempts' ASR, the
    rescued counts and the top pairs."""
    calls = row[CALLS]
    top = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_PAIRS]
    return {"calls": calls, "answered_calls": row[ANSWERED_CALLS],
            "asr_per_call": row[ANSWERED_CALLS] / calls if calls else None,
            "attempts": attempts,
            "asr_per_attempt": answered_attempts / attempts if attempts else None,
            "rescued_elsewhere": row[RESCUED_ELSEWHERE], "rescued_here": row[RESCUED_HERE],
            "pairs": [{"answered_on": b, "calls": n} for b, n in top]}
