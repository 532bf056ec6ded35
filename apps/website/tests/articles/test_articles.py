"""Writing articles: drafts seen only by their author and editors, changes by the author or an
editor only, every change conditional on the version read (If-Match), archive and delete."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from atriz_core.testing import UserFactory
from atriz_website.articles import services as article_services

Website = Any  # the `website` fixture's value (conftest.Website)
EDITOR = "website.editor"


def if_match(article: dict[str, Any], headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "If-Match": f'"{article["version"]}"'}


async def test_a_draft_is_seen_only_by_its_author_and_editors(
    website: Website, make_user: UserFactory
) -> None:
    author, other, editor = await make_user(), await make_user(), await make_user(roles=(EDITOR,))
    draft = await website.create(author, title="Secret plans", body="Not yet.")

    public_list = (await website.client.get("/articles")).json()["items"]
    public_get = await website.client.get(f"/articles/{draft['slug']}")
    searched = (await website.client.get("/articles", params={"q": "secret"})).json()["items"]
    by_author = await website.client.get(f"/articles/manage/{draft['id']}", headers=author.headers)
    by_editor = await website.client.get(f"/articles/manage/{draft['id']}", headers=editor.headers)
    by_other = await website.client.get(f"/articles/manage/{draft['id']}", headers=other.headers)
    others_list = (await website.client.get("/articles/manage", headers=other.headers)).json()
    authors_list = (await website.client.get("/articles/manage", headers=author.headers)).json()
    editors_list = (await website.client.get("/articles/manage", headers=editor.headers)).json()

    assert public_list == []
    assert searched == []
    assert public_get.status_code == 404
    assert by_author.status_code == 200
    assert by_editor.status_code == 200
    assert by_author.headers["etag"] == f'"{draft["version"]}"'
    assert by_other.status_code == 404
    assert others_list["items"] == []
    assert [a["id"] for a in authors_list["items"]] == [draft["id"]]
    assert [a["id"] for a in editors_list["items"]] == [draft["id"]]
    refused = await website.client.get(
        "/articles/manage", params={"author": str(author.id)}, headers=other.headers
    )
    assert refused.status_code == 403


@pytest.mark.pgbouncer
async def test_create_read_update_publish_archive_delete(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    created = await website.create(
        author, title="Hello world", summary="s", body="# Hi", tags=["news", "news", "intro"]
    )
    assert created["status"] == "draft"
    assert created["version"] == 1
    assert created["slug"] == "hello-world"
    assert created["tags"] == ["news", "intro"]
    assert created["body_html"] == "<h1>Hi</h1>\n"

    updated = await website.client.put(
        f"/articles/{created['id']}",
        json={"title": "Hello there", "body": "Changed *text*", "language": "en"},
        headers=if_match(created, author.headers),
    )
    assert updated.status_code == 200, updated.text
    assert updated.headers["etag"] == '"2"'
    assert updated.json()["slug"] == "hello-there", "a draft's slug follows its title"
    assert updated.json()["body_html"] == "<p>Changed <em>text</em></p>\n"

    published = await website.publish(author, updated.json())
    assert published["status"] == "published"
    assert published["version"] == 3
    read = await website.client.get("/articles/hello-there")
    assert read.status_code == 200
    assert read.json()["id"] == created["id"]
    assert read.headers["etag"] == '"3"'
    listed = (await website.client.get("/articles")).json()["items"]
    assert [a["id"] for a in listed] == [created["id"]]

    archived = await website.client.post(
        f"/articles/{created['id']}/archive", headers=if_match(published, author.headers)
    )
    assert archived.status_code == 200
    assert archived.json()["status"] == "archived"
    assert (await website.client.get("/articles/hello-there")).status_code == 404
    assert (await website.client.get("/articles")).json()["items"] == []

    deleted = await website.client.delete(
        f"/articles/{created['id']}", headers=if_match(archived.json(), author.headers)
    )
    assert deleted.status_code == 204
    gone = await website.client.get(f"/articles/manage/{created['id']}", headers=author.headers)
    assert gone.status_code == 404
    assert await website.sql("SELECT deleted_at IS NOT NULL FROM articles") is True


async def test_only_a_published_article_can_be_archived(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    draft = await website.create(author)

    response = await website.client.post(
        f"/articles/{draft['id']}/archive", headers=if_match(draft, author.headers)
    )

    assert response.status_code == 409


async def test_an_author_cannot_change_another_authors_article_but_an_editor_can(
    website: Website, make_user: UserFactory
) -> None:
    author, other = await make_user(), await make_user()
    editor, admin = await make_user(roles=(EDITOR,)), await make_user(roles=("admin",))
    article = await website.published(author, title="Mine")
    change = {"title": "Yours now"}

    by_other = await website.client.put(
        f"/articles/{article['id']}", json=change, headers=if_match(article, other.headers)
    )
    draft = await website.create(author, title="My draft")
    draft_by_other = await website.client.put(
        f"/articles/{draft['id']}", json=change, headers=if_match(draft, other.headers)
    )
    by_editor = await website.client.put(
        f"/articles/{article['id']}", json=change, headers=if_match(article, editor.headers)
    )
    by_admin = await website.client.delete(
        f"/articles/{article['id']}", headers=if_match(by_editor.json(), admin.headers)
    )

    assert by_other.status_code == 403
    assert draft_by_other.status_code == 404, "a draft is not even visible to another user"
    assert by_editor.status_code == 200
    assert by_editor.json()["title"] == "Yours now"
    assert by_editor.json()["slug"] == "mine", "a published article keeps its slug"
    assert by_admin.status_code == 204


async def test_a_stale_if_match_is_412_with_the_current_version_and_a_missing_one_428(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    article = await website.create(author, title="Versioned")
    path = f"/articles/{article['id']}"
    first = await website.client.put(
        path, json={"title": "First edit"}, headers=if_match(article, author.headers)
    )
    assert first.status_code == 200

    stale = await website.client.put(
        path, json={"title": "Lost edit"}, headers=if_match(article, author.headers)
    )
    missing = await website.client.put(path, json={"title": "Blind"}, headers=author.headers)
    star = await website.client.put(
        path, json={"title": "Blind"}, headers={**author.headers, "If-Match": "*"}
    )
    weak = await website.client.put(
        path, json={"title": "Blind"}, headers={**author.headers, "If-Match": 'W/"2"'}
    )
    unpublish = await website.client.post(
        f"/articles/{article['id']}/publish", headers=author.headers
    )

    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert stale.json()["current_version"] == 2
    assert missing.status_code == 428
    assert unpublish.status_code == 428
    for refused in (star, weak):
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["field"] == "If-Match"
    current = await website.client.get(f"/articles/manage/{article['id']}", headers=author.headers)
    assert current.json()["title"] == "First edit"
    assert current.json()["version"] == 2


@pytest.mark.pgbouncer
async def test_two_editors_saving_the_same_version_at_once_one_wins_one_gets_412(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    editors = [await make_user(roles=(EDITOR,)) for _ in range(4)]
    article = await website.create(author, title="Contested")

    responses = await asyncio.gather(
        *(
            website.client.put(
                f"/articles/{article['id']}",
                json={"title": f"Edit {n}"},
                headers=if_match(article, editor.headers),
            )
            for n, editor in enumerate(editors)
        )
    )

    assert website.in_flight.peak >= 2, "the requests overlapped"
    assert sorted(r.status_code for r in responses) == [200, 412, 412, 412]
    assert await website.sql("SELECT version FROM articles") == 2


ARTICLE_FIELD_CASES: list[tuple[str, object]] = [
    ("title", ""),
    ("title", "   "),
    ("title", "x" * 201),
    ("title", "two\nlines"),
    ("title", "a trailing newline\n"),  # Python's `$` matches before it
    ("tags", ["news\n"]),
    ("slug", "a-slug\n"),
    ("title", "nul \x00 inside"),
    ("summary", "nul \x00 inside"),
    ("summary", "x" * 501),
    ("body", "x" * 100_001),
    ("language", "klingon"),
    ("tags", ["Not A Tag"]),
    ("tags", [f"t{n}" for n in range(11)]),
    ("tags", "news"),
    ("slug", "Bad Slug"),
    ("slug", "manage"),
    ("unknown", 1),
]


async def test_every_article_field_is_validated_naming_it(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    article = await website.create(author, title="Valid")

    for field, value in ARTICLE_FIELD_CASES:
        body = {"title": "Valid", field: value}
        created = await website.client.post("/articles", json=body, headers=author.headers)
        updated = await website.client.put(
            f"/articles/{article['id']}", json=body, headers=if_match(article, author.headers)
        )
        for response in (created, updated) if field != "slug" else (updated,):
            assert response.status_code in (400, 422), (field, response.text)
            named = response.json()["errors"][0]["field"]
            assert named == field or named.startswith(f"{field}["), (field, named)
    assert await website.sql("SELECT count(*) FROM articles") == 1
    assert await website.sql("SELECT version FROM articles") == 1, "no refused write landed"


async def test_publish_validates_its_time_and_list_filters_their_values(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    article = await website.create(author)

    naive = await website.client.post(
        f"/articles/{article['id']}/publish",
        json={"published_at": "2030-01-01T00:00:00"},
        headers=if_match(article, author.headers),
    )
    bad_tag = await website.client.get("/articles", params={"tag": "Bad Tag"})
    bad_author = await website.client.get("/articles", params={"author": "nobody"})
    too_many = await website.client.get("/articles", params={"limit": 101})
    nul = await website.client.get("/articles", params={"q": "a\x00b"})
    bad_status = await website.client.get(
        "/articles/manage", params={"status": "gone"}, headers=author.headers
    )

    assert naive.status_code == 400
    assert naive.json()["errors"][0]["field"] == "published_at"
    # Out of range once in UTC (asyncpg overflowed), or year 1 (stored as -infinity, which no
    # page cursor can carry: the public list answered 500 to everyone).
    for far in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z"):
        refused = await website.client.post(
            f"/articles/{article['id']}/publish",
            json={"published_at": far},
            headers=if_match(article, author.headers),
        )
        assert refused.status_code == 422, (far, refused.text)
        assert refused.json()["errors"][0]["field"] == "published_at"
    assert (await website.client.get("/articles", params={"limit": 1})).status_code == 200
    for response, field in (
        (bad_tag, "tag"),
        (bad_author, "author"),
        (too_many, "limit"),
        (nul, "q"),
        (bad_status, "status"),
    ):
        assert response.status_code == 400, (field, response.text)
        assert response.json()["errors"][0]["field"] == field


async def test_an_author_who_never_opened_their_profile_is_shown_by_name(
    website: Website, make_user: UserFactory
) -> None:
    """Profiles were made only by `GET /profiles/me`: an article of someone who never asked
    for theirs showed no name, and their public profile was a 404."""
    author = await make_user(name="Ada Writer")

    live = await website.published(author, title="By Ada")

    read = (await website.client.get(f"/articles/{live['slug']}")).json()
    assert read["author"]["display_name"] == "Ada Writer", read["author"]
    profile = await website.client.get(f"/profiles/{author.id}")
    assert profile.status_code == 200
    assert profile.json()["display_name"] == "Ada Writer"


async def test_an_article_whose_transaction_dies_of_a_serialization_failure_is_retried_whole(
    website: Website, make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler opens its transaction itself, after rendering (`kit.database.db_connection`):
    a serialization failure inside it is still retried by the kit, and the article written
    once."""
    author = await make_user()
    calls = 0
    create = article_services.create_article

    async def failing_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise asyncpg.SerializationError("could not serialize access")
        return await create(*args, **kwargs)

    monkeypatch.setattr(article_services, "create_article", failing_once)

    created = await website.client.post(
        "/articles", json={"title": "Retried"}, headers=author.headers
    )

    assert created.status_code == 201, created.text
    assert calls == 2
    assert await website.sql("SELECT count(*) FROM articles WHERE author_id = $1", author.id) == 1
