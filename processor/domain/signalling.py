"""A carrier's signalling addresses (registry field ``signalling``): which carrier a SIP
message's far end is. An entry is an IP (``192.0.2.10``), an IP and port
(``192.0.2.10:5060``, ``[2001:db8::1]:5060``) or a network (``192.0.2.0/28``); the most
specific match wins: address and port, then address, then the longest network."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_entry(text: str) -> tuple[str, int | None] | Network:
    """(address, port or None) or a network; ``ValueError`` says what is wrong."""
    raw = text.strip()
    if "/" in raw:
        return ipaddress.ip_network(raw, strict=False)
    port: int | None = None
    if raw.startswith("["):  # [v6]:port
        host, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r}: expected [IPv6]:port")
        raw, port = host, int(rest[1:]) if rest else None
    elif raw.count(":") == 1:  # v4:port
        raw, port_text = raw.split(":")
        port = int(port_text)
    if port is not None and not 0 < port < 65_536:
        raise ValueError(f"{text!r}: port out of range")
    return str(ipaddress.ip_address(raw)), port


@dataclass
class AddressBook:
    """Carrier by far-end address, built from every profile's ``signalling`` list."""

    exact: dict[tuple[str, int], str] = field(default_factory=dict)
    hosts: dict[str, str] = field(default_factory=dict)
    networks: list[tuple[Network, str]] = field(default_factory=list)  # longest first

    @classmethod
    def of(cls, carriers: Mapping[str, Iterable[str]]) -> AddressBook:
        book = cls()
        for cid in sorted(carriers):
            for text in carriers[cid]:
                entry = parse_entry(text)
                if isinstance(entry, tuple):
                    host, port = entry
                    if port is None:
                        book.hosts.setdefault(host, cid)
                    else:
                        book.exact.setdefault((host, port), cid)
                else:
                    book.networks.append((entry, cid))
        book.networks.sort(key=lambda n: -n[0].prefixlen)
        return book

    def carrier(self, host: str, port: int) -> str | None:
        found = self.exact.get((host, port)) or self.hosts.get(host)
        if found is not None or not self.networks:
            return found
        address = ipaddress.ip_address(host)
        for network, cid in self.networks:
            if address.version == network.version and address in network:
                return cid
        return None
