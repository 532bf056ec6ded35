"""The `/auth` routes: HTTP only; the rules live in `services`."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from atriz_core.accounts import links, services
from atriz_core.accounts.schemas import (
    Accepted,
    EmailVerificationConfirm,
    Login,
    Logout,
    Me,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    Refresh,
    Registration,
    TokenPair,
    User,
)
from atriz_core.context import Core
from atriz_core.kit.database import DbConnection
from atriz_core.kit.openapi import problem_responses
from atriz_core.mail import MailMessage
from atriz_core.request import CoreRequest
from atriz_core.sessions import services as sessions
from atriz_core.standing import requires_open_session

__all__ = ["AuthController"]

RESET_REQUESTED = "if an account uses this address, a reset link is on its way"


def _after_response(core: Core, mail: MailMessage | None) -> BackgroundTask | None:
    # Sent after the response, so that its timing says nothing about whether an account exists.
    return BackgroundTask(core.mailer.send, mail) if mail is not None else None


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    # Routes that hash a password take no connection: the services acquire one around the
    # hashing, so that a login burst cannot hold the pool while it waits for hashing threads.

    @post("/register", responses=problem_responses(409, 422, 429, 503))
    async def register(self, data: JSONBody[Registration], request: CoreRequest) -> Response[User]:
        """Create an account. The password needs 8 to 128 characters and must not be a common
        one; an e-mail verification link is sent."""
        user, mail = await services.register(
            request.pool,
            request.core,
            email=data.email,
            password=data.password,
            name=data.name,
            context=request.context,
        )
        return Response(user, status_code=201, background=_after_response(request.core, mail))

    @post("/login", status_code=HTTP_200_OK, responses=problem_responses(401, 429, 503))
    async def login(self, data: JSONBody[Login], request: CoreRequest) -> TokenPair:
        """Sign in: an access token for the apps and a refresh token for this session."""
        return await services.log_in(
            request.pool,
            request.core,
            email=data.email,
            password=data.password,
            context=request.context,
        )

    @post("/refresh", status_code=HTTP_200_OK, responses=problem_responses(401))
    async def refresh(
        self, data: JSONBody[Refresh], conn: DbConnection, request: CoreRequest
    ) -> TokenPair:
        """Exchange a refresh token for new tokens; the old refresh token is spent."""
        return await sessions.refresh_session(
            conn, request.core, refresh_token=data.refresh_token, context=request.context
        )

    @post("/logout", status_code=HTTP_204_NO_CONTENT)
    async def logout(
        self, data: JSONBody[Logout], conn: DbConnection, request: CoreRequest
    ) -> None:
        """End the session of this refresh token."""
        await sessions.log_out(
            conn, request.core, refresh_token=data.refresh_token, context=request.context
        )

    @post("/logout-all", status_code=HTTP_204_NO_CONTENT, guards=[requires_open_session])
    async def logout_all(self, conn: DbConnection, request: CoreRequest) -> None:
        """End every session of the signed-in user."""
        await sessions.log_out_everywhere(conn, request.core, request.user, request.context)

    @get("/me", guards=[requires_open_session])
    async def me(self, conn: DbConnection, request: CoreRequest) -> Me:
        """The signed-in user, with their roles."""
        return await services.describe_me(conn, request.user)

    @post(
        "/password",
        status_code=HTTP_204_NO_CONTENT,
        guards=[requires_open_session],
        responses=problem_responses(422, 429, 503),
    )
    async def change_password(self, data: JSONBody[PasswordChange], request: CoreRequest) -> None:
        """Change the password; every other session of the user ends. A wrong current password
        counts toward the account's lockout like a failed login."""
        await services.change_password(
            request.pool,
            request.core,
            request.user,
            current_password=data.current_password,
            new_password=data.new_password,
            context=request.context,
        )

    @post(
        "/verify-email/request",
        status_code=HTTP_202_ACCEPTED,
        guards=[requires_open_session],
        responses=problem_responses(429),
    )
    async def request_email_verification(self, request: CoreRequest) -> Response[Accepted]:
        """Send a new e-mail verification link to the signed-in user."""
        mail = await services.request_email_verification(
            request.pool, request.core, request.user, request.context
        )
        detail = "a verification link is on its way" if mail else "the address is verified"
        return Response(
            Accepted(detail),
            status_code=HTTP_202_ACCEPTED,
            background=_after_response(request.core, mail),
        )

    @post(
        "/verify-email/confirm", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(422)
    )
    async def confirm_email_verification(
        self,
        data: JSONBody[EmailVerificationConfirm],
        conn: DbConnection,
        request: CoreRequest,
    ) -> None:
        """Mark the address verified with the token from the verification link."""
        await links.confirm_email_verification(
            conn, request.core, token=data.token, context=request.context
        )

    @post(
        "/password-reset/request",
        status_code=HTTP_202_ACCEPTED,
        responses=problem_responses(429),
    )
    async def request_password_reset(
        self, data: JSONBody[PasswordResetRequest], request: CoreRequest
    ) -> Response[Accepted]:
        """Mail a password reset link. Answers the same, and as fast, whether or not the address
        is known: the account is looked up after the answer."""
        pool, core, context = request.pool, request.core, request.context
        await links.request_password_reset(pool, core, email=data.email, context=context)
        return Response(
            Accepted(RESET_REQUESTED),
            status_code=HTTP_202_ACCEPTED,
            background=BackgroundTask(
                links.send_password_reset, pool, core, email=data.email, context=context
            ),
        )

    @post(
        "/password-reset/confirm",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(422, 429, 503),
    )
    async def confirm_password_reset(
        self, data: JSONBody[PasswordResetConfirm], request: CoreRequest
    ) -> None:
        """Set a new password with the token from the reset link; every session ends."""
        await links.confirm_password_reset(
            request.pool,
            request.core,
            token=data.token,
            new_password=data.new_password,
            context=request.context,
        )
