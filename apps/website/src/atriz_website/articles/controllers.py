"""The article routes: HTTP only.

Readers' routes are public (`opt=PUBLIC`); writers' routes need a token, and every change of
an existing article sends `If-Match` with the version it read (412 when stale, 428 without).
Writes address articles by id (a slug may change); readers by slug (an old one answers 301).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import FromPath, HeaderParameter, JSONBody, PathParameter, QueryParameter
from litestar.response import Redirect

from atriz_core.client import PUBLIC
from atriz_core.client.verifier import Principal
from atriz_core.kit.database import DbConnection, db_connection
from atriz_core.kit.openapi import problem_responses
from atriz_core.kit.pagination import Page
from atriz_core.kit.pagination_params import PageCursor, cursors_of, page_limit, schema_name
from atriz_core.kit.replica import REPLICA_READS
from atriz_core.kit.text import END, NO_NUL
from atriz_website.articles import services
from atriz_website.articles.rendering import rendered
from atriz_website.articles.schemas import (
    Article,
    ArticleCreate,
    ArticlePublish,
    ArticleSummary,
    ArticleUpdate,
    Status,
)
from atriz_website.articles.slugs import MAX_SLUG_LENGTH

__all__ = ["ArticleController"]

ArticlePage = Annotated[Page[ArticleSummary], schema_name("ArticlePage")]
Limit = Annotated[int | None, page_limit(100)]
DEFAULT_LIMIT = 20
DEFAULT_SEARCH_LIMIT = 10
"""A search page is shorter: each hit's snippet is computed (see `repository`)."""
IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        max_length=200,
        description='The version read, as its ETag: `"3"`. Required; stale: 412.',
    ),
]
Query = Annotated[
    str | None,
    QueryParameter(
        max_length=256,
        pattern=NO_NUL,
        description=(
            'Full-text search, web-search syntax: words, "a phrase", `or`, `-excluded`.'
            " Results most relevant first, title matches before others."
        ),
    ),
]
Tag = Annotated[
    str | None,
    QueryParameter(pattern=r"^[a-z0-9][a-z0-9-]{0,31}" + END, description="Only with this tag."),
]
AuthorFilter = Annotated[uuid.UUID | None, QueryParameter(description="Only by this author.")]
StatusFilter = Annotated[Status | None, QueryParameter(description="Only in this state.")]
SlugPath = Annotated[str, PathParameter(max_length=MAX_SLUG_LENGTH * 2, pattern=NO_NUL)]
_CHANGE_PROBLEMS = problem_responses(404, 412, 428)


def _with_etag(article: Article, status_code: int = 200) -> Response[Article]:
    return Response(article, status_code=status_code, headers={"ETag": services.etag(article)})


class ArticleController(Controller):
    path = "/articles"
    tags = ["articles"]

    @get("/", opt={**PUBLIC, **REPLICA_READS})
    async def list_articles(
        self,
        conn: DbConnection,
        request: Request[Any, Any, Any],
        q: Query = None,
        author: AuthorFilter = None,
        tag: Tag = None,
        limit: Limit = None,
        cursor: PageCursor = None,
    ) -> ArticlePage:
        """Published articles (no token needed): newest first (20 a page unless `limit` says),
        or with `q` the best matches first (10 a page), each with a highlighted
        `snippet_html`. Filters: `author`, `tag`."""
        default = DEFAULT_SEARCH_LIMIT if q and q.strip() else DEFAULT_LIMIT
        return await services.list_live_articles(
            conn,
            cursors_of(request),
            query=q,
            author=author,
            tag=tag,
            limit=limit or default,
            cursor=cursor,
        )

    @get("/{slug:str}", opt=PUBLIC, responses=problem_responses(404))
    async def get_article(
        self, slug: FromPath[SlugPath], conn: DbConnection
    ) -> Response[Article] | Redirect:
        """A published article by its slug (no token needed); a former slug answers 301 with
        the current one in `Location`."""
        found = await services.get_live_article(conn, slug)
        if isinstance(found, str):
            return Redirect(path=f"/articles/{found}", status_code=301)
        return _with_etag(found)

    @post("/", responses=problem_responses(422))
    async def create_article(
        self,
        data: JSONBody[ArticleCreate],
        request: Request[Principal, Any, Any],
    ) -> Response[Article]:
        """A new draft by the signed-in user; its slug comes from the title (`-2`, `-3`...
        when taken)."""
        body_html = await rendered(data.body)  # before the transaction: see `rendered`
        state = request.app.state
        async with db_connection(request, state) as conn:
            article = await services.create_article(
                conn, state.shared_pool, request.user, data, body_html
            )
        return _with_etag(article, 201)

    @get("/manage")
    async def list_my_articles(
        self,
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        author: AuthorFilter = None,
        status: StatusFilter = None,
        limit: Limit = None,
        cursor: PageCursor = None,
    ) -> ArticlePage:
        """Articles in every state (drafts, scheduled, archived), newest first: the caller's
        own, or anyone's for editors (`author` filters)."""
        return await services.list_my_articles(
            conn,
            cursors_of(request),
            request.user,
            author=author,
            status=status,
            limit=limit or DEFAULT_LIMIT,
            cursor=cursor,
        )

    @get("/manage/{article_id:uuid}", responses=problem_responses(403, 404))
    async def get_article_for_editing(
        self,
        article_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
    ) -> Response[Article]:
        """An article in any state, for its author or an editor, with its version as `ETag`
        (send it back in `If-Match`)."""
        article = await services.get_article_for_editing(conn, request.user, article_id)
        return _with_etag(article)

    @put("/{article_id:uuid}", responses={**_CHANGE_PROBLEMS, **problem_responses(403, 409)})
    async def update_article(
        self,
        article_id: FromPath[uuid.UUID],
        data: JSONBody[ArticleUpdate],
        request: Request[Principal, Any, Any],
        if_match: IfMatch = None,
    ) -> Response[Article]:
        """Replace an article's content (author or editor), with `If-Match`."""
        version = services.expected_version(if_match)
        body_html = await rendered(data.body)  # before the transaction: see `rendered`
        async with db_connection(request, request.app.state) as conn:
            article = await services.update_article(
                conn, request.user, article_id, version, data, body_html
            )
        return _with_etag(article)

    @post(
        "/{article_id:uuid}/publish",
        status_code=200,
        responses={**_CHANGE_PROBLEMS, **problem_responses(403)},
    )
    async def publish_article(
        self,
        article_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        data: JSONBody[ArticlePublish | None] = None,
        if_match: IfMatch = None,
    ) -> Response[Article]:
        """Publish now, or schedule with a future `published_at` (author or editor)."""
        version = services.expected_version(if_match)
        article = await services.publish_article(
            conn, request.user, article_id, version, data.published_at if data else None
        )
        return _with_etag(article)

    @post(
        "/{article_id:uuid}/archive",
        status_code=200,
        responses={**_CHANGE_PROBLEMS, **problem_responses(403, 409)},
    )
    async def archive_article(
        self,
        article_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        if_match: IfMatch = None,
    ) -> Response[Article]:
        """Take a published or scheduled article off the site (author or editor)."""
        version = services.expected_version(if_match)
        article = await services.archive_article(conn, request.user, article_id, version)
        return _with_etag(article)

    @delete("/{article_id:uuid}", responses={**_CHANGE_PROBLEMS, **problem_responses(403)})
    async def delete_article(
        self,
        article_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        if_match: IfMatch = None,
    ) -> None:
        """Delete an article (author or editor); its slug stays taken."""
        version = services.expected_version(if_match)
        await services.delete_article(conn, request.user, article_id, version)
