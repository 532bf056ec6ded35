"""The `/admin` routes; every one requires the `admin` role, in the caller's token and, checked
on every request, in `atriz_shared` (an administrator demoted or deactivated a minute ago still
holds a token that says `admin`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from atriz_core.admin import services
from atriz_core.admin.schemas import ROLE_NAME_PATTERN, Role, RoleCreate, RoleGrant, UserSummary
from atriz_core.client.litestar import requires_role
from atriz_core.kit.database import DbConnection
from atriz_core.kit.openapi import problem_responses
from atriz_core.kit.pagination import CursorCodec, Page, cursor_secret_from_signing_key
from atriz_core.kit.pagination_params import PageCursor, page_limit, schema_name
from atriz_core.kit.text import NO_NUL
from atriz_core.request import CoreRequest
from atriz_core.standing import ADMIN_ROLE, requires_active_admin

__all__ = ["AdminController"]

UserPage = Annotated[Page[UserSummary], schema_name("UserPage")]
"""A page of the admin user list: `{"items": [...], "next_cursor": "..." | null}`."""


class AdminController(Controller):
    path = "/admin"
    tags = ["admin"]
    # In this order: the token check costs no query and turns most callers away.
    guards = [requires_role(ADMIN_ROLE), requires_active_admin]

    @get("/users")
    async def list_users(
        self,
        conn: DbConnection,
        request: CoreRequest,
        q: Annotated[
            str | None,
            QueryParameter(max_length=200, pattern=NO_NUL, description="part of e-mail or name"),
        ] = None,
        limit: Annotated[int, page_limit(100)] = 50,
        cursor: PageCursor = None,
    ) -> UserPage:
        """Users, oldest first, optionally only those whose e-mail or name contains `q`; one
        page at a time: pass a page's `next_cursor` as `cursor` to get the next one.

        No total: counting every matching user on every page is the cost keyset pagination
        avoids. Cursors are signed with a secret derived from the key core signs with, the same
        in every core process at a given moment, so a key rotation invalidates the cursors open
        when the new key becomes current (400): the list starts again.
        """
        signing = request.core.keyring.signing(request.core.clock.now())
        secret = cursor_secret_from_signing_key(signing.private_key.private_bytes_raw())
        return await services.list_users(
            conn, CursorCodec(secret), query=q, limit=limit, cursor=cursor
        )

    @post(
        "/users/{user_id:uuid}/deactivate",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(404, 409),
    )
    async def deactivate_user(
        self,
        user_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: CoreRequest,
    ) -> None:
        """Stop the user from signing in and end their sessions."""
        await services.deactivate_user(conn, request.core, request.user, user_id, request.context)

    @post(
        "/users/{user_id:uuid}/reactivate",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(404),
    )
    async def reactivate_user(
        self,
        user_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: CoreRequest,
    ) -> None:
        """Let a deactivated user sign in again."""
        await services.reactivate_user(conn, request.core, request.user, user_id, request.context)

    @delete(
        "/users/{user_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(404, 409),
    )
    async def delete_user(
        self,
        user_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: CoreRequest,
    ) -> None:
        """Delete the account (soft: the row stays for the apps' references)."""
        await services.delete_user(conn, request.core, request.user, user_id, request.context)

    @get("/roles")
    async def list_roles(self, conn: DbConnection) -> list[Role]:
        """Every role."""
        return await services.list_roles(conn)

    @post("/roles", responses=problem_responses(409))
    async def create_role(
        self,
        data: JSONBody[RoleCreate],
        conn: DbConnection,
        request: CoreRequest,
    ) -> Role:
        """Create a role: global (`admin`) or scoped to one app (`pshop.manager`)."""
        return await services.create_role(
            conn,
            request.user,
            name=data.name,
            description=data.description,
            context=request.context,
        )

    @post(
        "/users/{user_id:uuid}/roles",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(404),
    )
    async def grant_role(
        self,
        user_id: FromPath[uuid.UUID],
        data: JSONBody[RoleGrant],
        conn: DbConnection,
        request: CoreRequest,
    ) -> None:
        """Grant a role to a user; it appears in their next access token."""
        await services.grant_role(
            conn, request.user, user_id, data.role, request.context, clock=request.core.clock
        )

    @delete(
        "/users/{user_id:uuid}/roles/{role:str}",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(404, 409),
    )
    async def revoke_role(
        self,
        user_id: FromPath[uuid.UUID],
        role: Annotated[str, PathParameter(pattern=ROLE_NAME_PATTERN)],
        conn: DbConnection,
        request: CoreRequest,
    ) -> None:
        """Take a role from a user."""
        await services.revoke_role(
            conn, request.user, user_id, role, request.context, clock=request.core.clock
        )
