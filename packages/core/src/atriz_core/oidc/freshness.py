"""How recent the browser's sign-in must be for an authorization request (OpenID Connect Core
3.1.2.1): `prompt=login` asks for a sign-in now, `max_age` for one at most that many seconds old.

Core answers either by sending the browser to its sign-in page with the request to resume. The
resumed request must not simply ask again (`max_age=0` would never be met, and without
`prompt=login` the old sign-in would do), nor carry nothing (then requesting the resumed URL
without signing in would give a code): it carries `signed_in_after`, the moment the sign-in was
asked for (microseconds since 1970), which only a sign-in since then meets. Anyone may add it
to a request: it can only ask for more, and one in the future is refused, so a crafted link
cannot send a browser round in circles.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from atriz_core.oidc.repository import BrowserSession

__all__ = ["SignInAge", "resumed_after_sign_in"]

_SIGNED_IN_AFTER = "signed_in_after"
# Up to 317 years: added to a sign-in's time, it cannot overflow a datetime.
_MAX_AGE_DIGITS = 10
# `signed_in_after`: microseconds since 1970, exact (a float of seconds would round), up to 2286.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MOMENT_DIGITS = 16


class SignInAge:
    """What an authorization request asks of the sign-in's age, read from its parameters."""

    def __init__(self, fields: dict[str, str], prompts: Iterable[str], now: datetime) -> None:
        """`ValueError` naming the parameter when `max_age` or `signed_in_after` is not valid."""
        self.now = now
        self.login = "login" in prompts
        self.max_age = _max_age(fields.get("max_age"))
        self.after = _moment(fields.get(_SIGNED_IN_AFTER), now)

    def met_by(self, session: BrowserSession) -> bool:
        """Whether `session`'s sign-in is recent enough; `prompt=login` never is (the resumed
        request carries `signed_in_after` instead)."""
        if self.login:
            return False
        if self.max_age is not None and session.auth_time + self.max_age < self.now:
            return False
        return self.after is None or session.auth_time >= self.after


def resumed_after_sign_in(params: list[tuple[str, str]], now: datetime) -> list[tuple[str, str]]:
    """The request's parameters to resume it once the browser has signed in: `login` out of
    `prompt` (its other values stay), `max_age` and any earlier `signed_in_after` replaced by a
    `signed_in_after` of `now`."""
    resumed: list[tuple[str, str]] = []
    for name, value in params:
        if name == "prompt":
            rest = " ".join(p for p in value.split() if p != "login")
            if rest:
                resumed.append((name, rest))
        elif name not in ("max_age", _SIGNED_IN_AFTER):
            resumed.append((name, value))
    return [*resumed, (_SIGNED_IN_AFTER, str((now - _EPOCH) // _MICROSECOND))]


def _max_age(value: str | None) -> timedelta | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > _MAX_AGE_DIGITS:
        raise ValueError("max_age must be a whole number of seconds")
    return timedelta(seconds=int(value))


def _moment(value: str | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > _MOMENT_DIGITS:
        raise ValueError(f"{_SIGNED_IN_AFTER} must be microseconds since 1970")
    moment = _EPOCH + int(value) * _MICROSECOND
    if moment > now:
        raise ValueError(f"{_SIGNED_IN_AFTER} is in the future")
    return moment
