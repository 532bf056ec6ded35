"""The `/admin/clients` routes: register, list, show, rotate the secret of and remove OpenID
Connect clients; for the `admin` role, checked as every admin route checks it."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.params import JSONBody, PathParameter
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from atriz_core.client.litestar import requires_role
from atriz_core.clients import services
from atriz_core.clients.schemas import CLIENT_ID_PATTERN, Client, ClientCreate, RegisteredClient
from atriz_core.kit.database import DbConnection
from atriz_core.kit.openapi import problem_responses
from atriz_core.request import CoreRequest
from atriz_core.standing import ADMIN_ROLE, requires_active_admin

__all__ = ["ClientAdminController"]

ClientIdParameter = Annotated[str, PathParameter(pattern=CLIENT_ID_PATTERN, max_length=63)]


class ClientAdminController(Controller):
    path = "/admin/clients"
    tags = ["admin"]
    guards = [requires_role(ADMIN_ROLE), requires_active_admin]

    @get("/")
    async def list_clients(self, conn: DbConnection) -> list[Client]:
        """Every registered client (never a secret)."""
        return [services.client_view(c) for c in await services.list_clients(conn)]

    @post("/", responses=problem_responses(409, 422))
    async def register_client(
        self, data: JSONBody[ClientCreate], conn: DbConnection, request: CoreRequest
    ) -> RegisteredClient:
        """Register a client. A confidential one gets a secret, shown in this answer only."""
        client, secret = await services.register_client(
            conn, data, actor=request.user.id, context=request.context
        )
        return services.registered_view(client, secret)

    @get("/{client_id:str}", responses=problem_responses(404))
    async def show_client(self, client_id: ClientIdParameter, conn: DbConnection) -> Client:
        """One client."""
        return services.client_view(await services.existing_client(conn, client_id))

    @post(
        "/{client_id:str}/secret",
        status_code=HTTP_200_OK,
        responses=problem_responses(404, 409),
    )
    async def rotate_secret(
        self, client_id: ClientIdParameter, conn: DbConnection, request: CoreRequest
    ) -> RegisteredClient:
        """Give a confidential client a new secret, shown in this answer only; the old one
        stops working at once."""
        client, secret = await services.rotate_client_secret(
            conn,
            client_id,
            request.core.clock.now(),
            actor=request.user.id,
            context=request.context,
        )
        return services.registered_view(client, secret)

    @delete("/{client_id:str}", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(404))
    async def remove_client(
        self, client_id: ClientIdParameter, conn: DbConnection, request: CoreRequest
    ) -> None:
        """Remove a client; its sessions end, and the apps refuse the access tokens they
        issued within seconds."""
        await services.remove_client(
            conn,
            client_id,
            request.core.clock,
            actor=request.user.id,
            context=request.context,
        )
