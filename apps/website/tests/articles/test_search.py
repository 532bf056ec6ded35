"""Full-text search: words in title, summary and body, title matches first, accents folded,
each language's stemming, web-search syntax, junk never an error, snippets, keyset pages."""

from __future__ import annotations

from typing import Any

import pytest

from atriz_core.testing import UserFactory
from atriz_database.pool import connect
from atriz_website.articles import repository
from atriz_website.articles.languages import CONFIGURATIONS

Website = Any  # the `website` fixture's value (conftest.Website)


async def search(website: Website, q: str, **params: Any) -> list[dict[str, Any]]:
    response = await website.client.get("/articles", params={"q": q, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_search_finds_words_in_title_summary_and_body_and_ranks_title_matches_first(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    in_body = await website.published(
        author,
        title="Kitchen notes",
        body="Many paragraphs about pastry. The saffron goes in last. " * 5,
    )
    in_summary = await website.published(
        author, title="Spice cabinet", summary="Why saffron is expensive"
    )
    in_title = await website.published(author, title="Saffron", body="A short one.")
    await website.published(author, title="Unrelated", body="Nothing to see here.")

    found = await search(website, "saffron")

    assert [a["id"] for a in found] == [in_title["id"], in_summary["id"], in_body["id"]]
    assert all("<mark>" in a["snippet_html"] for a in found[1:])
    assert "Saffron" in found[0]["title"]


async def test_search_folds_accents_both_ways_and_stems_by_language(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    creme = await website.published(author, title="Crème brûlée", body="Custard.")
    plain = await website.published(author, title="Creme caramel", body="Flan.")
    spanish = await website.published(
        author, title="Canciones", body="Las canciones más bonitas", language="es"
    )
    english = await website.published(author, title="Running", body="He runs every day.")

    assert {a["id"] for a in await search(website, "creme")} == {creme["id"], plain["id"]}
    assert {a["id"] for a in await search(website, "crème")} == {creme["id"], plain["id"]}
    assert [a["id"] for a in await search(website, "brulee")] == [creme["id"]]
    assert [a["id"] for a in await search(website, "cancion")] == [spanish["id"]]
    assert [a["id"] for a in await search(website, "mas bonita")] == [spanish["id"]]
    assert [a["id"] for a in await search(website, "run")] == [english["id"]]


async def test_web_search_syntax_phrases_or_and_exclusion(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    both = await website.published(author, title="Tea and biscuits", body="green tea")
    tea = await website.published(author, title="Tea", body="black tea")
    coffee = await website.published(author, title="Coffee", body="dark roast")

    assert {a["id"] for a in await search(website, "tea biscuits")} == {both["id"]}
    assert {a["id"] for a in await search(website, "tea -biscuits")} == {tea["id"]}
    assert {a["id"] for a in await search(website, "biscuits or coffee")} == {
        both["id"],
        coffee["id"],
    }
    assert {a["id"] for a in await search(website, '"green tea"')} == {both["id"]}
    assert await search(website, '"tea green"') == []


async def test_junk_queries_are_never_an_error(website: Website, make_user: UserFactory) -> None:
    author = await make_user()
    await website.published(author, title="Something", body="text")
    junk = [
        "",
        " ",
        '"',
        '""""',
        "-",
        "--",
        "or",
        "or or or",
        "!@#$%^&*()",
        "a & | ! <-> b",
        "(((",
        ":*",
        "the",
        "'; DROP TABLE articles; --",
        "\\",
        "日本語",
        "\U0001d54f" * 100,
        "x" * 256,
    ]

    for q in junk:
        response = await website.client.get("/articles", params={"q": q})
        assert response.status_code == 200, (q, response.text)
    assert await website.sql("SELECT count(*) FROM articles") == 1
    too_long = await website.client.get("/articles", params={"q": "x" * 257})
    assert too_long.status_code == 400
    assert too_long.json()["errors"][0]["field"] == "q"


@pytest.mark.pgbouncer
async def test_search_pages_by_keyset_and_filters_by_author_and_tag(
    website: Website, make_user: UserFactory
) -> None:
    ana, ben = await make_user(), await make_user()
    ids = set()
    for n in range(5):
        article = await website.published(
            ana, title=f"Garden {n}", body="garden " * n, tags=["plants"] if n % 2 else []
        )
        ids.add(article["id"])
    other = await website.published(ben, title="Garden of ben", tags=["plants"])

    first = (await website.client.get("/articles", params={"q": "garden", "limit": 4})).json()
    second = (
        await website.client.get(
            "/articles", params={"q": "garden", "limit": 4, "cursor": first["next_cursor"]}
        )
    ).json()
    by_ana = await search(website, "garden", author=str(ana.id))
    tagged = await search(website, "garden", tag="plants")
    wrong_cursor = await website.client.get("/articles", params={"cursor": first["next_cursor"]})

    walked = [a["id"] for a in first["items"] + second["items"]]
    assert len(walked) == 6
    assert set(walked) == ids | {other["id"]}
    assert second["next_cursor"] is None
    assert {a["id"] for a in by_ana} == ids
    assert len(tagged) == 3
    assert other["id"] in {a["id"] for a in tagged}
    assert wrong_cursor.status_code == 400, "a search cursor does not continue the plain list"
    assert wrong_cursor.json()["errors"][0]["field"] == "cursor"


async def test_snippets_are_safe_html(website: Website, make_user: UserFactory) -> None:
    author = await make_user()
    await website.published(
        author,
        title="Markup",
        body='plain <script>alert(1)</script> <img src=x onerror=alert(1)> needle & "quotes"',
    )

    (hit,) = await search(website, "needle")

    snippet = hit["snippet_html"]
    assert "<mark>needle</mark>" in snippet
    assert "<script" not in snippet
    assert "<img" not in snippet
    assert "onerror" not in snippet


async def test_a_hit_deep_in_a_long_body_is_highlighted(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    filler = " ".join(f"filler{n % 300}" for n in range(4000))
    tail = " ".join(f"filler{n % 300}" for n in range(1000))
    body = f"{filler}. The needle is here. {tail}."
    await website.published(author, title="Long read", summary="A long one", body=body)
    await website.published(author, title="Needle in the title", body="nothing else")

    hits = await search(website, "needle")

    assert [hit["title"] for hit in hits] == ["Needle in the title", "Long read"]
    assert "<mark>needle</mark>" in hits[1]["snippet_html"].lower()
    assert len(hits[1]["snippet_html"]) < 1000


async def test_only_the_page_shown_gets_snippets(website: Website, make_user: UserFactory) -> None:
    """The search fetches one row past the page (it tells that another page follows): that
    row's snippet, never shown, is never computed."""
    author = await make_user()
    for n in range(3):
        await website.published(author, title=f"Note {n}", body=f"The lantern, {n} times.")
    connection = await connect(website.settings.database_url)
    try:
        hits = await repository.search_live_articles(
            connection, "lantern", author=None, tag=None, after=None, fetch=3, snippets=2
        )
    finally:
        await connection.close()

    assert [summary.snippet_html is not None for summary, _ in hits] == [True, True, False]
    assert all("<mark>lantern</mark>" in (s.snippet_html or "") for s, _ in hits[:2])


async def test_every_language_has_its_own_search_index(website: Website) -> None:
    """A search matches each language through an index whose predicate names that language,
    so the match needs no second look at the article's vector; a language without one would
    make every search scan the table."""
    definitions = [
        row[0]
        for row in await website.rows(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'articles'"
            " AND indexdef LIKE '%USING gin (search)%'"
        )
    ]

    for language in CONFIGURATIONS:
        assert any(f"language = '{language}'::text" in d for d in definitions), language
