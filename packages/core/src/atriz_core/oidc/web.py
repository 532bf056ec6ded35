"""What the provider's routes share: its cookies, CSRF tokens, request parsing, error pages.

The cookies: the browser session's (`HttpOnly`, `SameSite=Lax`, so that a sign-in at one app
carries to the next app's top-level redirect; `Secure` and `__Host-` prefixed outside
development, where core is served over https), and the CSRF cookie (`SameSite=Strict`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.base import invalid_error_characters
from authlib.oauth2.rfc6749 import InvalidRequestError
from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException

from atriz_core.clients import repository as clients
from atriz_core.clients.repository import ClientRecord
from atriz_core.errors import DomainError
from atriz_core.kit.problems import handle_unexpected
from atriz_core.oidc import pages
from atriz_core.oidc.csrf import CsrfTokens
from atriz_core.oidc.server import OAuthResponse
from atriz_core.request import CoreRequest

__all__ = [
    "answer",
    "client_of",
    "csrf_cookie",
    "csrf_tokens",
    "csrf_valid",
    "multi_items",
    "origin",
    "page_errors",
    "refused",
    "session_cookie",
    "session_cookie_name",
    "unquotable",
    "uri_of",
]

_CLIENT_ID = re.compile(r"[a-z][a-z0-9_.-]{0,62}")
# The parameters Authlib may quote in an error's description, which it then refuses, with a
# ValueError (a 500), if they hold characters RFC 6749 forbids there: outside printable ASCII,
# `"` and `\`. No valid value of any of them holds one.
_QUOTED_PARAMETERS = frozenset(
    {
        "client_id",
        "code_challenge_method",
        "grant_type",
        "post_logout_redirect_uri",
        "prompt",
        "redirect_uri",
        "response_mode",
        "response_type",
        "scope",
    }
)


def session_cookie_name(request: CoreRequest) -> str:
    """`__Host-` binds the cookie to core's own host (no Domain, path `/`, https only)."""
    return "__Host-atriz_session" if request.core.settings.secure_cookies else "atriz_session"


def _csrf_cookie_name(request: CoreRequest) -> str:
    return "__Host-atriz_csrf" if request.core.settings.secure_cookies else "atriz_csrf"


def csrf_tokens(request: CoreRequest) -> CsrfTokens:
    """Made with the key core signs with now, checked against either key it holds."""
    ring = request.core.keyring
    signing = ring.signing(request.core.clock.now())
    others = [key for key in ring.keys if key is not signing]
    return CsrfTokens(
        signing.private_key.private_bytes_raw(),
        also=[key.private_key.private_bytes_raw() for key in others],
    )


def csrf_cookie(request: CoreRequest) -> tuple[str, list[Cookie]]:
    """The browser's CSRF cookie value, and the cookie to set if it has none yet."""
    existing = request.cookies.get(_csrf_cookie_name(request))
    if existing and len(existing) <= 100:
        return existing, []
    value = CsrfTokens.new_cookie()
    cookie = Cookie(
        key=_csrf_cookie_name(request),
        value=value,
        path="/",
        httponly=True,
        secure=request.core.settings.secure_cookies,
        samesite="strict",
    )
    return value, [cookie]


def csrf_valid(request: CoreRequest, token: str | None) -> bool:
    return csrf_tokens(request).valid(request.cookies.get(_csrf_cookie_name(request)), token)


def uri_of(request: CoreRequest) -> str:
    """The request's URI as Authlib checks it: core's public URL (https in production)."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{request.core.settings.public_url}{request.url.path}" + (f"?{query}" if query else "")


def origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def answer(authlib_answer: OAuthResponse, cookies: Sequence[Cookie] = ()) -> Response[Any]:
    """Authlib's answer as a Litestar response."""
    headers = dict(authlib_answer.headers)
    media_type = headers.pop("Content-Type", "application/json")
    return Response(
        authlib_answer.body if authlib_answer.body != "" else b"",
        status_code=authlib_answer.status,
        headers=headers,
        media_type=media_type,
        cookies=list(cookies),
    )


def refused(error: OAuth2Error) -> Response[Any]:
    """An authorization or logout request Authlib refused: back to the client only when the
    client and its redirect URI were verified, else an error page."""
    status, body, headers = error()
    if status == 302:
        return answer(OAuthResponse(status, body, headers))
    return pages.error_page(
        "This sign-in request is not valid",
        f"{error.description or error.error}. Go back to the app and try again; if it happens"
        " again, tell the app's administrator.",
    )


def unquotable(params: Iterable[tuple[str, str]]) -> InvalidRequestError | None:
    """`invalid_request` naming the first parameter that Authlib could not quote in an error,
    to answer before Authlib sees the request; None when there is none."""
    for name, value in params:
        if name in _QUOTED_PARAMETERS and invalid_error_characters(value):
            return InvalidRequestError(f"{name} holds characters that are not allowed in it")
    return None


def multi_items(values: Any) -> list[tuple[str, str]]:
    return [(k, v) for k, v in values.multi_items() if isinstance(v, str)]


async def client_of(request: CoreRequest, client_id: str | None) -> ClientRecord | None:
    if not client_id or not _CLIENT_ID.fullmatch(client_id):
        return None
    return await clients.get_client(request.pool, client_id)


def page_errors(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    """Any error on a browser route as a page; never Litestar's text, which quotes the URL."""
    if isinstance(exc, DomainError):
        return pages.error_page(
            exc.title,
            exc.detail,
            status=exc.status,
            retry_after=getattr(exc, "retry_after_seconds", None),
        )
    if isinstance(exc, HTTPException):
        return pages.error_page(
            "The request could not be handled", "Go back and try again.", status=exc.status_code
        )
    problem = handle_unexpected(request, exc)
    status = problem.status_code or 500
    return pages.error_page(
        "Something went wrong" if status == 500 else "The service is busy",
        "Try again in a moment.",
        status=status,
    )


def session_cookie(request: CoreRequest, value: str, max_age: int) -> Cookie:
    """The browser session's cookie (`max_age=0` and no value: its removal)."""
    return Cookie(
        key=session_cookie_name(request),
        value=value,
        path="/",
        max_age=max_age,
        httponly=True,
        secure=request.core.settings.secure_cookies,
        samesite="lax",
    )
