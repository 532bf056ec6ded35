"""The mextrack service: its controllers, its user-event policy, its partitions kept ahead."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace

from litestar import Litestar

from atriz_core.client.verifier import TokenVerifier
from atriz_core.kit.database import pool_lifespan
from atriz_core.kit.service import app_service
from atriz_database.settings import load_env_file
from atriz_mextrack.devices.controllers import DeviceTokenController
from atriz_mextrack.pages import home
from atriz_mextrack.positions import partitions
from atriz_mextrack.positions.controllers import (
    SETTINGS_STATE_KEY,
    LatestController,
    PositionController,
)
from atriz_mextrack.positions.partitions import PARTITIONS_POOL_KEY
from atriz_mextrack.settings import MextrackSettings
from atriz_mextrack.users import apply_user_event
from atriz_mextrack.vehicles.controllers import VehicleController

__all__ = ["create_app", "create_app_from_env"]

logger = logging.getLogger(__name__)
PARTITION_CHECK_SECONDS = 3600.0


def _partitions_ahead(
    settings: MextrackSettings,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A lifespan that creates the coming days' partitions at start and every hour after."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = app.state[PARTITIONS_POOL_KEY]
        created = await partitions.ensure_ahead(pool, settings.partitions_ahead_days)
        if created:
            logger.info("created partitions %s", ", ".join(created))

        async def keep_ahead() -> None:
            while True:
                await asyncio.sleep(PARTITION_CHECK_SECONDS)
                try:
                    await partitions.ensure_ahead(pool, settings.partitions_ahead_days)
                except Exception:  # the next round tries again; a batch creates its own
                    logger.exception("could not create the coming days' partitions")

        task = asyncio.create_task(keep_ahead(), name="mextrack-partitions")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan


def create_app(settings: MextrackSettings, *, verifier: TokenVerifier | None = None) -> Litestar:
    """The whole service: vehicles, device tokens, positions, and the user-event policy."""
    # Positions are partitioned by day: see `DatabaseSettings.custom_plans`.
    settings = replace(settings, database=replace(settings.database, custom_plans=True))
    app = app_service(
        settings,
        route_handlers=[
            VehicleController,
            DeviceTokenController,
            PositionController,
            LatestController,
            home,
        ],
        verifier=verifier,
        user_events=apply_user_event,
        description="Fleet tracking: vehicles, their trackers and their GPS positions.",
        lifespan=[
            # Partitions are made on a connection of their own, never one more of the pool the
            # batches hold theirs from: batches waiting for a vehicle's lock while its batch
            # waited for a second connection of that pool starved it (every request then waited
            # out the acquire timeout).
            pool_lifespan(
                PARTITIONS_POOL_KEY,
                settings.database_url,
                replace(settings.database, pool_min_size=0, pool_max_size=1),
                lazy=True,
            ),
            _partitions_ahead(settings),
        ],
    )
    app.state[SETTINGS_STATE_KEY] = settings
    return app


def create_app_from_env() -> Litestar:
    """Entry point `atriz.services`, for `atriz serve mextrack`."""
    load_env_file()
    return create_app(MextrackSettings.from_env())
