"""``carrierwatch ingest hep``: SBC traffic in, as mirrored HEP v3, out as contract events.

A proxy or SBC (Kamailio ``siptrace``, OpenSIPS ``proto_hep``, FreeSWITCH, Asterisk
``res_hep``, heplify) sends a copy of its SIP messages here over UDP or TCP; each INVITE
transaction a carrier answers becomes one event on ``sip.responses``, keyed by carrier
(``domain/attempts.py``). The carrier is the one whose registry ``signalling`` addresses
hold the far end of the leg. Run as many collectors as needed: the events' ids are
deterministic, so a message mirrored to two collectors is still counted once.

Nothing a packet holds can stop it: a refused packet is counted by kind and logged at most
once a minute per kind; the open calls and the unmapped addresses are bounded."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from processor.domain.attempts import AttemptTracker
from processor.domain.signalling import AddressBook
from processor.errors import CarrierwatchError, SettingsError
from processor.io import names
from processor.io.hep import MAX_PACKET, Refused, parse_hep, parse_sip
from processor.ops.metrics import CONTENT_TYPE, HepCounts, hep_text
from processor.settings import Settings

log = logging.getLogger(__name__)
MAX_UNMAPPED = 1_000  # addresses counted by name; the rest under "_other"
LOG_EVERY_S = 60.0
REGISTRY_EVERY_S = 30.0


class Collector:
    """Packets in, events out through ``emit(carrier_id, value)``; no I/O of its own."""

    def __init__(self, book: AddressBook, emit: Callable[[str, bytes], None], *,
                 report_unknown: bool = False, tracker: AttemptTracker | None = None,
                 key_headers: tuple[str, ...] = ("x-cid",),
                 steady_ms: Callable[[], int] = lambda: int(time.monotonic() * 1000)) -> None:
        """``key_headers``: SIP headers (lower case) naming the call; ``steady_ms``: the
        local steady clock that moves a silent sender's capture clock on."""
        self.book, self.emit, self.report_unknown = book, emit, report_unknown
        self.tracker = tracker or AttemptTracker()
        self.key_headers = key_headers
        self.steady_ms = steady_ms
        self.counts: Counter[str] = Counter()  # packets, sip, events
        self.refused: Counter[str] = Counter()  # by kind
        self.unmapped: Counter[str] = Counter()  # by far-end address
        self._logged: dict[str, float] = {}

    def packet(self, data: bytes, peer: str = "") -> None:
        """One HEP packet from ``peer`` (the transport's address: the sender when the
        packet names no capture agent)."""
        self.counts["packets"] += 1
        try:
            hep = parse_hep(data)
            msg = parse_sip(hep.payload, self.key_headers)
        except Refused as refused:
            self._refuse(refused.kind, str(refused))
            return
        self.counts["sip"] += 1
        ts = hep.ts_us // 1000
        sender = f"agent:{hep.capture_id}" if hep.capture_id is not None else peer
        key, at = hep.correlation or msg.call_key, self.steady_ms()
        if msg.method is not None:
            to = self.book.carrier(*hep.dst) if msg.method == "INVITE" else None
            events = self.tracker.on_request(msg.method, msg.call_id, msg.branch,
                                             msg.request_user, ts, to_carrier=to,
                                             sender=sender, call_key=key, at_ms=at)
        elif msg.status is not None:
            carrier = self._carrier(*hep.src)
            if carrier is None:
                return
            events = self.tracker.on_reply(msg.status, msg.cseq_method, msg.call_id,
                                           msg.branch, ts, carrier_id=carrier, sender=sender,
                                           call_key=key, at_ms=at)
        else:
            return
        self._send(events)

    def tick(self) -> None:
        """What the deadlines completed (answered calls past the longest call)."""
        self._send(self.tracker.expire(self.steady_ms()))

    def _send(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.counts["events"] += 1
            self.emit(event["carrier_id"], orjson.dumps(event))

    def _carrier(self, host: str, port: int) -> str | None:
        carrier = self.book.carrier(host, port)
        if carrier is None:
            where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
            key = where if where in self.unmapped or len(self.unmapped) < MAX_UNMAPPED \
                else "_other"
            self.unmapped[key] += 1
            if self.report_unknown:
                return where.replace("[", "").replace("]", "")
        return carrier

    def _refuse(self, kind: str, detail: str) -> None:
        self.refused[kind] += 1
        now = time.monotonic()
        if now - self._logged.get(kind, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._logged[kind] = now
            log.warning("refused a packet (%s; %d so far): %s", kind, self.refused[kind],
                        detail[:200])

    def metrics(self) -> bytes:
        """Its counters as Prometheus text."""
        return hep_text(HepCounts(
            packets=self.counts["packets"], sip=self.counts["sip"],
            events=self.counts["events"], refused=self.refused, unmapped=self.unmapped,
            open_calls=len(self.tracker.calls), shed=self.tracker.shed,
            timed_out=self.tracker.timed_out))


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.collector.packet(data, str(addr[0]))


class _Tcp(asyncio.Protocol):
    """HEP over TCP: packets back to back, each framed by its own total length."""

    def __init__(self, collector: Collector) -> None:
        self.collector, self.buf = collector, b""
        self.transport: asyncio.BaseTransport | None = None
        self.peer = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else ""

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        pos = 0
        while len(buf) - pos >= 6:  # walk the packets by offset: no copy of the rest
            total = int.from_bytes(buf[pos + 4:pos + 6], "big")
            if buf[pos:pos + 4] != b"HEP3" or total < 6:
                self.collector.packet(buf[pos:pos + MAX_PACKET], self.peer)  # refused
                self.buf = b""
                if self.transport is not None:
                    self.transport.close()  # the stream lost its framing
                return
            if len(buf) - pos < total:
                break
            self.collector.packet(buf[pos:pos + total], self.peer)
            pos += total
        self.buf = buf[pos:]


def listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65_536:
        raise SettingsError(f"CARRIERWATCH_HEP_LISTEN={text!r}: expected HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def address_book(settings: Settings) -> AddressBook:
    from processor.admin.registry import current_keys

    docs = current_keys(settings)
    return AddressBook.of({cid: doc.get("signalling", []) for cid, doc in docs.items()
                           if isinstance(doc, dict)})


async def serve(settings: Settings, stop: asyncio.Event) -> Collector:
    """Run the collector until ``stop`` is set; returns it (with its counts)."""
    from confluent_kafka import Producer

    from processor.admin.produce import producer_config

    producer = Producer(producer_config(settings))
    topic = settings.topic(names.INPUT)

    def emit(carrier_id: str, value: bytes) -> None:
        while True:
            try:
                producer.produce(topic, value, carrier_id.encode())
                return
            except BufferError:  # the local queue is full: let librdkafka send some
                producer.poll(0.1)

    collector = Collector(
        address_book(settings), emit, report_unknown=settings.hep_unknown == "report",
        tracker=AttemptTracker(skew_ms=int(settings.hep_skew_s * 1000)),
        key_headers=tuple(h.strip().lower() for h in settings.hep_call_key_headers.split(",")
                          if h.strip()))
    host, port = listen_address(settings.hep_listen)
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(collector),
                                                 local_addr=(host, port))
    tcp = await loop.create_server(lambda: _Tcp(collector), host, port)
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=collector.metrics(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, settings.hep_metrics_port).start()
    log.info("HEP collector listening on %s:%d (UDP and TCP), /metrics on port %d",
             host, port, settings.hep_metrics_port)
    last_registry = time.monotonic()
    try:
        while not stop.is_set():
            await asyncio.sleep(0.5)
            collector.tick()
            producer.poll(0)
            if time.monotonic() - last_registry >= REGISTRY_EVERY_S:
                last_registry = time.monotonic()
                collector.book = await loop.run_in_executor(None, address_book, settings)
    finally:
        udp.close()
        tcp.close()
        await runner.cleanup()
        left = producer.flush(10)
        if left:
            log.warning("%d events were not delivered before stopping", left)
    return collector


def run(settings: Settings) -> int:
    """The command: serve until SIGINT/SIGTERM."""
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    try:
        asyncio.run(main())
    except OSError as exc:  # the port is taken, the address is not ours
        raise CarrierwatchError(f"cannot listen on {settings.hep_listen}: {exc}") from None
    return 0
