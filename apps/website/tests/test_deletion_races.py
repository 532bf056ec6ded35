"""A write in flight while its user is deleted: nothing it stores outlives the deletion.

The window lies between the token check and the write's commit; the user's deletion may be
applied by the website's consumer inside it. Each test pauses a request there (as a slow render
of a large body or a busy event loop would), deletes the user in core meanwhile, and lets the
request go on once the website applied the deletion or waits to (`hold_users`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import httpx
import pytest

from atriz_core.settings import CoreSettings
from atriz_core.testing import TestUser, UserFactory, eventually, running_core
from atriz_website.articles import services as article_services
from atriz_website.profiles import services as profile_services

Website = Any
# The website's consumer waits for a hold (an advisory lock of its database).
_CONSUMER_WAITS = """
SELECT count(*) > 0 FROM pg_locks
WHERE locktype = 'advisory' AND NOT granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def pause(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> tuple[Any, Any]:
    """Make `module.name` (an async function) wait for `release` once `entered` is set."""
    entered, release = asyncio.Event(), asyncio.Event()
    original = getattr(module, name)

    async def paused(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await release.wait()
        return await original(*args, **kwargs)

    monkeypatch.setattr(module, name, paused)
    return entered, release


async def deleted_while_paused(
    website: Website,
    core_settings: CoreSettings,
    user: TestUser,
    request: Awaitable[httpx.Response],
    paused: tuple[Any, Any],
) -> httpx.Response:
    """Send `request`; once it is paused, delete `user` in core and wait until the website
    has applied the deletion or waits for the request; then let it go on. Its response,
    once the deletion is applied."""
    entered, release = paused
    async with running_core(core_settings) as core:
        sending = asyncio.create_task(request)
        await asyncio.wait_for(entered.wait(), 5)
        admin = await core.admin_headers()
        deleted = await core.client.delete(f"/admin/users/{user.id}", headers=admin)
        assert deleted.status_code == 204, deleted.text

        event = await core.sql_value(
            "SELECT ARRAY[txid::text::bigint, id] FROM user_events"
            " WHERE user_id = $1 AND event_type = 'deleted'",
            user.id,
        )

        async def applied() -> bool:
            cursors = await website.rows(
                "SELECT ARRAY[txid::text::bigint, event_id] FROM user_event_cursor"
            )
            return any(row[0] >= event for row in cursors)

        async def applied_or_waiting() -> bool:
            # Waiting: for the request's hold, or, on one server, for its transaction to end
            # before the event counts as settled (`read_user_events`).
            unsettled = await core.sql_value(
                "SELECT txid >= pg_snapshot_xmin(pg_current_snapshot()) FROM user_events"
                " WHERE user_id = $1 AND event_type = 'deleted'",
                user.id,
            )
            return unsettled or await website.sql(_CONSUMER_WAITS) or await applied()

        await eventually(applied_or_waiting)
        release.set()
        response = await sending
        await eventually(applied)
        return response


async def test_a_draft_written_while_its_author_is_deleted_goes_with_them(
    website: Website,
    make_user: UserFactory,
    core_settings: CoreSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Paused after it holds its author: the deletion waits for its commit, then deletes the
    draft as it deletes every draft of a deleted user."""
    doomed = await make_user()
    await website.client.get("/profiles/me", headers=doomed.headers)
    created = await deleted_while_paused(
        website,
        core_settings,
        doomed,
        website.client.post("/articles", json={"title": "Leaving"}, headers=doomed.headers),
        pause(monkeypatch, article_services, "_free_slug"),
    )

    assert created.status_code == 201, created.text
    assert await website.sql("SELECT count(*) FROM articles WHERE author_id = $1", doomed.id) == 0


async def test_a_profile_saved_after_its_user_was_deleted_is_refused(
    website: Website,
    make_user: UserFactory,
    core_settings: CoreSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Paused before it holds its user: the deletion is applied first, and the save is
    refused rather than putting the deleted user's personal data back."""
    doomed = await make_user()
    await website.client.get("/profiles/me", headers=doomed.headers)
    saved = await deleted_while_paused(
        website,
        core_settings,
        doomed,
        website.client.put(
            "/profiles/me",
            json={"display_name": "Still here", "bio": "personal data"},
            headers=doomed.headers,
        ),
        pause(monkeypatch, profile_services, "update_own_profile"),
    )

    assert saved.status_code == 401, saved.text
    assert saved.json()["detail"] == "the signed-in account is no longer active"
    assert not await website.sql("SELECT count(*) FROM user_profiles WHERE user_id = $1", doomed.id)


async def test_a_first_visit_after_its_user_was_deleted_makes_no_profile(
    website: Website,
    make_user: UserFactory,
    core_settings: CoreSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It read no name for the deleted account and made a profile called `Atriz user`."""
    doomed = await make_user()
    read = await deleted_while_paused(
        website,
        core_settings,
        doomed,
        website.client.get("/profiles/me", headers=doomed.headers),
        pause(monkeypatch, profile_services, "get_own_profile"),
    )

    assert read.status_code == 401, read.text
    assert not await website.sql("SELECT count(*) FROM user_profiles WHERE user_id = $1", doomed.id)
