"""The kit's text patterns hold to the end of the value: Python's `$` (msgspec and Litestar
match with `re.search`) also matches before a final newline, which let "a title\n" through."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest

from atriz_core.kit.text import END, NO_NUL, ONE_LINE


class Named(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(pattern=ONE_LINE)]
    notes: Annotated[str, msgspec.Meta(pattern=NO_NUL)] = ""
    code: Annotated[str, msgspec.Meta(pattern=r"^[a-z]{3}" + END)] = "abc"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a name\n"},
        {"name": "a\nname"},
        {"name": "a name", "notes": "nul \x00"},
        {"name": "a name", "code": "abc\n"},
    ],
)
def test_a_value_with_what_its_pattern_refuses_is_refused_up_to_its_end(body: dict) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(body, Named)


def test_values_the_patterns_allow_are_taken_as_they_are() -> None:
    taken = msgspec.convert({"name": "Ana", "notes": "two\nlines\n", "code": "xyz"}, Named)

    assert (taken.name, taken.notes, taken.code) == ("Ana", "two\nlines\n", "xyz")
