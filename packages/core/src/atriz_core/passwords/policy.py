"""The password policy, after NIST SP 800-63B and OWASP ASVS.

At least 8 characters and at most 128 (checked before any hashing), counted in Unicode code points
after NFKC normalisation; any character allowed; no composition rules; never truncated; and not one
of the 20,000 most common passwords (a list bundled with the package, checked offline).
"""

from __future__ import annotations

import gzip
import unicodedata
from functools import cache
from importlib.resources import files

from atriz_core.errors import InvalidInputError

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "acceptable_password",
    "normalise",
    "password_problem",
]

MIN_LENGTH = 8
MAX_LENGTH = 128


def normalise(password: str) -> str:
    """NFKC, so that the same password typed on two keyboards hashes the same."""
    return unicodedata.normalize("NFKC", password)


@cache
def _common_passwords() -> frozenset[str]:
    data = files("atriz_core.passwords").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode("utf-8").split())


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why `password` may not be chosen, or None if it may."""
    normalised = normalise(password)
    if len(normalised) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(normalised) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    lowered = normalised.casefold()
    if lowered in _common_passwords():
        return "is one of the most common passwords; choose another"
    if email and lowered in {email.casefold(), email.split("@")[0].casefold()}:
        return "must not be your e-mail address"
    if name and lowered == name.casefold():
        return "must not be your name"
    return None


def acceptable_password(password: str, *, email: str, name: str, field: str) -> str:
    """The normalised password, ready to hash; `InvalidInputError` naming `field` if refused."""
    problem = password_problem(password, email=email, name=name)
    if problem:
        raise InvalidInputError.for_field(field, problem)
    return normalise(password)
