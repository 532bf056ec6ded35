"""The profile routes: HTTP only."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, put
from litestar.params import FromPath, JSONBody

from atriz_core.client import PUBLIC
from atriz_core.client.verifier import Principal
from atriz_core.kit.database import DbConnection, SharedDb
from atriz_core.kit.openapi import problem_responses
from atriz_website.profiles import services
from atriz_website.profiles.schemas import Profile, ProfileUpdate, PublicProfile

__all__ = ["ProfileController"]


class ProfileController(Controller):
    path = "/profiles"
    tags = ["profiles"]

    @get("/me")
    async def get_my_profile(
        self, conn: DbConnection, shared_conn: SharedDb, request: Request[Principal, Any, Any]
    ) -> Profile:
        """The signed-in user's profile, every field; created on the first request, named
        after the account."""
        return await services.get_own_profile(conn, shared_conn, request.user.id)

    @put("/me", responses=problem_responses(422))
    async def update_my_profile(
        self,
        data: JSONBody[ProfileUpdate],
        conn: DbConnection,
        shared_conn: SharedDb,
        request: Request[Principal, Any, Any],
    ) -> Profile:
        """Replace the signed-in user's profile: display name, bio, avatar (https), locale,
        IANA time zone and preferences (a JSON object of at most 4 KiB)."""
        return await services.update_own_profile(conn, shared_conn, request.user.id, data)

    @get("/{user_id:uuid}", opt=PUBLIC, responses=problem_responses(404))
    async def get_profile(
        self, user_id: FromPath[uuid.UUID], conn: DbConnection, shared_conn: SharedDb
    ) -> PublicProfile:
        """A user's public profile (no token needed); 404 for a user without one, or deleted."""
        return await services.get_public_profile(conn, shared_conn, user_id)
