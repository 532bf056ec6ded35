"""Core's settings, read from the environment (and `.env`) by `CoreSettings.from_env`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from atriz_core.db import target
from atriz_core.kit.forwarded import Network, parse_networks
from atriz_core.kit.settings import DEFAULT_ISSUER, Env, core_issuer
from atriz_database import ConfigurationError, Environment, current_environment, database_url
from atriz_database.settings import project_root

__all__ = ["CoreSettings", "SmtpSettings"]

MAX_ACCESS_TOKEN_SECONDS = 15 * 60


@dataclass(frozen=True)
class SmtpSettings:
    """Where mail goes in production. Unset host: mail links are logged (development only)."""

    host: str
    """`CORE_SMTP_HOST`."""
    port: int = 587
    """`CORE_SMTP_PORT`."""
    username: str | None = None
    """`CORE_SMTP_USERNAME`."""
    password: str | None = field(default=None, repr=False)
    """`CORE_SMTP_PASSWORD`."""
    sender: str = "Atriz <no-reply@localhost>"
    """`CORE_MAIL_FROM`: the From header."""
    starttls: bool = True
    """`CORE_SMTP_STARTTLS`: upgrade the connection with STARTTLS (`false` to disable)."""
    tls: bool = False
    """`CORE_SMTP_TLS`: TLS from the first byte (SMTPS, port 465) instead of STARTTLS."""
    ca_file: Path | None = None
    """`CORE_SMTP_CA_FILE`: PEM file of the certificate authorities trusted for the SMTP server,
    instead of the system's (a private CA). The certificate and the host name are always checked."""

    @classmethod
    def from_env(cls, env: Env | None = None) -> SmtpSettings | None:
        """The `CORE_SMTP_*` settings, or None when `CORE_SMTP_HOST` is unset."""
        env = env or Env()
        host = env.string("CORE_SMTP_HOST")
        if not host:
            return None
        tls = env.boolean("CORE_SMTP_TLS", False)
        ca_file = env.string("CORE_SMTP_CA_FILE")
        return cls(
            host=host,
            port=env.integer("CORE_SMTP_PORT", 465 if tls else 587, low=1, high=65535),
            username=env.string("CORE_SMTP_USERNAME"),
            password=env.string("CORE_SMTP_PASSWORD"),
            sender=env.string("CORE_MAIL_FROM", cls.sender),
            starttls=env.boolean("CORE_SMTP_STARTTLS", not tls),
            tls=tls,
            ca_file=Path(ca_file) if ca_file else None,
        )

    def check(self, environment: Environment) -> None:
        """Refuse contradictory settings, and in production a login in clear text."""
        if self.tls and self.starttls:
            raise ConfigurationError(
                "CORE_SMTP_TLS and CORE_SMTP_STARTTLS exclude each other: choose one"
            )
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ConfigurationError(f"CORE_SMTP_CA_FILE {self.ca_file} is not a file")
        encrypted = self.tls or self.starttls
        credentials = self.username or self.password
        if environment is Environment.PRODUCTION and credentials and not encrypted:
            raise ConfigurationError(
                "production sends the SMTP password only over TLS: set CORE_SMTP_STARTTLS=true "
                "or CORE_SMTP_TLS=true"
            )


@dataclass(frozen=True)
class CoreSettings:
    """Everything the auth service needs. Nothing reads the environment at import time."""

    database_url: str
    """`SHARED_DATABASE_URL`, or derived from `PGHOST`, or the embedded server."""
    environment: Environment = Environment.DEVELOPMENT
    """`ATRIZ_ENV`."""
    public_url: str = DEFAULT_ISSUER
    """`CORE_PUBLIC_URL`: where users reach core; links in mail are built from it, never from a
    request's Host header. Also the tokens' issuer (`iss`) unless `CORE_ISSUER` is set."""
    issuer: str = DEFAULT_ISSUER
    """`CORE_ISSUER`: the `iss` claim of access tokens."""
    audiences: tuple[str, ...] = ("website", "mextrack", "pshop")
    """`CORE_TOKEN_AUDIENCES` (comma-separated): the apps that accept core's access tokens."""
    access_token_seconds: int = MAX_ACCESS_TOKEN_SECONDS
    """`CORE_ACCESS_TOKEN_SECONDS`: access token lifetime, at most 15 minutes."""
    refresh_token_seconds: int = 30 * 24 * 3600
    """`CORE_REFRESH_TOKEN_SECONDS`: a session ends if not refreshed for this long."""
    session_max_seconds: int = 30 * 24 * 3600
    """`CORE_SESSION_MAX_SECONDS`: a session ends this long after its sign-in, however often it
    is refreshed (NIST SP 800-63B, AAL1: 30 days)."""
    refresh_reuse_grace_seconds: int = 10
    """`CORE_REFRESH_REUSE_GRACE_SECONDS`: a rotated refresh token presented again within this
    window (two tabs, a retried request) gets a fresh token of the same session; later, it
    revokes the whole session as a stolen token."""
    email_verification_seconds: int = 24 * 3600
    """`CORE_EMAIL_VERIFICATION_SECONDS`: lifetime of an e-mail verification link."""
    password_reset_seconds: int = 30 * 60
    """`CORE_PASSWORD_RESET_SECONDS`: lifetime of a password reset link."""
    argon2_time_cost: int = 2
    """`CORE_ARGON2_TIME_COST`: argon2id iterations (OWASP minimum 2 with 19 MiB)."""
    argon2_memory_kib: int = 19 * 1024
    """`CORE_ARGON2_MEMORY_KIB`: argon2id memory in KiB (OWASP minimum 19456)."""
    argon2_parallelism: int = 1
    """`CORE_ARGON2_PARALLELISM`: argon2id lanes."""
    hash_threads: int = 1
    """`CORE_HASH_THREADS`: threads hashing passwords in each process; by default the cores
    divided by the worker processes (`ATRIZ_WORKERS`, which `atriz serve` sets), at least 1."""
    hash_queue_max_wait_seconds: float = 2.0
    """`CORE_HASH_QUEUE_MAX_WAIT`: the longest wait for a hashing thread that a request may
    queue for; beyond it the request gets 503 with `Retry-After` at once."""
    login_max_failures: int = 5
    """`CORE_LOGIN_MAX_FAILURES`: failed logins in a row before an account locks."""
    lockout_base_seconds: int = 30
    """`CORE_LOCKOUT_BASE_SECONDS`: the first lock; each further failure doubles it."""
    lockout_max_seconds: int = 15 * 60
    """`CORE_LOCKOUT_MAX_SECONDS`: the longest lock."""
    address_max_failures: int = 50
    """`CORE_ADDRESS_MAX_FAILURES`: failed logins from one client address per window before
    that address gets 429."""
    address_window_seconds: int = 15 * 60
    """`CORE_ADDRESS_WINDOW_SECONDS`: the window for `CORE_ADDRESS_MAX_FAILURES`."""
    register_per_address: int = 10
    """`CORE_REGISTER_PER_ADDRESS`: registrations (each costs an argon2 hash) from one client
    address per `CORE_REQUEST_LIMIT_WINDOW_SECONDS`; beyond it 429."""
    mail_per_address: int = 20
    """`CORE_MAIL_PER_ADDRESS`: verification and reset mails asked for from one client address
    per window; beyond it 429."""
    mail_per_email: int = 3
    """`CORE_MAIL_PER_EMAIL`: mails (registration, verification, reset) to one e-mail address
    per window, whoever asks; beyond it 429."""
    request_limit_window_seconds: int = 3600
    """`CORE_REQUEST_LIMIT_WINDOW_SECONDS`: the window of the three limits above."""
    trusted_proxies: tuple[Network, ...] = ()
    """`CORE_TRUSTED_PROXIES`: addresses or networks (comma-separated) of the reverse proxies in
    front of core, whose `X-Forwarded-For` names the client. Empty: the peer is the client."""
    signing_key_pem: str | None = field(default=None, repr=False)
    """`CORE_SIGNING_KEY`: an Ed25519 private key in PEM, for deployments without a key folder."""
    signing_key_dir: Path = Path(".atriz/keys")
    """`CORE_SIGNING_KEY_DIR`: folder of Ed25519 private keys (`*.pem`), newest name current.
    In development a key is generated there once; in production a missing key stops the start."""
    id_token_key_pem: str | None = field(default=None, repr=False)
    """`CORE_ID_TOKEN_KEY`: an RSA private key in PEM, which signs ID tokens (RS256)."""
    id_token_key_dir: Path | None = None
    """`CORE_ID_TOKEN_KEY_DIR`: folder of the RSA keys that sign ID tokens, handled like the
    signing key folder; unset, `id-tokens` inside `CORE_SIGNING_KEY_DIR`."""
    smtp: SmtpSettings | None = None
    """SMTP settings; required in production."""
    port: int = 8000
    """`CORE_PORT`."""
    metrics_token: str | None = field(default=None, repr=False)
    """`ATRIZ_METRICS_TOKEN`: the bearer token `/metrics` asks for, as the apps' do; unset,
    `/metrics` is for an internal network only."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CoreSettings:
        """Core's settings from `environ` (default: the process environment), checked."""
        env = Env(environ)
        integer = env.integer
        settings = cls(
            database_url=database_url(target),
            environment=current_environment(env),
            public_url=env.url("CORE_PUBLIC_URL", cls.public_url).rstrip("/"),
            issuer=core_issuer(env),
            audiences=env.strings("CORE_TOKEN_AUDIENCES", cls.audiences),
            access_token_seconds=integer("CORE_ACCESS_TOKEN_SECONDS", cls.access_token_seconds),
            refresh_token_seconds=integer("CORE_REFRESH_TOKEN_SECONDS", cls.refresh_token_seconds),
            session_max_seconds=integer("CORE_SESSION_MAX_SECONDS", cls.session_max_seconds),
            refresh_reuse_grace_seconds=integer(
                "CORE_REFRESH_REUSE_GRACE_SECONDS", cls.refresh_reuse_grace_seconds
            ),
            email_verification_seconds=integer(
                "CORE_EMAIL_VERIFICATION_SECONDS", cls.email_verification_seconds
            ),
            password_reset_seconds=integer(
                "CORE_PASSWORD_RESET_SECONDS", cls.password_reset_seconds
            ),
            argon2_time_cost=integer("CORE_ARGON2_TIME_COST", cls.argon2_time_cost),
            argon2_memory_kib=integer("CORE_ARGON2_MEMORY_KIB", cls.argon2_memory_kib),
            argon2_parallelism=integer("CORE_ARGON2_PARALLELISM", cls.argon2_parallelism),
            hash_threads=integer(
                "CORE_HASH_THREADS",
                max(1, (os.cpu_count() or 1) // integer("ATRIZ_WORKERS", 1, low=1)),
            ),
            hash_queue_max_wait_seconds=env.number(
                "CORE_HASH_QUEUE_MAX_WAIT", cls.hash_queue_max_wait_seconds
            ),
            login_max_failures=integer("CORE_LOGIN_MAX_FAILURES", cls.login_max_failures),
            lockout_base_seconds=integer("CORE_LOCKOUT_BASE_SECONDS", cls.lockout_base_seconds),
            lockout_max_seconds=integer("CORE_LOCKOUT_MAX_SECONDS", cls.lockout_max_seconds),
            address_max_failures=integer("CORE_ADDRESS_MAX_FAILURES", cls.address_max_failures),
            address_window_seconds=integer(
                "CORE_ADDRESS_WINDOW_SECONDS", cls.address_window_seconds
            ),
            register_per_address=integer("CORE_REGISTER_PER_ADDRESS", cls.register_per_address),
            mail_per_address=integer("CORE_MAIL_PER_ADDRESS", cls.mail_per_address),
            mail_per_email=integer("CORE_MAIL_PER_EMAIL", cls.mail_per_email),
            request_limit_window_seconds=integer(
                "CORE_REQUEST_LIMIT_WINDOW_SECONDS", cls.request_limit_window_seconds
            ),
            trusted_proxies=_trusted_proxies(env),
            signing_key_pem=env.string("CORE_SIGNING_KEY"),
            signing_key_dir=Path(
                env.string("CORE_SIGNING_KEY_DIR") or project_root() / ".atriz" / "keys"
            ),
            id_token_key_pem=env.string("CORE_ID_TOKEN_KEY"),
            id_token_key_dir=_optional_path(env.string("CORE_ID_TOKEN_KEY_DIR")),
            smtp=SmtpSettings.from_env(env),
            port=integer("CORE_PORT", cls.port, low=1, high=65535),
            metrics_token=env.secret("ATRIZ_METRICS_TOKEN", production=False, min_length=16),
        )
        settings.check()
        return settings

    @property
    def id_token_key_folder(self) -> Path:
        """Where the ID-token keys are: `CORE_ID_TOKEN_KEY_DIR`, else `id-tokens` inside the
        signing key folder (which `load_keyring` reads `*.pem` of, not its subfolders)."""
        return self.id_token_key_dir or self.signing_key_dir / "id-tokens"

    @property
    def secure_cookies(self) -> bool:
        """Whether core's browser cookies are `Secure` (sent over https only): everywhere but
        in development, where core is served over plain http on the loopback address."""
        return self.environment is not Environment.DEVELOPMENT

    def check(self) -> None:
        """Refuse settings that are unsafe, and in production anything left to a default."""
        for variable, value, low, high in self._bounds():
            if not low <= value <= high:
                raise ConfigurationError(
                    f"{variable} must be between {low:g} and {high:g}, got {value:g}"
                )
        if self.refresh_token_seconds > self.session_max_seconds:
            raise ConfigurationError(
                "CORE_REFRESH_TOKEN_SECONDS must not exceed CORE_SESSION_MAX_SECONDS"
            )
        if self.lockout_base_seconds > self.lockout_max_seconds:
            raise ConfigurationError(
                "CORE_LOCKOUT_BASE_SECONDS must not exceed CORE_LOCKOUT_MAX_SECONDS"
            )
        if self.smtp is not None:
            self.smtp.check(self.environment)
        if self.environment is not Environment.PRODUCTION:
            return
        if self.smtp is None:
            raise ConfigurationError("CORE_SMTP_HOST must be set in production")
        if "localhost" in self.public_url or not self.public_url.startswith("https://"):
            raise ConfigurationError(
                "CORE_PUBLIC_URL must be the public https:// URL in production"
            )

    def _bounds(self) -> tuple[tuple[str, float, float, float], ...]:
        """(variable, value, lowest, highest): beyond these a setting is a mistake or unsafe."""
        day = 24 * 3600
        return (
            ("CORE_ACCESS_TOKEN_SECONDS", self.access_token_seconds, 60, MAX_ACCESS_TOKEN_SECONDS),
            ("CORE_REFRESH_TOKEN_SECONDS", self.refresh_token_seconds, 300, 90 * day),
            ("CORE_SESSION_MAX_SECONDS", self.session_max_seconds, 300, 90 * day),
            ("CORE_REFRESH_REUSE_GRACE_SECONDS", self.refresh_reuse_grace_seconds, 0, 60),
            ("CORE_EMAIL_VERIFICATION_SECONDS", self.email_verification_seconds, 300, 7 * day),
            ("CORE_PASSWORD_RESET_SECONDS", self.password_reset_seconds, 300, day),
            # Below OWASP's minimum for argon2id (19 MiB, 2 passes) a hash is too cheap to crack.
            ("CORE_ARGON2_MEMORY_KIB", self.argon2_memory_kib, 19 * 1024, 1024 * 1024),
            ("CORE_ARGON2_TIME_COST", self.argon2_time_cost, 2, 20),
            ("CORE_ARGON2_PARALLELISM", self.argon2_parallelism, 1, 16),
            ("CORE_HASH_THREADS", self.hash_threads, 1, 64),
            ("CORE_HASH_QUEUE_MAX_WAIT", self.hash_queue_max_wait_seconds, 0.1, 30),
            ("CORE_LOGIN_MAX_FAILURES", self.login_max_failures, 1, 100),
            ("CORE_LOCKOUT_BASE_SECONDS", self.lockout_base_seconds, 1, 3600),
            ("CORE_LOCKOUT_MAX_SECONDS", self.lockout_max_seconds, 1, day),
            ("CORE_ADDRESS_MAX_FAILURES", self.address_max_failures, 1, 100_000),
            ("CORE_ADDRESS_WINDOW_SECONDS", self.address_window_seconds, 60, day),
            ("CORE_REGISTER_PER_ADDRESS", self.register_per_address, 1, 100_000),
            ("CORE_MAIL_PER_ADDRESS", self.mail_per_address, 1, 100_000),
            ("CORE_MAIL_PER_EMAIL", self.mail_per_email, 1, 1000),
            ("CORE_REQUEST_LIMIT_WINDOW_SECONDS", self.request_limit_window_seconds, 60, day),
        )


def _optional_path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _trusted_proxies(env: Env) -> tuple[Network, ...]:
    try:
        return parse_networks(env.string("CORE_TRUSTED_PROXIES", ""))
    except ValueError as exc:
        raise ConfigurationError(f"CORE_TRUSTED_PROXIES: {exc}") from exc
