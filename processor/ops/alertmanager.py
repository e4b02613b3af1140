"""Alert delivery to Alertmanager (v2 API): every alert's firing and resolved state, as
Prometheus delivers its own.

The worker's carrier step tells ``AlertDelivery`` each alert record it sends to
``carrier.alerts`` (``observe``), and, when a partition is assigned, which alerts its
carriers' states say are firing (``restore``: an alert whose record went out before a
crash is delivered again). A thread posts the whole set: at once when it changed, and
every ``resend_s`` in any case, which is what Alertmanager expects of a client; a firing
alert's ``endsAt`` is ``4 x resend_s`` ahead, so Alertmanager resolves it by itself if
the worker dies. A failed post is logged and retried at the next interval, never sooner
(no storm while Alertmanager is down), with nothing dropped: a resolved alert stays in the
set until a post that holds it succeeds. Partitions that leave are dropped without
resolving (their new owner restores and continues).

Labels: ``alertname`` (the kind), ``carrier``, ``severity``, and ``destination`` for a
destination group's alert. Annotations: ``summary``, ``explanation`` (why: the streak's
cause, the FAS verdict) and ``contacts`` (the carrier's, from the registry).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from processor.domain.windows import iso

log = logging.getLogger(__name__)

SEVERITY = {"consecutive-failures": "critical"}  # the others: "warning"
TIMEOUT_S = 10.0


GENERIC = {"consecutive-failures": "a failed-call streak over its threshold",
           "no-404": "never returns 404: its answers can't be trusted",
           "short-calls": "too many answered calls under 6 s",
           "destination-asr": "low ASR to {group}",
           "fas-suspect": "suspected false answer supervision"}
WITH_VALUE = {"consecutive-failures": "{value:.0f} failed calls in a row",
              "short-calls": "{value:.0%} of answered calls under 6 s",
              "destination-asr": "ASR {value:.0%} to {group}",
              "fas-suspect": "suspected false answer supervision (score {value:.2f})"}


def summary(rec: Mapping[str, Any]) -> str:
    """One line saying what fires, from an alert record (contract §3; ``value`` None: a
    firing alert restored from state, whose figure is not known)."""
    kind, value = rec["kind"], rec.get("value")
    text = WITH_VALUE.get(kind) if value is not None else None
    text = text or GENERIC.get(kind, kind)
    return f"{rec['carrier_id']}: " + text.format(value=value, group=rec.get("group"))


def contacts_text(contacts: Iterable[Mapping[str, Any]]) -> str:
    """The carrier's contacts on one line, e.g. "noc: Acme NOC <noc@acme.example> +1555"."""
    out = []
    for c in contacts:
        parts = [f"{c['role']}:" if c.get("role") else "", c.get("name") or "",
                 f"<{c['email']}>" if c.get("email") else "", c.get("phone") or ""]
        out.append(" ".join(p for p in parts if p))
    return "; ".join(out)


def labels_of(rec: Mapping[str, Any]) -> dict[str, str]:
    labels = {"alertname": rec["kind"], "carrier": rec["carrier_id"],
              "severity": SEVERITY.get(rec["kind"], "warning")}
    if rec.get("group") is not None:
        labels["destination"] = rec["group"]
    return labels


@dataclass
class _Entry:
    partition: int
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    ends_at: str | None = None  # resolved: when
    version: int = 0  # moves with each change, so a post does not drop a newer state


def post_json(url: str, body: bytes) -> None:
    """POST ``body`` to ``url``; raises on a connection error or a non-2xx status."""
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
        resp.read()


class AlertDelivery:
    """The alerts this worker's carriers have firing (and resolved, until delivered), and
    the thread that posts them; see the module doc."""

    def __init__(self, url: str, resend_s: float, *,
                 wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
                 post: Callable[[str, bytes], None] = post_json) -> None:
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.resend_s = resend_s
        self._wall_ms = wall_ms
        self._post = post
        self._entries: dict[tuple[tuple[str, str], ...], _Entry] = {}
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._versions = 0
        self.posted = 0  # successful posts
        self.failed = 0

    # -- what the carrier step says ----------------------------------------------------
    def observe(self, partition: int, rec: Mapping[str, Any]) -> None:
        """An alert record was sent to ``carrier.alerts``."""
        self._observe(partition, rec, labels_of(rec))

    def _observe(self, partition: int, rec: Mapping[str, Any], labels: dict[str, str]) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._versions += 1
            entry = self._entries.get(key)
            if rec["state"] == "firing" or entry is None:
                entry = self._entries[key] = _Entry(partition, labels, self._annotations(rec),
                                                    rec["at"])
            entry.partition, entry.version = partition, self._versions
            entry.ends_at = rec["at"] if rec["state"] == "resolved" else None
        self._changed.set()

    def restore(self, partition: int, firing: Iterable[Mapping[str, Any]]) -> None:
        """Alerts a carrier's state says are firing (its partition was assigned)."""
        for rec in firing:
            labels = labels_of(rec)
            with self._lock:
                known = tuple(sorted(labels.items())) in self._entries
            if not known:
                self._observe(partition, rec, labels)

    def drop(self, partitions: Iterable[int]) -> None:
        """These partitions left this worker: their alerts are its next owner's."""
        gone = set(partitions)
        with self._lock:
            for key in [k for k, e in self._entries.items() if e.partition in gone]:
                del self._entries[key]

    @staticmethod
    def _annotations(rec: Mapping[str, Any]) -> dict[str, str]:
        out = {"summary": summary(rec)}
        if rec.get("explanation"):
            out["explanation"] = rec["explanation"]
        out["contacts"] = contacts_text(rec.get("contacts") or ()) or "none in the registry"
        return out

    # -- posting -------------------------------------------------------------------------
    def pending(self) -> list[dict[str, Any]]:
        """What the next post holds (Alertmanager's ``postableAlerts``)."""
        ends = iso(self._wall_ms() + int(4 * self.resend_s * 1000))
        with self._lock:
            return [{"labels": e.labels, "annotations": e.annotations, "startsAt": e.starts_at,
                     "endsAt": e.ends_at or ends} for e in self._entries.values()]

    def deliver(self) -> bool:
        """Post the whole set once; True when Alertmanager took it (or there was nothing)."""
        with self._lock:
            sent = {k: e.version for k, e in self._entries.items()}
        body = self.pending()
        if not body:
            return True
        try:
            self._post(self.url, json.dumps(body).encode())
        except (OSError, urllib.error.URLError) as exc:  # HTTPError is a URLError
            self.failed += 1
            log.warning("alertmanager %s: %s; %d alerts posted again in %.0f s", self.url,
                        exc, len(body), self.resend_s)
            return False
        self.posted += 1
        with self._lock:  # delivered resolutions are done (unless changed since)
            for k, version in sent.items():
                e = self._entries.get(k)
                if e is not None and e.ends_at is not None and e.version == version:
                    del self._entries[k]
        return True

    def run(self) -> None:
        """Post at each change, and every ``resend_s``; after a failure, only at the next
        interval."""
        last, ok = -float("inf"), True
        while not self._stop.is_set():
            since = time.monotonic() - last
            if since >= self.resend_s or (ok and self._changed.is_set()):
                self._changed.clear()
                ok = self.deliver()
                last = time.monotonic()
                continue
            # Failing: changes wait for the interval too (no storm while it is down).
            (self._changed if ok else self._stop).wait(self.resend_s - since)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="alertmanager", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after one last post."""
        self._stop.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT_S + 1)
        self.deliver()
