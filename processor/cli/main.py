"""The ``carrierwatch`` command line: one entry point for operators and developers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from processor.cli.args import build_parser
from processor.errors import EXIT_FAIL, CarrierwatchError, UsageError
from processor.settings import Settings, declared

EXIT_OK = 0


def _settings(args: argparse.Namespace) -> Settings:
    """The environment's settings with the flags given over them."""
    return Settings.from_env({d.name: getattr(args, d.name, None) for d in declared() if d.flag})


def _cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    from processor.dev import localbroker

    node = getattr(args, "node", None)
    if node is not None and args.action == "start":
        raise UsageError("broker start acts on every node (it starts those that are down); "
                         "a node is for status, stop or kill")
    if args.action == "start":
        st = localbroker.start(settings)
        print(st.detail, file=sys.stderr)
        print(f"bootstrap: {st.bootstrap}")
        return EXIT_OK
    if args.action == "stop":
        print(localbroker.stop(settings, node=node).detail)
        return EXIT_OK
    if args.action == "kill":
        if node is None:
            raise UsageError("broker kill needs a node: its node.id, as `broker status` shows")
        print(localbroker.kill(settings, node).detail)
        return EXIT_OK
    st = localbroker.status(settings, node)
    print(st.detail)
    return EXIT_OK if st.running else EXIT_FAIL


def _cmd_topics(args: argparse.Namespace, settings: Settings) -> int:
    from processor.admin import topics

    if args.action == "create":
        made = topics.create(settings)
        created = made.names
        for name in created:
            print(f"created {name}")
        if created:
            print(f"with {made.choice}")
        # A topic just created may reach the broker's metadata a moment later.
        problems = topics.check_settled(settings) if created else topics.check(settings)
        if not created and not problems:
            print("all topics exist as declared")
    else:
        problems = topics.check(settings)
        if not problems:
            print("all topics match their declarations")
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    return EXIT_FAIL if problems else EXIT_OK


def _cmd_worker(_args: argparse.Namespace, settings: Settings) -> int:
    from processor.admin import topics

    problems = topics.check_settled(settings)
    if problems:
        for line in problems:
            print(f"error: {line}", file=sys.stderr)
        print("carrierwatch worker: topics differ from topics/topics.toml; not starting",
              file=sys.stderr)
        return EXIT_FAIL
    from processor.runtime.app import create_app
    from processor.runtime.process import run

    if not settings.replication:  # the changelogs replicate like the input topic
        settings = settings.replace(replication=topics.replication_of_input(settings))
    run(create_app(settings), settings)
    return EXIT_OK


def _cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    import time
    from datetime import datetime

    from processor.admin.produce import produce
    from processor.dev.generate import Traffic, generate

    rate = None if args.rate == "max" else float(args.rate)
    if rate is not None and rate <= 0:
        raise UsageError("--rate must be > 0 or 'max'")
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
    from processor.cli.tail import tail

    tail(settings, args.topic, from_beginning=args.from_beginning, limit=args.max,
         idle_exit_s=args.idle_exit)
    return EXIT_OK


def _cmd_calls(args: argparse.Namespace, settings: Settings) -> int:
    from urllib.parse import quote

    from processor.cli import client

    path = f"/carriers/{quote(args.carrier, safe='')}/calls"
    params = {"from": args.since, "to": args.until, "code": args.code,
              "customer": args.customer, "destination": args.destination,
              "limit": str(args.page_size)}
    n = client.stream_calls(client.pages(args.api or settings.web_url, path, params,
                                         token=settings.api_token), args.format)
    if args.format == "table":
        print(f"{n} calls", file=sys.stderr)
    return EXIT_OK


def _cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    from urllib.parse import quote

    from processor.cli import client

    base = args.api or settings.web_url
    path = f"/carriers/{quote(args.carrier, safe='')}"
    params: dict[str, str | None] = {}
    if args.command in ("summary", "destinations"):
        path += f"/{args.command}"
        params = {"window": args.window, "from": args.since, "to": args.until}
    elif args.command == "latest-calls":
        path += "/latest-calls"
        params = {"limit": str(args.limit) if args.limit else None}
    doc = client.get(base, path, params, token=settings.api_token)
    client.show(args.command, doc, args.format)
    return EXIT_OK


def _replay_source(args: argparse.Namespace, settings: Settings,
                   ) -> tuple[Callable[[], Any], int | None]:
    from processor.investigate import recorded
    from processor.io import codec

    if args.from_topic:
        if not args.since or not args.until:
            raise recorded.ReplayError("--from-topic needs --since and --until")
        try:
            since, until = (codec.parse_ts(int(t) if t.isdigit() else t)
                            for t in (args.since, args.until))
        except codec.Invalid as bad:
            raise recorded.ReplayError(f"--since/--until: {bad.rejected.detail}") from None
        topic = settings.topic(args.from_topic)
        return (lambda: recorded.topic_range(settings, topic, since, until)), None
    path: Path = args.file
    if not path.is_file():
        raise recorded.ReplayError(f"{path}: no such file")
    if ".csv" in path.suffixes:
        mapping = recorded.parse_mapping(args.map, args.map_file)
        return (lambda: recorded.csv_lines(path, mapping)), None
    total = sum(1 for _ in recorded.jsonl_lines(path))
    return (lambda: recorded.jsonl_lines(path)), total


def _cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from processor.investigate import replay, report

    if args.cleanup:
        replay.cleanup(settings, args.cleanup)
        return EXIT_OK
    if not args.name or (args.file is None) == (args.from_topic is None):
        raise UsageError("give --name and either FILE or --from-topic (or --cleanup NAME)")
    try:
        speed = None if args.speed == "max" else float(args.speed)
    except ValueError:
        raise UsageError(f"--speed {args.speed!r}: a number or 'max'") from None
    source, total = _replay_source(args, settings)
    rep = replay.run(settings, args.name, source,
                     carriers=set(args.carriers) if args.carriers else None, speed=speed,
                     min_streak=args.min_streak, total=total)
    print(report.render(rep))
    if args.out:
        for path in report.write(rep, args.out):
            print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK


def _cmd_registry(args: argparse.Namespace, settings: Settings) -> int:
    from processor.admin import registry as registry_io

    profiles = registry_io.load_file(args.file)
    if args.dry_run:
        print(f"{args.file}: {len(profiles)} carrier profiles, all valid")
        return EXIT_OK
    written, removed = registry_io.publish(settings, profiles)
    print(f"published {written} carrier profiles to {settings.topic('carrier.registry')}")
    for cid in removed:
        print(f"removed {cid} (tombstone)")
    return EXIT_OK


def _cmd_alertmanager(args: argparse.Namespace, settings: Settings) -> int:
    import yaml

    from processor.admin import alertmanager_config as amc
    from processor.admin import registry as registry_io
    from processor.domain.registry import parse_profile

    if args.registry_file is not None:
        profiles = registry_io.load_file(args.registry_file)
    else:
        profiles = {}
        for cid, doc in registry_io.current_keys(settings).items():
            profile, errors = parse_profile(cid, doc)
            if profile is None:
                print(f"skipped {cid}: {'; '.join(errors)}", file=sys.stderr)
            else:
                profiles[cid] = profile
    opts = amc.Options(args.smtp_smarthost, args.smtp_from, args.webhook_url,
                       args.group_wait, args.group_interval, args.repeat_interval)
    text = yaml.safe_dump(amc.routing(profiles, opts), sort_keys=False)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        routed = sum(1 for p in profiles.values() if p.contacts)
        print(f"wrote {args.out}: {routed} carrier routes", file=sys.stderr)
    return EXIT_OK


def _cmd_ingest(_args: argparse.Namespace, settings: Settings) -> int:
    from processor.collector import hep as ingest_hep

    return ingest_hep.run(settings)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Every error raised on purpose (``processor/errors.py``) ends here:
    one line naming the command, its details indented below, and the class's exit code."""
    args = build_parser().parse_args(argv)
    command = " ".join(str(a) for a in (args.command, getattr(args, "action", None),
                                        getattr(args, "registry_action", None),
                                        getattr(args, "am_action", None)) if a)
    try:
        return _run(args)
    except CarrierwatchError as exc:
        print(f"carrierwatch {command}: {exc}", file=sys.stderr)
        for line in exc.details:
            print(f"  {line}", file=sys.stderr)
        return exc.exit_code


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    handlers: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
        "broker": _cmd_broker, "topics": _cmd_topics, "worker": _cmd_worker,
        "generate": _cmd_generate, "registry": _cmd_registry, "tail": _cmd_tail,
        "status": _cmd_query, "summary": _cmd_query, "latest-calls": _cmd_query,
        "destinations": _cmd_query, "calls": _cmd_calls,
        "replay": _cmd_replay, "ingest": _cmd_ingest, "alertmanager": _cmd_alertmanager,
    }
    return handlers[args.command](args, settings)


if __name__ == "__main__":
    sys.exit(main())
