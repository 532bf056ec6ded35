"""Core's sign-in page, `/oauth/sign-in`: the login of `/auth/login` (the same service, limits
and answers) behind a form, which starts the browser's session at core."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from litestar import Controller, Response, get, post
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_303_SEE_OTHER

from atriz_core.accounts.services import LOGIN_FAILED
from atriz_core.errors import (
    AuthenticationError,
    DomainError,
    ServiceBusyError,
    TooManyRequestsError,
)
from atriz_core.oidc import pages, services
from atriz_core.oidc.web import (
    client_of,
    csrf_cookie,
    csrf_tokens,
    csrf_valid,
    multi_items,
    origin,
    page_errors,
    session_cookie,
    session_cookie_name,
)
from atriz_core.passwords.policy import MAX_LENGTH
from atriz_core.request import CoreRequest

__all__ = ["SignInController"]

_MAX_RETURN_TO = 2000


class SignInController(Controller):
    """Core's sign-in page."""

    path = "/oauth/sign-in"
    include_in_schema = False
    exception_handlers = {
        DomainError: page_errors,
        HTTPException: page_errors,
        Exception: page_errors,
    }

    @get("/")
    async def sign_in_form(self, request: CoreRequest) -> Response[Any]:
        """The sign-in form; a browser signed in already goes on to where it was going."""
        return_to = _safe_return_to(request.query_params.get("return_to"))
        session = await services.browser_session(
            request.pool, request.core, request.cookies.get(session_cookie_name(request))
        )
        csrf_value, cookies = csrf_cookie(request)
        csrf_token = csrf_tokens(request).form_token(csrf_value)
        if session is not None and not request.query_params.get("reauth"):
            if return_to:
                return Response(
                    b"", status_code=HTTP_303_SEE_OTHER, headers={"Location": return_to}
                )
            response = pages.signed_in_page(session.name, session.email, csrf_token)
        else:
            response = await _sign_in_form(request, csrf_token, return_to)
        response.cookies.extend(cookies)
        return response

    @post("/")
    async def sign_in(self, request: CoreRequest) -> Response[Any]:
        """Check the e-mail and password, as `POST /auth/login` does (same limits, same
        answers), and start the browser's session at core."""
        form = dict(multi_items(await request.form()))
        return_to = _safe_return_to(form.get("return_to"))
        email, password = form.get("email", "").strip(), form.get("password", "")
        csrf_value, cookies = csrf_cookie(request)
        csrf_token = csrf_tokens(request).form_token(csrf_value)
        if not csrf_valid(request, form.get("csrf_token")):
            response = await _sign_in_form(
                request,
                csrf_token,
                return_to,
                email=email,
                problem="This form had expired. Sign in again.",
                status=403,
            )
        elif not email or len(email) > 254 or not password or len(password) > MAX_LENGTH:
            response = await _sign_in_form(
                request, csrf_token, return_to, email=email, problem=_failed(), status=401
            )
        else:
            try:
                signed_in = await services.start_browser_session(
                    request.pool,
                    request.core,
                    email=email,
                    password=password,
                    context=request.context,
                )
            except AuthenticationError:
                response = await _sign_in_form(
                    request, csrf_token, return_to, email=email, problem=_failed(), status=401
                )
            except (TooManyRequestsError, ServiceBusyError) as exc:
                response = pages.error_page(
                    exc.title, exc.detail, status=exc.status, retry_after=exc.retry_after_seconds
                )
            else:
                await services.replace_browser_session(
                    request.pool,
                    request.core,
                    request.cookies.get(session_cookie_name(request)),
                    signed_in,
                    request.context,
                )
                cookie = session_cookie(
                    request, signed_in.token, request.core.settings.session_max_seconds
                )
                return Response(
                    b"",
                    status_code=HTTP_303_SEE_OTHER,
                    headers={"Location": return_to or "/oauth/sign-in"},
                    cookies=[cookie, *cookies],
                )
        response.cookies.extend(cookies)
        return response


def _failed() -> str:
    return f"{LOGIN_FAILED[0].upper()}{LOGIN_FAILED[1:]}."


def _safe_return_to(value: str | None) -> str | None:
    """Where a sign-in may continue: core's own authorization endpoint, nothing else (no other
    host, no other path), so that the sign-in page is no open redirect."""
    if not value or len(value) > _MAX_RETURN_TO or not value.startswith("/oauth/authorize?"):
        return None
    if "\\" in value or any(c.isspace() or ord(c) < 32 for c in value):
        return None
    return value


async def _sign_in_form(
    request: CoreRequest,
    csrf_token: str,
    return_to: str | None,
    *,
    email: str = "",
    problem: str | None = None,
    status: int = 200,
) -> Response[str]:
    # The client this sign-in is for: its name on the page, and its redirect URI's origin in
    # the form's `form-action`, where the sign-in's redirects end.
    client_name, targets = None, []
    if return_to:
        query = dict(parse_qsl(urlsplit(return_to).query))
        client = await client_of(request, query.get("client_id"))
        redirect_uri = query.get("redirect_uri", "")
        if client is not None and redirect_uri in client.redirect_uris:
            client_name, targets = client.name, [origin(redirect_uri)]
    return pages.sign_in_page(
        csrf_token=csrf_token,
        return_to=return_to,
        client_name=client_name,
        email=email,
        problem=problem,
        status=status,
        form_targets=targets,
    )
