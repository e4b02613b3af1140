"""Security settings reach both kinds of Kafka client identically, and secrets stay hidden."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest

from processor.io.connection import client_config
from processor.runtime.app import faust_credentials
from processor.runtime.web import bearer_ok
from processor.settings import Settings, SettingsError


def test_plaintext_by_default() -> None:
    s = Settings()
    assert client_config(s) == {"bootstrap.servers": "127.0.0.1:9092",
                                "security.protocol": "PLAINTEXT"}
    assert faust_credentials(s) is None


def test_sasl_ssl_goes_to_librdkafka_and_to_faust(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read here")
    s = Settings(security_protocol="SASL_SSL", sasl_username="cw", sasl_password="pw",
                 sasl_mechanism="SCRAM-SHA-256", ssl_ca_file=str(ca))
    assert client_config(s) == {
        "bootstrap.servers": "127.0.0.1:9092", "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "cw", "sasl.password": "pw",
        "ssl.ca.location": str(ca)}
    s = s.replace(ssl_ca_file="")  # the system's CAs (no file to load in this test)
    creds = faust_credentials(s)
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password) == ("cw", "pw")
    assert creds.mechanism.value == "SCRAM-SHA-256"
    assert creds.protocol.value == "SASL_SSL"
    assert creds.ssl_context is not None


def test_bad_security_settings_are_refused() -> None:
    with pytest.raises(SettingsError, match="SECURITY_PROTOCOL"):
        Settings(security_protocol="TLS")
    with pytest.raises(SettingsError, match="SASL_USERNAME"):
        Settings(security_protocol="SASL_SSL")
    with pytest.raises(SettingsError, match="SASL_MECHANISM"):
        Settings(security_protocol="SASL_SSL", sasl_username="a", sasl_password="b",
                 sasl_mechanism="GSSAPI")
    with pytest.raises(SettingsError, match="SSL_CA_FILE"):
        Settings(ssl_ca_file="/nonexistent/ca.pem")


def test_secrets_are_not_in_the_repr() -> None:
    s = Settings(security_protocol="SASL_PLAINTEXT", sasl_username="cw",
                 sasl_password="hunter2", api_token="tok3n")
    assert "hunter2" not in repr(s)
    assert "tok3n" not in repr(s)


def test_bearer_token_check() -> None:
    assert bearer_ok(None, "")
    assert bearer_ok("Bearer tok", "tok")
    assert bearer_ok("bearer tok", "tok")
    assert not bearer_ok(None, "tok")
    assert not bearer_ok("Bearer tik", "tok")
    assert not bearer_ok("Basic tok", "tok")
    assert not bearer_ok("Bearer", "tok")
