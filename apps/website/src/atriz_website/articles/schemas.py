"""Request and response bodies of the article routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from atriz_core.kit.text import END, NO_NUL, ONE_LINE
from atriz_website.articles.languages import Language
from atriz_website.articles.slugs import MAX_SLUG_LENGTH, SLUG_PATTERN

__all__ = [
    "Article",
    "ArticleCreate",
    "ArticlePublish",
    "ArticleSummary",
    "ArticleUpdate",
    "Author",
    "Status",
]

Status = Literal["draft", "published", "archived"]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE)]
Summary = Annotated[str, msgspec.Meta(max_length=500, pattern=NO_NUL)]
Body = Annotated[
    str, msgspec.Meta(max_length=100_000, pattern=NO_NUL, description="Markdown (CommonMark).")
]
Tag = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9-]{0,31}" + END,
        description="Lower-case letters, digits and hyphens, 1 to 32 characters.",
    ),
]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=10)]
Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SLUG_LENGTH, pattern=SLUG_PATTERN)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class ArticleCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new article, a draft of the caller's; its slug is made from the title."""

    title: Title
    summary: Summary = ""
    body: Body = ""
    language: Language = "en"
    tags: Tags = msgspec.field(default_factory=list)


class ArticleUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """An article's whole content (PUT replaces it), sent with `If-Match`."""

    title: Title
    summary: Summary = ""
    body: Body = ""
    language: Language = "en"
    tags: Tags = msgspec.field(default_factory=list)
    slug: Slug | None = None
    """A new slug (the old one then redirects); left out, a draft's slug follows its title
    and a published article keeps its own."""


class ArticlePublish(msgspec.Struct, forbid_unknown_fields=True):
    """When the article goes live: now when left out; a future time schedules it."""

    published_at: AwareDatetime | None = None


class Author(msgspec.Struct):
    """Who wrote the article; `removed` (id and name null) once their account is deleted."""

    id: uuid.UUID | None
    display_name: str | None
    removed: bool


class ArticleSummary(msgspec.Struct):
    """An article in a list: no body. `snippet_html` (search only) is a passage of the article
    with the words found in `<mark>`, safe HTML."""

    id: uuid.UUID
    slug: str
    title: str
    summary: str
    language: str
    tags: list[str]
    author: Author
    status: Status
    published_at: datetime | None
    created_at: datetime
    snippet_html: str | None = None


class Article(msgspec.Struct):
    """A whole article. `body_html` is the Markdown body rendered and sanitised; `version`
    goes back in `If-Match` (it is also the `ETag`). A published article whose `published_at`
    lies in the future is scheduled: readers see it from that time on."""

    id: uuid.UUID
    slug: str
    title: str
    summary: str
    body: str
    body_html: str
    language: str
    tags: list[str]
    author: Author
    status: Status
    published_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
