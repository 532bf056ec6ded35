"""The public list: newest published first, keyset pages, author and tag filters, and
scheduled articles appearing exactly when due, with no timer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from atriz_core.testing import UserFactory, replica_routes

Website = Any  # the `website` fixture's value (conftest.Website)


async def test_newest_first_in_keyset_pages_with_filters(
    website: Website, make_user: UserFactory
) -> None:
    ana, ben = await make_user(), await make_user()
    now = datetime.now(UTC)
    made = []
    for n in range(5):
        draft = await website.create(ana if n < 3 else ben, title=f"Post {n}", tags=[f"t{n % 2}"])
        published_at = (now - timedelta(hours=10 - n)).isoformat()
        made.append(await website.publish(ana if n < 3 else ben, draft, published_at=published_at))
    newest_first = [a["id"] for a in reversed(made)]

    first = (await website.client.get("/articles", params={"limit": 2})).json()
    pages = [first]
    while pages[-1]["next_cursor"]:
        cursor = pages[-1]["next_cursor"]
        response = await website.client.get("/articles", params={"limit": 2, "cursor": cursor})
        pages.append(response.json())
    by_ben = (await website.client.get("/articles", params={"author": str(ben.id)})).json()
    tagged = (await website.client.get("/articles", params={"tag": "t1"})).json()

    assert [a["id"] for page in pages for a in page["items"]] == newest_first
    assert len(pages) == 3
    assert [a["id"] for a in by_ben["items"]] == newest_first[:2]
    assert [a["id"] for a in tagged["items"]] == [made[3]["id"], made[1]["id"]]
    assert all("body" not in a for a in first["items"])


async def test_a_scheduled_article_appears_exactly_when_due(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    draft = await website.create(author, title="Tomorrow's news")
    due = datetime.now(UTC) + timedelta(seconds=1.5)
    scheduled = await website.publish(author, draft, published_at=due.isoformat())
    assert scheduled["status"] == "published"

    before = await website.client.get("/articles")
    before_get = await website.client.get(f"/articles/{scheduled['slug']}")
    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.05)
    after = await website.client.get("/articles")
    after_get = await website.client.get(f"/articles/{scheduled['slug']}")

    assert before.json()["items"] == []
    assert before_get.status_code == 404
    assert [a["id"] for a in after.json()["items"]] == [draft["id"]]
    assert after_get.status_code == 200
    # Nothing was written at the due time: readers' queries compare with now().
    assert await website.sql("SELECT version FROM articles") == scheduled["version"]


async def test_a_live_article_republished_keeps_its_time_and_can_be_rescheduled(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    live = await website.published(author, title="Evergreen")

    again = await website.publish(author, live)
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    moved = await website.publish(author, again, published_at=later)

    assert again["published_at"] == live["published_at"]
    assert (await website.client.get("/articles")).json()["items"] == []
    assert moved["published_at"].startswith(later[:19])


async def test_article_lists_and_search_may_be_read_from_a_replica(website: Website) -> None:
    # An author's own drafts and the article being edited are read from the primary.
    assert replica_routes(website.app) == {"GET /articles"}
