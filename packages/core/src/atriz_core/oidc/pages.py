"""The pages of core's OpenID Connect provider: sign-in, consent, sign-out, and their errors.

Plain HTML forms with labels tied to their fields, no script; every form carries its CSRF token
(`csrf.py`). Built on `atriz_core.kit.html`, so every page forbids framing and script;
`form_targets` are the origins where a form's redirects end (browsers apply `form-action` to
them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from litestar import Response

from atriz_core.kit.html import html_page, paragraphs

__all__ = [
    "consent_page",
    "error_page",
    "sign_in_page",
    "sign_out_page",
    "signed_in_page",
    "signed_out_page",
]


def _hidden(fields: Iterable[tuple[str, str]]) -> str:
    return "\n".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in fields
    )


def sign_in_page(
    *,
    csrf_token: str,
    return_to: str | None,
    client_name: str | None,
    email: str = "",
    problem: str | None = None,
    status: int = 200,
    form_targets: Sequence[str] = (),
    headers: dict[str, str] | None = None,
) -> Response[str]:
    """The sign-in form; `problem` says why the last attempt failed."""
    alert = (
        f'<p class="problem" id="problem" role="alert">{escape(problem)}</p>\n' if problem else ""
    )
    invalid = ' aria-invalid="true" aria-describedby="problem"' if problem else ""
    lead = f"Sign in to continue to {client_name}." if client_name else "Sign in to your account."
    hidden = [("csrf_token", csrf_token), *([("return_to", return_to)] if return_to else [])]
    return html_page(
        "Sign in to Atriz",
        f"""{alert}<p>{escape(lead)}</p>
<form method="post" action="/oauth/sign-in">
{_hidden(hidden)}
<label for="email">Email address</label>
<input type="email" id="email" name="email" autocomplete="username" required
 value="{escape(email)}"{invalid}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password"
 required{invalid}>
<button type="submit">Sign in</button>
</form>""",
        status=status,
        extra_form_actions=form_targets,
        headers=headers,
    )


def signed_in_page(name: str, email: str, csrf_token: str) -> Response[str]:
    """Core's sign-in page for a browser that is signed in already."""
    return html_page(
        "Signed in",
        f"""{paragraphs(f"You are signed in as {name} ({email}).")}
<form method="post" action="/oauth/logout">
{_hidden([("csrf_token", csrf_token)])}
<button type="submit">Sign out</button>
</form>""",
    )


def consent_page(
    *,
    client_name: str,
    user_email: str,
    scopes: Sequence[str],
    fields: Sequence[tuple[str, str]],
    form_targets: Sequence[str],
) -> Response[str]:
    """Ask whether a third-party client may know who the user is. `fields` are the
    authorization request's parameters and the CSRF token, posted back with the answer."""
    wants = {
        "openid": "who you are (an identifier for your account)",
        "profile": "your name",
        "email": "your e-mail address",
    }
    items = "\n".join(f"<li>{escape(wants[s])}</li>" for s in scopes if s in wants)
    return html_page(
        f"Allow {client_name}?",
        f"""<p>{escape(client_name)} asks to sign you in as {escape(user_email)} and to know:</p>
<ul>
{items}
</ul>
<form method="post" action="/oauth/authorize">
{_hidden(fields)}
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>""",
        extra_form_actions=form_targets,
    )


def sign_out_page(
    *, client_name: str | None, fields: Sequence[tuple[str, str]], form_targets: Sequence[str]
) -> Response[str]:
    """Confirm a sign-out that came without an ID token: a link alone must not sign anyone
    out (any site could embed it)."""
    from_client = f" {client_name} asks to sign you out." if client_name else ""
    question = f"Sign out of Atriz and of every app you signed in to with it?{from_client}"
    return html_page(
        "Sign out of Atriz?",
        f"""{paragraphs(question)}
<form method="post" action="/oauth/logout">
{_hidden(fields)}
<button type="submit">Sign out</button>
</form>""",
        extra_form_actions=form_targets,
    )


def signed_out_page() -> Response[str]:
    return html_page(
        "Signed out",
        paragraphs("You are signed out of Atriz and of the apps you used it for."),
    )


def error_page(
    title: str, detail: str, *, status: int = 400, retry_after: int | None = None
) -> Response[str]:
    """An error shown to the user: never a redirect to where the request asked to go."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return html_page(title, paragraphs(detail), status=status, headers=headers)
