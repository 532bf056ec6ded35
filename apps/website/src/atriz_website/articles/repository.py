"""The article statements, one function each, SQL beside it.

Readers' queries all carry `_LIVE`: published, not deleted, and due (`published_at <= now()`),
so a scheduled article appears the moment its time comes, with no timer to lose in a restart.
Search matches through the GIN indexes on `search`, one branch per language so that each
article is matched with the query parsed by its own language's configuration, each branch served
by that language's own index; the rank is computed for every match (that is what ordering by
relevance costs), the snippet only for the page returned.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from atriz_core.kit.pagination import Keyset
from atriz_website.articles.languages import CONFIGURATIONS
from atriz_website.articles.schemas import Article, ArticleSummary, Author

__all__ = [
    "BY_CREATION",
    "BY_PUBLICATION",
    "BY_RELEVANCE",
    "PUBLIC_SLUG_KEY",
    "current_slug",
    "delete_drafts_of",
    "detach_author",
    "forget_slug",
    "get_article",
    "get_live_article",
    "insert_article",
    "insert_slug_history",
    "list_articles",
    "list_live_articles",
    "lock_article",
    "search_live_articles",
    "slug_owner",
    "soft_delete_article",
    "taken_slugs",
    "update_article",
    "update_publication",
]

BY_PUBLICATION = Keyset("website.articles.by_publication", ("a.published_at", "a.id"), True)
BY_RELEVANCE = Keyset("website.articles.by_relevance", ("score", "id"), True)
BY_CREATION = Keyset("website.articles.by_creation", ("a.created_at", "a.id"), True)

_LIVE = "a.status = 'published' AND a.deleted_at IS NULL AND a.published_at <= now()"
_FROM = "FROM articles a LEFT JOIN user_profiles p ON p.user_id = a.author_id"
_AUTHOR = "a.author_id, a.author_removed_at IS NOT NULL AS author_removed, p.display_name"
_SUMMARY = (
    "a.id, a.slug, a.title, a.summary, a.language, a.tags, a.status, a.published_at,"
    f" a.created_at, {_AUTHOR}"
)
_ARTICLE = (
    "a.id, a.slug, a.title, a.summary, a.body, a.body_html, a.language, a.tags, a.status,"
    f" a.published_at, a.version, a.created_at, a.updated_at, {_AUTHOR}"
)
_HEADLINE_OPTIONS = "StartSel=<mark>, StopSel=</mark>, MaxWords=30, MinWords=12, MaxFragments=2"
# ts_headline parses the whole text it is given (about 1.5 ms per 5,000 characters on a build
# machine), so it gets the summary and a window of the body around the first hit in the body:
# the article's tsvector says at which word that hit is (its position counts the title's and
# the summary's words first), and the window is centred on the same fraction of the body, the
# body's words counted by its spaces. A long body costs no more than a short one, and a hit
# deep in it is still highlighted. Only the hit lexemes' positions are unnested. (Prose whose
# word lengths vary much along the body may put the window off the hit: the snippet then shows
# that window without a highlight.) 2,000 characters rather than 3,000: a two-word search's
# p50 about 8% faster at 100,000 articles, for 0.9% fewer highlighted snippets there (1,058 of
# 1,650 rather than 1,068: the two words of an AND must both fall in the window). In the
# search's statement: $1 the query, $3 how many of the page's rows get a snippet.
SNIPPET_WINDOW = 2_000


def _words(column: str) -> str:
    return f"(length({column}) - length(replace({column}, ' ', '')) + 1)"


_SNIPPET_SOURCE = f"""
    CROSS JOIN LATERAL (
        SELECT tsvector_to_array(to_tsvector(article_search_config(a.language), $1)) AS terms
    ) AS query
    CROSS JOIN LATERAL (
        SELECT greatest(1, (
            length(a.body)::bigint
            * (min(x.pos) - {_words("a.title")} - {_words("a.summary")})
            / greatest({_words("a.body")}, 1)
        )::int - {SNIPPET_WINDOW // 2}) AS start
        -- The body's positions (weight C) of the query's lexemes alone: marked D (a weight
        -- no column has) and filtered in C, rather than unnesting the whole vector.
        FROM unnest(ts_filter(setweight(ts_filter(a.search, '{{c}}'), 'D', query.terms), '{{d}}'))
             AS v(lexeme, positions, weights),
             unnest(v.positions) AS x(pos)
        WHERE page.n <= $3  -- no snippet, so no window, for the extra row
    ) AS snippet"""


def _author(values: dict[str, Any]) -> Author:
    author_id = values.pop("author_id")
    removed = values.pop("author_removed")
    name = values.pop("display_name")
    return Author(id=author_id, display_name=name, removed=removed)


def _article(row: asyncpg.Record) -> Article:
    values = dict(row)
    return Article(author=_author(values), **values)


def _summary(row: asyncpg.Record) -> ArticleSummary:
    values = dict(row)
    return ArticleSummary(author=_author(values), **values)


class _Where:
    """Conditions and their arguments, numbered from `$first`; every fragment is code's."""

    def __init__(self, first: int) -> None:
        self.next = first
        self.parts: list[str] = []
        self.args: list[Any] = []

    def add(self, fragment: str, *values: Any) -> None:
        """`fragment` with `{}` for each value, in order."""
        numbers = [f"${self.next + i}" for i in range(len(values))]
        self.parts.append(fragment.format(*numbers))
        self.args.extend(values)
        self.next += len(values)

    def after(self, keyset: Keyset, position: Sequence[Any] | None) -> None:
        """Rows after `position` in `keyset`'s order (nothing on the first page)."""
        if position is not None:
            self.parts.append(keyset.after(self.next))
            self.args.extend(position)
            self.next += len(position)

    def sql(self) -> str:
        return "".join(f" AND {part}" for part in self.parts)


def _filters(first: int, author: uuid.UUID | None, tag: str | None) -> _Where:
    where = _Where(first)
    if author is not None:
        where.add("a.author_id = {}", author)
    if tag is not None:
        where.add("a.tags @> ARRAY[{}]::text[]", tag)
    return where


async def list_live_articles(
    conn: asyncpg.Connection,
    *,
    author: uuid.UUID | None,
    tag: str | None,
    after: Sequence[Any] | None,
    fetch: int,
) -> list[ArticleSummary]:
    """Live articles, newest first."""
    where = _filters(2, author, tag)
    where.after(BY_PUBLICATION, after)
    rows = await conn.fetch(
        f"SELECT {_SUMMARY} {_FROM} WHERE {_LIVE}{where.sql()}"
        f" ORDER BY {BY_PUBLICATION.order_by()} LIMIT $1",
        fetch,
        *where.args,
    )
    return [_summary(row) for row in rows]


# One index-served branch per language: `a.search @@ <query in that language's configuration>`.
_MATCH = " OR ".join(
    f"(a.language = '{language}' AND a.search @@ websearch_to_tsquery('{config}', $1))"
    for language, config in CONFIGURATIONS.items()
)
# The query in the article's own configuration, for the rank and the snippet: one constant per
# language, folded when the statement is planned, rather than the query parsed again for every
# hit (`websearch_to_tsquery(article_search_config(a.language), $1)`: tens of microseconds a
# row, twice a hit).
_QUERY = (
    "(CASE a.language"
    + "".join(
        f" WHEN '{language}' THEN websearch_to_tsquery('{config}', $1)"
        for language, config in CONFIGURATIONS.items()
    )
    + " END)"
)
# A match in the title ranks above every match elsewhere; then ts_rank with the weights
# (title A, summary B, body C), normalised by 32 into [0, 1).
_SCORE = (
    f"((CASE WHEN a.title_search @@ {_QUERY} THEN 1 ELSE 0 END)"
    f" + ts_rank(a.search, {_QUERY}, 32))::float8"
)


async def search_live_articles(
    conn: asyncpg.Connection,
    query: str,
    *,
    author: uuid.UUID | None,
    tag: str | None,
    after: Sequence[Any] | None,
    fetch: int,
    snippets: int,
) -> list[tuple[ArticleSummary, float]]:
    """Live articles matching the web-search query `query`, best first, each with its score
    (the page's position); the first `snippets` of them (the page shown, not the extra row
    that only tells another page follows) with their highlighted snippet."""
    where = _filters(4, author, tag)
    page = _Where(where.next)
    page.after(BY_RELEVANCE, after)
    rows = await conn.fetch(
        f"""
        WITH hits AS (
            SELECT a.id, {_SCORE} AS score
            FROM articles a
            WHERE {_LIVE} AND ({_MATCH}){where.sql()}
        ), best AS (
            SELECT id, score FROM hits WHERE true{page.sql()}
            ORDER BY {BY_RELEVANCE.order_by()} LIMIT $2
        ), page AS (
            SELECT id, score, row_number() OVER (ORDER BY {BY_RELEVANCE.order_by()}) AS n
            FROM best
        )
        SELECT {_SUMMARY}, page.score,
            CASE WHEN page.n <= $3 THEN ts_headline(
                article_search_config(a.language),
                a.summary || E'\\n'
                    || substr(a.body, coalesce(snippet.start, 1), {SNIPPET_WINDOW}),
                {_QUERY},
                '{_HEADLINE_OPTIONS}'
            ) END AS snippet_html
        FROM page JOIN articles a ON a.id = page.id
        LEFT JOIN user_profiles p ON p.user_id = a.author_id
        {_SNIPPET_SOURCE}
        ORDER BY page.score DESC, page.id DESC
        """,
        query,
        fetch,
        snippets,
        *where.args,
        *page.args,
    )
    results = []
    for row in rows:
        values = dict(row)
        score = values.pop("score")
        results.append((ArticleSummary(author=_author(values), **values), score))
    return results


async def list_articles(
    conn: asyncpg.Connection,
    *,
    author: uuid.UUID | None,
    status: str | None,
    after: Sequence[Any] | None,
    fetch: int,
) -> list[ArticleSummary]:
    """Articles in every state but deleted, newest first: one author's, or everyone's."""
    where = _Where(2)
    if author is not None:
        where.add("a.author_id = {}", author)
    if status is not None:
        where.add("a.status = {}", status)
    where.after(BY_CREATION, after)
    rows = await conn.fetch(
        f"SELECT {_SUMMARY} {_FROM} WHERE a.deleted_at IS NULL{where.sql()}"
        f" ORDER BY {BY_CREATION.order_by()} LIMIT $1",
        fetch,
        *where.args,
    )
    return [_summary(row) for row in rows]


async def get_live_article(conn: asyncpg.Connection, slug: str) -> Article | None:
    row = await conn.fetchrow(f"SELECT {_ARTICLE} {_FROM} WHERE a.slug = $1 AND {_LIVE}", slug)
    return None if row is None else _article(row)


async def current_slug(conn: asyncpg.Connection, old_slug: str) -> str | None:
    """The current slug of the live article that once had `old_slug`."""
    slug: str | None = await conn.fetchval(
        f"SELECT a.slug FROM slug_history h JOIN articles a ON a.id = h.article_id"
        f" WHERE h.slug = $1 AND {_LIVE}",
        old_slug,
    )
    return slug


async def get_article(conn: asyncpg.Connection, article_id: uuid.UUID) -> Article | None:
    """An article in any state but deleted."""
    row = await conn.fetchrow(
        f"SELECT {_ARTICLE} {_FROM} WHERE a.id = $1 AND a.deleted_at IS NULL", article_id
    )
    return None if row is None else _article(row)


async def lock_article(conn: asyncpg.Connection, article_id: uuid.UUID) -> asyncpg.Record | None:
    """What a change needs to know of an article, its row locked until the transaction ends."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT id, author_id, slug, status, version, published_at,"
        " (status = 'published' AND published_at <= now()) AS live"
        " FROM articles WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
        article_id,
    )
    return row


# The articles whose slug is reserved: every one but drafts, whose slugs are provisional
# (see the migration `reserve_only_public_slugs`).
_RESERVING = "status <> 'draft'"
PUBLIC_SLUG_KEY = "articles_public_slug_key"
"""The unique index on reserved slugs: two drafts published at once with one slug hit it."""


async def taken_slugs(conn: asyncpg.Connection, base: str) -> set[str]:
    """Reserved or remembered slugs that are `base` or `base-<anything>`. (`base` holds only
    letters, digits and hyphens: nothing LIKE treats specially.)"""
    rows = await conn.fetch(
        f"SELECT slug FROM articles WHERE (slug = $1 OR slug LIKE $2) AND {_RESERVING}"
        " UNION SELECT slug FROM slug_history WHERE slug = $1 OR slug LIKE $2",
        base,
        f"{base}-%",
    )
    return {row["slug"] for row in rows}


async def slug_owner(conn: asyncpg.Connection, slug: str) -> uuid.UUID | None:
    """The article that holds `slug` reserved now or had it before (deleted ones included);
    never a draft, whose slug reserves nothing."""
    owner: uuid.UUID | None = await conn.fetchval(
        f"SELECT id FROM articles WHERE slug = $1 AND {_RESERVING}"
        " UNION ALL SELECT article_id FROM slug_history WHERE slug = $1 LIMIT 1",
        slug,
    )
    return owner


async def insert_article(
    conn: asyncpg.Connection,
    *,
    author_id: uuid.UUID,
    slug: str,
    title: str,
    summary: str,
    body: str,
    body_html: str,
    language: str,
    tags: list[str],
) -> uuid.UUID:
    article_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO articles (author_id, slug, title, summary, body, body_html, language, tags)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        author_id,
        slug,
        title,
        summary,
        body,
        body_html,
        language,
        tags,
    )
    return article_id


async def update_article(
    conn: asyncpg.Connection,
    article_id: uuid.UUID,
    *,
    slug: str,
    title: str,
    summary: str,
    body: str,
    body_html: str,
    language: str,
    tags: list[str],
) -> None:
    await conn.execute(
        "UPDATE articles SET slug = $2, title = $3, summary = $4, body = $5, body_html = $6,"
        " language = $7, tags = $8, version = version + 1, updated_at = now() WHERE id = $1",
        article_id,
        slug,
        title,
        summary,
        body,
        body_html,
        language,
        tags,
    )


async def update_publication(
    conn: asyncpg.Connection,
    article_id: uuid.UUID,
    status: str,
    published_at: datetime | None,
    slug: str,
) -> None:
    """Set the status, the publication time (None: now, or the time it already has) and the
    slug (a draft's is settled when it is first published)."""
    await conn.execute(
        "UPDATE articles SET status = $2, slug = $4,"
        " published_at = COALESCE($3, CASE WHEN status = 'published' AND published_at <= now()"
        " THEN published_at END, now()),"
        " version = version + 1, updated_at = now() WHERE id = $1",
        article_id,
        status,
        published_at,
        slug,
    )


async def soft_delete_article(conn: asyncpg.Connection, article_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE articles SET deleted_at = now(), version = version + 1, updated_at = now()"
        " WHERE id = $1",
        article_id,
    )


async def insert_slug_history(conn: asyncpg.Connection, article_id: uuid.UUID, slug: str) -> None:
    await conn.execute(
        "INSERT INTO slug_history (slug, article_id) VALUES ($1, $2)"
        " ON CONFLICT (slug) DO UPDATE SET article_id = EXCLUDED.article_id, replaced_at = now()",
        slug,
        article_id,
    )


async def forget_slug(conn: asyncpg.Connection, article_id: uuid.UUID, slug: str) -> None:
    """An article takes back one of its old slugs: it is no longer a redirect."""
    await conn.execute(
        "DELETE FROM slug_history WHERE slug = $1 AND article_id = $2", slug, article_id
    )


async def delete_drafts_of(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM articles WHERE author_id = $1 AND status = 'draft'", user_id)


async def detach_author(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """The author's account is gone: their articles stay, the author shown as removed."""
    await conn.execute(
        "UPDATE articles SET author_id = NULL, author_removed_at = now(), updated_at = now()"
        " WHERE author_id = $1",
        user_id,
    )
