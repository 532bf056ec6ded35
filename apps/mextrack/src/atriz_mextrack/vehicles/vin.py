"""Vehicle identification numbers (ISO 3779, with the North American check digit)."""

from __future__ import annotations

__all__ = ["vin_problem"]

_ALPHABET = frozenset("ABCDEFGHJKLMNPRSTUVWXYZ0123456789")  # no I, O or Q
_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_problem(vin: str) -> str | None:
    """Why `vin` is not a valid VIN, or None: 17 characters, no I, O or Q, and the ninth
    character the check digit of the others (weighted sum mod 11, 10 written `X`)."""
    if len(vin) != 17:
        return "must have 17 characters"
    if not set(vin) <= _ALPHABET:
        return "may hold only digits and capital letters other than I, O and Q"
    remainder = sum(_VALUES[c] * w for c, w in zip(vin, _WEIGHTS, strict=True)) % 11
    expected = "X" if remainder == 10 else str(remainder)
    if vin[8] != expected:
        return f"has a wrong check digit (the ninth character should be {expected})"
    return None
