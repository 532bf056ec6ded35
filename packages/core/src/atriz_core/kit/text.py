"""Patterns for the text fields of request bodies, as `msgspec.Meta(pattern=...)`, and of query
parameters, as `QueryParameter(pattern=...)`.

PostgreSQL's `text` cannot hold NUL. A field that reaches the database with one is refused
there, as a 400 that can name only `body` (`atriz_core.kit.problems.handle_unstorable_value`);
with one of these on the field, the body is refused as it is decoded, naming the field (a query
parameter, as its value is read, naming the parameter).
"""

from __future__ import annotations

__all__ = ["END", "NO_NUL", "ONE_LINE"]

END = r"$(?!\n)"
"""The end of the value, to close a pattern with (`r"^[a-z]+" + END`). msgspec and Litestar
match a pattern with `re.search`, where `$` also matches before a final newline: `^[a-z]+$`
takes "abc\n". `(?!\n)` refuses that, and means the same to the OpenAPI document's readers
(ECMAScript regular expressions, whose `$` is the end already; `\\Z` is not one of theirs)."""

NO_NUL = r"^[^\x00]*" + END
"""Any text PostgreSQL can store: all but NUL (notes, descriptions, articles)."""

ONE_LINE = r"^[^\x00-\x1f\x7f]*" + END
"""One line of text: no control character at all (names, titles, plates)."""
