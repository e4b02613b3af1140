"""Per-carrier policy from the registry, parsed once per profile version."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import orjson

from processor.domain import codes
from processor.domain.alerts import ShortCallRule
from processor.domain.calllog import Limits
from processor.domain.model import Policy
from processor.domain.registry import Profile, parse_profile
from processor.domain.windows import Retention
from processor.io.stored import KeyValues
from processor.settings import Settings

log = logging.getLogger(__name__)


class Profiles:
    """Reads ``carrier.registry`` (a Faust GlobalTable) and turns profiles into policies."""

    def __init__(self, registry: KeyValues, default: Policy) -> None:
        self._registry = registry
        self._default = default
        self._cache: dict[str, tuple[bytes | None, Policy, Profile | None]] = {}

    def _entry(self, carrier_id: str) -> tuple[bytes | None, Policy, Profile | None]:
        raw = self._registry.get(carrier_id.encode())
        cached = self._cache.get(carrier_id)
        if cached is not None and cached[0] == raw:
            return cached
        profile = None
        if raw is not None:
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError:
                doc = None
            profile, errors = parse_profile(carrier_id, doc)
            if errors:
                log.warning("carrier.registry profile of %s ignored: %s", carrier_id,
                            "; ".join(errors))
        entry = (raw, self._policy(profile), profile)
        self._cache[carrier_id] = entry
        return entry

    def _policy(self, p: Profile | None) -> Policy:
        if p is None:
            return self._default
        changes: dict[str, Any] = {"rates": p.card}
        if p.failure_codes is not None:
            changes["failures"] = p.failure_codes
        if p.threshold is not None:
            changes["threshold"] = p.threshold
        if p.min_sample is not None:
            changes["min_sample"] = p.min_sample
        if p.destination_asr is not None:
            changes["destination_asr"] = p.destination_asr
        if p.fas is not None:
            changes["fas"] = p.fas
        return dataclasses.replace(self._default, **changes)

    def policy_for(self, carrier_id: str) -> Policy:
        return self._entry(carrier_id)[1]

    def profile(self, carrier_id: str) -> Profile | None:
        return self._entry(carrier_id)[2]

    def policy_and_profile(self, carrier_id: str) -> tuple[Policy, Profile | None]:
        """Both from one registry read (a listing asks for both of every carrier)."""
        _, policy, profile = self._entry(carrier_id)
        return policy, profile

    def contacts(self, carrier_id: str) -> list[dict[str, str | None]]:
        p = self.profile(carrier_id)
        return [c.to_json() for c in p.contacts] if p is not None else []


def default_policy(settings: Settings) -> Policy:
    """The policy of a carrier the registry says nothing about, from the settings."""
    return Policy(
        failures=codes.failure_set(settings.failure_set),
        threshold=settings.consecutive_failure_threshold,
        min_sample=settings.min_sample,
        retention=Retention(settings.retention_hour_days, settings.retention_day_days,
                            settings.retention_months),
        dedup_window_ms=settings.dedup_window_s * 1000,
        counted_once=settings.counted_once,
        short_calls=ShortCallRule(settings.short_call_alert_share,
                                  settings.short_call_resolve_share,
                                  settings.short_call_min_answered),
        destinations_top=settings.destinations_top,
    )


def call_log_limits(settings: Settings) -> Limits | None:
    """What the call log keeps (None: no log)."""
    if not settings.call_log_hours:
        return None
    return Limits(settings.call_log_hours, settings.call_log_max)
