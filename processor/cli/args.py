"""The ``carrierwatch`` command line's arguments: every sub-command and its flags, and the
settings flags accepted before or after any of them (``cli.py`` runs them)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from processor.settings import declared


def setting_flags(parser: argparse.ArgumentParser, command: str | None) -> None:
    """The flags of the settings declared with one (``processor/settings.py``) for
    ``command`` (None: those of every command). An absent flag leaves the variable be."""
    g = parser.add_argument_group("settings (override CARRIERWATCH_* variables)")
    for d in declared():
        if d.flag and d.command == command:
            g.add_argument(d.flag, dest=d.name, type=d.kind, choices=d.choices,
                           default=argparse.SUPPRESS,
                           help=f"{d.doc} ({d.env}, default {d.shown.strip('`')})")


def _settings_flags() -> argparse.ArgumentParser:
    """Flags accepted before or after the sub-command."""
    parser = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    setting_flags(parser, None)
    return parser


def build_parser() -> argparse.ArgumentParser:
    common = _settings_flags()
    parser = argparse.ArgumentParser(
        prog="carrierwatch", parents=[common],
        description="Watch VoIP carriers in real time from SIP response events.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    broker = sub.add_parser("broker", parents=[common],
                            help="the local Kafka (one node, or --nodes N) for development/tests")
    broker.add_argument("action", choices=["start", "stop", "status", "kill"])
    broker.add_argument("node", nargs="?", type=int,
                        help="status/stop/kill: just this node (its KRaft node.id)")
    setting_flags(broker, "broker")

    topics = sub.add_parser("topics", parents=[common], help="create or verify the declared topics")
    topics.add_argument("action", choices=["create", "check"])

    sub.add_parser("worker", parents=[common], help="run the stream processor in the foreground")

    ingest = sub.add_parser("ingest", parents=[common],
                            help="turn mirrored SBC traffic into input events")
    ingest.add_argument("source", choices=["hep"], help="hep: HEP v3 over UDP and TCP")
    setting_flags(ingest, "ingest")

    gen = sub.add_parser("generate", parents=[common], help="produce seeded synthetic traffic")
    gen.add_argument("--events", type=int, default=10_000, help="how many messages (10000)")
    gen.add_argument("--carriers", type=int, default=50, help="how many carriers (50)")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--rate", default="max",
                     help="events per second, or 'max' for as fast as possible (max)")
    gen.add_argument("--start", default="now",
                     help="event time of the first event: 'now' or RFC 3339 (now)")
    gen.add_argument("--span", type=float, default=None,
                     help="seconds of event time the traffic covers (default: events/rate, "
                          "or one hour at max rate)")
    gen.add_argument("--invalid-share", type=float, default=0.005)
    gen.add_argument("--duplicate-share", type=float, default=0.005)
    gen.add_argument("--late-share", type=float, default=0.002)

    registry = sub.add_parser("registry", parents=[common], help="the carrier registry")
    reg_sub = registry.add_subparsers(dest="registry_action", required=True, metavar="ACTION")
    imp = reg_sub.add_parser("import", parents=[common],
                             help="validate a YAML/JSON file and make the registry equal to it")
    imp.add_argument("file", type=Path)
    imp.add_argument("--dry-run", action="store_true", help="validate only; publish nothing")

    for name, text in (("status", "a carrier's counter, 404 verdict and live figures"),
                       ("summary", "a carrier's window summaries"),
                       ("destinations", "a carrier's quality per destination group"),
                       ("latest-calls", "a carrier's latest final responses, newest first")):
        q = sub.add_parser(name, parents=[common], help=text)
        q.add_argument("carrier")
        q.add_argument("--format", choices=["table", "csv", "json"], default="table")
        q.add_argument("--api", default=None,
                       help="worker URL (default http://CARRIERWATCH_WEB_BIND:WEB_PORT)")
        if name in ("summary", "destinations"):
            q.add_argument("--window", choices=["hour", "day", "month", "live"],
                           default="day" if name == "summary" else "live")
            q.add_argument("--from", dest="since", help="RFC 3339 or epoch ms (inclusive)")
            q.add_argument("--to", dest="until", help="RFC 3339 or epoch ms (exclusive)")
        if name == "latest-calls":
            q.add_argument("--limit", type=int, default=None)

    _add_calls_parser(sub, common)
    _add_replay_parser(sub, common)
    _add_alertmanager_parser(sub, common)

    tail = sub.add_parser("tail", parents=[common],
                          help="print a topic's records as they arrive (key TAB value)")
    tail.add_argument("topic", help="contract topic name, e.g. carrier.consecutive-failures")
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    tail.add_argument("--max", type=int, default=None, help="stop after this many records")
    tail.add_argument("--idle-exit", type=float, default=None,
                      help="stop after this many seconds without a record")
    return parser


def _add_calls_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    calls = sub.add_parser(
        "calls", parents=[common],
        help="a carrier's call log: every final response in a time range, newest first, "
             "all pages (json: one call per line)")
    calls.add_argument("carrier")
    calls.add_argument("--from", dest="since", help="RFC 3339 or epoch ms (inclusive)")
    calls.add_argument("--to", dest="until", help="RFC 3339 or epoch ms (exclusive)")
    calls.add_argument("--code", help="503, 5xx, or a comma list of them")
    calls.add_argument("--customer", help="one customer_id")
    calls.add_argument("--destination", help="a prefix of the dialled number's digits")
    calls.add_argument("--page-size", type=int, default=1000, help="calls per request")
    calls.add_argument("--format", choices=["table", "csv", "json"], default="table")
    calls.add_argument("--api", default=None,
                       help="worker URL (default http://CARRIERWATCH_WEB_BIND:WEB_PORT)")


def _add_alertmanager_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    am = sub.add_parser("alertmanager", parents=[common], help="alert delivery")
    am_sub = am.add_subparsers(dest="am_action", required=True, metavar="ACTION")
    cfg = am_sub.add_parser(
        "config", parents=[common],
        help="write an Alertmanager configuration routing each carrier's alerts to its "
             "contacts (from the registry topic, or --registry-file)")
    cfg.add_argument("--registry-file", type=Path, default=None,
                     help="a registry import file (YAML/JSON) instead of the topic")
    cfg.add_argument("--out", type=Path, default=None, help="write here (default: stdout)")
    cfg.add_argument("--smtp-smarthost", default="localhost:25")
    cfg.add_argument("--smtp-from", default="carrierwatch@localhost")
    cfg.add_argument("--webhook-url", default=None,
                     help="also post every notification to this webhook")
    cfg.add_argument("--group-wait", default="30s")
    cfg.add_argument("--group-interval", default="5m")
    cfg.add_argument("--repeat-interval", default="4h")


def _add_replay_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    rep = sub.add_parser("replay", parents=[common],
                         help="replay recorded traffic through an isolated processor")
    rep.add_argument("file", nargs="?", type=Path,
                     help="JSON Lines of input events, or a CSV of call records with --map "
                          "(.gz accepted for both)")
    rep.add_argument("--map", help="CSV columns: field=column,... e.g. "
                                   "carrier_id=trunk,call_id=callid,code=sip_code,ts=time")
    rep.add_argument("--map-file", type=Path, help="YAML/JSON mapping of field -> CSV column")
    rep.add_argument("--from-topic", help="replay a time range of this topic instead of a file "
                                          "(contract name, e.g. sip.responses)")
    rep.add_argument("--since", help="start of the range (RFC 3339 or epoch ms), inclusive")
    rep.add_argument("--until", help="end of the range (RFC 3339 or epoch ms), exclusive")
    rep.add_argument("--name", help="the investigation: its topics, group and state")
    rep.add_argument("--carrier", action="append", dest="carriers",
                     help="only this carrier (repeatable)")
    rep.add_argument("--speed", default="max",
                     help="N times the recorded pace, or 'max' (default)")
    rep.add_argument("--min-streak", type=int, default=10,
                     help="report failure streaks at least this long (10)")
    rep.add_argument("--out", type=Path, help="write report.json and CSV files here")
    rep.add_argument("--cleanup", metavar="NAME",
                     help="delete investigation NAME's topics, group and state, and exit")
