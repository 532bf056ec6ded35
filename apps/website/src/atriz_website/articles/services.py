"""Article rules: who sees and changes what, slugs, versions, publication."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from atriz_core.client.verifier import Principal
from atriz_core.errors import (
    ConflictError,
    DomainError,
    FieldProblem,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
    PreconditionRequiredError,
)
from atriz_core.kit.pagination import CursorCodec, Page
from atriz_core.kit.times import checked_time
from atriz_website.articles import repository
from atriz_website.articles.rendering import clean_snippet
from atriz_website.articles.schemas import Article, ArticleCreate, ArticleSummary, ArticleUpdate
from atriz_website.articles.slugs import RESERVED_SLUGS, slugify, suffix_stem, with_suffix
from atriz_website.profiles.services import ensure_own_profile
from atriz_website.roles import is_editor

__all__ = [
    "archive_article",
    "create_article",
    "delete_article",
    "expected_version",
    "get_article_for_editing",
    "get_live_article",
    "list_live_articles",
    "list_my_articles",
    "publish_article",
    "update_article",
]

_SLUG_ATTEMPTS = 5
_STRONG_ETAG = re.compile(r'^"([0-9]{1,9})"$')


def expected_version(if_match: str | None) -> int:
    """The version an `If-Match` header names: 428 when it is missing, 400 when it names no
    version of ours (`*` included: a change must say which version it was made from)."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequiredError(
            "send If-Match with the version you read (the ETag of the article)"
        )
    for tag in if_match.split(","):
        match = _STRONG_ETAG.match(tag.strip())
        if match:
            return int(match[1])
    raise DomainError(
        "If-Match names no version of this article",
        [FieldProblem("If-Match", 'must be the ETag read, a version in quotes: "3"')],
    )


def etag(article: Article) -> str:
    return f'"{article.version}"'


# Readers.
async def list_live_articles(
    conn: asyncpg.Connection,
    cursors: CursorCodec,
    *,
    query: str | None,
    author: uuid.UUID | None,
    tag: str | None,
    limit: int,
    cursor: str | None,
) -> Page[ArticleSummary]:
    """Live articles, newest first; with `query`, those matching it, most relevant first."""
    if query is None or not query.strip():
        after = cursors.position(cursor, repository.BY_PUBLICATION)
        rows = await repository.list_live_articles(
            conn, author=author, tag=tag, after=after, fetch=limit + 1
        )
        return cursors.page(rows, limit, repository.BY_PUBLICATION, _by_publication)
    after = cursors.position(cursor, repository.BY_RELEVANCE)
    hits = await repository.search_live_articles(
        conn, query, author=author, tag=tag, after=after, fetch=limit + 1, snippets=limit
    )
    for summary, _ in hits:
        summary.snippet_html = clean_snippet(summary.snippet_html or "")
    page = cursors.page(hits, limit, repository.BY_RELEVANCE, _by_relevance)
    return Page(items=[summary for summary, _ in page.items], next_cursor=page.next_cursor)


def _by_publication(article: ArticleSummary) -> tuple[Any, ...]:
    return (article.published_at, article.id)


def _by_relevance(hit: tuple[ArticleSummary, float]) -> tuple[Any, ...]:
    return (hit[1], hit[0].id)


async def get_live_article(conn: asyncpg.Connection, slug: str) -> Article | str:
    """The live article at `slug`, or the slug it moved to (for a 301); 404 otherwise."""
    article = await repository.get_live_article(conn, slug)
    if article is not None:
        return article
    moved_to = await repository.current_slug(conn, slug)
    if moved_to is not None:
        return moved_to
    raise NotFoundError(f"no article at {slug}")


# Writers and editors.
def _may_change(caller: Principal, author_id: uuid.UUID | None) -> bool:
    return is_editor(caller) or (author_id is not None and author_id == caller.id)


async def list_my_articles(
    conn: asyncpg.Connection,
    cursors: CursorCodec,
    caller: Principal,
    *,
    author: uuid.UUID | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[ArticleSummary]:
    """Articles in every state: the caller's own, or (editors) anyone's."""
    if not is_editor(caller):
        if author is not None and author != caller.id:
            raise ForbiddenError("only editors list other authors' articles")
        author = caller.id
    after = cursors.position(cursor, repository.BY_CREATION)
    rows = await repository.list_articles(
        conn, author=author, status=status, after=after, fetch=limit + 1
    )
    return cursors.page(rows, limit, repository.BY_CREATION, _by_creation)


def _by_creation(article: ArticleSummary) -> tuple[Any, ...]:
    return (article.created_at, article.id)


async def get_article_for_editing(
    conn: asyncpg.Connection, caller: Principal, article_id: uuid.UUID
) -> Article:
    """An article in any state, for its author or an editor; drafts are 404 to anyone else,
    live articles 403."""
    article = await repository.get_article(conn, article_id)
    if article is None:
        raise NotFoundError(f"no article {article_id}")
    if not _may_change(caller, article.author.id):
        live = article.status == "published" and article.published_at is not None
        if live and await repository.get_live_article(conn, article.slug) is not None:
            raise ForbiddenError("only its author or an editor may edit this article")
        raise NotFoundError(f"no article {article_id}")
    return article


async def _changeable(
    conn: asyncpg.Connection, caller: Principal, article_id: uuid.UUID, version: int
) -> asyncpg.Record:
    """The article's row, locked, once the caller may change it and `version` is current."""
    row = await repository.lock_article(conn, article_id)
    if row is None:
        raise NotFoundError(f"no article {article_id}")
    if not _may_change(caller, row["author_id"]):
        if row["live"]:
            raise ForbiddenError("only its author or an editor may change this article")
        raise NotFoundError(f"no article {article_id}")
    if row["version"] != version:
        raise PreconditionFailedError(
            f"the article changed since version {version}: it is at version {row['version']};"
            " read it again",
            current_version=row["version"],
        )
    return row


async def _free_slug(conn: asyncpg.Connection, base: str, own: str | None = None) -> str:
    """`base`, or `base-2`, `base-3`, ...: the first one no published, scheduled, archived or
    former article has or had (`own`, the article's current slug, counts as free). Other
    drafts' slugs do not count: a suffix must not tell that someone drafts the same title."""
    taken = await repository.taken_slugs(conn, base)
    taken.discard(own or "")
    if base not in taken:
        return base
    stem = suffix_stem(base)
    if stem != base:
        taken = await repository.taken_slugs(conn, stem)
        taken.discard(own or "")
    n = 2
    while with_suffix(stem, n) in taken:
        n += 1
    return with_suffix(stem, n)


def _tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def _title(title: str) -> str:
    if not title.strip():
        raise InvalidInputError.for_field("title", "must not be blank")
    return title


async def _fetch(conn: asyncpg.Connection, article_id: uuid.UUID) -> Article:
    article = await repository.get_article(conn, article_id)
    if article is None:  # pragma: no cover - written in this transaction
        raise NotFoundError(f"no article {article_id}")
    return article


async def create_article(
    conn: asyncpg.Connection,
    shared: asyncpg.Pool,
    caller: Principal,
    data: ArticleCreate,
    body_html: str,
) -> Article:
    """A new draft of the caller's (`body_html`: its body rendered, `rendering.rendered`), its
    slug made from its title (with a suffix if taken). The author is held and given a profile
    first (`ensure_own_profile`): their name shows on the article, and a deletion applied
    meanwhile finds the draft."""
    title = _title(data.title)
    await ensure_own_profile(conn, shared, caller.id)
    article_id = await repository.insert_article(
        conn,
        author_id=caller.id,
        slug=await _free_slug(conn, slugify(title)),
        title=title,
        summary=data.summary,
        body=data.body,
        body_html=body_html,
        language=data.language,
        tags=_tags(data.tags),
    )
    return await _fetch(conn, article_id)


async def _new_slug(
    conn: asyncpg.Connection, row: asyncpg.Record, title: str, wanted: str | None
) -> str:
    current: str = row["slug"]
    if wanted is not None:
        if wanted == current:
            return current
        if wanted in RESERVED_SLUGS:
            raise InvalidInputError.for_field("slug", "is reserved for a route")
        owner = await repository.slug_owner(conn, wanted)
        if owner is not None and owner != row["id"]:
            raise ConflictError(
                f"slug {wanted} is taken", [FieldProblem("slug", "is taken by another article")]
            )
        return wanted
    if row["status"] != "draft":
        return current  # stable once published: links to it must keep working
    return await _free_slug(conn, slugify(title), own=current)


async def update_article(
    conn: asyncpg.Connection,
    caller: Principal,
    article_id: uuid.UUID,
    version: int,
    data: ArticleUpdate,
    body_html: str,
) -> Article:
    """Replace the article's content (`body_html`: its body rendered); a draft's slug follows
    its title, a published one keeps its slug unless a new one is given, and then the old one
    redirects."""
    row = await _changeable(conn, caller, article_id, version)
    title = _title(data.title)
    slug = await _new_slug(conn, row, title, data.slug)
    if slug != row["slug"]:
        await repository.forget_slug(conn, article_id, slug)
        if row["status"] != "draft":
            await repository.insert_slug_history(conn, article_id, row["slug"])
    await repository.update_article(
        conn,
        article_id,
        slug=slug,
        title=title,
        summary=data.summary,
        body=data.body,
        body_html=body_html,
        language=data.language,
        tags=_tags(data.tags),
    )
    return await _fetch(conn, article_id)


async def publish_article(
    conn: asyncpg.Connection,
    caller: Principal,
    article_id: uuid.UUID,
    version: int,
    published_at: datetime | None,
) -> Article:
    """Publish now (a live article keeps its time), or at `published_at`: a future time
    schedules it, and readers see it from then on."""
    if published_at is not None:
        published_at = checked_time(published_at, "published_at")
    row = await _changeable(conn, caller, article_id, version)
    draft = row["status"] == "draft"
    for attempt in range(_SLUG_ATTEMPTS):
        # A draft's slug reserved nothing: it is settled now, with a suffix if taken by then.
        slug = await _free_slug(conn, row["slug"]) if draft else row["slug"]
        try:
            async with conn.transaction():  # a savepoint: a lost race retries with the next
                await repository.update_publication(
                    conn, article_id, "published", published_at, slug
                )
            break
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != repository.PUBLIC_SLUG_KEY or attempt == _SLUG_ATTEMPTS - 1:
                raise
    return await _fetch(conn, article_id)


async def archive_article(
    conn: asyncpg.Connection, caller: Principal, article_id: uuid.UUID, version: int
) -> Article:
    """Take a published (or scheduled) article off the site; publishing it again brings it
    back at the same slug."""
    row = await _changeable(conn, caller, article_id, version)
    if row["status"] != "published":
        raise ConflictError(
            f"only a published article can be archived; this one is {row['status']}"
        )
    await repository.update_publication(
        conn, article_id, "archived", row["published_at"], row["slug"]
    )
    return await _fetch(conn, article_id)


async def delete_article(
    conn: asyncpg.Connection, caller: Principal, article_id: uuid.UUID, version: int
) -> None:
    """Delete the article (softly: the row and its slug stay, answering 404)."""
    await _changeable(conn, caller, article_id, version)
    await repository.soft_delete_article(conn, article_id)
