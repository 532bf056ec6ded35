"""Slugs: made from the title, a suffix on collision, stable once published, and an old one
answering 301 to the current one."""

from __future__ import annotations

import asyncio
from typing import Any

from atriz_core.testing import UserFactory
from atriz_website.articles.slugs import slugify

Website = Any  # the `website` fixture's value (conftest.Website)


def test_slugify_folds_accents_and_keeps_words() -> None:
    assert slugify("Crème brûlée, step by step!") == "creme-brulee-step-by-step"
    assert slugify("  Ünïcødé   ") == "unicode"
    assert slugify("Straße, Øl & Œuvre") == "strasse-ol-oeuvre"
    assert slugify("日本語") == "article"
    assert slugify("Manage") == "manage-article"
    assert len(slugify("word " * 100)) <= 80


async def test_slug_collisions_get_a_suffix_also_when_created_at_once(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    first = await website.create(author, title="Same title")
    second = await website.create(author, title="Same Title!")
    together = await asyncio.gather(
        *(
            website.client.post("/articles", json={"title": "Same title"}, headers=author.headers)
            for _ in range(4)
        )
    )

    assert (first["slug"], second["slug"]) == ("same-title", "same-title-2")
    assert website.in_flight.peak >= 2
    assert all(r.status_code == 201 for r in together), [r.text for r in together]
    assert sorted(r.json()["slug"] for r in together) == [f"same-title-{n}" for n in range(3, 7)]


async def test_an_old_slug_redirects_to_the_current_one(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    article = await website.published(author, title="First name")

    renamed = await website.client.put(
        f"/articles/{article['id']}",
        json={"title": "Second name"},
        headers={**author.headers, "If-Match": f'"{article["version"]}"'},
    )
    assert renamed.json()["slug"] == "first-name", "published: the title change keeps the slug"
    moved = await website.client.put(
        f"/articles/{article['id']}",
        json={"title": "Second name", "slug": "second-name"},
        headers={**author.headers, "If-Match": f'"{renamed.json()["version"]}"'},
    )
    assert moved.status_code == 200
    assert moved.json()["slug"] == "second-name"

    old = await website.client.get("/articles/first-name")
    new = await website.client.get("/articles/second-name")
    newcomer = await website.create(author, title="First name")

    assert old.status_code == 301
    assert old.headers["location"] == "/articles/second-name"
    assert new.status_code == 200
    assert newcomer["slug"] == "first-name-2", "an old slug is not handed to another article"


async def test_a_slug_taken_by_another_article_is_409(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    await website.create(author, title="Taken")
    mine = await website.create(author, title="Mine")

    response = await website.client.put(
        f"/articles/{mine['id']}",
        json={"title": "Mine", "slug": "taken"},
        headers={**author.headers, "If-Match": '"1"'},
    )

    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "slug"
