"""The SMTP mailer, against a real SMTP server on the loopback interface.

TLS is tried with certificates made here: a CA of the test's own (trusted through
`CORE_SMTP_CA_FILE`) and another nobody trusts, and server certificates for the right and the
wrong host name.
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from atriz_core.mail import MailMessage, SmtpMailer
from atriz_core.settings import CoreSettings, SmtpSettings
from atriz_database import ConfigurationError, Environment
from atriz_database.testing import free_port

SENDER = "Atriz <auth@atriz.test>"
MESSAGE = MailMessage(to="ana@example.test", subject="Reset", body="https://auth.atriz.test/x\n")


class Inbox:
    def __init__(self) -> None:
        self.received: list[Any] = []
        self.encrypted: list[bool] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope)
        # aiosmtpd sets `session.ssl` after STARTTLS; SMTPS sessions are TLS from the start.
        tls_from_the_start = server.transport.get_extra_info("ssl_object") is not None
        self.encrypted.append(session.ssl is not None or tls_from_the_start)
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        return AuthResult(success=True)


@dataclass
class Authority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    pem_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_authority(folder: Path, name: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem_file = folder / f"{name}.pem"
    pem_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Authority(key, cert, pem_file)


def server_context(folder: Path, authority: Authority, host: str) -> ssl.SSLContext:
    """A server-side TLS context with a certificate for `host` signed by `authority`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    try:
        alt_name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt_name = x509.DNSName(host)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(host))
        .issuer_name(authority.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([alt_name]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()),
            critical=False,
        )
        .sign(authority.key, hashes.SHA256())
    )
    cert_file, key_file = folder / f"{host}.crt", folder / f"{host}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


@pytest.fixture
def trusted(tmp_path: Path) -> Authority:
    return make_authority(tmp_path, "trusted-ca")


@pytest.fixture
def untrusted(tmp_path: Path) -> Authority:
    return make_authority(tmp_path, "untrusted-ca")


@pytest.fixture
def run_server() -> Iterator[Any]:
    """Starts aiosmtpd servers on free loopback ports; stops them after the test."""
    controllers: list[Controller] = []

    def run(**parameters: Any) -> tuple[Inbox, int]:
        port, handler = free_port(), Inbox()
        controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=port,
            authenticator=handler.authenticate,
            **parameters,
        )
        controller.start()
        controllers.append(controller)
        return handler, port

    yield run
    for controller in controllers:
        controller.stop()


def starttls_server(run_server: Any, context: ssl.SSLContext) -> tuple[Inbox, int]:
    # The server offers AUTH only after STARTTLS (aiosmtpd's default) and refuses mail before it.
    return run_server(tls_context=context, require_starttls=True)  # type: ignore[no-any-return]


def smtp(port: int, **options: Any) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, sender=SENDER, **options)


async def test_smtp_mailer_delivers_the_message(run_server: Any) -> None:
    handler, port = run_server()
    mailer = SmtpMailer(smtp(port, starttls=False))

    await mailer.send(MESSAGE)

    (envelope,) = handler.received
    assert envelope.rcpt_tos == ["ana@example.test"]
    mail = message_from_bytes(envelope.content)
    assert mail["From"] == SENDER
    assert mail["Subject"] == "Reset"
    assert "https://auth.atriz.test/x" in mail.get_payload()


async def test_starttls_with_a_trusted_certificate_for_the_host_delivers_and_logs_in(
    run_server: Any, trusted: Authority, tmp_path: Path
) -> None:
    handler, port = starttls_server(run_server, server_context(tmp_path, trusted, "127.0.0.1"))
    mailer = SmtpMailer(
        smtp(port, ca_file=trusted.pem_file, username="atriz", password="smtp secret")
    )

    await mailer.send(MESSAGE)

    assert [e.rcpt_tos for e in handler.received] == [["ana@example.test"]]
    assert handler.encrypted == [True]
    assert handler.logins == [(b"atriz", b"smtp secret")]


async def test_starttls_refuses_a_certificate_for_another_host(
    run_server: Any, trusted: Authority, tmp_path: Path
) -> None:
    context = server_context(tmp_path, trusted, "mail.elsewhere.test")
    handler, port = starttls_server(run_server, context)
    mailer = SmtpMailer(
        smtp(port, ca_file=trusted.pem_file, username="atriz", password="smtp secret")
    )

    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        await mailer.send(MESSAGE)

    assert handler.received == []
    assert handler.logins == []


async def test_starttls_refuses_a_certificate_from_an_untrusted_authority(
    run_server: Any, trusted: Authority, untrusted: Authority, tmp_path: Path
) -> None:
    handler, port = starttls_server(run_server, server_context(tmp_path, untrusted, "127.0.0.1"))

    # Neither the test's trusted CA nor the system's CAs vouch for this certificate.
    for ca_file in (trusted.pem_file, None):
        mailer = SmtpMailer(smtp(port, ca_file=ca_file, username="atriz", password="smtp secret"))
        with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
            await mailer.send(MESSAGE)

    assert handler.received == []
    assert handler.logins == []


async def test_a_server_without_starttls_fails_the_send_rather_than_send_in_clear(
    run_server: Any, trusted: Authority
) -> None:
    handler, port = run_server(auth_require_tls=False)
    mailer = SmtpMailer(smtp(port, ca_file=trusted.pem_file, username="atriz", password="x"))

    with pytest.raises(smtplib.SMTPNotSupportedError, match="STARTTLS"):
        await mailer.send(MESSAGE)

    assert handler.received == []
    assert handler.logins == []


async def test_implicit_tls_verifies_the_certificate(
    run_server: Any, trusted: Authority, untrusted: Authority, tmp_path: Path
) -> None:
    good, good_port = run_server(ssl_context=server_context(tmp_path, trusted, "127.0.0.1"))
    bad, bad_port = run_server(ssl_context=server_context(tmp_path, untrusted, "127.0.0.1"))
    settings = smtp(good_port, tls=True, starttls=False, ca_file=trusted.pem_file)

    await SmtpMailer(settings).send(MESSAGE)
    with pytest.raises(ssl.SSLCertVerificationError):
        await SmtpMailer(replace(settings, port=bad_port)).send(MESSAGE)

    assert len(good.received) == 1
    assert good.encrypted == [True]
    assert bad.received == []


def core_settings(environment: Environment, smtp: SmtpSettings) -> CoreSettings:
    return CoreSettings(
        database_url="postgresql://localhost/atriz_shared",
        environment=environment,
        public_url="https://auth.atriz.example",
        smtp=smtp,
    )


def test_production_refuses_an_smtp_login_without_tls() -> None:
    clear = SmtpSettings(host="mail.example", username="atriz", password="p", starttls=False)

    with pytest.raises(ConfigurationError, match="only over TLS"):
        core_settings(Environment.PRODUCTION, clear).check()
    core_settings(Environment.DEVELOPMENT, clear).check()
    # A relay without a login (a local MTA) may be reached in clear; STARTTLS or SMTPS may log in.
    core_settings(Environment.PRODUCTION, replace(clear, username=None, password=None)).check()
    core_settings(Environment.PRODUCTION, replace(clear, starttls=True)).check()
    core_settings(Environment.PRODUCTION, replace(clear, tls=True)).check()


def test_smtp_settings_refuse_both_tls_modes_and_a_missing_ca_file(tmp_path: Path) -> None:
    both = SmtpSettings(host="mail.example", starttls=True, tls=True)
    missing = SmtpSettings(host="mail.example", ca_file=tmp_path / "no-such.pem")

    with pytest.raises(ConfigurationError, match="exclude each other"):
        core_settings(Environment.DEVELOPMENT, both).check()
    with pytest.raises(ConfigurationError, match="CORE_SMTP_CA_FILE"):
        core_settings(Environment.DEVELOPMENT, missing).check()


def test_smtp_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, trusted: Authority
) -> None:
    for name in ("PORT", "STARTTLS", "TLS", "USERNAME", "PASSWORD"):
        monkeypatch.delenv(f"CORE_SMTP_{name}", raising=False)
    monkeypatch.delenv("CORE_MAIL_FROM", raising=False)
    monkeypatch.setenv("CORE_SMTP_HOST", "mail.example")
    monkeypatch.setenv("CORE_SMTP_CA_FILE", str(trusted.pem_file))
    assert SmtpSettings.from_env() == SmtpSettings(
        host="mail.example", port=587, starttls=True, ca_file=trusted.pem_file
    )

    monkeypatch.setenv("CORE_SMTP_TLS", "true")
    assert SmtpSettings.from_env() == SmtpSettings(
        host="mail.example", port=465, starttls=False, tls=True, ca_file=trusted.pem_file
    )

    monkeypatch.setenv("CORE_SMTP_STARTTLS", "maybe")
    with pytest.raises(ConfigurationError, match="CORE_SMTP_STARTTLS must be true or false"):
        SmtpSettings.from_env()

    monkeypatch.delenv("CORE_SMTP_HOST")
    assert SmtpSettings.from_env() is None
