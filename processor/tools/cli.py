"""The ``carrierwatch`` command line: one entry point for operators and developers."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from processor.settings import Settings, SettingsError

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2


def _settings_flags() -> argparse.ArgumentParser:
    """Flags accepted before or after the sub-command; absent flags leave the variables be."""
    parser = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    g = parser.add_argument_group("settings (override CARRIERWATCH_* variables)")
    g.add_argument("--broker", help="Kafka URL, e.g. kafka://127.0.0.1:9092")
    g.add_argument("--app-id", dest="app_id", help="consumer group / app id")
    g.add_argument("--data-dir", dest="data_dir", type=Path, help="RocksDB state directory")
    g.add_argument("--topic-prefix", dest="topic_prefix", help="prefix for every topic name")
    g.add_argument("--web-port", dest="web_port", type=int, help="HTTP port of the worker")
    g.add_argument("--partitions", type=int, help="partitions of the processor's topics")
    g.add_argument("--log-level", dest="log_level", help="debug|info|warning|error")
    return parser


def build_parser() -> argparse.ArgumentParser:
    common = _settings_flags()
    parser = argparse.ArgumentParser(
        prog="carrierwatch", parents=[common],
        description="Watch VoIP carriers in real time from SIP response events.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    broker = sub.add_parser("broker", parents=[common],
                            help="the local single-node Kafka for development/tests")
    broker.add_argument("action", choices=["start", "stop", "status"])
    broker.add_argument("--port", dest="broker_port", type=int, help="listener port (9092)")
    broker.add_argument("--controller-port", dest="broker_controller_port", type=int,
                        help="KRaft controller port (9093)")
    broker.add_argument("--dir", dest="broker_dir", type=Path,
                        help="jars, config, data and log of the broker (.local/broker)")
    broker.add_argument("--heap", dest="broker_heap", help="JVM heap, e.g. 512m")

    topics = sub.add_parser("topics", parents=[common], help="create or verify the declared topics")
    topics.add_argument("action", choices=["create", "check"])

    sub.add_parser("worker", parents=[common], help="run the stream processor in the foreground")

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
                       ("latest-calls", "a carrier's latest final responses, newest first")):
        q = sub.add_parser(name, parents=[common], help=text)
        q.add_argument("carrier")
        q.add_argument("--format", choices=["table", "csv", "json"], default="table")
        q.add_argument("--api", default=None,
                       help="worker URL (default http://CARRIERWATCH_WEB_BIND:WEB_PORT)")
        if name == "summary":
            q.add_argument("--window", choices=["hour", "day", "month", "live"], default="day")
            q.add_argument("--from", dest="since", help="RFC 3339 or epoch ms (inclusive)")
            q.add_argument("--to", dest="until", help="RFC 3339 or epoch ms (exclusive)")
        if name == "latest-calls":
            q.add_argument("--limit", type=int, default=None)

    _add_replay_parser(sub, common)

    tail = sub.add_parser("tail", parents=[common],
                          help="print a topic's records as they arrive (key TAB value)")
    tail.add_argument("topic", help="contract topic name, e.g. carrier.consecutive-failures")
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    tail.add_argument("--max", type=int, default=None, help="stop after this many records")
    tail.add_argument("--idle-exit", type=float, default=None,
                      help="stop after this many seconds without a record")
    return parser


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



def _settings(args: argparse.Namespace) -> Settings:
    names = ("broker", "app_id", "data_dir", "topic_prefix", "web_port", "partitions",
             "log_level", "broker_port", "broker_controller_port", "broker_dir", "broker_heap")
    overrides = {n: getattr(args, n, None) for n in names}
    return Settings.load(os.environ, overrides)


def _cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    from processor.tools import localbroker

    try:
        if args.action == "start":
            st = localbroker.start(settings)
            print(st.detail, file=sys.stderr)
            print(st.bootstrap)
            return EXIT_OK
        if args.action == "stop":
            print(localbroker.stop(settings).detail)
            return EXIT_OK
        st = localbroker.status(settings)
        print(st.detail)
        return EXIT_OK if st.running else EXIT_FAIL
    except localbroker.BrokerError as exc:
        print(f"carrierwatch broker {args.action}: {exc}", file=sys.stderr)
        return EXIT_FAIL


def _cmd_topics(args: argparse.Namespace, settings: Settings) -> int:
    from processor.tools import topics

    try:
        if args.action == "create":
            created = topics.create(settings)
            for name in created:
                print(f"created {name}")
            # A topic just created may reach the broker's metadata a moment later.
            problems = topics.check_settled(settings) if created else topics.check(settings)
            if not created and not problems:
                print("all topics exist as declared")
        else:
            problems = topics.check(settings)
            if not problems:
                print("all topics match their declarations")
    except topics.TopicsError as exc:
        print(f"carrierwatch topics {args.action}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    return EXIT_FAIL if problems else EXIT_OK


def _cmd_worker(_args: argparse.Namespace, settings: Settings) -> int:
    from processor.tools import topics

    try:
        problems = topics.check_settled(settings)
    except topics.TopicsError as exc:
        print(f"carrierwatch worker: {exc}", file=sys.stderr)
        return EXIT_FAIL
    if problems:
        for line in problems:
            print(f"error: {line}", file=sys.stderr)
        print("carrierwatch worker: topics differ from topics/topics.toml; not starting",
              file=sys.stderr)
        return EXIT_FAIL
    from processor.runtime.app import create_app
    from processor.runtime.process import run

    run(create_app(settings), settings)
    return EXIT_OK


def _cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    import time
    from datetime import datetime

    from processor.tools.generate import Traffic, generate
    from processor.tools.produce import produce

    rate = None if args.rate == "max" else float(args.rate)
    if rate is not None and rate <= 0:
        print("carrierwatch generate: --rate must be > 0 or 'max'", file=sys.stderr)
        return EXIT_USAGE
    if args.start == "now":
        start_ms = int(time.time() * 1000)
    else:
        start_ms = int(datetime.fromisoformat(args.start.replace("Z", "+00:00")).timestamp()
                       * 1000)
    span_s = args.span if args.span is not None else (args.events / rate if rate else 3600.0)
    traffic = Traffic(seed=args.seed, carriers=args.carriers, events=args.events,
                      start_ms=start_ms, end_ms=start_ms + int(span_s * 1000),
                      invalid_share=args.invalid_share, duplicate_share=args.duplicate_share,
                      late_share=args.late_share)
    topic = settings.topic(settings.input_topic)
    sent = produce(settings, topic, generate(traffic), rate=rate)
    print(f"generate: {sent} events sent to {topic}", file=sys.stderr)
    return EXIT_OK


def _cmd_tail(args: argparse.Namespace, settings: Settings) -> int:
    from processor.tools.tail import tail

    tail(settings, args.topic, from_beginning=args.from_beginning, limit=args.max,
         idle_exit_s=args.idle_exit)
    return EXIT_OK


def _cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    from urllib.parse import quote

    from processor.tools import client

    base = args.api or settings.web_url
    path = f"/carriers/{quote(args.carrier, safe='')}"
    params: dict[str, str | None] = {}
    if args.command == "summary":
        path += "/summary"
        params = {"window": args.window, "from": args.since, "to": args.until}
    elif args.command == "latest-calls":
        path += "/latest-calls"
        params = {"limit": str(args.limit) if args.limit else None}
    try:
        doc = client.get(base, path, params, token=settings.api_token)
    except client.ApiError as exc:
        print(f"carrierwatch {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    client.show(args.command, doc, args.format)
    return EXIT_OK


def _replay_source(args: argparse.Namespace, settings: Settings,
                   ) -> tuple[Callable[[], Any], int | None]:
    from processor.io import codec
    from processor.tools import replay

    if args.from_topic:
        if not args.since or not args.until:
            raise replay.ReplayError("--from-topic needs --since and --until")
        try:
            since, until = (codec.parse_ts(int(t) if t.isdigit() else t)
                            for t in (args.since, args.until))
        except codec.Invalid as bad:
            raise replay.ReplayError(f"--since/--until: {bad.rejected.detail}") from None
        topic = settings.topic(args.from_topic)
        return (lambda: replay.topic_range(settings, topic, since, until)), None
    path: Path = args.file
    if not path.is_file():
        raise replay.ReplayError(f"{path}: no such file")
    if ".csv" in path.suffixes:
        mapping = replay.parse_mapping(args.map, args.map_file)
        return (lambda: replay.csv_lines(path, mapping)), None
    total = sum(1 for _ in replay.jsonl_lines(path))
    return (lambda: replay.jsonl_lines(path)), total


def _cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from processor.tools import replay, report, topics

    try:
        if args.cleanup:
            replay.cleanup(settings, args.cleanup)
            return EXIT_OK
        if not args.name or (args.file is None) == (args.from_topic is None):
            print("carrierwatch replay: give --name and either FILE or --from-topic "
                  "(or --cleanup NAME)", file=sys.stderr)
            return EXIT_USAGE
        speed = None if args.speed == "max" else float(args.speed)
        source, total = _replay_source(args, settings)
        rep = replay.run(settings, args.name, source,
                         carriers=set(args.carriers) if args.carriers else None, speed=speed,
                         min_streak=args.min_streak, total=total)
    except (replay.ReplayError, ValueError, topics.TopicsError) as exc:
        print(f"carrierwatch replay: {exc}", file=sys.stderr)
        return EXIT_FAIL
    print(report.render(rep))
    if args.out:
        for path in report.write(rep, args.out):
            print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK


def _cmd_registry(args: argparse.Namespace, settings: Settings) -> int:
    from processor.tools import registry_io

    try:
        profiles = registry_io.load_file(args.file)
    except registry_io.RegistryFileError as exc:
        print(f"carrierwatch registry import: {args.file} refused, nothing was published "
              f"({len(exc.errors)} errors):", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return EXIT_FAIL
    if args.dry_run:
        print(f"{args.file}: {len(profiles)} carrier profiles, all valid")
        return EXIT_OK
    written, removed = registry_io.publish(settings, profiles)
    print(f"published {written} carrier profiles to {settings.topic('carrier.registry')}")
    for cid in removed:
        print(f"removed {cid} (tombstone)")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
    except SettingsError as exc:
        print(f"carrierwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    handlers: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
        "broker": _cmd_broker, "topics": _cmd_topics, "worker": _cmd_worker,
        "generate": _cmd_generate, "registry": _cmd_registry, "tail": _cmd_tail,
        "status": _cmd_query, "summary": _cmd_query, "latest-calls": _cmd_query,
        "replay": _cmd_replay,
    }
    return handlers[args.command](args, settings)


if __name__ == "__main__":
    sys.exit(main())
