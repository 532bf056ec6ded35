"""The kit's text patterns hold to the end of the value: Python's `$` (msgspec and Litestar
match with `re.search`) also matches before a final newline, which let "a title\n" through."""

from __future__ import annotations

import ast
from pathlib import Path
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


def _pattern_of(node: ast.AST) -> ast.expr | None:
    """What `node` gives as a pattern: a `pattern=` argument, or a `*_PATTERN` constant."""
    if isinstance(node, ast.keyword) and node.arg == "pattern":
        return node.value
    names = node.targets if isinstance(node, ast.Assign) else []
    if any(isinstance(name, ast.Name) and name.id.endswith("PATTERN") for name in names):
        return node.value  # type: ignore[attr-defined]
    return None


def _patterns_ending_in_a_bare_dollar() -> list[str]:
    """Every pattern in the services' sources that is a plain string ending in `$` (closed
    with `END`, a pattern is an expression, not one string)."""
    root = Path(__file__).resolve().parents[4]
    found = []
    for source in sorted([*root.glob("packages/*/src/**/*.py"), *root.glob("apps/*/src/**/*.py")]):
        for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
            value = _pattern_of(node)
            if isinstance(value, ast.Constant) and str(value.value).endswith("$"):
                found.append(f"{source.relative_to(root)}:{value.lineno}")
    return found


def test_no_validation_pattern_ends_in_a_bare_dollar() -> None:
    """A pattern closed with `$` takes a value with a trailing newline (see the module): every
    one is closed with `END`, new ones too."""
    assert _patterns_ending_in_a_bare_dollar() == []
