"""One frozen settings object: each setting declared once, below, with its type, default,
one-line doc, component and (for some) command-line flag.

The ``CARRIERWATCH_<NAME>`` variables are read by pydantic-settings' environment source,
only in ``Settings.from_env`` (the CLI's entry, and child processes the tests start):
nothing below the CLI reads the environment, and ``Settings(...)`` takes only what it is
given, so tests and replays build isolated instances side by side. The CLI's flags
(``cli/args.py``) and the settings table of ``docs/operations.md``
(``python -m processor.dev.settings_doc``) are generated from these declarations.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from processor.errors import SettingsError

ENV_PREFIX = "CARRIERWATCH_"

# The components settings belong to, in the order the docs list them.
GROUPS = {
    "kafka": "Kafka connection",
    "topics": "Topics",
    "worker": "Worker",
    "processing": "Processing rules",
    "alerts": "Alert delivery (Alertmanager)",
    "hep": "HEP collector (`carrierwatch ingest hep`)",
    "broker": "Local development broker (`carrierwatch broker`)",
}
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]
LogLevel = Literal["debug", "info", "warning", "error"]
_PREFIX_RE = r"^$|^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


def setting(default: Any, doc: str, *, group: str, flag: str | None = None,
            command: str | None = None, shown: str | None = None, secret: bool = False,
            **rules: Any) -> Any:
    """A setting's declaration. ``flag``: its command-line flag (on every command, or on
    ``command`` only); ``shown``: its default as the docs show it, when not the value
    itself; ``secret``: never in a repr; ``rules``: pydantic's (``ge``, ``le``, ...)."""
    assert group in GROUPS, group
    return Field(default, description=doc, repr=not secret, json_schema_extra={
        "group": group, "flag": flag, "command": command, "shown": shown}, **rules)


class Settings(BaseSettings):
    """Every knob of the processor; defaults run against a local broker on 127.0.0.1."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True,
                                      frozen=True, extra="forbid", validate_default=True)

    # -- Kafka connection ---------------------------------------------------------------
    broker: str = setting(
        "kafka://127.0.0.1:9092", "Kafka bootstrap servers: `host:port` or "
        "`kafka://host:port`, several separated by `,` or `;` (e.g. the list `broker start "
        "--nodes 3` prints)", group="kafka", flag="--broker")
    security_protocol: SecurityProtocol = setting(
        "PLAINTEXT", "how every Kafka client connects", group="kafka")
    sasl_mechanism: SaslMechanism = setting(
        "SCRAM-SHA-512", "the SASL mechanism (with a `SASL_*` protocol)", group="kafka")
    sasl_username: str = setting("", "SASL user", group="kafka", shown="(none)")
    sasl_password: str = setting(
        "", "SASL password (never in logs or reprs)", group="kafka", shown="(none)",
        secret=True)
    ssl_ca_file: str = setting(
        "", "PEM file to verify the broker's certificate (host name checked)",
        group="kafka", shown="(system CAs)")

    # -- Topics -------------------------------------------------------------------------
    topic_prefix: str = setting(
        "", "`<prefix>.` before every topic name (isolated instances, replays)",
        group="topics", flag="--topic-prefix", shown="(none)")
    partitions: int = setting(
        4, "partitions of the topics `topics create` makes: the most workers that can help",
        group="topics", flag="--partitions", ge=1)
    replication: int = setting(
        0, "replication factor of those topics; 0: from the cluster, 3 (with "
        "min.insync.replicas 2) on 3 or more brokers, else 1", group="topics",
        shown="`0` (from the cluster)", ge=0)
    input_topic: str = setting("sip.responses", "input topic (before the prefix)",
                               group="topics")

    # -- Worker -------------------------------------------------------------------------
    app_id: str = setting(
        "carrierwatch", "Faust app id: the consumer group and the changelog topics' prefix",
        group="worker", flag="--app-id")
    data_dir: Path = setting(Path(".local/data"), "RocksDB state; one per worker",
                             group="worker", flag="--data-dir")
    web_port: int = setting(6066, "the worker's HTTP port", group="worker",
                            flag="--web-port", ge=1, le=65535)
    web_bind: str = setting("127.0.0.1", "the worker's HTTP bind address", group="worker")
    advertised_url: str = setting(
        "", "how other workers and the CLI reach this worker", group="worker",
        shown="`http://<bind>:<port>`")
    group_instance_id: str = setting(
        "", "static group membership: a worker restarted under the same id resumes its "
        "partitions without a rebalance (k8s: the pod name)", group="worker",
        shown="(none: dynamic)")
    session_timeout_s: float = setting(
        60.0, "how long the group waits for a silent worker before its partitions move "
        "(a killed worker's, or a worker cut off from the cluster); shorter moves sooner, "
        "but a long GC or I/O stall then costs a rebalance", group="worker", ge=6, le=1800)
    log_level: LogLevel = setting("info", "the worker's log level", group="worker",
                                  flag="--log-level")
    api_token: str = setting(
        "", "if set, `/carriers...` needs `Authorization: Bearer <token>` (the CLI sends it)",
        group="worker", shown="(none)", secret=True)
    batch_max: int = setting(
        20_000, "input messages taken at a time, at most (a larger batch folds each carrier "
        "once for more events; the fold pauses between carriers so `/metrics` still "
        "answers)", group="worker", ge=1)
    commit_interval_s: float = setting(
        1.0, "how often state and changelog records are flushed (once per changed key) and "
        "input offsets committed", group="worker", gt=0, le=60)
    publish_interval_s: float = setting(
        0.25, "how often output records of what changed are sent between flushes while the "
        "input keeps up (behind a backlog, at the flush only), ahead of the state that makes "
        "them durable (latest-state records: after a crash the same values are sent again); "
        "never longer than the commit interval", group="worker", gt=0, le=60)
    cache_max_keys: int = setting(
        100_000, "flush early once this many keys are changed (bounds the record cache's "
        "memory)", group="worker", ge=1)
    tick_interval_s: float = setting(30.0, "how often the worker checks for an hour change",
                                     group="worker", gt=0)
    latest_calls: int = setting(100, "final responses kept per carrier", group="worker",
                                ge=1)
    call_log_hours: int = setting(
        24, "hours of final responses the call log keeps per carrier "
        "(`/carriers/{id}/calls`); 0: no call log", group="worker", ge=0, le=24 * 92)
    call_log_max: int = setting(
        100_000, "final responses the call log keeps per carrier at most (the oldest go "
        "first)", group="worker", ge=1)
    metrics_max_carriers: int = setting(
        10_000, "carriers exported by name on `/metrics`; the rest are `_other`",
        group="worker", ge=0)

    # -- Processing rules ---------------------------------------------------------------
    failure_set: Literal["all", "route"] = setting(
        "all", "default failure set (contract §2)", group="processing")
    consecutive_failure_threshold: int = setting(
        1000, "`threshold` / `alerting` of the consecutive-failure counter",
        group="processing", ge=1)
    min_sample: int = setting(100, "final responses before a 404 verdict",
                              group="processing", ge=1)
    retention_hour_days: int = setting(7, "days an hourly window is kept",
                                       group="processing", ge=1)
    retention_day_days: int = setting(92, "days a daily window is kept", group="processing",
                                      ge=1)
    retention_months: int = setting(24, "months a monthly window is kept before the current",
                                    group="processing", ge=1)
    dedup_window_s: int = setting(
        600, "a copy of an event arriving within this many seconds of the first is counted "
        "once (by the input record's timestamp, whatever the event's `ts`)",
        group="processing", ge=1)
    counted_once: bool = setting(
        True, "`false` only to measure what counting once costs (`make bench`): "
        "re-deliveries and producer duplicates are then counted again", group="processing")
    clock: Literal["wall", "stream"] = setting(
        "wall", "`stream` for replays: retention, the live window and the future check run "
        "on the newest `ts` seen instead of the wall clock", group="processing")
    short_call_alert_share: float = setting(
        0.30, "short answered calls / answered (live window) at which the short-call alert "
        "fires", group="processing", ge=0, le=1)
    short_call_resolve_share: float = setting(
        0.20, "... and below which it resolves (the gap is the hysteresis)",
        group="processing", ge=0, le=1)
    short_call_min_answered: int = setting(
        20, "answered calls in the live window before the short-call alert may fire",
        group="processing", ge=1)
    destinations_publish_s: float = setting(
        30.0, "how often `carrier.destinations` records of what changed are sent, at most "
        "(with a flush; at once when partitions are handed over)", group="processing",
        ge=0, le=3600)
    alertmanager_url: str = setting(
        "", "Alertmanager to post every alert's firing and resolved state to (v2 API, e.g. "
        "`http://am:9093`); empty: alerts go to `carrier.alerts` only", group="alerts",
        shown="(none)")
    alertmanager_resend_s: float = setting(
        60.0, "how often the alerts still firing (and those resolved but not yet "
        "delivered) are posted again; a firing alert's `endsAt` is 4 times this ahead, so "
        "Alertmanager resolves it if the worker stops", group="alerts", ge=0.5, le=3600)
    call_settle_s: float = setting(
        60.0, "a call whose attempts share a `call_key` ends this long (event time) after "
        "its newest attempt, unless an answer ended it before", group="processing",
        ge=1, le=86_400)
    destinations_top: int = setting(
        20, "destination groups shown per carrier and window, busiest first; the rest are "
        "summed as `other`", group="processing", ge=1, le=1000)

    # -- HEP collector ------------------------------------------------------------------
    hep_listen: str = setting(
        "0.0.0.0:9060", "UDP and TCP address the collector receives HEP on", group="hep",
        flag="--listen", command="ingest")
    hep_metrics_port: int = setting(9061, "the collector's `/metrics` port", group="hep",
                                    ge=1, le=65535)
    hep_call_key_headers: str = setting(
        "X-CID", "SIP headers naming the originating call its attempts share (`call_key`), "
        "comma-separated, first present wins; the HEP correlation id (chunk 0x0011) comes "
        "first, the Call-ID last", group="hep")
    hep_skew_s: float = setting(
        2.0, "how far out of order a capture agent's packets may arrive: its calls' "
        "deadlines wait this long past its newest capture time", group="hep", ge=0, le=600)
    hep_unknown: Literal["drop", "report"] = setting(
        "drop", "traffic to an address no carrier lists: `drop` it (counted per address), or "
        "`report` it as a carrier named after the address", group="hep")

    # -- Local development broker -------------------------------------------------------
    broker_port: int = setting(9092, "listener port", group="broker", flag="--port",
                               command="broker", ge=1, le=65535)
    broker_controller_port: int = setting(
        9093, "KRaft controller port", group="broker", flag="--controller-port",
        command="broker", ge=1, le=65535)
    broker_secure_port: int = setting(
        0, "also a SASL_SSL listener on this port (SCRAM user = the SASL settings, "
        "self-signed certificate in `<broker dir>/tls/ca.pem`); 0: off", group="broker",
        shown="`0` (off)", ge=0, le=65535)
    broker_nodes: int = setting(
        1, "KRaft nodes `broker start` runs, each controller and broker; node n listens on "
        "the ports above plus 10·(n-1); 3 or more: topics get 3 replicas, 2 in sync",
        group="broker", flag="--nodes", command="broker", ge=1, le=9)
    broker_dir: Path = setting(Path(".local/broker"), "jars, config, data and log",
                               group="broker", flag="--dir", command="broker")
    broker_heap: str = setting("512m", "JVM heap", group="broker", flag="--heap",
                               command="broker", pattern=r"^\d+[kmgKMG]?$")
    broker_start_timeout_s: float = setting(
        90.0, "how long `broker start` waits for the broker to answer", group="broker", gt=0)

    def __init__(self, **values: Any) -> None:
        """Only ``values`` (and the defaults): see the module doc. A refused value raises
        ``SettingsError`` naming its variable."""
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _settings_error(exc) from None

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # the environment is read in ``from_env`` only

    @classmethod
    def from_env(cls, overrides: Mapping[str, Any] | None = None) -> Settings:
        """``CARRIERWATCH_*`` variables, then the flags given (None: not given)."""
        try:
            values = EnvSettingsSource(cls)()
        except Exception as exc:  # noqa: BLE001 - a variable pydantic-settings cannot parse
            raise SettingsError(f"reading {ENV_PREFIX}* variables: {exc}") from None
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls(**values)

    @field_validator("broker", mode="before")
    @classmethod
    def _broker_list(cls, value: Any) -> Any:
        """One form for every way of writing the list: ``kafka://h:p`` joined by ``;``
        (what Faust takes; ``bootstrap_servers`` is the plain comma list)."""
        if not isinstance(value, str):
            return value
        parts = [p.strip() for p in re.split(r"[,;]", value) if p.strip()]
        return ";".join(p if "://" in p else f"kafka://{p}" for p in parts)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        """Settings that cannot work together are refused before anything starts."""
        if not all(re.fullmatch(r"[^:/\s]+://[^\s;]*:\d+", part)
                   for part in self.broker.split(";")):
            raise ValueError(f"{ENV_PREFIX}BROKER={self.broker!r}: expected host:port, or a "
                             "list such as 127.0.0.1:9092,127.0.0.1:9094")
        if not re.match(_PREFIX_RE, self.topic_prefix):
            raise ValueError(f"{ENV_PREFIX}TOPIC_PREFIX={self.topic_prefix!r}: use letters, "
                             "digits, '.', '_' or '-' (no leading dot)")
        if self.security_protocol.startswith("SASL_") and not (self.sasl_username
                                                               and self.sasl_password):
            raise ValueError(f"{ENV_PREFIX}SECURITY_PROTOCOL={self.security_protocol} needs "
                             f"{ENV_PREFIX}SASL_USERNAME and _SASL_PASSWORD")
        if self.ssl_ca_file and not Path(self.ssl_ca_file).is_file():
            raise ValueError(f"{ENV_PREFIX}SSL_CA_FILE={self.ssl_ca_file!r} is not a file")
        if self.broker_secure_port and not (self.sasl_username and self.sasl_password):
            raise ValueError(f"{ENV_PREFIX}BROKER_SECURE_PORT needs {ENV_PREFIX}SASL_USERNAME "
                             "and _SASL_PASSWORD (the local broker's SCRAM user)")
        return self

    @property
    def bootstrap_servers(self) -> str:
        """The broker list without the Faust scheme, as confluent-kafka wants it."""
        return ",".join(part.split("://", 1)[-1] for part in self.broker.split(";"))

    def topic(self, name: str) -> str:
        """The real topic name for a contract name, with the optional isolation prefix."""
        return f"{self.topic_prefix}.{name}" if self.topic_prefix else name

    @property
    def web_url(self) -> str:
        """This worker's HTTP address as other workers and the CLI use it."""
        return self.advertised_url or f"http://{self.web_bind}:{self.web_port}"

    @property
    def calls_topic(self) -> str:
        """Internal topic that brings the attempts of one call (``call_key``) together."""
        return self.topic(f"{self.app_id}-calls")

    @property
    def route_topic(self) -> str:
        """Internal topic that moves an event to the partition owning its carrier."""
        return self.topic(f"{self.app_id}-route")

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (validated again)."""
        return type(self)(**{**self.model_dump(), **changes})

    def as_env(self) -> dict[str, str]:
        """The settings as environment variables, to start a child process identically."""
        return {env_name(name): str(value) for name, value in self.model_dump().items()}


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


@dataclass(frozen=True)
class Declared:
    """One setting as the CLI and the docs see its declaration."""

    name: str
    env: str
    group: str
    doc: str
    default: Any
    shown: str  # the default, as the docs show it
    flag: str | None
    command: str | None  # the flag's command (None: every command)
    kind: type  # int, float, bool, str or Path
    choices: tuple[str, ...] | None  # a Literal's values
    bounds: str  # its range, as the docs say it ("" if any value of its type)


def declared() -> list[Declared]:
    """Every setting, in the order declared."""
    out = []
    for name, f in Settings.model_fields.items():
        extra = f.json_schema_extra
        assert isinstance(extra, dict)
        choices = get_args(f.annotation) if get_origin(f.annotation) is Literal else None
        kind = str if choices else f.annotation
        assert isinstance(kind, type)
        default = f.default
        shown = extra.get("shown") or (f"`{str(default).lower()}`" if isinstance(default, bool)
                                       else f"`{default}`")
        out.append(Declared(name, env_name(name), str(extra["group"]), f.description or "",
                            default, str(shown), extra.get("flag"),  # type: ignore[arg-type]
                            extra.get("command"), kind,  # type: ignore[arg-type]
                            tuple(map(str, choices)) if choices else None,
                            _bounds(f.metadata)))
    return out


def _bounds(rules: list[Any]) -> str:
    signs = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    parts = [f"{sign} {getattr(r, name)}" for r in rules for name, sign in signs.items()
             if getattr(r, name, None) is not None]
    return ", ".join(parts)


def _settings_error(exc: ValidationError) -> SettingsError:
    """Pydantic's errors as one line, each naming the variable and the value refused."""
    parts = []
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown setting {env_name(str(err['loc'][0]))}")
        elif err["loc"]:
            name = env_name(str(err["loc"][0]))
            parts.append(f"{name}={err['input']!r}: {msg}")
        else:
            parts.append(msg)
    return SettingsError("; ".join(parts))
