"""The local broker's files: its jars (resolved by Maven from ``deploy/kafka/pom.xml``),
where it keeps config, data and log, and the TLS and SCRAM material of its SASL_SSL
listener (a self-signed certificate for 127.0.0.1, made once with the JDK's keytool)."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TextIO

from processor.errors import CarrierwatchError
from processor.settings import Settings

KAFKA_DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "kafka"


class BrokerError(CarrierwatchError):
    """The local broker could not be fetched, started or stopped."""


def broker_paths(settings: Settings) -> dict[str, Path]:
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
    return broker_paths(settings)["tls"] / "ca.pem"


def tls_material(settings: Settings) -> tuple[Path, str]:
    """A self-signed key pair for 127.0.0.1 (keytool, made once): (keystore, password)."""
    tls = broker_paths(settings)["tls"]
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


def secure_config(settings: Settings) -> str:
    """Lines that add the SASL_SSL listener (later keys win in a properties file)."""
    store, password = tls_material(settings)
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


def scram_users(settings: Settings) -> list[str]:
    """``--add-scram`` arguments: the SCRAM user exists from the first start (KRaft)."""
    if not settings.broker_secure_port:
        return []
    user = f"name={settings.sasl_username},password={settings.sasl_password}"
    return [arg for m in SCRAM for arg in ("--add-scram", f"{m}=[{user}]")]


def pom_file() -> Path:
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
    pom = pom_file()
    libs = broker_paths(settings)["libs"]
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


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise BrokerError("java (17 or newer) is needed to run the Kafka broker")
    return java


def classpath(libs: Path) -> str:
    return f"{libs}{os.sep}*"


def log_config_flag() -> str:
    return f"-Dlog4j2.configurationFile={KAFKA_DEPLOY_DIR / 'log4j2.properties'}"
