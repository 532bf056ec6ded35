"""Slugs: made from the title, a suffix on collision with a public one, stable once published,
and an old one answering 301 to the current one."""

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


async def test_a_public_slug_gives_new_articles_a_suffix_also_when_published_at_once(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    first = await website.published(author, title="Same title")
    second = await website.create(author, title="Same Title!")
    drafts = [await website.create(author, title="Other title") for _ in range(4)]
    together = await asyncio.gather(
        *(
            website.client.post(
                f"/articles/{draft['id']}/publish",
                headers={**author.headers, "If-Match": f'"{draft["version"]}"'},
            )
            for draft in drafts
        )
    )

    assert (first["slug"], second["slug"]) == ("same-title", "same-title-2")
    assert {draft["slug"] for draft in drafts} == {"other-title"}, "drafts reserve nothing"
    assert website.in_flight.peak >= 2
    assert all(r.status_code == 200 for r in together), [r.text for r in together]
    assert sorted(r.json()["slug"] for r in together) == [
        "other-title",
        *(f"other-title-{n}" for n in range(2, 5)),
    ]


async def test_a_draft_slug_tells_nobody_of_another_users_draft(
    website: Website, make_user: UserFactory
) -> None:
    """A `-2` on a new draft would tell its author that someone else drafts the same title;
    an explicit slug refused as taken, that someone else's draft has that slug."""
    insider, outsider = await make_user(), await make_user()
    secret = await website.create(insider, title="Merger with Acme")
    probe = await website.create(outsider, title="Merger with Acme")
    renamed = await website.client.put(
        f"/articles/{probe['id']}",
        json={"title": "Anything", "slug": "merger-with-acme"},
        headers={**outsider.headers, "If-Match": f'"{probe["version"]}"'},
    )
    published_first = await website.publish(insider, secret)
    published_second = await website.publish(outsider, renamed.json())

    assert probe["slug"] == secret["slug"] == "merger-with-acme"
    assert renamed.status_code == 200, renamed.text
    assert published_first["slug"] == "merger-with-acme"
    assert published_second["slug"] == "merger-with-acme-2", "settled when published"


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
    await website.published(author, title="Taken")
    mine = await website.create(author, title="Mine")

    response = await website.client.put(
        f"/articles/{mine['id']}",
        json={"title": "Mine", "slug": "taken"},
        headers={**author.headers, "If-Match": '"1"'},
    )

    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "slug"


async def test_a_slug_with_nul_in_the_path_is_refused_naming_the_slug(website: Website) -> None:
    response = await website.client.get("/articles/bad%00slug")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "slug"


async def test_a_long_chosen_slug_taken_meanwhile_publishes_with_a_suffix_that_fits(
    website: Website, make_user: UserFactory
) -> None:
    """A draft's slug reserves nothing; at publication it takes the next suffix, cut to fit:
    100 characters and `-2` made a slug the database refused (a 422 naming `slug`, which the
    author had not sent)."""
    author, other = await make_user(), await make_user()
    long_slug = "l" * 100
    draft = await website.create(author, title="Mine")
    named = await website.client.put(
        f"/articles/{draft['id']}",
        json={"title": "Mine", "slug": long_slug},
        headers={**author.headers, "If-Match": f'"{draft["version"]}"'},
    )
    assert named.status_code == 200, named.text
    live = await website.published(other, title="Other")
    taken = await website.client.put(
        f"/articles/{live['id']}",
        json={"title": "Other", "slug": long_slug},
        headers={**other.headers, "If-Match": f'"{live["version"]}"'},
    )
    assert taken.status_code == 200, taken.text

    published = await website.client.post(
        f"/articles/{draft['id']}/publish",
        headers={**author.headers, "If-Match": f'"{named.json()["version"]}"'},
    )

    assert published.status_code == 200, published.text
    assert published.json()["slug"] == "l" * 80 + "-2"
