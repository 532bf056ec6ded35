"""What the mextrack benchmarks share: its databases, the app under granian, tokens, points."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from _support import BENCH_ISSUER, core_database, scratch_database, serve

from atriz_core.testing.tokens import TokenMinter
from atriz_database.migrations import migrate
from atriz_mextrack.db import target

DISPATCHER_ROLES = ("user", "mextrack.dispatcher")


def minter() -> TokenMinter:
    return TokenMinter(BENCH_ISSUER, ("mextrack",))


def dispatcher_token(signer: TokenMinter) -> str:
    user = uuid.uuid4()
    return signer.access_token(
        user_id=user,
        email=f"{user.hex[:8]}@bench.test",
        roles=DISPATCHER_ROLES,
        lifetime_seconds=3600,
    )


@contextmanager
def mextrack_databases() -> Iterator[tuple[str, str]]:
    """A scratch `atriz_shared` and a scratch `mextrack_db`, migrated; dropped afterwards."""
    with core_database() as shared, scratch_database("mextrack") as own:
        migrate(target, own, requirement_met=lambda _: True, out=lambda _: None)
        yield own, shared


@contextmanager
def serving_mextrack(own: str, shared: str, signer: TokenMinter, workers: int) -> Iterator[str]:
    env = {
        "MEXTRACK_DATABASE_URL": own,
        "MEXTRACK_SHARED_DATABASE_URL": shared,
        "BENCH_JWKS": json.dumps(signer.jwks),
        "BENCH_ISSUER": BENCH_ISSUER,
        "ATRIZ_ENV": "production",  # JSON log lines, as served; no development defaults
        "ATRIZ_CURSOR_SECRET": secrets.token_urlsafe(32),
        "MEXTRACK_OIDC_CLIENT_SECRET": secrets.token_urlsafe(32),  # sign-in pages, unused here
    }
    with serve("mextrack_app:create_bench_app", workers=workers, env=env) as base:
        yield base


def points(start: datetime, count: int, *, lat: float = 19.43, lon: float = -99.13) -> list[Any]:
    """`count` fixes a second apart, driving east at 36 km/h (no jumps), as JSON objects."""
    return [
        {
            "recorded_at": (start + timedelta(seconds=i)).isoformat(),
            "latitude": lat,
            "longitude": lon + 0.0001 * i,
            "speed_kmh": 36.0,
            "heading": 90.0,
            "accuracy_m": 5.0,
        }
        for i in range(count)
    ]
