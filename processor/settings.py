"""One frozen settings object, read once from ``CARRIERWATCH_*`` variables and flags.

Nothing below the CLI reads the environment: every component receives a
``Settings`` so that tests and replays can build isolated instances side by side.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processor.errors import SettingsError

ENV_PREFIX = "CARRIERWATCH_"

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class Settings:
    """Every knob of the processor; defaults run against a local broker on 127.0.0.1."""

    broker: str = "kafka://127.0.0.1:9092"
    app_id: str = "carrierwatch"
    data_dir: Path = Path(".local/data")
    topic_prefix: str = ""
    web_port: int = 6066
    web_bind: str = "127.0.0.1"
    advertised_url: str = ""  # how other workers reach this one (default http://bind:port)
    # Static group membership (KIP-345): a worker restarted under the same id gets its
    # partitions back at once, without a rebalance. Unique per worker (e.g. the pod name).
    group_instance_id: str = ""
    partitions: int = 4
    replication: int = 1
    input_topic: str = "sip.responses"
    log_level: str = "info"
    # Connecting to a secured broker (every client: Faust's and confluent-kafka's).
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl_mechanism: str = "SCRAM-SHA-512"  # SCRAM-SHA-512 | SCRAM-SHA-256 | PLAIN
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_ca_file: str = ""  # PEM bundle to verify the broker (default: the system's)
    # The HTTP API (/carriers...) answers only with "Authorization: Bearer <token>" if set.
    api_token: str = field(default="", repr=False)
    # Processing.
    failure_set: str = "all"  # default failure set: all | route (contract §2)
    consecutive_failure_threshold: int = 1000
    min_sample: int = 100
    retention_hour_days: int = 7
    retention_day_days: int = 92
    retention_months: int = 24
    dedup_window_s: int = 600
    # Off only to measure what counting once costs (make bench): re-deliveries and producer
    # duplicates are then counted again.
    counted_once: bool = True
    clock: str = "wall"  # wall: retention/live/future check on the wall clock; stream: replay
    # Input is read in batches of up to ``batch_max`` messages; state, changelog and output
    # records are flushed once per key per ``commit_interval_s`` (or sooner, once the record
    # cache holds ``cache_max_keys`` changed keys), then the input offsets are committed.
    batch_max: int = 20_000
    commit_interval_s: float = 1.0
    # Output records of what changed are sent this often while the input keeps up, ahead
    # of the flush that makes the state durable (they are latest-state records: a replay
    # after a crash sends the same values again). A longer one than ``commit_interval_s``
    # is that one; behind a backlog, records go out at the flush only.
    publish_interval_s: float = 0.25
    cache_max_keys: int = 100_000
    tick_interval_s: float = 30.0
    latest_calls: int = 100  # final responses kept per carrier for latest-calls
    metrics_max_carriers: int = 10_000  # the rest are summed under carrier="_other"
    short_call_alert_share: float = 0.30  # short answered calls / answered, live window
    short_call_resolve_share: float = 0.20
    short_call_min_answered: int = 20
    # The HEP collector (``carrierwatch ingest hep``): UDP and TCP on one port; its own
    # /metrics; traffic to an address no carrier's ``signalling`` lists is dropped (counted
    # per address) or, with "report", counted as a carrier named after the address.
    hep_listen: str = "0.0.0.0:9060"
    hep_metrics_port: int = 9061
    hep_unknown: str = "drop"
    # The local development broker (``carrierwatch broker ...``).
    broker_port: int = 9092
    broker_controller_port: int = 9093
    # 0 = off; else a SASL_SSL (SCRAM) listener too, with a self-signed certificate and the
    # user CARRIERWATCH_SASL_USERNAME/_PASSWORD (to try the security settings locally).
    broker_secure_port: int = 0
    broker_dir: Path = Path(".local/broker")
    broker_heap: str = "512m"
    broker_start_timeout_s: float = 90.0
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.topic_prefix and not _PREFIX_RE.match(self.topic_prefix):
            raise SettingsError(
                f"CARRIERWATCH_TOPIC_PREFIX={self.topic_prefix!r}: use letters, digits, '.', '_' "
                "or '-' (no leading dot)"
            )
        if self.partitions < 1:
            raise SettingsError(f"CARRIERWATCH_PARTITIONS must be >= 1, got {self.partitions}")
        for name in ("web_port", "broker_port", "broker_controller_port", "hep_metrics_port"):
            port = getattr(self, name)
            if not 0 < port < 65536:
                raise SettingsError(f"{name} must be a TCP port (1-65535), got {port}")
        for name in ("commit_interval_s", "publish_interval_s"):
            if not 0 < getattr(self, name) <= 60:
                raise SettingsError(f"CARRIERWATCH_{name.upper()} must be > 0 and <= 60, got "
                                    f"{getattr(self, name)}")
        for name in ("batch_max", "cache_max_keys", "latest_calls"):
            if getattr(self, name) < 1:
                raise SettingsError(f"CARRIERWATCH_{name.upper()} must be >= 1, got "
                                    f"{getattr(self, name)}")
        if self.hep_unknown not in ("drop", "report"):
            raise SettingsError(f"CARRIERWATCH_HEP_UNKNOWN={self.hep_unknown!r}: use 'drop' or "
                                "'report'")
        if self.clock not in ("wall", "stream"):
            raise SettingsError(f"CARRIERWATCH_CLOCK={self.clock!r}: use 'wall' or 'stream'")
        if self.failure_set not in ("all", "route"):
            raise SettingsError(
                f"CARRIERWATCH_FAILURE_SET={self.failure_set!r}: use 'all' or 'route'"
            )
        self._check_security()
        if "://" not in self.broker:
            raise SettingsError(
                f"CARRIERWATCH_BROKER={self.broker!r}: expected a URL such as kafka://127.0.0.1:9092"
            )

    def _check_security(self) -> None:
        """Security settings that cannot work together are refused before anything starts."""
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise SettingsError(f"CARRIERWATCH_SECURITY_PROTOCOL={self.security_protocol!r}: "
                                f"use one of {', '.join(SECURITY_PROTOCOLS)}")
        if self.security_protocol.startswith("SASL_"):
            if self.sasl_mechanism not in SASL_MECHANISMS:
                raise SettingsError(f"CARRIERWATCH_SASL_MECHANISM={self.sasl_mechanism!r}: "
                                    f"use one of {', '.join(SASL_MECHANISMS)}")
            if not (self.sasl_username and self.sasl_password):
                raise SettingsError(f"CARRIERWATCH_SECURITY_PROTOCOL={self.security_protocol} "
                                    "needs CARRIERWATCH_SASL_USERNAME and _SASL_PASSWORD")
        if self.ssl_ca_file and not Path(self.ssl_ca_file).is_file():
            raise SettingsError(f"CARRIERWATCH_SSL_CA_FILE={self.ssl_ca_file!r} is not a file")
        if not 0 <= self.broker_secure_port < 65536:
            raise SettingsError(f"broker_secure_port must be 0 (off) or a TCP port, got "
                                f"{self.broker_secure_port}")
        if self.broker_secure_port and not (self.sasl_username and self.sasl_password):
            raise SettingsError("CARRIERWATCH_BROKER_SECURE_PORT needs CARRIERWATCH_SASL_USERNAME "
                                "and _SASL_PASSWORD (the local broker's SCRAM user)")

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
    def route_topic(self) -> str:
        """Internal topic that moves an event to the partition owning its carrier."""
        return self.topic(f"{self.app_id}-route")

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def load(
        cls, env: Mapping[str, str], overrides: Mapping[str, Any] | None = None
    ) -> Settings:
        """Read ``CARRIERWATCH_<FIELD>`` variables, then apply non-None flag overrides."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.name, f.type, raw)
        for key, value in (overrides or {}).items():
            if value is not None:
                values[key] = _coerce(key, _field_type(cls, key), value)
        return cls(**values)

    def as_env(self) -> dict[str, str]:
        """The settings as environment variables, to start a child process identically."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            if f.name != "extra":
                out[ENV_PREFIX + f.name.upper()] = str(getattr(self, f.name))
        return out


def _field_type(cls: type[Settings], name: str) -> str:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return str(f.type)
    raise SettingsError(f"unknown setting {name!r}")


def _coerce(name: str, type_name: object, raw: Any) -> Any:
    kind = str(type_name)
    if not isinstance(raw, str):
        return Path(raw) if kind == "Path" else raw
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}={raw!r}: expected a number") from exc
    if kind == "Path":
        return Path(raw)
    if kind == "bool":
        return _flag(name, raw)
    return raw


def _flag(name: str, raw: str) -> bool:
    word = raw.strip().lower()
    if word not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}={raw!r}: expected true or false")
    return word in ("1", "true", "yes", "on")
