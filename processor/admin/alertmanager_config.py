"""``carrierwatch alertmanager config``: an Alertmanager routing tree from the registry, so
alerts reach the people in each carrier's contacts.

Alerts are grouped by carrier. Each carrier with contacts gets a route (matcher
``carrier="<id>"``) to its own receiver, which emails the contacts that have an address;
everything else goes to the default receiver. ``--webhook-url`` adds a webhook to every
receiver (a ticketing or chat bridge, or a test's receiver). The file passes
``amtool check-config``: email needs a smarthost and a sender, given or defaulted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from processor.domain.registry import Profile

DEFAULT_RECEIVER = "default"


@dataclass(frozen=True)
class Options:
    smarthost: str = "localhost:25"
    sender: str = "carrierwatch@localhost"
    webhook_url: str | None = None
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"


def receiver_name(carrier_id: str) -> str:
    return f"carrier-{carrier_id}"


def routing(profiles: Mapping[str, Profile], opts: Options) -> dict[str, Any]:
    """The configuration (as YAML-ready data) for these carrier profiles."""
    hooks = ([{"url": opts.webhook_url, "send_resolved": True}]
             if opts.webhook_url else [])
    default: dict[str, Any] = {"name": DEFAULT_RECEIVER}
    if hooks:
        default["webhook_configs"] = [dict(h) for h in hooks]
    receivers, routes = [default], []
    for cid in sorted(profiles):
        p = profiles[cid]
        if not p.contacts:
            continue
        name = receiver_name(cid)
        receiver: dict[str, Any] = {"name": name}
        emails = sorted({c.email for c in p.contacts if c.email})
        if emails:
            receiver["email_configs"] = [{"to": ", ".join(emails), "send_resolved": True}]
        if hooks:
            receiver["webhook_configs"] = [dict(h) for h in hooks]
        receivers.append(receiver)
        routes.append({"receiver": name, "matchers": [f'carrier="{_quoted(cid)}"']})
    return {
        "global": {"smtp_smarthost": opts.smarthost, "smtp_from": opts.sender,
                   "smtp_require_tls": False},
        "route": {"receiver": DEFAULT_RECEIVER, "group_by": ["carrier"],
                  "group_wait": opts.group_wait, "group_interval": opts.group_interval,
                  "repeat_interval": opts.repeat_interval, "routes": routes},
        "receivers": receivers,
    }


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
