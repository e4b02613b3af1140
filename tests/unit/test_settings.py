"""Settings: environment first, flags over it, bad values refused with the variable named."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.settings import Settings, SettingsError
from processor.tools.cli import _settings
from processor.tools.cli_args import build_parser


def test_defaults_point_at_a_local_broker() -> None:
    s = Settings.load({})
    assert s.broker == "kafka://127.0.0.1:9092"
    assert s.bootstrap_servers == "127.0.0.1:9092"
    assert s.topic("sip.responses") == "sip.responses"


def test_environment_is_read_and_typed() -> None:
    s = Settings.load({
        "CARRIERWATCH_BROKER": "kafka://10.0.0.1:9000",
        "CARRIERWATCH_APP_ID": "cw-a",
        "CARRIERWATCH_DATA_DIR": "/var/lib/cw",
        "CARRIERWATCH_TOPIC_PREFIX": "replay-1",
        "CARRIERWATCH_WEB_PORT": "7000",
        "CARRIERWATCH_PARTITIONS": "12",
    })
    assert (s.app_id, s.data_dir, s.web_port, s.partitions) == ("cw-a", Path("/var/lib/cw"),
                                                                7000, 12)
    assert s.bootstrap_servers == "10.0.0.1:9000"
    assert s.topic("carrier.alerts") == "replay-1.carrier.alerts"


def test_flags_override_environment_before_or_after_the_command() -> None:
    env_before = build_parser().parse_args(["--partitions", "3", "topics", "check"])
    env_after = build_parser().parse_args(["topics", "check", "--partitions", "5"])
    assert _settings(env_before).partitions == 3
    assert _settings(env_after).partitions == 5


@pytest.mark.parametrize(("env", "needle"), [
    ({"CARRIERWATCH_PARTITIONS": "many"}, "CARRIERWATCH_PARTITIONS"),
    ({"CARRIERWATCH_PARTITIONS": "0"}, "CARRIERWATCH_PARTITIONS"),
    ({"CARRIERWATCH_TOPIC_PREFIX": ".bad"}, "CARRIERWATCH_TOPIC_PREFIX"),
    ({"CARRIERWATCH_BROKER": "127.0.0.1:9092"}, "CARRIERWATCH_BROKER"),
    ({"CARRIERWATCH_WEB_PORT": "70000"}, "web_port"),
])
def test_bad_values_are_refused_with_the_setting_named(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        Settings.load(env)


def test_settings_round_trip_through_the_environment() -> None:
    s = Settings(app_id="x", partitions=7, topic_prefix="p", data_dir=Path("/d"),
                 counted_once=False)
    assert Settings.load(s.as_env()) == s
    with pytest.raises(SettingsError, match="COUNTED_ONCE='maybe': expected true or false"):
        Settings.load({"CARRIERWATCH_COUNTED_ONCE": "maybe"})
