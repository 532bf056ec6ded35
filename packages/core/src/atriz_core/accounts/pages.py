"""The pages that the links in core's mail open: confirm an e-mail address, choose a new password.

Server-rendered HTML with no script, for any browser. Why they are built as they are:

- A GET only shows a form and never spends the token. Mail scanners and link previews fetch
  every link in a mail; a GET that acted would verify an address nobody clicked, or burn a reset
  link before its owner arrives. The token goes into a hidden field and the user's click POSTs it.
- The POST needs no CSRF token of its own: the token from the mail is the secret, and a site that
  makes a browser post here cannot supply it.
- The token is never written to a log: the forms post to a URL without the query string (so it
  does not travel in a URL twice); `Referrer-Policy: no-referrer` keeps the link's URL out of the
  `Referer` of the form's post; services run without an access log (`--no-access-log`); errors
  are logged with method and path only (`web.problems`); and no error page repeats Litestar's
  validation message, which quotes the query string.
- Every page, error pages included, is sent with a Content-Security-Policy that allows no script,
  no framing and no form target but this service, and with `Cache-Control: no-store` so a shared
  computer's cache keeps no page with a token in it.
"""

from __future__ import annotations

from html import escape
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromQuery, URLEncodedBody

from atriz_core.accounts import links
from atriz_core.errors import DomainError, InvalidInputError
from atriz_core.kit.database import DbConnection
from atriz_core.kit.html import html_page, paragraphs
from atriz_core.kit.problems import handle_unexpected
from atriz_core.passwords.policy import MAX_LENGTH, MIN_LENGTH
from atriz_core.request import CoreRequest

__all__ = ["EmailVerificationForm", "LinkPagesController", "PasswordResetForm"]


PASSWORD_RULES = (
    f"At least {MIN_LENGTH} and at most {MAX_LENGTH} characters. Any characters, spaces "
    "included; no rules about digits or symbols. Not one of the most common passwords, and not "
    "your e-mail address or your name."
)


class EmailVerificationForm(msgspec.Struct):
    """The verification page's form. Fields default to empty so that a form with a field
    missing gets this module's page, not a validation error."""

    token: str = ""


class PasswordResetForm(msgspec.Struct):
    """The reset page's form."""

    token: str = ""
    new_password: str = ""
    new_password_confirm: str = ""


def _incomplete_link() -> Response[str]:
    return html_page(
        "This link is incomplete",
        paragraphs(
            "The link has no token. Open it again from the mail; if your mail program broke "
            "it over two lines, copy the whole link into the address bar."
        ),
        status=400,
    )


def _spent_link(status: int, what_next: str) -> Response[str]:
    return html_page(
        "This link no longer works",
        paragraphs("It has expired, was already used, or a newer link replaced it.", what_next),
        status=status,
    )


def _verification_form(token: str) -> Response[str]:
    return html_page(
        "Confirm your e-mail address",
        f"""<p>Confirm that this address is yours to finish setting up your Atriz account.</p>
<form method="post" action="verify-email">
<input type="hidden" name="token" value="{escape(token)}">
<button type="submit">Confirm my address</button>
</form>""",
    )


def _reset_form(token: str, problem: str | None = None, status: int = 200) -> Response[str]:
    described = "rules problem" if problem else "rules"
    invalid = ' aria-invalid="true"' if problem else ""
    alert = (
        f'<p class="problem" id="problem" role="alert">{escape(problem)}</p>\n' if problem else ""
    )
    return html_page(
        "Choose a new password",
        f"""{alert}<form method="post" action="password-reset">
<input type="hidden" name="token" value="{escape(token)}">
<label for="new_password">New password</label>
<input type="password" id="new_password" name="new_password" autocomplete="new-password"
 required aria-describedby="{described}"{invalid}>
<p class="hint" id="rules">{escape(PASSWORD_RULES)}</p>
<label for="new_password_confirm">New password, again</label>
<input type="password" id="new_password_confirm" name="new_password_confirm"
 autocomplete="new-password" required{invalid}>
<button type="submit">Set the new password</button>
</form>""",
        status=status,
    )


def _field_problem(exc: InvalidInputError, field: str) -> str | None:
    return next((p.reason for p in exc.problems if p.field == field), None)


def _error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    """Any error on these routes as a page with the same headers; never the error's text from
    Litestar, which may quote the URL and with it the token."""
    if isinstance(exc, DomainError):
        status, detail = exc.status, exc.detail
        retry_after = getattr(exc, "retry_after_seconds", None)  # 429, 503
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        detail = "The request could not be handled. Open the link from the mail again."
        retry_after = (exc.headers or {}).get("Retry-After")
    else:
        # The app's handler logs it (method and path only) and says what status it deserves:
        # 500, or 503 when the database is out of reach.
        problem = handle_unexpected(request, exc)
        status = problem.status_code or 500
        retry_after = problem.headers.get("Retry-After")
        detail = (
            "Something went wrong on our side; it has been logged. Try again later."
            if status == 500
            else "The service is busy. Try again in a moment."
        )
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return html_page(HTTPStatus(status).phrase, paragraphs(detail), status=status, headers=headers)


class LinkPagesController(Controller):
    """`/auth/verify-email` and `/auth/password-reset`: where the links in core's mail lead."""

    path = "/auth"
    include_in_schema = False  # pages for browsers, not part of the API
    exception_handlers = {
        DomainError: _error_page,
        HTTPException: _error_page,
        Exception: _error_page,
    }

    @get("/verify-email")
    async def verification_page(self, token: FromQuery[str | None] = None) -> Response[str]:
        """The verification link's page: one button that confirms the address."""
        return _verification_form(token) if token else _incomplete_link()

    @post("/verify-email")
    async def verify_email(
        self,
        data: URLEncodedBody[EmailVerificationForm],
        conn: DbConnection,
        request: CoreRequest,
    ) -> Response[str]:
        """Confirm the address with the token from the form."""
        if not data.token:
            return _incomplete_link()
        try:
            await links.confirm_email_verification(
                conn, request.core, token=data.token, context=request.context
            )
        except InvalidInputError as exc:
            if _field_problem(exc, "token") is None:
                raise
            return _spent_link(exc.status, "Sign in and ask for a new verification mail.")
        return html_page(
            "Address confirmed",
            paragraphs("Your e-mail address is confirmed. You can close this page."),
        )

    @get("/password-reset")
    async def password_reset_page(self, token: FromQuery[str | None] = None) -> Response[str]:
        """The reset link's page: a form for the new password, with the password rules."""
        return _reset_form(token) if token else _incomplete_link()

    @post("/password-reset")
    async def reset_password(
        self, data: URLEncodedBody[PasswordResetForm], request: CoreRequest
    ) -> Response[str]:
        """Set the new password from the form; every session of the account ends."""
        if not data.token:
            return _incomplete_link()
        if data.new_password != data.new_password_confirm:
            return _reset_form(
                data.token, "The two passwords differ. Type the same one twice.", 422
            )
        try:
            await links.confirm_password_reset(
                request.pool,
                request.core,
                token=data.token,
                new_password=data.new_password,
                context=request.context,
            )
        except InvalidInputError as exc:
            if _field_problem(exc, "token") is not None:
                return _spent_link(exc.status, "Ask for a new password reset mail.")
            reason = _field_problem(exc, "new_password")
            if reason is None:
                raise
            return _reset_form(data.token, f"The new password {reason}.", exc.status)
        return html_page(
            "Password changed",
            paragraphs(
                "Your password is changed, and every session signed in with the old one has "
                "ended. Sign in with the new password."
            ),
        )
