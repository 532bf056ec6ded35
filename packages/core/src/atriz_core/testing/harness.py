"""The conformance kit for the tests of core and of every app.

Enable it with `pytest_plugins = ["atriz_core.testing"]`.

- `TokenMinter` signs real access tokens for test users with given roles, with a key of its own
  that the app under test is configured to trust (`minter.verifier(audience)`).
- `bad_tokens(minter)` builds every kind of token an app must refuse, and
  `assert_rejects_bad_tokens(client, method, path, minter)` checks that a route answers each one
  with 401 and a problem details body, never a 500.
- `FrozenClock` and `MemoryMailer` stand in for time and mail, without sleeping or sending.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from httpx import ASGITransport, AsyncClient
from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from atriz_core.app import create_app
from atriz_core.client.verifier import StaticKeys, TokenVerifier
from atriz_core.db import target
from atriz_core.mail import MailMessage
from atriz_core.settings import CoreSettings
from atriz_core.tokens.access import ACCESS_TOKEN_TYPE
from atriz_core.tokens.keys import KeyRing, SigningKey
from atriz_database import DatabaseSettings, Environment
from atriz_database.migrations import migrate
from atriz_database.seeds import seed
from atriz_database.testing import MakeDatabase
from atriz_database.urls import with_credentials

__all__ = [
    "TEST_PASSWORD",
    "CoreHarness",
    "FrozenClock",
    "InFlight",
    "MemoryMailer",
    "TokenMinter",
    "assert_rejects_bad_tokens",
    "bad_tokens",
    "core_database_url",
    "core_harness",
    "core_overrides",
    "core_settings",
    "token_minter",
]

TEST_ISSUER = "http://core.test"
TEST_AUDIENCES = ("website", "mextrack", "pshop")


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class MemoryMailer:
    """Keeps every mail it is asked to send."""

    sent: list[MailMessage] = field(default_factory=list)

    async def send(self, message: MailMessage) -> None:
        self.sent.append(message)

    def last_token(self, to: str) -> str:
        """The `token` of the link in the newest mail to `to`."""
        for message in reversed(self.sent):
            if message.to == to:
                match = re.search(r"[?&]token=([A-Za-z0-9_\-]+)", message.body)
                if match:
                    return match[1]
        raise AssertionError(f"no mail with a token was sent to {to}")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenMinter:
    """Signs access tokens like core does, with its own Ed25519 key."""

    def __init__(self, issuer: str = TEST_ISSUER, audiences: tuple[str, ...] = TEST_AUDIENCES):
        self.key = SigningKey(Ed25519PrivateKey.generate())
        self.issuer = issuer
        self.audiences = audiences

    @property
    def jwks(self) -> dict[str, Any]:
        return KeyRing((self.key,)).jwks()

    def verifier(self, audience: str, **options: Any) -> TokenVerifier:
        """A verifier that trusts this minter's key, for the app under test."""
        return TokenVerifier(
            StaticKeys(self.jwks), issuer=self.issuer, audience=audience, **options
        )

    def claims(
        self, *, user_id: uuid.UUID | None = None, roles: tuple[str, ...] = (), **overrides: Any
    ) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": list(self.audiences),
            "sub": str(user_id or uuid.uuid4()),
            "iat": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
            "sid": str(uuid.uuid4()),
            "email": "user@example.test",
            "roles": list(roles),
        }
        claims.update(overrides)
        return claims

    def mint(
        self,
        *,
        user_id: uuid.UUID | None = None,
        roles: tuple[str, ...] = (),
        headers: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        **overrides: Any,
    ) -> str:
        """A signed token; `overrides` replace claims, `drop` removes them."""
        claims = self.claims(user_id=user_id, roles=roles, **overrides)
        for name in drop:
            claims.pop(name, None)
        header = {"kid": self.key.kid, "typ": ACCESS_TOKEN_TYPE, **(headers or {})}
        return jwt.encode(claims, self.key.private_key, algorithm="EdDSA", headers=header)

    def public_pem(self) -> bytes:
        return self.key.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    def part(value: dict[str, Any]) -> str:
        return _b64url(json.dumps(value).encode())

    return f"{part(header)}.{part(claims)}.{_b64url(signature)}"


def _hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def bad_tokens(minter: TokenMinter, audience: str) -> dict[str, str]:
    """Every kind of token a route must refuse, by name."""
    now = int(time.time())
    claims = minter.claims(roles=("admin",))
    header = {"alg": "EdDSA", "kid": minter.key.kid, "typ": ACCESS_TOKEN_TYPE}
    other = TokenMinter(minter.issuer, minter.audiences)
    good = minter.mint(roles=("admin",))
    tokens = {
        "alg none": _unsigned({**header, "alg": "none"}, claims),
        "alg none, no kid": _unsigned({"alg": "none", "typ": ACCESS_TOKEN_TYPE}, claims),
        "HS256 keyed with the public key (PEM)": _hs256(
            {**header, "alg": "HS256"}, claims, minter.public_pem()
        ),
        "HS256 keyed with the public key (raw x)": _hs256(
            {**header, "alg": "HS256"}, claims, minter.key.public_x.encode()
        ),
        "ES256, a key of the attacker's": jwt.encode(
            claims,
            ec.generate_private_key(ec.SECP256R1()),
            algorithm="ES256",
            headers={"kid": minter.key.kid, "typ": ACCESS_TOKEN_TYPE},
        ),
        "signed by another key with the same kid": other.mint(
            roles=("admin",), headers={"kid": minter.key.kid}
        ),
        "unknown kid": minter.mint(headers={"kid": "no-such-key"}),
        "no kid": jwt.encode(
            claims, minter.key.private_key, algorithm="EdDSA", headers={"typ": ACCESS_TOKEN_TYPE}
        ),
        "wrong issuer": minter.mint(iss="https://evil.example"),
        "wrong audience": minter.mint(aud=["some-other-app"]),
        "audience of another app only": minter.mint(
            aud=[a for a in minter.audiences if a != audience] or ["other"]
        ),
        "wrong typ": minter.mint(headers={"typ": "JWT"}),
        "no typ": jwt.encode(
            claims, minter.key.private_key, algorithm="EdDSA", headers={"kid": minter.key.kid}
        ),
        "expired": minter.mint(iat=now - 3600, exp=now - 1800),
        "issued in the future": minter.mint(iat=now + 3600, exp=now + 4000),
        "not yet valid": minter.mint(nbf=now + 3600),
        "jwk in header": minter.mint(headers={"jwk": other.key.public_jwk()}),
        "jku in header": minter.mint(headers={"jku": "https://evil.example/jwks.json"}),
        "x5c in header": minter.mint(headers={"x5c": ["MIIB"]}),
        "unknown crit": minter.mint(headers={"crit": ["exp-ext"], "exp-ext": 1}),
        "malformed subject": minter.mint(sub="not-a-uuid"),
        "roles not a list": jwt.encode(
            {**claims, "roles": "admin"}, minter.key.private_key, algorithm="EdDSA", headers=header
        ),
        "garbage": "not.a.token",
        "empty segments": "..",
    }
    for name in ("iss", "aud", "sub", "iat", "exp", "jti", "sid", "roles", "email"):
        tokens[f"missing {name}"] = minter.mint(roles=("admin",), drop=(name,))
    # Every single-byte change to a valid token must be caught (header, claims and signature).
    for position in range(0, len(good), max(1, len(good) // 40)):
        replacement = "A" if good[position] != "A" else "B"
        mutated = good[:position] + replacement + good[position + 1 :]
        if mutated != good:
            tokens[f"byte {position} changed"] = mutated
    return tokens


async def assert_rejects_bad_tokens(
    client: AsyncClient,
    method: str,
    path: str,
    minter: TokenMinter,
    audience: str,
    **request: Any,
) -> None:
    """Every bad token, and no token at all, gets 401 with a problem details body."""
    attempts = {"no token": None, **bad_tokens(minter, audience)}
    failures = []
    for name, token in attempts.items():
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        response = await client.request(method, path, headers=headers, **request)
        body = response.json() if response.content else {}
        if response.status_code != 401 or body.get("status") != 401:
            failures.append(f"{name}: {response.status_code} {response.text[:120]}")
    assert not failures, "tokens not refused with 401:\n" + "\n".join(failures)


@pytest.fixture
def token_minter() -> TokenMinter:
    return TokenMinter()


@pytest.fixture
def core_database_url(make_database: MakeDatabase) -> str:
    """A fresh `atriz_shared`, built by core's real migrations and seeds."""
    url = make_database("core")
    migrate(target, url, requirement_met=lambda _: True, out=lambda _: None)
    seed(target, url)
    return url


@pytest.fixture
def core_settings(core_database_url: str, tmp_path: Path) -> CoreSettings:
    """Core's settings for a test: its own database and key folder."""
    return CoreSettings(
        database_url=core_database_url,
        environment=Environment.TEST,
        public_url="https://auth.atriz.test",
        issuer=TEST_ISSUER,
        audiences=TEST_AUDIENCES,
        signing_key_dir=tmp_path / "keys",
    )


TEST_PASSWORD = "a long and unusual passphrase"  # noqa: S105 - a test user's password


@dataclass
class InFlight:
    """Counts the requests an app is serving at once, so that a concurrency test can show its
    requests really overlapped."""

    current: int = 0
    peak: int = 0

    def wrap(self, app: ASGIApp) -> Callable[..., Awaitable[None]]:
        async def counting(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            self.current += 1
            self.peak = max(self.peak, self.current)
            try:
                await app(scope, receive, send)
            finally:
                self.current -= 1

        return counting


@dataclass
class CoreHarness:
    """The app under test and what the test may steer: time, mail, settings.

    `client` sends requests through `httpx.ASGITransport` in the test's own event loop, so
    requests sent together (`asyncio.gather`) really run at the same time, as in a server;
    `in_flight.peak` shows how many did. (Litestar's test client sends them one at a time.)
    """

    app: Litestar
    client: AsyncClient
    clock: FrozenClock
    mailer: MemoryMailer
    settings: CoreSettings
    in_flight: InFlight

    async def register(
        self, email: str = "ana@example.test", password: str = TEST_PASSWORD, name: str = "Ana"
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/auth/register", json={"email": email, "password": password, "name": name}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def login(
        self, email: str = "ana@example.test", password: str = TEST_PASSWORD
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def admin_headers(self, email: str = "root@example.test") -> dict[str, str]:
        """Register `email`, grant it `admin` straight in the database, sign it in."""
        await self.register(email=email, name="Root")
        await self.sql_rows(
            "INSERT INTO user_roles (user_id, role_id) SELECT u.id, r.id FROM users u, roles r"
            " WHERE u.email = $1 AND r.name = 'admin'",
            email,
        )
        return self.bearer(await self.login(email=email))

    async def sql_value(self, sql: str, *args: Any) -> Any:
        """One value read (or written) straight in the test's database, beside the app."""
        connection = await asyncpg.connect(self.settings.database_url)
        try:
            return await connection.fetchval(sql, *args)
        finally:
            await connection.close()

    async def sql_rows(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.settings.database_url)
        try:
            rows: list[asyncpg.Record] = await connection.fetch(sql, *args)
        finally:
            await connection.close()
        return rows

    @staticmethod
    def bearer(tokens: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture
def core_overrides() -> dict[str, Any]:
    """Settings that `core_harness` changes; a test module overrides this fixture to set some."""
    return {}


@asynccontextmanager
async def running_core(
    settings: CoreSettings,
    *,
    peer: tuple[str, int] = ("testclient", 50000),
    database: DatabaseSettings | None = None,
) -> AsyncIterator[CoreHarness]:
    """Core started for a test (its lifespan in the test's event loop), with a frozen clock
    and a mailbox; `peer` is the address every request comes from."""
    clock, mailer, in_flight = FrozenClock(), MemoryMailer(), InFlight()
    app = create_app(settings, clock=clock, mailer=mailer, database=database)
    transport = ASGITransport(app=in_flight.wrap(app), client=peer)
    async with (
        serving(app),
        AsyncClient(transport=transport, base_url="https://auth.atriz.test") as client,
    ):
        yield CoreHarness(app, client, clock, mailer, settings, in_flight)


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[None]:
    """Run `app`'s lifespan (start-up, then shut-down when the block ends) in a task of its own.

    pytest-asyncio sets a fixture up and tears it down in different tasks, and the lifespan's
    anyio task group must be left in the task that entered it.
    """
    started, stopping = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stopping.wait()

    task = asyncio.create_task(lifespan(), name="app-lifespan")
    starting = asyncio.create_task(started.wait())
    await asyncio.wait({task, starting}, return_when=asyncio.FIRST_COMPLETED)
    if not started.is_set():
        starting.cancel()
        await task  # start-up failed: raise its error here
    try:
        yield
    finally:
        stopping.set()
        await task


@pytest.fixture
async def core_harness(
    core_settings: CoreSettings, core_overrides: dict[str, Any]
) -> AsyncIterator[CoreHarness]:
    async with running_core(replace(core_settings, **core_overrides)) as harness:
        yield harness


@pytest.fixture
async def app_reader(core_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test's `atriz_shared` as a login role whose only privileges come
    from `atriz_app_reader`, the role apps use in production."""
    admin = await asyncpg.connect(core_database_url)
    name, password = f"atriz_test_app_{uuid.uuid4().hex[:8]}", secrets.token_hex(16)
    await admin.execute(
        f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}' IN ROLE atriz_app_reader"
    )
    connection = await asyncpg.connect(with_credentials(core_database_url, name, password))
    try:
        yield connection
    finally:
        await connection.close()
        await admin.execute(f'DROP ROLE "{name}"')
        await admin.close()
