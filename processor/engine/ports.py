"""What the engine needs from the outside, as ``typing.Protocol``s: where records go
(``Sink``), what the registry says of a carrier (``Registry``) and who else hears of
alerts (``AlertObserver``). The tables' own
protocol is ``state.Table``; the clock is ``clock.Clock``.

The worker plugs in librdkafka (``sender.Sender``) and the registry's Faust GlobalTable
(``profiles.Profiles``); replay reports and the tests' harness plug in memory
(``memory.py``, ``tests/harness.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from processor.domain.model import Policy


class Sink(Protocol):
    """Where the engine's records go: changelogs, outputs, routed events, dead letters."""

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             partition: int | None = None, stage: int = 0) -> None:
        """Queue one record (``value`` None: a tombstone) to ``partition`` (None: by key),
        behind every record of an earlier ``stage`` (``sender.STAGES``)."""


class Registry(Protocol):
    """A carrier's policy and contacts, from ``carrier.registry``."""

    def policy_for(self, carrier_id: str) -> Policy: ...

    def contacts(self, carrier_id: str) -> list[dict[str, str | None]]: ...


class AlertObserver(Protocol):
    """Told of alerts as they are sent, for delivery elsewhere (``ops/alertmanager.py``)."""

    def observe(self, partition: int, rec: Mapping[str, Any]) -> None:
        """An alert record (contract §3) was sent to ``carrier.alerts``."""

    def restore(self, partition: int, firing: Iterable[Mapping[str, Any]]) -> None:
        """A carrier of a newly assigned partition has these alerts firing."""
