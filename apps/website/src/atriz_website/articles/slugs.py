"""Slugs: the readable, stable part of an article's URL, made from its title."""

from __future__ import annotations

import re
import unicodedata

from atriz_core.kit.text import END

__all__ = [
    "MAX_SLUG_LENGTH",
    "RESERVED_SLUGS",
    "SLUG_PATTERN",
    "slugify",
    "suffix_stem",
    "with_suffix",
]

MAX_SLUG_LENGTH = 100
SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*" + END
# Paths under /articles/ that are routes, not articles.
RESERVED_SLUGS = frozenset({"manage"})
_BASE_LENGTH = 80  # room for a `-<n>` suffix under MAX_SLUG_LENGTH
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_FALLBACK = "article"
# Latin letters that Unicode does not decompose into a base letter and an accent.
_LETTERS = str.maketrans(
    {
        "ø": "o",
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
        "đ": "d",
        "ł": "l",
        "þ": "th",
        "ð": "d",
        "\u0131": "i",
    }
)


def slugify(title: str) -> str:
    """`Crème brûlée, step by step!` -> `creme-brulee-step-by-step`: accents folded, anything
    else than ASCII letters and digits a hyphen, at most 80 characters cut at a word; `article`
    when nothing is left (a title in a script without Latin letters) or the slug is reserved."""
    folded = unicodedata.normalize("NFKD", title)
    letters = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    ascii_only = letters.translate(_LETTERS)
    slug = _NOT_WORD.sub("-", ascii_only).strip("-")
    if len(slug) > _BASE_LENGTH:
        cut = slug[:_BASE_LENGTH]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else cut
    if not slug or slug in RESERVED_SLUGS:
        return _FALLBACK if not slug else f"{slug}-{_FALLBACK}"
    return slug


def with_suffix(base: str, n: int) -> str:
    """The `n`th candidate for `base`: `base` itself, then `base-2`, `base-3`, ..."""
    return base if n <= 1 else f"{base}-{n}"


def suffix_stem(slug: str) -> str:
    """What suffixes go after: `slug`, cut to leave room for one under `MAX_SLUG_LENGTH` when it
    is longer (a slug chosen by hand may be as long as a slug can be)."""
    return slug if len(slug) <= _BASE_LENGTH else slug[:_BASE_LENGTH].rstrip("-")
