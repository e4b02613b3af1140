"""The local single-node Apache Kafka (KRaft) used for development and tests.

The broker's jars come from Maven Central through ``deploy/kafka/pom.xml`` (cached in
the local Maven repository), are copied into ``<broker_dir>/libs`` and run as one
combined broker+controller process bound to 127.0.0.1. Nothing is installed by hand.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from processor.settings import Settings

KAFKA_DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "kafka"


class BrokerError(RuntimeError):
    """The local broker could not be fetched, started or stopped."""


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str
    detail: str


def _paths(settings: Settings) -> dict[str, Path]:
    root = settings.broker_dir.resolve()
    return {
        "root": root,
        "libs": root / "libs",
        "data": root / "kraft-data",
        "config": root / "server.properties",
        "log": root / "broker.log",
        "pid": root / "broker.pid",
        "tls": root / "tls",
    }


SCRAM = ("SCRAM-SHA-512", "SCRAM-SHA-256")


def ca_file(settings: Settings) -> Path:
    """The certificate clients trust for the local broker's SASL_SSL listener."""
    return _paths(settings)["tls"] / "ca.pem"


def _tls_material(settings: Settings) -> tuple[Path, str]:
    """A self-signed key pair for 127.0.0.1 (keytool, made once): (keystore, password)."""
    tls = _paths(settings)["tls"]
    store, secret = tls / "broker.p12", tls / "store-password"
    if store.is_file() and secret.is_file() and ca_file(settings).is_file():
        return store, secret.read_text().strip()
    keytool = shutil.which("keytool")
    if keytool is None:
        raise BrokerError("keytool (from the JDK) is needed for the SASL_SSL listener")
    shutil.rmtree(tls, ignore_errors=True)
    tls.mkdir(parents=True, mode=0o700)
    password = base64.urlsafe_b64encode(os.urandom(18)).decode()
    for args in (
        ["-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
         "-validity", "3650", "-dname", "CN=127.0.0.1", "-ext",
         "SAN=IP:127.0.0.1,DNS:localhost", "-ext", "BC:c=ca:true"],
        ["-exportcert", "-rfc", "-alias", "broker", "-file", str(ca_file(settings))],
    ):
        proc = subprocess.run([keytool, *args, "-keystore", str(store), "-storetype", "PKCS12",
                               "-storepass", password, "-noprompt"],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BrokerError(f"keytool {args[0]} failed:\n{proc.stdout}{proc.stderr}")
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    return store, password


def _secure_config(settings: Settings) -> str:
    """Lines that add the SASL_SSL listener (later keys win in a properties file)."""
    store, password = _tls_material(settings)
    port, cport, sport = (settings.broker_port, settings.broker_controller_port,
                          settings.broker_secure_port)
    jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    lines = [
        "# SASL_SSL listener (CARRIERWATCH_BROKER_SECURE_PORT)",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport},"
        f"SASL_SSL://127.0.0.1:{sport}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sport}",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
        "SASL_SSL:SASL_SSL",
        f"sasl.enabled.mechanisms={','.join(SCRAM)}",
        *(f"listener.name.sasl_ssl.{m.lower()}.sasl.jaas.config={jaas}" for m in SCRAM),
        "ssl.keystore.type=PKCS12",
        f"ssl.keystore.location={store}",
        f"ssl.keystore.password={password}",
        f"ssl.key.password={password}",
    ]
    return "\n".join(lines) + "\n"


def bootstrap_address(settings: Settings) -> str:
    return f"127.0.0.1:{settings.broker_port}"


def _pom() -> Path:
    pom = KAFKA_DEPLOY_DIR / "pom.xml"
    if not pom.is_file():
        raise BrokerError(
            f"{pom} not found: run carrierwatch from a checkout (pip install -e .) of the project"
        )
    return pom


def ensure_jars(settings: Settings, out: TextIO = sys.stderr) -> Path:
    """Resolve the pinned broker with Maven and copy its jars to ``<broker_dir>/libs``.

    A marker holding the pom's hash makes this a no-op until the pom changes.
    """
    pom = _pom()
    libs = _paths(settings)["libs"]
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    marker = libs / ".pom-sha256"
    if marker.is_file() and marker.read_text().strip() == digest:
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) is needed to fetch the Kafka broker; install it first")
    staging = libs.with_name("libs.staging")
    shutil.rmtree(staging, ignore_errors=True)
    print(f"fetching the Kafka broker jars with Maven into {libs} ...", file=out)
    proc = subprocess.run(
        [mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
         f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        output = proc.stdout[-3000:] + proc.stderr[-3000:]
        raise BrokerError(f"mvn failed ({proc.returncode}):\n{output}")
    if not any(staging.glob("kafka_2.13-*.jar")):
        raise BrokerError(f"mvn ran but no kafka_2.13 jar landed in {staging}")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    marker.write_text(digest + "\n")
    return libs


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise BrokerError("java (17 or newer) is needed to run the Kafka broker")
    return java


def _classpath(libs: Path) -> str:
    return f"{libs}{os.sep}*"


def _log_config_flag() -> str:
    return f"-Dlog4j2.configurationFile={KAFKA_DEPLOY_DIR / 'log4j2.properties'}"


def _write_config(settings: Settings) -> Path:
    p = _paths(settings)
    template = (KAFKA_DEPLOY_DIR / "server.properties.template").read_text()
    text = template.format(
        port=settings.broker_port,
        controller_port=settings.broker_controller_port,
        log_dirs=p["data"],
    )
    if settings.broker_secure_port:
        text += _secure_config(settings)
    p["config"].write_text(text)
    p["config"].chmod(0o600)
    return p["config"]


def _cluster_id() -> str:
    """A Kafka-style UUID: 16 random bytes, URL-safe base64 without padding."""
    while True:
        cid = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def _format_storage(settings: Settings, libs: Path, config: Path) -> None:
    data = _paths(settings)["data"]
    if (data / "meta.properties").is_file():
        return
    data.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [_java(), "-Xmx256m", _log_config_flag(), "-cp", _classpath(libs),
         "kafka.tools.StorageTool", "format",
         "-t", _cluster_id(), "-c", str(config), *_scram_users(settings)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise BrokerError(f"formatting KRaft storage failed:\n{proc.stdout}{proc.stderr}")


def _scram_users(settings: Settings) -> list[str]:
    """``--add-scram`` arguments: the SCRAM user exists from the first start (KRaft)."""
    if not settings.broker_secure_port:
        return []
    user = f"name={settings.sasl_username},password={settings.sasl_password}"
    return [arg for m in SCRAM for arg in ("--add-scram", f"{m}=[{user}]")]


def _read_pid(settings: Settings) -> int | None:
    pid_file = _paths(settings)["pid"]
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not a running broker.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state != "Z"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def answers_metadata(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """True when a Kafka broker at ``bootstrap`` answers a metadata request."""
    host, _, port = bootstrap.rpartition(":")
    if not port_open(int(port), host or "127.0.0.1"):
        return False
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0,
                         "socket.timeout.ms": int(timeout_s * 1000)})
    try:
        md = admin.list_topics(timeout=timeout_s)
    except KafkaException:
        return False
    return bool(md.brokers)


def status(settings: Settings) -> BrokerStatus:
    pid = _read_pid(settings)
    bootstrap = bootstrap_address(settings)
    if pid is None:
        if port_open(settings.broker_port):
            return BrokerStatus(False, None, bootstrap,
                                f"not running from {settings.broker_dir}, but port "
                                f"{settings.broker_port} is in use by another process")
        return BrokerStatus(False, None, bootstrap, "not running")
    if answers_metadata(bootstrap):
        return BrokerStatus(True, pid, bootstrap, f"running (pid {pid}) at {bootstrap}")
    return BrokerStatus(False, pid, bootstrap, f"process {pid} is up but not answering yet")


def start(settings: Settings, out: TextIO = sys.stderr) -> BrokerStatus:
    """Start the broker and wait until it answers a metadata request; no-op if it runs."""
    current = status(settings)
    if current.running:
        return current
    if current.pid is None and port_open(settings.broker_port):
        raise BrokerError(current.detail)
    if current.pid is not None:  # started but not answering: give it the usual time below
        return _wait_ready(settings, current.pid, time.monotonic())
    p = _paths(settings)
    p["root"].mkdir(parents=True, exist_ok=True)
    libs = ensure_jars(settings, out)
    config = _write_config(settings)
    _format_storage(settings, libs, config)
    cmd = [
        _java(), f"-Xmx{settings.broker_heap}", f"-Xms{settings.broker_heap}",
        "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
        _log_config_flag(), "-cp", _classpath(libs), "kafka.Kafka", str(config),
    ]
    began = time.monotonic()
    with open(p["log"], "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    p["pid"].write_text(f"{proc.pid}\n")
    return _wait_ready(settings, proc.pid, began, proc)


def _wait_ready(settings: Settings, pid: int, began: float,
                proc: subprocess.Popen[bytes] | None = None) -> BrokerStatus:
    bootstrap = bootstrap_address(settings)
    deadline = began + settings.broker_start_timeout_s
    while time.monotonic() < deadline:
        exited = proc.poll() is not None if proc is not None else not _alive(pid)
        if exited:
            raise BrokerError(
                f"the broker exited during start-up; last log lines:\n{_tail(settings)}"
            )
        if answers_metadata(bootstrap, timeout_s=1.0):
            took = time.monotonic() - began
            return BrokerStatus(True, pid, bootstrap, f"running (pid {pid}) at {bootstrap}, "
                                                      f"ready in {took:.1f} s")
        time.sleep(0.25)
    stop(settings)
    raise BrokerError(f"the broker did not answer within {settings.broker_start_timeout_s:.0f} s; "
                      f"last log lines:\n{_tail(settings)}")


def stop(settings: Settings, timeout_s: float = 30.0) -> BrokerStatus:
    """Stop the broker (SIGTERM, then SIGKILL after ``timeout_s``); leaves no process."""
    p = _paths(settings)
    pid = _read_pid(settings)
    if pid is not None:
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _alive(pid):
                _reap(pid)
                time.sleep(0.05)
    p["pid"].unlink(missing_ok=True)
    return BrokerStatus(False, None, bootstrap_address(settings), "stopped")


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect the broker if it is our own child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _tail(settings: Settings, lines: int = 30) -> str:
    try:
        text = _paths(settings)["log"].read_text(errors="replace")
    except FileNotFoundError:
        return "(no broker log)"
    return "\n".join(text.splitlines()[-lines:])
