"""The auth service: `create_app(settings)` builds the Litestar app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State

from atriz_core.accounts.controllers import AuthController
from atriz_core.accounts.pages import LinkPagesController
from atriz_core.admin.controllers import AdminController
from atriz_core.client.user_events import renumber_restored_events
from atriz_core.client.verifier import TokenVerifier
from atriz_core.clients.controllers import ClientAdminController
from atriz_core.clock import Clock, SystemClock
from atriz_core.context import Core
from atriz_core.kit.service import create_service
from atriz_core.limits import PURGE_INTERVAL_SECONDS, purge_stale_limits
from atriz_core.mail import Mailer, mailer_from_settings
from atriz_core.metrics import CORE_METRICS
from atriz_core.oidc.controllers import (
    USERINFO_VERIFIER_STATE_KEY,
    DiscoveryController,
    OidcController,
    TokenController,
)
from atriz_core.oidc.repository import purge_codes
from atriz_core.oidc.sign_in import SignInController
from atriz_core.passwords.hashing import PasswordHasher
from atriz_core.request import CoreRequest
from atriz_core.settings import CoreSettings
from atriz_core.tokens.keys import PublishedKeys, load_id_token_keyring, load_keyring
from atriz_database import DatabaseSettings

__all__ = ["create_app", "create_app_from_env", "stale_limit_purger"]

logger = logging.getLogger(__name__)

CODES_KEPT = timedelta(days=1)
"""How long spent and expired authorization codes are kept (their nonces with them)."""
# Auth bodies are small; refusing large ones early keeps a 1 MB "password" from costing anything.
MAX_BODY_BYTES = 64 * 1024


@get("/.well-known/jwks.json", tags=["keys"], cache_control=None)
async def jwks(state: State) -> dict[str, Any]:
    """Core's public signing keys: the EdDSA keys of access tokens, which the apps verify, and
    the RS256 keys of ID tokens, which OpenID clients verify. Of each kind the current key and,
    after a rotation, the previous one until every token it signed has expired."""
    core: Core = state.core
    now, lifetime = core.clock.now(), core.settings.access_token_seconds
    return {
        "keys": [
            *core.keyring.jwks(now, lifetime)["keys"],
            *core.id_token_keys.jwks(now, lifetime)["keys"],
        ]
    }


def create_app(
    settings: CoreSettings,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    database: DatabaseSettings | None = None,
) -> Litestar:
    """The auth service. Tests pass their own clock and mailer."""
    keyring = load_keyring(
        pem=settings.signing_key_pem,
        folder=settings.signing_key_dir,
        environment=settings.environment,
    )
    id_token_keys = load_id_token_keyring(
        pem=settings.id_token_key_pem,
        folder=settings.id_token_key_folder,
        environment=settings.environment,
    )
    core = Core(
        settings=settings,
        hasher=PasswordHasher.from_settings(settings),
        keyring=keyring,
        id_token_keys=id_token_keys,
        clock=clock or SystemClock(),
        mailer=mailer or mailer_from_settings(settings),
    )
    # Core verifies its own tokens with the keys it publishes: no HTTP round trip to itself. A
    # revoked token is refused by the routes' check of the caller's session
    # (`atriz_core.standing`), not by following `user_events` as the apps do.
    keys = PublishedKeys(
        keyring, now=lambda: core.clock.now(), access_token_seconds=settings.access_token_seconds
    )
    verifier = TokenVerifier(
        keys,
        issuer=settings.issuer,
        audience=settings.audiences,
        clock=lambda: core.clock.now().timestamp(),
    )
    # `/oauth/userinfo` also takes a third-party client's token, whose audience is the issuer.
    userinfo_verifier = TokenVerifier(
        keys,
        issuer=settings.issuer,
        audience=(settings.issuer, *settings.audiences),
        clock=lambda: core.clock.now().timestamp(),
    )
    return create_service(
        name="core",
        title="Atriz core",
        description="Shared sign-in for every Atriz app.",
        route_handlers=[
            AuthController,
            LinkPagesController,
            AdminController,
            ClientAdminController,
            DiscoveryController,
            TokenController,
            OidcController,
            SignInController,
            jwks,
        ],
        verifier=verifier,
        environment=settings.environment,
        collectors=[CORE_METRICS],
        metrics_token=settings.metrics_token,
        database_url=settings.database_url,
        database=database,
        require_sign_in=False,
        transaction_per_write=False,
        max_body_bytes=MAX_BODY_BYTES,
        lifespan=[restored_events_renumbered(), stale_limit_purger(core)],
        on_shutdown=[core.hasher.close],
        state={"core": core, USERINFO_VERIFIER_STATE_KEY: userinfo_verifier},
        request_class=CoreRequest,
    )


def create_app_from_env() -> Litestar:
    """The app as `atriz serve core` runs it: settings from the environment and `.env`."""
    from atriz_database.settings import load_env_file

    load_env_file()
    return create_app(CoreSettings.from_env())


def restored_events_renumbered(
    state_key: str = "db_pool",
) -> Callable[[Litestar], contextlib.AbstractAsyncContextManager[None]]:
    """A lifespan that renumbers, as core starts, the user events restored by hand from a dump
    of another server (`RENUMBER_RESTORED_SQL`; `db-restore` does it itself): the apps wait for
    it, then read them at once."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        renumbered = await renumber_restored_events(app.state[state_key])
        if renumbered:
            logger.warning(
                "%d user events came from another server (restored by hand): renumbered",
                renumbered,
            )
        yield

    return lifespan


def stale_limit_purger(
    core: Core, state_key: str = "db_pool", interval: float = PURGE_INTERVAL_SECONDS
) -> Callable[[Litestar], contextlib.AbstractAsyncContextManager[None]]:
    """A lifespan that purges ended windows every `interval` seconds, so that the limit tables
    hold only live counters however many addresses come and go, and old authorization codes."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    await purge_stale_limits(
                        app.state[state_key],
                        core.clock.now(),
                        address_window_seconds=core.settings.address_window_seconds,
                        request_window_seconds=core.settings.request_limit_window_seconds,
                    )
                    # Kept a day past their 60 s, so that a replayed nonce is refused that long.
                    await purge_codes(app.state[state_key], core.clock.now() - CODES_KEPT)
                except Exception as exc:  # retried next round; never fatal to the service
                    logger.warning("purging stale request limits failed: %s", type(exc).__name__)

        task = asyncio.create_task(loop(), name="purge-stale-limits")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan
