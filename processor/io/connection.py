"""How every Kafka client connects: the security settings as librdkafka options, and the
TLS context Faust's aiokafka gets (``runtime/app.py``), so the two can never disagree."""

from __future__ import annotations

import ssl
from typing import Any

from processor.settings import Settings


def client_config(settings: Settings) -> dict[str, Any]:
    """librdkafka options: bootstrap servers plus TLS/SASL as configured."""
    conf: dict[str, Any] = {"bootstrap.servers": settings.bootstrap_servers,
                            "security.protocol": settings.security_protocol}
    if settings.security_protocol.startswith("SASL_"):
        conf.update({"sasl.mechanism": settings.sasl_mechanism,
                     "sasl.username": settings.sasl_username,
                     "sasl.password": settings.sasl_password})
    if settings.security_protocol.endswith("SSL") and settings.ssl_ca_file:
        conf["ssl.ca.location"] = settings.ssl_ca_file
    return conf


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """Verifies the broker's certificate and host name (against the CA file if given)."""
    return ssl.create_default_context(cafile=settings.ssl_ca_file or None)
