"""Alert delivery (issue 31) without a network: what is posted, when a post is retried,
and that nothing is dropped before Alertmanager took it; the routing tree's shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from processor.admin.alertmanager_config import Options, routing
from processor.domain.registry import Contact, Profile
from processor.ops.alertmanager import AlertDelivery

NOW = 1_764_064_800_000


def rec(carrier: str, kind: str, state: str, **more: Any) -> dict[str, Any]:
    return {"carrier_id": carrier, "kind": kind, "state": state, "value": 1200,
            "threshold": 1000, "at": "2025-11-25T10:00:00Z",
            "contacts": [{"name": "NOC", "role": "noc", "email": "noc@x.example",
                          "phone": None}], "updated_at": "2025-11-25T10:00:00Z", **more}


class Flaky:
    def __init__(self) -> None:
        self.up = True
        self.bodies: list[list[dict[str, Any]]] = []

    def __call__(self, url: str, body: bytes) -> None:
        assert url == "http://am:9093/api/v2/alerts"
        if not self.up:
            raise OSError("connection refused")
        self.bodies.append(json.loads(body))


def test_firing_resolved_and_nothing_lost_while_down() -> None:
    post = Flaky()
    d = AlertDelivery("http://am:9093/", 60, wall_ms=lambda: NOW, post=post)
    d.observe(0, rec("c1", "consecutive-failures", "firing", explanation="route failure"))
    d.observe(1, rec("c2", "destination-asr", "firing", group="4420", value=0.1))
    assert d.deliver()
    first = {a["labels"]["carrier"]: a for a in post.bodies[-1]}
    assert first["c1"]["labels"] == {"alertname": "consecutive-failures", "carrier": "c1",
                                     "severity": "critical"}
    assert first["c1"]["annotations"] == {"summary": "c1: 1200 failed calls in a row",
                                          "explanation": "route failure",
                                          "contacts": "noc: NOC <noc@x.example>"}
    assert first["c1"]["endsAt"] == "2025-11-25T10:04:00Z"  # 4 resend intervals ahead
    assert first["c2"]["labels"]["destination"] == "4420"
    # Down: the resolution stays until a post holding it succeeds.
    post.up = False
    d.observe(0, rec("c1", "consecutive-failures", "resolved", at="2025-11-25T10:01:00Z"))
    assert not d.deliver()
    assert not d.deliver()
    post.up = True
    assert d.deliver()
    resolved = {a["labels"]["carrier"]: a for a in post.bodies[-1]}
    assert resolved["c1"]["endsAt"] == "2025-11-25T10:01:00Z"
    assert d.deliver()
    assert [a["labels"]["carrier"] for a in post.bodies[-1]] == ["c2"]  # delivered: gone
    # A partition that leaves takes its alerts along (its next owner restores them).
    d.drop([1])
    assert d.pending() == []


def test_a_restored_alert_does_not_replace_a_newer_state() -> None:
    d = AlertDelivery("http://am:9093", 60, wall_ms=lambda: NOW, post=Flaky())
    d.observe(0, rec("c1", "fas-suspect", "firing", value=0.8, explanation="why"))
    d.restore(0, [rec("c1", "fas-suspect", "firing", value=None)])
    (only,) = d.pending()
    assert only["annotations"]["summary"] == \
        "c1: suspected false answer supervision (score 0.80)"
    d.restore(0, [rec("c9", "no-404", "firing", value=None, contacts=[])])
    shown = {a["labels"]["carrier"]: a["annotations"] for a in d.pending()}
    assert shown["c9"] == {"summary": "c9: never returns 404: its answers can't be trusted",
                           "contacts": "none in the registry"}


@pytest.mark.parametrize("hook", [None, "http://127.0.0.1:1/hook"])
def test_one_route_per_carrier_with_contacts(hook: str | None) -> None:
    profiles = {
        "a": Profile("a", contacts=(Contact("N", "noc", "n@a.example"),
                                    Contact("B", "account", "b@a.example"))),
        "b": Profile("b", contacts=(Contact("P", "noc", None, "+1"),)),
        "c": Profile("c"),
    }
    cfg = routing(profiles, Options(webhook_url=hook))
    assert cfg["route"]["group_by"] == ["carrier"]
    assert [(r["receiver"], r["matchers"]) for r in cfg["route"]["routes"]] == [
        ("carrier-a", ['carrier="a"']), ("carrier-b", ['carrier="b"'])]
    receivers = {r["name"]: r for r in cfg["receivers"]}
    assert receivers["carrier-a"]["email_configs"][0]["to"] == "b@a.example, n@a.example"
    assert "email_configs" not in receivers["carrier-b"]
    assert ("webhook_configs" in receivers["default"]) == (hook is not None)
