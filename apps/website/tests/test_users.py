"""The user-deletion policy, applied by the kit's consumer once per event: the profile goes,
the drafts go, the other articles stay with the author shown as removed."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from typing import Any

from atriz_core.client.user_events import DEACTIVATED, DELETED, EventCursor, UserEvent
from atriz_core.kit.events import CONSUMERS_STATE_KEY
from atriz_core.settings import CoreSettings
from atriz_core.testing import UserFactory, beside, eventually, running_core
from atriz_website.settings import SERVICE
from atriz_website.users import apply_user_event

Website = Any  # the `website` fixture's value (conftest.Website)


until_true = functools.partial(eventually, seconds=15.0)


async def test_a_deleted_users_profile_and_drafts_go_and_articles_stay_author_removed(
    website: Website, make_user: UserFactory, core_settings: CoreSettings
) -> None:
    doomed, kept = await make_user(name="Doomed"), await make_user()
    await website.client.get("/profiles/me", headers=doomed.headers)
    await website.client.get("/profiles/me", headers=kept.headers)
    live = await website.published(doomed, title="Live article", body="stays")
    scheduled = await website.publish(
        doomed, await website.create(doomed, title="Later"), published_at="2999-01-01T00:00:00Z"
    )
    await website.create(doomed, title="Unfinished draft")
    others = await website.create(kept, title="Someone else's draft")

    async with running_core(core_settings) as core:
        admin = await core.admin_headers()
        deleted = await core.client.delete(f"/admin/users/{doomed.id}", headers=admin)
        assert deleted.status_code == 204

        async def profile_gone() -> bool:
            return await website.sql(
                "SELECT count(*) = 0 FROM user_profiles WHERE user_id = $1", doomed.id
            )

        await until_true(profile_gone)

    consumer = website.app.state[CONSUMERS_STATE_KEY][SERVICE]
    assert consumer.applied >= 1
    assert (await website.client.get(f"/profiles/{doomed.id}")).status_code == 404
    assert (await website.client.get(f"/profiles/{kept.id}")).status_code == 200
    titles = {r["title"] for r in await website.rows("SELECT title FROM articles")}
    assert titles == {"Live article", "Later", "Someone else's draft"}
    read = await website.client.get(f"/articles/{live['slug']}")
    assert read.status_code == 200
    assert read.json()["body"] == "stays"
    assert read.json()["author"] == {"id": None, "display_name": None, "removed": True}
    listed = (await website.client.get("/articles")).json()["items"]
    assert listed[0]["author"]["removed"] is True
    assert await website.sql(
        "SELECT author_id IS NULL FROM articles WHERE id = $1", uuid.UUID(scheduled["id"])
    )
    assert (
        await website.sql("SELECT author_id FROM articles WHERE id = $1", uuid.UUID(others["id"]))
        == kept.id
    )


async def test_the_policy_ignores_deactivation_and_is_harmless_applied_twice(
    website: Website, make_user: UserFactory
) -> None:
    user = await make_user()
    await website.client.get("/profiles/me", headers=user.headers)
    await website.published(user, title="Published")

    def event(kind: str) -> UserEvent:
        return UserEvent(1, user.id, kind, datetime.now(UTC), EventCursor(1, 1))

    connection = await beside(website.settings.database_url)
    try:
        await apply_user_event(connection, event(DEACTIVATED))
        assert await connection.fetchval("SELECT count(*) FROM user_profiles") == 1
        await apply_user_event(connection, event(DELETED))
        await apply_user_event(connection, event(DELETED))
        assert await connection.fetchval("SELECT count(*) FROM user_profiles") == 0
        assert await connection.fetchval("SELECT count(*) FROM articles") == 1
    finally:
        await connection.close()
