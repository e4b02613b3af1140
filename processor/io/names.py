"""Every topic name and every table key format, in one place.

Topic names are the contract's (sections 2 and 3); ``Settings.topic`` adds the optional isolation
prefix and ``Settings.route_topic`` names the internal route topic. Table keys are UTF-8;
a latest-calls chunk key belongs to the ring's layout (``domain/latest.call_key``).
"""

from __future__ import annotations

from processor.domain.windows import bound_iso

INPUT = "sip.responses"
DLQ = "sip.responses.dlq"
REGISTRY = "carrier.registry"
CONSECUTIVE = "carrier.consecutive-failures"
CONSISTENCY = "carrier.code-consistency"
LIVE = "carrier.summary.live"
SUMMARY = {"hour": "carrier.summary.hourly", "day": "carrier.summary.daily",
           "month": "carrier.summary.monthly"}
ALERTS = "carrier.alerts"
DESTINATIONS = "carrier.destinations"
ANOMALIES = "carrier.anomalies"
OUTCOMES = "call.outcomes"
OUTPUTS = (CONSECUTIVE, CONSISTENCY, LIVE, *SUMMARY.values(), ALERTS, DESTINATIONS, ANOMALIES,
           OUTCOMES)


def carrier_key(carrier_id: str) -> bytes:
    """A carrier's record (``carriers``) and latest-calls head (``latest``)."""
    return carrier_id.encode()


def window_key(carrier_id: str, kind: str, start_ms: int) -> str:
    """A window (``windows`` table) and its summary record: contract key
    ``<carrier_id>|<window>|<start>``, e.g. ``c-42|day|2026-11-25T00:00:00Z``."""
    return f"{carrier_id}|{kind}|{bound_iso(start_ms)}"


def chunk_key(carrier_id: str, chunk: tuple[int, int]) -> bytes:
    """A chunk of identities (``dedup`` table): ``<carrier_id>|<bucket start ms>|<n>``; a
    bucket written before chunks (n = -1: ``domain/dedup.LEGACY``) is
    ``<carrier_id>|<bucket start ms>``."""
    bucket, n = chunk
    return (f"{carrier_id}|{bucket}|{n}" if n >= 0 else f"{carrier_id}|{bucket}").encode()


def partition_key(partition: int) -> bytes:
    """A partition's invalid-input counter (``partitions`` table): ``p<n>``."""
    return f"p{partition}".encode()
