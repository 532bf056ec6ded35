"""Registration: the account, its default role, the verification mail, and every bad input."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from atriz_core.settings import CoreSettings
from atriz_core.testing import TEST_PASSWORD, CoreHarness, running_core


async def test_register_creates_a_user_with_the_user_role(core_harness: CoreHarness) -> None:
    user = await core_harness.register(email="Ana.Lopez@Example.test", name="  Ana  ")

    assert user["email"] == "Ana.Lopez@Example.test"
    assert user["name"] == "Ana"
    assert user["email_verified"] is False
    tokens = await core_harness.login(email="ana.lopez@example.test")  # e-mail is case-insensitive
    me = (await core_harness.client.get("/auth/me", headers=core_harness.bearer(tokens))).json()
    assert me["roles"] == ["user"]
    assert me["id"] == user["id"]


async def test_register_mails_a_verification_link_built_from_the_public_url(
    core_harness: CoreHarness,
) -> None:
    await core_harness.client.post(
        "/auth/register",
        json={"email": "ana@example.test", "password": TEST_PASSWORD, "name": "Ana"},
        headers={"Host": "evil.example"},
    )

    (mail,) = core_harness.mailer.sent
    assert mail.to == "ana@example.test"
    assert "https://auth.atriz.test/auth/verify-email?token=" in mail.body
    assert "evil.example" not in mail.body


async def test_same_email_twice_is_a_conflict(core_harness: CoreHarness) -> None:
    await core_harness.register()
    response = await core_harness.client.post(
        "/auth/register", json={"email": "ANA@example.test", "password": TEST_PASSWORD, "name": "A"}
    )
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 409


async def test_twenty_concurrent_registrations_of_one_email_create_one_user(
    core_settings: CoreSettings,
) -> None:
    # Limits raised so that all twenty reach the database; hashing on two threads.
    settings = replace(core_settings, register_per_address=50, mail_per_email=50, hash_threads=2)
    async with running_core(settings) as core:

        async def attempt(n: int) -> int:
            response = await core.client.post(
                "/auth/register",
                json={
                    "email": "race@example.test",
                    "password": TEST_PASSWORD,
                    "name": f"Racer {n}",
                },
            )
            return response.status_code

        statuses = await asyncio.gather(*(attempt(n) for n in range(20)))

        assert core.in_flight.peak > 1, "the registrations did not overlap"
        assert sorted(statuses) == [201] + [409] * 19
        assert (
            await core.sql_value("SELECT count(*) FROM users WHERE email = $1", "race@example.test")
            == 1
        )


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"password": TEST_PASSWORD, "name": "Ana"}, "email", "missing required field"),
        ({"email": "ana@example.test", "name": "Ana"}, "password", "missing required field"),
        (
            {"email": "ana@example.test", "password": TEST_PASSWORD},
            "name",
            "missing required field",
        ),
        ({"email": 42, "password": TEST_PASSWORD, "name": "Ana"}, "email", "Expected `str`"),
        ({"email": "ana@example.test", "password": ["x"], "name": "Ana"}, "password", "Expected"),
        (
            {"email": "not-an-email", "password": TEST_PASSWORD, "name": "Ana"},
            "email",
            "is not in the form it must have",
        ),
        (
            {"email": "ana@example.test\n", "password": TEST_PASSWORD, "name": "Ana"},
            "email",
            "is not in the form it must have",
        ),
        ({"email": "a@b.c" + "x" * 300, "password": TEST_PASSWORD, "name": "A"}, "email", "length"),
        ({"email": "ana@example.test", "password": TEST_PASSWORD, "name": ""}, "name", "length"),
        (
            {"email": "ana@example.test", "password": TEST_PASSWORD, "name": "n" * 201},
            "name",
            "length",
        ),
        ({"email": "ana@example.test", "password": "p" * 129, "name": "Ana"}, "password", "128"),
        (
            {"email": "ana@example.test", "password": TEST_PASSWORD, "name": "Ana", "admin": True},
            "admin",
            "unknown field",
        ),
    ],
)
async def test_malformed_registration_names_the_field(
    core_harness: CoreHarness, body: dict[str, object], field: str, reason: str
) -> None:
    response = await core_harness.client.post("/auth/register", json=body)

    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["status"] == 400
    assert any(e["field"] == field and reason in e["reason"] for e in problem["errors"]), problem
    assert (
        await core_harness.sql_value(
            "SELECT count(*) FROM users WHERE email = $1", "ana@example.test"
        )
        == 0
    )


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 8 characters"),
        ("password1", "most common passwords"),
        ("Qwertyuiop", "most common passwords"),
        ("ana@example.test", "e-mail address"),
    ],
)
async def test_password_policy_is_enforced(
    core_harness: CoreHarness, password: str, reason: str
) -> None:
    response = await core_harness.client.post(
        "/auth/register", json={"email": "ana@example.test", "password": password, "name": "Ana"}
    )

    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == "password"
    assert reason in error["reason"]


@pytest.mark.parametrize(
    "password",
    [
        "        ",
        "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44 full width",
        "пароль-для-атриз",
        "🔐🔑🗝️ emoji ok",
        "x" * 64,
        "y" * 128,
    ],
)
async def test_any_unicode_and_up_to_128_characters_are_accepted(
    core_harness: CoreHarness, password: str
) -> None:
    await core_harness.register(password=password)
    await core_harness.login(password=password)


async def test_blank_name_is_refused(core_harness: CoreHarness) -> None:
    response = await core_harness.client.post(
        "/auth/register",
        json={"email": "ana@example.test", "password": TEST_PASSWORD, "name": "   "},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "name", "reason": "must not be blank"}]


async def test_a_megabyte_password_is_refused_before_hashing(core_harness: CoreHarness) -> None:
    body = {"email": "ana@example.test", "password": "p" * 1_000_000, "name": "Ana"}
    response = await core_harness.client.post("/auth/register", json=body)
    assert response.status_code == 413
    assert response.json()["status"] == 413


async def test_body_that_is_not_json_is_a_4xx(core_harness: CoreHarness) -> None:
    response = await core_harness.client.post(
        "/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/auth/register",
            {"email": "a\u0000@example.test", "password": "x" * 12, "name": "A"},
            "email",
        ),
        (
            "/auth/register",
            {"email": "a@example.test", "password": "x" * 12, "name": "A\u0000"},
            "name",
        ),
        ("/auth/login", {"email": "a@example\u0000.test", "password": "whatever it is"}, "email"),
        ("/auth/password-reset/request", {"email": "\u0000a@example.test"}, "email"),
    ],
)
async def test_control_characters_are_refused_naming_the_field(
    core_harness: CoreHarness, path: str, body: dict[str, str], field: str
) -> None:
    response = await core_harness.client.post(path, json=body)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
