"""Why a failure streak happens: its failures by code class and by customer, and a verdict.

The consecutive-failure counter can look like a dead route when one customer dials wrong
numbers or sends missed-call traffic. Counting the streak's failures by class (wrong
number, callee, route, other) and keeping its busiest customers tells them apart:

- ``route-failure``: route codes (408, 5xx) are at least half of the streak;
- ``likely-customer-traffic``: wrong-number and callee codes are at least 80 % of it and
  one customer sent at least 60 % of it;
- ``mixed``: anything else.

State stays bounded: four counters, and the customers in a space-saving sketch of
``SLOTS`` counters (Metwally et al.): a customer with more than 1/``SLOTS`` of the
streak's failures is always in it, and counts are exact while a streak has at most
``SLOTS`` customers. A connected call ends the streak and clears both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CLASSES = ("wrong-number", "callee", "route", "other")
WRONG_NUMBER, CALLEE, ROUTE, OTHER = range(4)
_WRONG_NUMBER = frozenset({404, 484, 410, 604})
_CALLEE = frozenset({480, 486, 487, 600, 603})
SLOTS = 32  # customers the sketch holds
TOP = 3  # customers shown


def code_class(code: int) -> int:
    """The class of a failure code (an index into ``CLASSES``)."""
    if code in _WRONG_NUMBER:
        return WRONG_NUMBER
    if code in _CALLEE:
        return CALLEE
    if code == 408 or 500 <= code < 600:
        return ROUTE
    return OTHER


@dataclass(slots=True)
class Cause:
    """A streak's failures by class and, in the sketch, by customer (customer ->
    [count, over-estimate]; the count of one that took a slot over includes the count
    of the customer it replaced, up to ``over``)."""

    classes: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    customers: dict[str, list[int]] = field(default_factory=dict)

    def copy(self) -> Cause:
        return Cause(list(self.classes), {c: list(v) for c, v in self.customers.items()})

    def to_json(self) -> list[Any]:
        return [self.classes, self.customers]

    @classmethod
    def from_json(cls, d: Sequence[Any]) -> Cause:
        return cls(list(d[0]), {c: list(v) for c, v in d[1].items()})

    @property
    def failures(self) -> int:
        return sum(self.classes)


def add(cause: Cause, code: int, customer_id: str | None) -> None:
    """Count one failure of the streak (``count``, within the sketch's ``SLOTS``)."""
    customers = cause.customers
    if customer_id is None or customer_id in customers or len(customers) < SLOTS:
        count(cause, code, customer_id)
        return
    cause.classes[code_class(code)] += 1
    # space-saving: the newcomer takes the smallest counter over
    smallest = min(customers, key=lambda c: (customers[c][0], c))
    n = customers.pop(smallest)[0]
    customers[customer_id] = [n + 1, n]


def count(cause: Cause, code: int, customer_id: str | None) -> None:
    """One failure, counted exactly: a batch's counts, bounded when they are merged
    (``merge``); ``add`` bounds as it goes, at a scan of the slots per newcomer."""
    cause.classes[code_class(code)] += 1
    if customer_id is not None:
        slot = cause.customers.get(customer_id)
        if slot is None:
            cause.customers[customer_id] = [1, 0]
        else:
            slot[0] += 1


def merge(into: Cause, other: Cause) -> None:
    """Add ``other``'s counts (a batch's, or another hour's) into ``into``; past ``SLOTS``
    customers the smallest counts go (summed sketches over-estimate, as one does)."""
    for i, n in enumerate(other.classes):
        into.classes[i] += n
    customers = into.customers
    for c, (n, over) in other.customers.items():
        slot = customers.get(c)
        if slot is None:
            customers[c] = [n, over]
        else:
            slot[0] += n
            slot[1] += over
    if len(customers) > SLOTS:
        kept = sorted(customers.items(), key=lambda kv: (-kv[1][0], kv[0]))[:SLOTS]
        into.customers = dict(kept)


def top(cause: Cause, n: int = TOP) -> list[tuple[str, int]]:
    """The busiest customers of the streak, most failures first (ties: by id)."""
    ranked = sorted(cause.customers.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return [(c, v[0]) for c, v in ranked[:n]]


def verdict(cause: Cause) -> str | None:
    """The streak's verdict (None: no streak)."""
    total = cause.failures
    if total == 0:
        return None
    c = cause.classes
    if 2 * c[ROUTE] >= total:
        return "route-failure"
    busiest = top(cause, 1)
    if (10 * (c[WRONG_NUMBER] + c[CALLEE]) >= 8 * total and busiest
            and 10 * busiest[0][1] >= 6 * total):
        return "likely-customer-traffic"
    return "mixed"


def record(cause: Cause) -> dict[str, Any]:
    """The ``streak`` object of the consecutive-failures record."""
    return {"by_class": dict(zip(CLASSES, cause.classes, strict=True)),
            "top_customers": [{"customer_id": c, "failures": n} for c, n in top(cause)],
            "verdict": verdict(cause)}


def explain(record: Mapping[str, Any], count: int) -> str:
    """The streak in words, for the page and alert annotations."""
    v = record["verdict"]
    if v is None or count == 0:
        return "no failure streak"
    by = record["by_class"]
    parts = ", ".join(f"{n} {k}" for k, n in by.items() if n)
    words = {"route-failure": "route failure: the carrier cannot complete calls",
             "likely-customer-traffic": "likely customer traffic (wrong numbers or "
                                        "unanswered calls from one customer)",
             "mixed": "mixed causes"}[v]
    who = record["top_customers"]
    lead = (f"; {who[0]['customer_id']} sent {who[0]['failures']} of {count}"
            if who else "")
    return f"{words}: {parts}{lead}"
