"""The validated SIP response event, as the rest of the domain sees it."""

from __future__ import annotations

from dataclasses import dataclass


# Not ``frozen``: a frozen dataclass sets each field through ``object.__setattr__``, 2 µs
# per event here against 0.3. Events are never changed once decoded.
@dataclass(slots=True)
class SipEvent:
    """One SIP response of one call attempt to one carrier; ``ts_ms`` is UTC epoch ms."""

    carrier_id: str
    call_id: str
    code: int
    ts_ms: int
    event_id: str | None = None
    reason: str | None = None
    duration_ms: int | None = None
    pdd_ms: int | None = None
    destination: str | None = None
    customer_id: str | None = None
    answer_ms: int | None = None  # INVITE to the 2xx (answer supervision, issue 31)
    ringing: bool | None = None  # whether an 18x came before the final response
    call_key: str | None = None  # the originating call its attempts share (issue 32)
    attempt: int | None = None  # the attempt's position in that call, from 1

    @property
    def identity(self) -> str:
        """What makes two deliveries one event (contract §1): event_id, else call_id+code+ts."""
        if self.event_id is not None:
            return "e:" + self.event_id
        return f"c:{self.call_id}|{self.code}|{self.ts_ms}"


@dataclass(slots=True)
class Sourced:
    """An event with where and when it was read: every state key skips re-deliveries by
    (source, offset); duplicates are told by identity within a window of ``arrival_ms``,
    the input record's Kafka timestamp (domain/dedup.py)."""

    event: SipEvent
    source: str  # "topic:partition"
    offset: int
    arrival_ms: int
