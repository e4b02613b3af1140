"""SIP messages mirrored by a proxy (HEP) into call attempts: one contract event per INVITE
transaction a carrier answered with a final response.

A proxy mirrors what it receives: the caller's requests and each carrier's replies (and,
configured so, what it sends). An attempt is one INVITE transaction towards one carrier:
the Call-ID with the branch of the top Via of the carrier's replies, which is the proxy's
branch for that fork, so a call failed over to a second carrier is two attempts.

- ``code``/``ts``: the carrier's final response and when it came; a failure is emitted at
  once, an answered call when it ends (BYE: ``duration_ms`` from 200 to BYE) or after
  ``max_call_ms`` without a duration.
- ``pdd_ms``: from the attempt's start to its first 18x. The start is the INVITE sent to
  the carrier when the proxy mirrors it, else the caller's INVITE or, on a failover, the
  previous attempt's final response (the proxy forks again as it gets it).
- ``ringing``: whether the attempt had an 18x before its final response; ``answer_ms``
  (answered calls): from the attempt's start to its 2xx. Answers without ringing, or
  within a second, are signs of false answer supervision.
- ``event_id``: derived from Call-ID and branch, so a packet mirrored twice or a
  retransmitted reply is one event (the processor skips a repeated event_id).

- ``call_key``/``attempt``: the originating call the attempts share (the HEP correlation
  id, else a configured header such as ``X-CID``, else the Call-ID, which a proxy failing
  over keeps) and the attempt's position in it, in the order its INVITEs (or, unmirrored,
  its first replies) were seen.

Time: every deadline is on the capture clock of the sender (capture agent) that mirrored
the call, whose "now" is the newest capture time it sent, moved on by the local steady
clock while it is silent, less ``skew_ms`` for packets that arrive out of order. A sender
whose clock is minutes behind the others' keeps its calls as long as in-sync senders do.
Deadlines wait in one heap per sender, so expiry costs what expires, not what is open.

State is bounded: an attempt without a final response times out ``transaction_timeout_ms``
after its own INVITE (a failover attempt ringing long after the call's first packet is
kept), an answered call is emitted without a duration ``max_call_ms`` after its 2xx, an
idle call is forgotten ``transaction_timeout_ms`` after its last packet, and past
``max_open`` calls the oldest are shed (counted in ``shed``).
"""

from __future__ import annotations

import hashlib
import heapq
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import count
from typing import Any

DESTINATION_RE = re.compile(r"\+?[0-9]{1,32}")
MAX_CALL_KEY = 256


@dataclass(slots=True)
class Attempt:
    carrier_id: str
    branch: str
    start_ms: int
    number: int  # its position in the call (``attempt``)
    first_18x_ms: int | None = None
    answered_ms: int | None = None  # the 2xx's time, once answered
    final: bool = False
    code: int = 0  # the final response


@dataclass(slots=True)
class Call:
    call_id: str
    sender: str  # whose capture clock its deadlines are on
    serial: int  # tells this call from a later one with the same Call-ID (heap entries)
    seen_ms: int  # its newest packet
    invite_ms: int | None = None
    destination: str | None = None
    call_key: str | None = None
    last_final_ms: int | None = None
    numbered: int = 0  # attempts numbered so far
    forks: dict[str, tuple[int, int]] = field(default_factory=dict)  # branch -> (INVITE, n)
    attempts: dict[str, Attempt] = field(default_factory=dict)


# Heap entries: (deadline, sequence, call serial, call_id, branch, what); what is one of
TIMEOUT, LONGEST, IDLE = 0, 1, 2  # an attempt's final, an answered call's end, the call


class AttemptTracker:
    """Calls in progress, by Call-ID; ``on_*`` return the events that are complete, and
    ``expire`` those a deadline completes (see the module doc)."""

    def __init__(self, *, max_open: int = 100_000, max_call_ms: int = 4 * 3_600_000,
                 transaction_timeout_ms: int = 180_000, skew_ms: int = 2_000) -> None:
        self.calls: OrderedDict[str, Call] = OrderedDict()
        self.max_open, self.max_call_ms = max_open, max_call_ms
        self.transaction_timeout_ms = transaction_timeout_ms
        self.skew_ms = skew_ms
        self.shed = 0
        self.timed_out = 0
        self.examined = 0  # deadlines looked at by ``expire`` (what it costs)
        self._heaps: dict[str, list[tuple[int, int, int, str, str, int]]] = {}
        self._clocks: dict[str, tuple[int, int]] = {}  # sender -> (newest capture, at)
        self._seq = count()

    # -- clocks and deadlines ------------------------------------------------------------
    def _seen(self, sender: str, ts_ms: int, at_ms: int | None) -> None:
        newest = self._clocks.get(sender)
        if newest is None or ts_ms > newest[0]:
            self._clocks[sender] = (ts_ms, ts_ms if at_ms is None else at_ms)

    def _due(self, call: Call, deadline: int, branch: str, what: int) -> None:
        heap = self._heaps.setdefault(call.sender, [])
        heapq.heappush(heap, (deadline, next(self._seq), call.serial, call.call_id, branch,
                              what))

    def _call(self, call_id: str, ts_ms: int, sender: str) -> Call:
        call = self.calls.get(call_id)
        if call is None:
            call = self.calls[call_id] = Call(call_id, sender, next(self._seq), ts_ms)
            self._due(call, ts_ms + self.transaction_timeout_ms, "", IDLE)
            while len(self.calls) > self.max_open:
                self.calls.popitem(last=False)
                self.shed += 1
        call.seen_ms = max(call.seen_ms, ts_ms)
        return call

    def _number(self, call: Call) -> int:
        call.numbered += 1
        return call.numbered

    # -- packets -------------------------------------------------------------------------
    def on_request(self, method: str, call_id: str, branch: str | None, user: str | None,
                   ts_ms: int, *, to_carrier: str | None, sender: str = "",
                   call_key: str | None = None, at_ms: int | None = None,
                   ) -> list[dict[str, Any]]:
        """A request the proxy received (``to_carrier`` None) or sent to a carrier, from
        ``sender`` (a capture agent) at the local steady ``at_ms`` (default: ``ts_ms``)."""
        self._seen(sender, ts_ms, at_ms)
        if method == "INVITE":
            call = self._call(call_id, ts_ms, sender)
            if call_key and call.call_key is None:
                call.call_key = call_key
            if to_carrier is not None and branch is not None:
                if branch not in call.forks and branch not in call.attempts:
                    call.forks[branch] = (ts_ms, self._number(call))
            elif call.invite_ms is None:
                call.invite_ms = ts_ms
            if call.destination is None and user and DESTINATION_RE.fullmatch(user):
                call.destination = user
            return []
        ended = self.calls.get(call_id) if method == "BYE" else None
        if ended is not None:
            out = [self._event(ended, a, a.answered_ms, ts_ms - a.answered_ms)
                   for a in ended.attempts.values() if a.answered_ms is not None]
            del self.calls[call_id]
            return out
        return []

    def on_reply(self, status: int, cseq_method: str, call_id: str, branch: str | None,
                 ts_ms: int, *, carrier_id: str, sender: str = "",
                 call_key: str | None = None, at_ms: int | None = None,
                 ) -> list[dict[str, Any]]:
        """A carrier's reply to the proxy."""
        self._seen(sender, ts_ms, at_ms)
        if cseq_method != "INVITE" or branch is None:
            return []
        call = self._call(call_id, ts_ms, sender)
        if call_key and call.call_key is None:
            call.call_key = call_key
        attempt = call.attempts.get(branch)
        if attempt is None:
            fork = call.forks.pop(branch, None)
            if fork is not None:
                start, number = fork
            else:
                start = max((t for t in (call.invite_ms, call.last_final_ms) if t is not None),
                            default=ts_ms)
                number = self._number(call)
            attempt = call.attempts[branch] = Attempt(carrier_id, branch, start, number)
            self._due(call, start + self.transaction_timeout_ms, branch, TIMEOUT)
        if attempt.final:
            return []  # a retransmission
        if status < 200:
            if 180 <= status < 190 and attempt.first_18x_ms is None:
                attempt.first_18x_ms = ts_ms
            return []
        attempt.final, attempt.code = True, status
        call.last_final_ms = ts_ms
        if 200 <= status < 300:
            attempt.answered_ms = ts_ms
            self._due(call, ts_ms + self.max_call_ms, branch, LONGEST)
            return []
        return [self._event(call, attempt, ts_ms, None)]

    # -- deadlines -----------------------------------------------------------------------
    def expire(self, at_ms: int) -> list[dict[str, Any]]:
        """What the deadlines complete by the local steady ``at_ms``: answered calls past
        ``max_call_ms`` (emitted without a duration); attempts without a final response
        and idle calls past the transaction timeout (dropped, counted in ``timed_out``
        when no final response came)."""
        out: list[dict[str, Any]] = []
        for sender, heap in self._heaps.items():
            newest, seen_at = self._clocks.get(sender, (0, at_ms))
            now = newest + max(0, at_ms - seen_at) - self.skew_ms
            while heap and heap[0][0] <= now:
                deadline, _, serial, call_id, branch, what = heapq.heappop(heap)
                self.examined += 1
                call = self.calls.get(call_id)
                if call is None or call.serial != serial:
                    continue  # ended, shed or replaced since
                out += self._complete(call, deadline, branch, what)
        return out

    def _complete(self, call: Call, deadline: int, branch: str,
                  what: int) -> list[dict[str, Any]]:
        if what == IDLE:  # every call has one of these waiting: it forgets the call
            idle_end = call.seen_ms + self.transaction_timeout_ms
            if idle_end > deadline:  # newer packets came: look again then
                self._due(call, idle_end, "", IDLE)
            elif any(not a.final or a.answered_ms is not None
                     for a in call.attempts.values()):  # their own deadlines end them
                self._due(call, deadline + self.transaction_timeout_ms, "", IDLE)
            else:
                if not call.attempts or call.forks:  # an INVITE nobody answered
                    self.timed_out += 1
                del self.calls[call.call_id]
            return []
        attempt = call.attempts.get(branch)
        if attempt is None:
            return []
        if what == TIMEOUT and not attempt.final:
            self.timed_out += 1
            del call.attempts[branch]
        elif what == LONGEST and attempt.answered_ms is not None:
            event = self._event(call, attempt, attempt.answered_ms, None)
            attempt.answered_ms = None  # emitted: a BYE now adds nothing
            return [event]
        return []

    def _event(self, call: Call, a: Attempt, ts_ms: int | None,
               duration_ms: int | None) -> dict[str, Any]:
        ident = hashlib.blake2b(f"{call.call_id}\0{a.branch}".encode(), digest_size=12)
        event: dict[str, Any] = {"carrier_id": a.carrier_id, "call_id": call.call_id,
                                 "code": a.code, "ts": ts_ms,
                                 "event_id": "hep-" + ident.hexdigest(),
                                 "call_key": (call.call_key or call.call_id)[:MAX_CALL_KEY],
                                 "attempt": a.number}
        if a.first_18x_ms is not None:
            event["pdd_ms"] = max(0, a.first_18x_ms - a.start_ms)
        event["ringing"] = a.first_18x_ms is not None
        if a.answered_ms is not None:
            event["answer_ms"] = max(0, a.answered_ms - a.start_ms)
        if duration_ms is not None:
            event["duration_ms"] = max(0, duration_ms)
        if call.destination is not None:
            event["destination"] = call.destination
        return event
