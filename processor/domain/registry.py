"""Carrier profiles (contract §5): validation of what the registry topic and import files hold.

Validation collects every error rather than stopping at the first, so an operator can fix a
whole import file in one go.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from processor.domain.alerts import DestinationAsrRule
from processor.domain.codes import NAMED_SETS
from processor.domain.fas import FasRule
from processor.domain.rates import MICROS, Rate, RateCard
from processor.domain.signalling import parse_entry

CARRIER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
CURRENCY_RE = re.compile(r"[A-Z]{3}")
PREFIX_RE = re.compile(r"[0-9]{1,32}")
PROFILE_FIELDS = {"name", "contacts", "rates", "failure_codes",
                  "consecutive_failure_threshold", "min_sample", "signalling",
                  "destination_asr", "fas"}
CONTACT_FIELDS = ("name", "role", "email", "phone")


@dataclass(frozen=True, slots=True)
class Contact:
    name: str | None = None
    role: str | None = None
    email: str | None = None
    phone: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"name": self.name, "role": self.role, "email": self.email, "phone": self.phone}


@dataclass(frozen=True)
class Profile:
    carrier_id: str
    name: str | None = None
    contacts: tuple[Contact, ...] = ()
    rates: tuple[Rate, ...] = ()
    failure_codes: frozenset[int] | None = None
    threshold: int | None = None
    min_sample: int | None = None
    signalling: tuple[str, ...] = ()  # far-end addresses (domain/signalling.py)
    destination_asr: DestinationAsrRule | None = None  # the alert, on for this carrier
    fas: FasRule | None = None  # the fas-suspect thresholds, when not the defaults
    card: RateCard = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "card", RateCard(self.rates))


def parse_profile(carrier_id: str, doc: Any) -> tuple[Profile | None, list[str]]:
    """A profile from its JSON form, or the list of everything wrong with it."""
    errs: list[str] = []
    where = f"carrier {carrier_id!r}"
    if not CARRIER_RE.fullmatch(carrier_id):
        errs.append(f"{where}: not a valid carrier_id")
    if not isinstance(doc, Mapping):
        return None, [*errs, f"{where}: profile must be an object"]
    errs += [f"{where}: unknown field {k!r}" for k in doc if k not in PROFILE_FIELDS]
    name = doc.get("name")
    if name is not None and not isinstance(name, str):
        errs.append(f"{where}: name must be a string")
    contacts = _contacts(where, doc.get("contacts", []), errs)
    rates = _rates(where, doc.get("rates", []), errs)
    failures = _failures(where, doc.get("failure_codes"), errs)
    threshold = _positive(where, "consecutive_failure_threshold", doc, errs)
    min_sample = _positive(where, "min_sample", doc, errs)
    signalling = _signalling(where, doc.get("signalling", []), errs)
    destination_asr = _destination_asr(where, doc.get("destination_asr"), errs)
    fas_rule = _fas(where, doc.get("fas"), errs)
    if errs:
        return None, errs
    return Profile(carrier_id, name if isinstance(name, str) else None, contacts, rates,
                   failures, threshold, min_sample, signalling, destination_asr,
                   fas_rule), []


FAS_SHARES = ("instant_share", "no_ring_share", "resolve_score")


def _fas(where: str, raw: Any, errs: list[str]) -> FasRule | None:
    """An object of any of ``FasRule``'s fields (the others keep their defaults):
    ``min_answered`` (an integer >= 1), ``short_ratio_factor`` (a number > 1),
    ``instant_share``, ``no_ring_share`` and ``resolve_score`` (from 0 to 1)."""
    if raw is None:
        return None
    at = f"{where}: fas"
    if not isinstance(raw, Mapping):
        errs.append(f"{at} must be an object")
        return None
    d = FasRule()
    known = ("min_answered", "short_ratio_factor", *FAS_SHARES)
    bad = [f"{at}: unknown field {k!r}" for k in raw if k not in known]
    minimum = raw.get("min_answered", d.min_answered)
    if type(minimum) is not int or minimum < 1:
        bad.append(f"{at}.min_answered must be an integer >= 1, got {minimum!r}")
    factor = raw.get("short_ratio_factor", d.short_ratio_factor)
    if type(factor) not in (int, float) or not factor > 1:
        bad.append(f"{at}.short_ratio_factor must be a number above 1, got {factor!r}")
    shares = {k: raw.get(k, getattr(d, k)) for k in FAS_SHARES}
    bad += [f"{at}.{k} must be a share from 0 to 1, got {v!r}" for k, v in shares.items()
            if type(v) not in (int, float) or not 0 < v <= 1]
    errs += bad
    if bad:
        return None
    return FasRule(minimum, float(factor), *(float(shares[k]) for k in FAS_SHARES))


def _destination_asr(where: str, raw: Any, errs: list[str]) -> DestinationAsrRule | None:
    """``true`` (the defaults), or an object of ``fire_below``, ``resolve_above`` (shares
    from 0 to 1, fire below resolve) and ``min_attempts``; absent or false: off."""
    if raw is None or raw is False:
        return None
    if raw is True:
        return DestinationAsrRule()
    at = f"{where}: destination_asr"
    if not isinstance(raw, Mapping):
        errs.append(f"{at} must be true, false or an object")
        return None
    errs += [f"{at}: unknown field {k!r}" for k in raw
             if k not in ("fire_below", "resolve_above", "min_attempts")]
    d = DestinationAsrRule()
    fire, resolve = raw.get("fire_below", d.fire_below), raw.get("resolve_above", d.resolve_above)
    minimum = raw.get("min_attempts", d.min_attempts)
    for name, share in (("fire_below", fire), ("resolve_above", resolve)):
        if type(share) not in (int, float) or not 0 <= share <= 1:
            errs.append(f"{at}.{name} must be a share from 0 to 1, got {share!r}")
            return None
    if fire > resolve:
        errs.append(f"{at}: fire_below ({fire}) must not be above resolve_above ({resolve})")
    if type(minimum) is not int or minimum < 1:
        errs.append(f"{at}.min_attempts must be an integer >= 1, got {minimum!r}")
        return None
    return DestinationAsrRule(float(fire), float(resolve), minimum)


def _signalling(where: str, raw: Any, errs: list[str]) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        errs.append(f"{where}: signalling must be a list of ip, ip:port or CIDR strings")
        return ()
    for text in raw:
        try:
            parse_entry(text)
        except ValueError as bad:
            errs.append(f"{where}: signalling: {bad}")
    return tuple(raw)


def _contacts(where: str, raw: Any, errs: list[str]) -> tuple[Contact, ...]:
    if not isinstance(raw, list):
        errs.append(f"{where}: contacts must be a list")
        return ()
    out = []
    for i, c in enumerate(raw):
        if not isinstance(c, Mapping):
            errs.append(f"{where}: contacts[{i}] must be an object")
            continue
        for k, v in c.items():
            if k not in CONTACT_FIELDS:
                errs.append(f"{where}: contacts[{i}]: unknown field {k!r}")
            elif v is not None and not isinstance(v, str):
                errs.append(f"{where}: contacts[{i}].{k} must be a string")
        out.append(Contact(*(c.get(k) if isinstance(c.get(k), str) else None
                             for k in CONTACT_FIELDS)))
    return tuple(out)


def _rates(where: str, raw: Any, errs: list[str]) -> tuple[Rate, ...]:
    if not isinstance(raw, list):
        errs.append(f"{where}: rates must be a list")
        return ()
    out: list[Rate] = []
    for i, r in enumerate(raw):
        at = f"{where}: rates[{i}]"
        if not isinstance(r, Mapping):
            errs.append(f"{at} must be an object")
            continue
        prefix, currency = str(r.get("prefix", "")), r.get("currency")
        if not PREFIX_RE.fullmatch(prefix.removeprefix("+")):
            errs.append(f"{at}: prefix must be 1-32 digits, got {r.get('prefix')!r}")
        if not isinstance(currency, str) or not CURRENCY_RE.fullmatch(currency):
            errs.append(f"{at}: currency must be a 3-letter ISO 4217 code, got {currency!r}")
        try:
            per_minute = Decimal(str(r.get("per_minute")))
            if not per_minute.is_finite() or per_minute < 0:
                raise InvalidOperation
        except InvalidOperation:
            errs.append(f"{at}: per_minute must be a number >= 0, got {r.get('per_minute')!r}")
            per_minute = Decimal(0)
        increment = r.get("increment_s", 1)
        minimum = r.get("minimum_s", 0)
        if type(increment) is not int or increment < 1:
            errs.append(f"{at}: increment_s must be an integer >= 1")
        if type(minimum) is not int or minimum < 0:
            errs.append(f"{at}: minimum_s must be an integer >= 0")
        extra = set(r) - {"prefix", "per_minute", "currency", "increment_s", "minimum_s"}
        errs += [f"{at}: unknown field {k!r}" for k in sorted(extra)]
        out.append(Rate(prefix.removeprefix("+"), int(per_minute * MICROS), str(currency),
                        increment if type(increment) is int else 1,
                        minimum if type(minimum) is int else 0))
    if len({r.currency for r in out}) > 1:
        errs.append(f"{where}: all rates of a carrier must share one currency")
    prefixes = [r.prefix for r in out]
    errs += [f"{where}: prefix {p!r} appears twice" for p in sorted(set(prefixes))
             if prefixes.count(p) > 1]
    return tuple(out)


def _failures(where: str, raw: Any, errs: list[str]) -> frozenset[int] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw in NAMED_SETS:
            return NAMED_SETS[raw]
        errs.append(f"{where}: failure_codes {raw!r}: use 'all', 'route' or a list of codes")
        return None
    if not isinstance(raw, list) or not all(type(c) is int for c in raw):
        errs.append(f"{where}: failure_codes must be 'all', 'route' or a list of integers")
        return None
    bad = [c for c in raw if not 300 <= c <= 699]
    if bad:
        errs.append(f"{where}: failure_codes must be final non-2xx codes (300-699): {bad}")
    return frozenset(raw)


def _positive(where: str, key: str, doc: Mapping[str, Any], errs: list[str]) -> int | None:
    value = doc.get(key)
    if value is None:
        return None
    if type(value) is not int or value < 1:
        errs.append(f"{where}: {key} must be an integer >= 1, got {value!r}")
        return None
    return value


def parse_registry(doc: Any) -> tuple[dict[str, Profile], list[str]]:
    """An import file: ``{"carriers": {carrier_id: profile, ...}}``; all profiles or errors."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("carriers"), Mapping):
        return {}, ["the file must be an object with a 'carriers' mapping of carrier_id -> "
                    "profile"]
    profiles: dict[str, Profile] = {}
    errs: list[str] = []
    for cid, raw in doc["carriers"].items():
        profile, problems = parse_profile(str(cid), raw)
        errs += problems
        if profile is not None:
            profiles[str(cid)] = profile
    return (profiles, []) if not errs else ({}, errs)


def profile_to_json(p: Profile) -> dict[str, Any]:
    """The registry topic's value (contract §5)."""
    doc: dict[str, Any] = {
        "name": p.name,
        "contacts": [c.to_json() for c in p.contacts],
        "rates": [{"prefix": r.prefix, "per_minute": float(Decimal(r.per_minute_micros) / MICROS),
                   "currency": r.currency, "increment_s": r.increment_s,
                   "minimum_s": r.minimum_s} for r in p.rates],
    }
    if p.failure_codes is not None:
        doc["failure_codes"] = sorted(p.failure_codes)
    if p.threshold is not None:
        doc["consecutive_failure_threshold"] = p.threshold
    if p.min_sample is not None:
        doc["min_sample"] = p.min_sample
    if p.signalling:
        doc["signalling"] = list(p.signalling)
    if p.destination_asr is not None:
        r = p.destination_asr
        doc["destination_asr"] = {"fire_below": r.fire_below, "resolve_above": r.resolve_above,
                                  "min_attempts": r.min_attempts}
    if p.fas is not None:
        f = p.fas
        doc["fas"] = {"min_answered": f.min_answered, "short_ratio_factor": f.short_ratio_factor,
                      "instant_share": f.instant_share, "no_ring_share": f.no_ring_share,
                      "resolve_score": f.resolve_score}
    return doc
