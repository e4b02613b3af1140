"""Settings: environment first, flags over it, bad values refused with the variable named,
and the flags and the docs' table made from the one declaration."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.cli.args import build_parser
from processor.cli.main import _settings
from processor.dev import settings_doc
from processor.settings import Settings, SettingsError, declared


def from_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def test_defaults_point_at_a_local_broker() -> None:
    s = Settings()
    assert s.broker == "kafka://127.0.0.1:9092"
    assert s.bootstrap_servers == "127.0.0.1:9092"
    assert s.topic("sip.responses") == "sip.responses"


def test_only_from_env_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARRIERWATCH_PARTITIONS", "9")
    assert Settings().partitions == 4
    assert Settings.from_env().partitions == 9


def test_environment_is_read_and_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    s = from_env(monkeypatch, {
        "CARRIERWATCH_BROKER": "kafka://10.0.0.1:9000",
        "CARRIERWATCH_APP_ID": "cw-a",
        "CARRIERWATCH_DATA_DIR": "/var/lib/cw",
        "CARRIERWATCH_TOPIC_PREFIX": "replay-1",
        "CARRIERWATCH_WEB_PORT": "7000",
        "CARRIERWATCH_PARTITIONS": "12",
        "CARRIERWATCH_COUNTED_ONCE": "false",
        "CARRIERWATCH_LOG_LEVEL": "WARNING",
        "CARRIERWATCH_REPLICATION": "",  # empty: as if unset
    })
    assert (s.app_id, s.data_dir, s.web_port, s.partitions) == ("cw-a", Path("/var/lib/cw"),
                                                                7000, 12)
    assert (s.counted_once, s.log_level, s.replication) == (False, "warning", 0)
    assert s.bootstrap_servers == "10.0.0.1:9000"
    assert s.topic("carrier.alerts") == "replay-1.carrier.alerts"


def test_flags_override_environment_before_or_after_the_command(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARRIERWATCH_PARTITIONS", "2")
    env_before = build_parser().parse_args(["--partitions", "3", "topics", "check"])
    env_after = build_parser().parse_args(["topics", "check", "--partitions", "5"])
    assert _settings(env_before).partitions == 3
    assert _settings(env_after).partitions == 5
    assert _settings(build_parser().parse_args(["topics", "check"])).partitions == 2
    broker = build_parser().parse_args(["broker", "start", "--port", "9500", "--dir", "/b"])
    assert (_settings(broker).broker_port, _settings(broker).broker_dir) == (9500, Path("/b"))


def test_every_flag_comes_from_a_declaration() -> None:
    """A setting with a flag is parsed by it, typed, with its choices, on its command."""
    flagged = [d for d in declared() if d.flag]
    assert {d.name for d in flagged} >= {"broker", "partitions", "hep_listen", "broker_port"}
    for d in flagged:
        argv = [*(["broker", "status"] if d.command == "broker" else
                  ["ingest", "hep"] if d.command == "ingest" else ["worker"])]
        value = d.choices[-1] if d.choices else str(d.default)
        args = build_parser().parse_args([*argv, d.flag, value])
        assert getattr(args, d.name) == d.kind(value), d.name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["worker", "--log-level", "loud"])


@pytest.mark.parametrize(("env", "needle"), [
    ({"CARRIERWATCH_PARTITIONS": "many"}, "CARRIERWATCH_PARTITIONS='many'"),
    ({"CARRIERWATCH_PARTITIONS": "0"}, "CARRIERWATCH_PARTITIONS='0': Input should be greater"),
    ({"CARRIERWATCH_TOPIC_PREFIX": ".bad"}, "CARRIERWATCH_TOPIC_PREFIX"),
    ({"CARRIERWATCH_BROKER": "127.0.0.1"}, "CARRIERWATCH_BROKER"),
    ({"CARRIERWATCH_WEB_PORT": "70000"}, "CARRIERWATCH_WEB_PORT"),
    ({"CARRIERWATCH_CLOCK": "sundial"}, "CARRIERWATCH_CLOCK='sundial': Input should be 'wall'"),
    ({"CARRIERWATCH_COUNTED_ONCE": "maybe"}, "CARRIERWATCH_COUNTED_ONCE='maybe'"),
    ({"CARRIERWATCH_COMMIT_INTERVAL_S": "61"}, "CARRIERWATCH_COMMIT_INTERVAL_S"),
])
def test_bad_values_are_refused_with_the_setting_named(
        monkeypatch: pytest.MonkeyPatch, env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        from_env(monkeypatch, env)


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(SettingsError, match="unknown setting CARRIERWATCH_BATCH_SIZE"):
        Settings(batch_size=5)


def test_settings_round_trip_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings(app_id="x", partitions=7, topic_prefix="p", data_dir=Path("/d"),
                 counted_once=False, clock="stream", commit_interval_s=0.5)
    assert from_env(monkeypatch, s.as_env()) == s
    assert s.replace(partitions=8).partitions == 8
    with pytest.raises(SettingsError, match="CARRIERWATCH_PARTITIONS"):
        s.replace(partitions=0)


def test_the_settings_table_in_the_docs_is_the_declarations() -> None:
    """Fails when a setting changes and ``python -m processor.dev.settings_doc`` was not
    run: the table in docs/operations.md is made from processor/settings.py."""
    text = settings_doc.DOC.read_text()
    start, end = settings_doc.current(text)
    assert text[start:end] == settings_doc.render()
    for d in declared():
        assert f"| `{d.env}` |" in text[start:end]


@pytest.mark.parametrize("given", [
    "127.0.0.1:9101,127.0.0.1:9102,127.0.0.1:9103",
    "kafka://127.0.0.1:9101;kafka://127.0.0.1:9102;kafka://127.0.0.1:9103",
    "kafka://127.0.0.1:9101, 127.0.0.1:9102 ;127.0.0.1:9103",
])
def test_a_broker_list_is_read_in_any_of_its_forms(given: str) -> None:
    """Issue 33: the bootstrap line ``broker start --nodes 3`` prints, with or without
    ``kafka://``, through the environment as everywhere."""
    s = Settings(broker=given)
    assert s.bootstrap_servers == "127.0.0.1:9101,127.0.0.1:9102,127.0.0.1:9103"
    assert s.broker == ";".join(f"kafka://127.0.0.1:910{i}" for i in (1, 2, 3))
