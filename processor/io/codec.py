"""Bytes to ``SipEvent``, or a ``Rejected`` with a machine code: never raises on input.

Typed decoding (Faust's) would raise on bad input; we take raw bytes and decide
ourselves, so every message is applied, counted as a duplicate, or dead-lettered.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from processor.domain.events import SipEvent
from processor.errors import InvalidInput

MAX_PAYLOAD = 64 * 1024
SCHEMA_VERSION = 1
FUTURE_TOLERANCE_MS = 3_600_000
MIN_TS_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

PERSONAL = frozenset({"destination"})
CARRIER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
DESTINATION_RE = re.compile(r"\+?[0-9]{1,32}")
_RFC3339_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a message cannot be applied: ``error`` for machines, ``detail`` for people."""

    error: str
    detail: str


def decode(raw: bytes | None, wall_ms: int | None) -> SipEvent | Rejected:
    """Validate one input message (contract §1). ``wall_ms=None`` skips the future check
    (a replay runs on the recorded stream's time, not the wall clock)."""
    if raw is None:
        return Rejected("empty", "message has no value")
    if len(raw) > MAX_PAYLOAD:
        return Rejected("payload-too-large", f"{len(raw)} bytes > {MAX_PAYLOAD}")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejected("not-json", f"not valid UTF-8 JSON: {str(exc)[:200]}")
    if not isinstance(doc, dict):
        return Rejected("not-object", f"JSON {type(doc).__name__}, expected an object")
    try:
        return _event(doc, wall_ms)
    except Invalid as bad:
        return bad.rejected


class Invalid(InvalidInput):
    """An input event that cannot be used; ``rejected`` is what the dead letter says."""

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(error, detail)
        self.rejected = Rejected(error, detail)


def _int(doc: dict[str, Any], name: str, lo: int, hi: int | None, required: bool) -> int | None:
    value = doc.get(name)
    if value is None:
        if required:
            raise Invalid("missing-field", f"required field {name!r} is missing")
        return None
    if type(value) is not int:
        raise Invalid("wrong-type", f"{name!r} must be an integer, got {type(value).__name__}")
    if value < lo or (hi is not None and value > hi):
        limits = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise Invalid("out-of-range", f"{name!r}={value} is outside {limits}")
    return value


def _str(doc: dict[str, Any], name: str, max_len: int, required: bool,
         pattern: re.Pattern[str] | None = None) -> str | None:
    value = doc.get(name)
    if value is None:
        if required:
            raise Invalid("missing-field", f"required field {name!r} is missing")
        return None
    if not isinstance(value, str):
        raise Invalid("wrong-type", f"{name!r} must be a string, got {type(value).__name__}")
    if not value and required:
        raise Invalid("out-of-range", f"{name!r} must not be empty")
    if len(value) > max_len:
        raise Invalid("too-long", f"{name!r} is {len(value)} characters, at most {max_len}")
    if pattern is not None and not pattern.fullmatch(value):
        # A dialled number is personal data: never echoed into details, reports or logs.
        shown = "" if name in PERSONAL else f"={value[:64]!r}"
        raise Invalid("bad-format", f"{name!r}{shown} does not match {pattern.pattern}")
    return value


def parse_ts(value: Any) -> int:
    """RFC 3339 with an explicit offset, or int epoch milliseconds, to UTC epoch ms."""
    if value is None:
        raise Invalid("missing-field", "required field 'ts' is missing")
    if type(value) is int:
        ms = value
    elif isinstance(value, str):
        if not _RFC3339_RE.fullmatch(value):
            raise Invalid("bad-ts", f"'ts'={value[:64]!r} is not RFC 3339 with an explicit "
                                     "offset (e.g. 2026-11-25T10:00:00Z)")
        try:
            dt = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError as exc:
            raise Invalid("bad-ts", f"'ts'={value[:64]!r}: {exc}") from None
        ms = (dt - _EPOCH) // _MS
    else:
        raise Invalid("wrong-type", "'ts' must be an RFC 3339 string or integer epoch "
                                     f"milliseconds, got {type(value).__name__}")
    if not MIN_TS_MS <= ms < MAX_TS_MS:
        raise Invalid("out-of-range", f"'ts'={value!r} is outside 2000..2100 "
                                       "(epoch seconds instead of milliseconds?)")
    return ms


# Carrier ids seen valid: they repeat, and the pattern check is the dearest of the checks.
_VALID_CARRIERS: set[str] = set()
_VALID_CARRIERS_MAX = 100_000


def _required(doc: dict[str, Any], wall_ms: int | None) -> tuple[str, str, int, int]:
    get = doc.get
    if get("v") is not None:
        version = _int(doc, "v", 1, None, required=False) or 1
        if version > SCHEMA_VERSION:
            raise Invalid("unsupported-version", f"schema version {version} is newer than "
                                                  f"{SCHEMA_VERSION}")
    carrier_id: Any = get("carrier_id")
    if type(carrier_id) is not str or carrier_id not in _VALID_CARRIERS:
        carrier_id = _str(doc, "carrier_id", 128, True, CARRIER_RE)
        if len(_VALID_CARRIERS) < _VALID_CARRIERS_MAX:
            _VALID_CARRIERS.add(carrier_id)
    call_id: Any = get("call_id")
    if type(call_id) is not str or not 0 < len(call_id) <= 256:
        call_id = _str(doc, "call_id", 256, True)
    code: Any = get("code")
    if type(code) is not int or not 100 <= code <= 699:
        code = _int(doc, "code", 100, 699, required=True)
    ts_ms: Any = get("ts")
    if type(ts_ms) is not int or not MIN_TS_MS <= ts_ms < MAX_TS_MS:
        ts_ms = parse_ts(ts_ms)
    if wall_ms is not None and ts_ms > wall_ms + FUTURE_TOLERANCE_MS:
        raise Invalid("ts-future", f"'ts' is {(ts_ms - wall_ms) / 60000:.0f} min ahead of "
                                    "the wall clock (more than 60 allowed)")
    return carrier_id, call_id, code, ts_ms


def _event(doc: dict[str, Any], wall_ms: int | None) -> SipEvent:
    """Each field checked inline for the common valid case; anything else goes through
    ``_int``/``_str``/``parse_ts``, which raise the precise rejection (same rules)."""
    carrier_id, call_id, code, ts_ms = _required(doc, wall_ms)
    get = doc.get
    event_id, reason, customer_id = get("event_id"), get("reason"), get("customer_id")
    if event_id is not None and (type(event_id) is not str or len(event_id) > 256):
        event_id = _str(doc, "event_id", 256, False)
    if reason is not None and (type(reason) is not str or len(reason) > 256):
        reason = _str(doc, "reason", 256, False)
    if customer_id is not None and (type(customer_id) is not str or len(customer_id) > 128):
        customer_id = _str(doc, "customer_id", 128, False)
    duration_ms, pdd_ms = get("duration_ms"), get("pdd_ms")
    if duration_ms is not None and (type(duration_ms) is not int or duration_ms < 0):
        duration_ms = _int(doc, "duration_ms", 0, None, required=False)
    if pdd_ms is not None and (type(pdd_ms) is not int or pdd_ms < 0):
        pdd_ms = _int(doc, "pdd_ms", 0, None, required=False)
    destination = get("destination")
    if destination is not None and (type(destination) is not str or len(destination) > 33
                                    or DESTINATION_RE.fullmatch(destination) is None):
        destination = _str(doc, "destination", 33, False, DESTINATION_RE)
    answer_ms, ringing = get("answer_ms"), get("ringing")
    if answer_ms is not None and (type(answer_ms) is not int or answer_ms < 0):
        answer_ms = _int(doc, "answer_ms", 0, None, required=False)
    if ringing is not None and type(ringing) is not bool:
        raise Invalid("wrong-type", f"'ringing' must be true or false, got "
                                    f"{type(ringing).__name__}")
    call_key, attempt = get("call_key"), get("attempt")
    if call_key is not None and (type(call_key) is not str or not 0 < len(call_key) <= 256):
        call_key = _str(doc, "call_key", 256, False)
        if not call_key:
            raise Invalid("out-of-range", "'call_key' must not be empty")
    if attempt is not None and (type(attempt) is not int or attempt < 1):
        attempt = _int(doc, "attempt", 1, None, required=False)
    return SipEvent(carrier_id, call_id, code, ts_ms, event_id, reason, duration_ms, pdd_ms,
                    destination, customer_id, answer_ms, ringing, call_key, attempt)


def dlq_record(rejected: Rejected, *, topic: str, partition: int, offset: int,
               timestamp_ms: int | None, key: bytes | None, value: bytes | None) -> bytes:
    """The contract's DLQ record: the reason, where it came from, and the original bytes."""
    key_text: str | None
    key_text = None if key is None else key.decode("utf-8", errors="replace")
    return orjson.dumps({
        "error": rejected.error,
        "detail": rejected.detail,
        "source": {"topic": topic, "partition": partition, "offset": offset,
                   "timestamp_ms": timestamp_ms},
        "key": key_text,
        "value_b64": base64.b64encode(value or b"").decode("ascii"),
    })


# The arrival a replay stamps on each message it sends: the recorded record's timestamp
# (a topic range) or the file's stream clock (a file); see ``arrival_ms``.
ARRIVAL_HEADER = "carrierwatch-arrival-ms"


def arrival_ms(timestamp_ms: int | None, headers: Any, wall_ms: int | None) -> int:
    """When an input record arrived, the clock of duplicate detection (domain/dedup.py).

    The record's Kafka timestamp, unless a replay stamped the recorded arrival in
    ``ARRIVAL_HEADER``: either is stored in the log, so a re-read decides alike. In a
    wall-clock run (``wall_ms`` given) a record cannot have arrived after now: a producer
    clock running ahead would otherwise move the carrier's dedup clock into the future and
    keep every identity until real time caught up. No timestamp at all: now."""
    if headers:
        items = headers.items() if isinstance(headers, dict) else headers
        for name, value in items:
            if name == ARRIVAL_HEADER and value:
                try:  # noqa: SIM105 (contextlib.suppress costs 1 µs per event more)
                    timestamp_ms = int(value)
                except ValueError:
                    pass
                break
    if timestamp_ms is None or timestamp_ms < 0:
        return wall_ms if wall_ms is not None else 0
    return timestamp_ms if wall_ms is None else min(timestamp_ms, wall_ms)
