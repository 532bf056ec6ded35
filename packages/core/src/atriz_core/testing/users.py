"""Real users for tests: created in `atriz_shared` by core's own code, with a signed token.

    user = await make_user(roles=("pshop.cashier",))
    response = await client.get("/sales", headers=user.headers)

A user is inserted by core's users repository with an argon2id hash of its password (so it can
also sign in through core's `/auth/login`), gets the `user` role as registration gives it, and
each chosen role through core's admin service (`grant_role`, audited like a grant from the
`atriz` command line); a role that does not exist yet is created first. Its `token` is signed by
core's `issue_access_token` with the `TokenMinter`'s key: the app under test trusts that key
because it is built with `token_minter.verifier(audience)`, and core's harness signs with it too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from atriz_core.admin import services as admin
from atriz_core.passwords.hashing import PasswordHasher
from atriz_core.passwords.policy import acceptable_password
from atriz_core.sessions import repository as sessions
from atriz_core.settings import CoreSettings
from atriz_core.testing.tokens import TEST_TOKEN_SECONDS, TokenMinter
from atriz_core.users import repository as users
from atriz_database.pool import connect

__all__ = ["DEFAULT_ROLE", "TEST_PASSWORD", "TestUser", "UserFactory"]

TEST_PASSWORD = "a long and unusual passphrase"  # noqa: S105 - a test user's password
DEFAULT_ROLE = "user"
"""The role registration gives every account; every `TestUser` has it."""

_hashes: dict[str, str] = {}


async def _password_hash(password: str) -> str:
    # One argon2id hash per password per test session, at core's default cost: a hash is not
    # tied to its user, and hashing for every user would cost tens of milliseconds each.
    if password not in _hashes:
        hasher = PasswordHasher(
            time_cost=CoreSettings.argon2_time_cost,
            memory_kib=CoreSettings.argon2_memory_kib,
            parallelism=CoreSettings.argon2_parallelism,
        )
        try:
            normalised = acceptable_password(password, email="", name="", field="password")
            _hashes[password] = await hasher.hash(normalised)
        finally:
            hasher.close()
    return _hashes[password]


@dataclass(frozen=True)
class TestUser:
    """A user that exists in the test's `atriz_shared`, and a valid access token of theirs."""

    __test__ = False  # not a test class, whatever its name says

    id: uuid.UUID
    email: str
    name: str
    roles: tuple[str, ...]
    """Every role the user holds, `user` included, sorted (as in the token)."""
    token: str
    session_id: uuid.UUID
    """The session `token` (and every `token_for` the user) belongs to, open in `sessions`."""
    password: str = field(default=TEST_PASSWORD, repr=False)

    @property
    def headers(self) -> dict[str, str]:
        """`{"Authorization": "Bearer <token>"}`."""
        return {"Authorization": f"Bearer {self.token}"}


class UserFactory:
    """Makes `TestUser`s in the `atriz_shared` at `database_url`, with tokens signed by
    `minter`. The `make_user` fixture is one of these."""

    def __init__(self, database_url: str, minter: TokenMinter) -> None:
        self.database_url = database_url
        self.minter = minter
        self.made: list[TestUser] = []

    async def __call__(
        self,
        roles: Sequence[str] = (),
        *,
        email: str | None = None,
        name: str | None = None,
        password: str = TEST_PASSWORD,
    ) -> TestUser:
        """A new active user with `roles` (and `user`), and a token for them."""
        suffix = uuid.uuid4().hex[:12]
        email = email or f"user-{suffix}@example.test"
        name = name or f"Test user {suffix}"
        granted = tuple(sorted({DEFAULT_ROLE, *roles}))
        password_hash = await _password_hash(password)
        # With the codecs core's pool gives its connections: core's code expects them.
        connection = await connect(self.database_url)
        try:
            async with connection.transaction():
                record = await users.insert_user(connection, email, password_hash, name)
                for role in granted:
                    if await users.get_role_id(connection, role) is None:
                        await users.insert_role(connection, role, "made by a test")
                    await admin.grant_role(connection, None, record.id, role, None)
                session_id = uuid.uuid4()
                now = datetime.now(UTC)
                await sessions.open_session(
                    connection,
                    session_id=session_id,
                    user_id=record.id,
                    now=now,
                    expires_at=now + timedelta(days=30),
                )
        finally:
            await connection.close()
        token = self.minter.access_token(
            user_id=record.id, email=record.email, roles=granted, session_id=session_id
        )
        user = TestUser(record.id, record.email, record.name, granted, token, session_id, password)
        self.made.append(user)
        return user

    def token_for(self, user: TestUser, *, lifetime_seconds: int = TEST_TOKEN_SECONDS) -> str:
        """Another token for `user`, e.g. a short-lived one. A service that follows
        `user_events` refuses a token issued in or before the second of the user's last
        revocation (roles changed while signed in, signed out everywhere, deactivated): after
        one, mint the next token a second later."""
        return self.minter.access_token(
            user_id=user.id,
            email=user.email,
            roles=user.roles,
            session_id=user.session_id,
            lifetime_seconds=lifetime_seconds,
        )
