"""A request id on every request: in the `X-Request-ID` response header, in every problem
details body (`request_id`), and on every log line written while the request runs.

An incoming `X-Request-ID` is kept when it is well-formed (1 to 128 characters of
`A-Z a-z 0-9 . _ : -`), so a proxy's or a caller's id follows the request through; anything else
is replaced by a fresh one, because the id is echoed into logs and headers and must not carry
what a caller chose to inject (line breaks, markup, a megabyte).

`RequestContextMiddleware` sets the id, binds it for structlog (`structlog.contextvars`) for the
request's duration, and writes one log line per request: method, route template, status,
duration. Nothing else of the request is logged: no query string (a link's token travels there),
no header (`Authorization`, `Cookie`), no body.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any, cast

import structlog
from litestar import Request, Response

# Litestar puts this same wrapper between every route's middleware and its handler; it is not
# exported (removed from the public API in 2.x), hence the private import. The tests of the
# 401's status, header and log line fail if a Litestar upgrade moves or changes it.
from litestar._asgi.utils import wrap_in_exception_handler
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import (
    ASGIApp,
    ExceptionHandler,
    HTTPScope,
    Message,
    Receive,
    Scope,
    Send,
)

__all__ = [
    "REQUEST_ID_HEADER",
    "REQUEST_ID_STATE_KEY",
    "RequestContextMiddleware",
    "request_id_of",
    "with_request_id",
]

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_STATE_KEY = "request_id"
"""The id is in `scope["state"]`: handlers read `request.state.request_id`."""
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_HEADER_NAME = REQUEST_ID_HEADER.lower().encode("latin-1")
# Probes and scrapes come every few seconds: their lines would drown the rest at INFO.
_QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})

access_log = structlog.get_logger("atriz.requests")


def request_id_of(scope: Scope) -> str:
    """The request's id, set on first use: the incoming `X-Request-ID` if well-formed, else a
    new one of 128 random bits (32 hex digits). The middleware sets it first; exception
    handlers call this too, because a request that matched no route (404, 405) never passes
    through route middleware."""
    state: dict[str, Any] = scope.setdefault("state", {})
    known: str | None = state.get(REQUEST_ID_STATE_KEY)
    if known is None:
        incoming = next((value for name, value in scope["headers"] if name == _HEADER_NAME), b"")
        text = incoming.decode("latin-1")
        known = text if _WELL_FORMED.fullmatch(text) else secrets.token_hex(16)
        state[REQUEST_ID_STATE_KEY] = known
    return known


class RequestContextMiddleware(ASGIMiddleware):
    """Sets the request id (state, response header, structlog context) and logs one line when
    the request ends.

    Errors raised by the middleware inside it (a 401 from `AtrizAuth`) are rendered here, by the
    app's exception handlers, rather than by Litestar's outermost handler: so the id is still
    bound while they log, the response passes through this middleware's `send` (header, status
    in the log line), and so do the metrics middleware outside it.
    """

    scopes = (ScopeType.HTTP,)

    def __call__(self, app: ASGIApp) -> ASGIApp:
        # Built once per route: errors from inside are rendered before they leave this one.
        return super().__call__(wrap_in_exception_handler(app))

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request_id = request_id_of(scope)
        bound = structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500  # until a response starts: a failure that sent nothing

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                # An error's answer has it already (`with_request_id`).
                if not any(name.lower() == _HEADER_NAME for name, _ in headers):
                    headers.append((_HEADER_NAME, request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await next_app(scope, receive, send_with_id)
        finally:
            route = scope.get("path_template", "")
            log = access_log.debug if route in _QUIET_PATHS else access_log.info
            log(
                "request",
                method=cast("HTTPScope", scope)["method"],
                path=route,
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.reset_contextvars(**bound)


def with_request_id(handler: ExceptionHandler[Any]) -> ExceptionHandler[Any]:
    """`handler`, whose answer gains the request's id: in the `X-Request-ID` header and, for a
    JSON object body (problem details), as its `request_id` member."""

    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        response = handler(request, exc)
        request_id = request_id_of(request.scope)
        if isinstance(response.content, dict):
            response.content["request_id"] = request_id
        response.set_header(REQUEST_ID_HEADER, request_id)
        if "path_template" not in request.scope:
            # It matched no route (404, 405), so no middleware saw it: its line is written here.
            access_log.info(
                "request",
                method=request.method,
                path=None,
                status=response.status_code,
                request_id=request_id,
            )
        return response

    return handle
