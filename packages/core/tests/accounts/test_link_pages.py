"""The pages the mailed links open: `/auth/verify-email` and `/auth/password-reset`."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from httpx import Response

from atriz_core.accounts import links
from atriz_core.accounts.repository import EMAIL_VERIFICATION, PASSWORD_RESET
from atriz_core.testing import TEST_PASSWORD, CoreHarness

NEW_PASSWORD = "another long passphrase entirely"
EMAIL = "ana@example.test"


async def verification_token(core_harness: CoreHarness) -> str:
    await core_harness.register()
    return core_harness.mailer.last_token(EMAIL)


async def reset_token(core_harness: CoreHarness, *, register: bool = True) -> str:
    if register:
        await core_harness.register()
    response = await core_harness.client.post("/auth/password-reset/request", json={"email": EMAIL})
    assert response.status_code == 202, response.text
    return core_harness.mailer.last_token(EMAIL)


async def spent_tokens(core_harness: CoreHarness, token_type: str) -> int:
    count: int = await core_harness.sql_value(
        "SELECT count(*) FROM auth_tokens WHERE token_type = $1 AND used_at IS NOT NULL",
        token_type,
    )
    return count


async def email_verified(core_harness: CoreHarness) -> bool:
    verified_at = await core_harness.sql_value(
        "SELECT email_verified_at FROM users WHERE email = $1", EMAIL
    )
    return verified_at is not None


async def login_status(core_harness: CoreHarness, password: str) -> int:
    response = await core_harness.client.post(
        "/auth/login", json={"email": EMAIL, "password": password}
    )
    return response.status_code


async def post_reset(
    core_harness: CoreHarness, token: str, password: str, confirm: str | None = None
) -> Response:
    return await core_harness.client.post(
        "/auth/password-reset",
        data={
            "token": token,
            "new_password": password,
            "new_password_confirm": password if confirm is None else confirm,
        },
    )


def hidden_token(page: Response) -> str:
    match = re.search(r'<input type="hidden" name="token" value="([^"]*)">', page.text)
    assert match, page.text
    return match[1]


def assert_page_headers(response: Response) -> None:
    headers = response.headers
    assert headers["content-type"] == "text/html; charset=utf-8"
    policy = {
        directive.split(" ", 1)[0]: directive.split(" ", 1)[1]
        for directive in (d.strip() for d in headers["content-security-policy"].split(";"))
    }
    assert policy["default-src"] == "'none'"
    assert re.fullmatch(r"'sha256-[A-Za-z0-9+/]+=*'", policy["style-src"]), policy
    assert policy["form-action"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert "script-src" not in policy
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert '<html lang="en">' in response.text
    assert "<script" not in response.text


async def test_the_verification_link_shows_a_form_and_spends_nothing(
    core_harness: CoreHarness,
) -> None:
    token = await verification_token(core_harness)

    page = await core_harness.client.get(f"/auth/verify-email?token={token}")

    assert page.status_code == 200
    assert '<form method="post" action="verify-email">' in page.text
    assert hidden_token(page) == token
    assert '<button type="submit">' in page.text
    assert await spent_tokens(core_harness, EMAIL_VERIFICATION) == 0
    assert not await email_verified(core_harness)


async def test_the_verification_form_confirms_the_address_once(
    core_harness: CoreHarness,
) -> None:
    token = await verification_token(core_harness)
    page = await core_harness.client.get(f"/auth/verify-email?token={token}")

    confirmed = await core_harness.client.post(
        "/auth/verify-email", data={"token": hidden_token(page)}
    )
    again = await core_harness.client.post("/auth/verify-email", data={"token": token})

    assert confirmed.status_code == 200
    assert "Address confirmed" in confirmed.text
    assert await email_verified(core_harness)
    assert again.status_code == 422
    assert "This link no longer works" in again.text


async def test_the_reset_page_shows_the_rules_and_sets_the_new_password(
    core_harness: CoreHarness,
) -> None:
    token = await reset_token(core_harness)

    page = await core_harness.client.get(f"/auth/password-reset?token={token}")
    assert await spent_tokens(core_harness, PASSWORD_RESET) == 0
    changed = await post_reset(core_harness, hidden_token(page), NEW_PASSWORD)

    assert page.status_code == 200
    assert '<form method="post" action="password-reset">' in page.text
    assert '<label for="new_password">' in page.text
    assert '<input type="password" id="new_password" name="new_password"' in page.text
    assert '<label for="new_password_confirm">' in page.text
    assert "At least 8 and at most 128 characters" in page.text
    assert "most common passwords" in page.text
    assert changed.status_code == 200
    assert "Password changed" in changed.text
    assert await login_status(core_harness, NEW_PASSWORD) == 200
    assert await login_status(core_harness, TEST_PASSWORD) == 401


@pytest.mark.parametrize(
    ("password", "confirm", "reason"),
    [
        (NEW_PASSWORD, NEW_PASSWORD + "x", "The two passwords differ"),
        ("short", None, "The new password must be at least 8 characters."),
        ("password", None, "is one of the most common passwords"),
        ("ana@example.test", None, "must not be your e-mail address"),
        ("", None, "must be at least 8 characters"),
    ],
)
async def test_a_refused_new_password_shows_the_form_again_and_keeps_the_link(
    core_harness: CoreHarness, password: str, confirm: str | None, reason: str
) -> None:
    token = await reset_token(core_harness)

    refused = await post_reset(core_harness, token, password, confirm)

    assert refused.status_code == 422
    assert reason in refused.text
    assert 'role="alert"' in refused.text
    assert hidden_token(refused) == token
    assert password not in re.findall(r'value="([^"]*)"', refused.text)
    assert await spent_tokens(core_harness, PASSWORD_RESET) == 0
    assert (await post_reset(core_harness, token, NEW_PASSWORD)).status_code == 200
    assert await login_status(core_harness, NEW_PASSWORD) == 200


@pytest.mark.parametrize("path", ["/auth/verify-email", "/auth/password-reset"])
async def test_a_link_without_a_token_gets_a_page_not_an_error(
    core_harness: CoreHarness, path: str
) -> None:
    for response in (
        await core_harness.client.get(path),
        await core_harness.client.get(f"{path}?token="),
        await core_harness.client.post(path, data={}),
    ):
        assert response.status_code == 400
        assert "This link is incomplete" in response.text
        assert_page_headers(response)


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/auth/verify-email", {}),
        (
            "/auth/password-reset",
            {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD},
        ),
    ],
)
async def test_an_unknown_or_expired_token_gets_a_page_saying_so(
    core_harness: CoreHarness, path: str, form: dict[str, str]
) -> None:
    await core_harness.register()
    response = await core_harness.client.post(path, data={"token": "not-a-real-token", **form})

    assert response.status_code == 422
    assert "This link no longer works" in response.text
    assert "new" in response.text
    assert_page_headers(response)


async def test_an_expired_reset_link_is_refused(core_harness: CoreHarness) -> None:
    token = await reset_token(core_harness)
    core_harness.clock.advance(core_harness.settings.password_reset_seconds + 1)

    response = await post_reset(core_harness, token, NEW_PASSWORD)

    assert response.status_code == 422
    assert "This link no longer works" in response.text
    assert await login_status(core_harness, TEST_PASSWORD) == 200


async def test_every_page_carries_the_security_headers(core_harness: CoreHarness) -> None:
    token = await reset_token(core_harness)
    verification = core_harness.mailer.sent[0].body.split("token=")[1].strip()

    pages = [
        await core_harness.client.get(f"/auth/verify-email?token={verification}"),
        await core_harness.client.post("/auth/verify-email", data={"token": verification}),
        await core_harness.client.get(f"/auth/password-reset?token={token}"),
        await post_reset(core_harness, token, "short"),
        await post_reset(core_harness, token, NEW_PASSWORD),
        await post_reset(core_harness, token, NEW_PASSWORD),
        # A form Litestar cannot decode into the form's fields: two values for one field.
        await core_harness.client.post(
            "/auth/verify-email", content=b"token=a&token=b", headers=FORM_TYPE
        ),
    ]

    assert [p.status_code for p in pages] == [200, 200, 200, 422, 200, 422, 400]
    for page in pages:
        assert_page_headers(page)


FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_what_the_page_repeats_is_escaped(core_harness: CoreHarness) -> None:
    hostile = '"><script>alert(1)</script><a href="'

    for path in ("/auth/verify-email", "/auth/password-reset"):
        page = await core_harness.client.get(path, params={"token": hostile})
        assert page.status_code == 200
        assert "<script" not in page.text
        assert "&quot;&gt;&lt;script&gt;" in page.text


async def test_no_token_reaches_the_log(
    core_harness: CoreHarness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    verification = await verification_token(core_harness)
    core_harness.mailer.sent.clear()
    reset = await reset_token(core_harness, register=False)
    client = core_harness.client

    await client.get(f"/auth/verify-email?token={verification}")
    await client.post("/auth/verify-email", data={"token": verification})
    await client.post("/auth/verify-email", data={"token": verification})  # spent
    await client.get(f"/auth/password-reset?token={reset}")
    await post_reset(core_harness, reset, "short")
    await post_reset(core_harness, reset, NEW_PASSWORD, "mismatch")
    await client.post(
        f"/auth/password-reset?token={reset}",
        content=f"token={reset}&token={reset}".encode(),
        headers=FORM_TYPE,
    )

    async def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(links, "confirm_password_reset", fail)
    failed = await client.post(
        f"/auth/password-reset?token={reset}",
        data={"token": reset, "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD},
    )

    assert failed.status_code == 500
    assert_page_headers(failed)
    # The 500 was logged (so the log was captured), naming the route without its query.
    assert "unhandled RuntimeError on POST /auth/password-reset\n" in caplog.text
    # httpx's own records are the test client's, the browser's side: they name every URL.
    logged = "".join(
        f"{record.getMessage()} {record.args!r} {record.exc_text or ''}\n"
        for record in caplog.records
        if not record.name.startswith(("httpx", "httpcore"))
    )
    assert verification not in logged
    assert reset not in logged
