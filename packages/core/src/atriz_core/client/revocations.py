"""Per-user "not before" times: the access tokens of a user issued up to that time are refused.

Fed from `user_events` (by `atriz_core.kit.events.revocation_feed`, in every worker), read by
`TokenVerifier` on every request, a dictionary lookup. An access token carries its issue time
(`iat`, whole seconds, core's clock) and every event carries core's clock when it was recorded,
after the change took its locks (see `atriz_core.user_events`), so a token minted before the
change is refused, and so is one minted in the same second after it: the client refreshes (or
signs in) again a moment later. That second is the price of `iat`'s resolution; telling the two
apart by a few milliseconds would stake the rule on two hosts' clocks agreeing that well.

- `deactivated`, `sessions_revoked`, `roles_changed`: tokens issued up to the event's time.
  After a reactivation the user signs in again and their new tokens work; those from before
  the deactivation stay refused (`reactivated` changes nothing here).
- `deleted`: every token of the user, whatever its `iat`.

An entry is forgotten once every token it could refuse has expired (`horizon_seconds` after the
event: an access token's longest life plus the verifiers' leeway).
"""

from __future__ import annotations

import heapq
import math
import time
import uuid
from collections.abc import Callable

from atriz_core.client.user_events import (
    DEACTIVATED,
    DELETED,
    ROLES_CHANGED,
    SESSIONS_REVOKED,
    UserEvent,
)

__all__ = ["DEFAULT_HORIZON_SECONDS", "Revocations"]

# Core issues access tokens for at most 15 minutes (CORE_ACCESS_TOKEN_SECONDS), and a verifier
# accepts them for at most 60 seconds of leeway past `exp`.
DEFAULT_HORIZON_SECONDS = 15 * 60 + 60

_UP_TO_THE_EVENT = frozenset({DEACTIVATED, SESSIONS_REVOKED, ROLES_CHANGED})


class Revocations:
    """What one worker knows of revoked tokens: per user, the time up to which their tokens are
    refused. Shared by the verifier (reads) and the feed (writes) in one event loop."""

    def __init__(
        self,
        *,
        horizon_seconds: float = DEFAULT_HORIZON_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.horizon_seconds = horizon_seconds
        self._clock = clock
        self._not_before: dict[uuid.UUID, float] = {}
        # (when the entry may go, user): the newest event of a user decides, older pairs of the
        # same user are skipped when they come up.
        self._expiry: list[tuple[float, uuid.UUID]] = []
        self._forget_at: dict[uuid.UUID, float] = {}

    def not_before(self, user_id: uuid.UUID) -> float | None:
        """The time up to which `user_id`'s tokens are refused (their `iat` at or before it), or
        None when none of their tokens is refused; `math.inf` for a deleted user."""
        return self._not_before.get(user_id)

    def __len__(self) -> int:
        """How many users have tokens refused now (a gauge for the metrics)."""
        return len(self._not_before)

    def revoke(self, user_id: uuid.UUID, up_to: float, *, at: float | None = None) -> None:
        """Refuse `user_id`'s tokens issued up to `up_to` (seconds since the epoch) from now on.

        `at` is when it happened (defaults to `up_to`); the entry is kept `horizon_seconds`
        past it. Applying an event twice, or out of order, changes nothing: the latest wins.
        """
        happened = up_to if at is None else at
        forget_at = happened + self.horizon_seconds
        if forget_at <= self._clock():
            return  # every token it could refuse has expired
        current = self._not_before.get(user_id)
        if current is None or up_to > current:
            self._not_before[user_id] = up_to
        if forget_at > self._forget_at.get(user_id, -math.inf):
            self._forget_at[user_id] = forget_at
            heapq.heappush(self._expiry, (forget_at, user_id))

    def apply(self, event: UserEvent) -> bool:
        """Take in one event of `user_events`; True if it refuses tokens."""
        at = event.created_at.timestamp()
        if event.event_type in _UP_TO_THE_EVENT:
            self.revoke(event.user_id, at)
        elif event.event_type == DELETED:
            self.revoke(event.user_id, math.inf, at=at)
        else:
            return False  # `reactivated`, or a type this version does not know
        return True

    def forget_expired(self) -> int:
        """Drop the entries whose tokens have all expired; return how many went."""
        now = self._clock()
        forgotten = 0
        while self._expiry and self._expiry[0][0] <= now:
            forget_at, user_id = heapq.heappop(self._expiry)
            if self._forget_at.get(user_id) == forget_at:
                del self._forget_at[user_id]
                del self._not_before[user_id]
                forgotten += 1
        return forgotten
