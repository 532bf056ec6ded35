"""Profiles: created on first access, replaced by PUT, public fields for anyone, every field
validated, and gone with a deleted account."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from atriz_core.testing import UserFactory

Website = Any  # the `website` fixture's value (conftest.Website)

VALID = {
    "display_name": "Ana",
    "bio": "Writes about food.",
    "avatar_url": "https://img.example.test/ana.png",
    "locale": "es-MX",
    "time_zone": "America/Mexico_City",
    "preferences": {"theme": "dark", "digest": {"weekly": True}},
}


async def test_first_access_creates_the_profile_named_after_the_account(
    website: Website, make_user: UserFactory
) -> None:
    user = await make_user(name="Ana Alvarez")
    assert await website.sql("SELECT count(*) FROM user_profiles") == 0

    first = await website.client.get("/profiles/me", headers=user.headers)
    again = await website.client.get("/profiles/me", headers=user.headers)

    assert first.status_code == 200, first.text
    body = first.json()
    assert body["user_id"] == str(user.id)
    assert body["display_name"] == "Ana Alvarez"
    assert (body["locale"], body["time_zone"], body["preferences"]) == ("en", "UTC", {})
    assert again.json() == body
    assert await website.sql("SELECT count(*) FROM user_profiles") == 1


async def test_put_replaces_the_profile_and_the_public_view_shows_public_fields_only(
    website: Website, make_user: UserFactory
) -> None:
    user = await make_user()

    updated = await website.client.put("/profiles/me", json=VALID, headers=user.headers)
    public = await website.client.get(f"/profiles/{user.id}")

    assert updated.status_code == 200, updated.text
    assert {k: updated.json()[k] for k in VALID} == VALID
    assert public.status_code == 200
    assert set(public.json()) == {"user_id", "display_name", "bio", "avatar_url", "created_at"}
    assert public.json()["display_name"] == "Ana"


async def test_profile_routes_need_a_token_and_unknown_profiles_are_404(
    website: Website,
) -> None:
    assert (await website.client.get("/profiles/me")).status_code == 401
    assert (await website.client.put("/profiles/me", json=VALID)).status_code == 401
    missing = await website.client.get(f"/profiles/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


PROFILE_FIELD_CASES: list[tuple[str, object]] = [
    ("display_name", ""),
    ("display_name", "   "),
    ("display_name", "x" * 101),
    ("bio", "x" * 2001),
    ("avatar_url", "http://img.example.test/a.png"),
    ("avatar_url", "javascript:alert(1)"),
    ("avatar_url", "https://"),
    ("avatar_url", "https://a.test/" + "x" * 2048),
    ("locale", "x"),
    ("locale", "en_US!"),
    ("time_zone", "Mars/Olympus"),
    ("time_zone", "utc"),
    ("time_zone", ""),
    ("preferences", {"blob": "x" * 5000}),
    ("preferences", ["not", "an", "object"]),
    ("display_name", "nul \x00 inside"),
    ("display_name", "two\nlines"),
    ("display_name", "a trailing newline\n"),  # Python's `$` matches before it
    ("avatar_url", "https://img.example.test/a.png\n"),
    ("avatar_url", 'https://img.example.test/a.png"onerror=alert(1)'),
    ("avatar_url", "https://img.example.test/<script>"),
    ("locale", "en\n"),
    ("bio", "nul \x00 inside"),
    ("preferences", {"k": "nul \x00 inside"}),
    ("surprise", 1),
]


async def test_every_field_is_validated_naming_it(website: Website, make_user: UserFactory) -> None:
    user = await make_user()
    before = (await website.client.get("/profiles/me", headers=user.headers)).json()

    for field, value in PROFILE_FIELD_CASES:
        response = await website.client.put(
            "/profiles/me", json={**VALID, field: value}, headers=user.headers
        )
        assert response.status_code in (400, 422), (field, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["field"] == field, (field, response.text)

    after = (await website.client.get("/profiles/me", headers=user.headers)).json()
    assert after == before, "no refused update changed anything"


async def test_a_deleted_account_has_no_public_profile_even_before_the_event_is_applied(
    website: Website, make_user: UserFactory, core_database_url: str
) -> None:
    user = await make_user()
    await website.client.put("/profiles/me", json=VALID, headers=user.headers)
    assert (await website.client.get(f"/profiles/{user.id}")).status_code == 200

    shared = await asyncpg.connect(core_database_url)
    try:  # deleted in atriz_shared behind core's back: no event, the profile row still here
        await shared.execute("UPDATE users SET deleted_at = now() WHERE id = $1", user.id)
    finally:
        await shared.close()

    assert (await website.client.get(f"/profiles/{user.id}")).status_code == 404
