"""`Revocations` and the verifier: a token issued up to its user's "not before" time is
refused, cached or not; a later one is accepted."""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime

import pytest

from atriz_core.client import EventCursor, InvalidTokenError, Revocations, UserEvent
from atriz_core.client.verifier import RevokedTokenError
from atriz_core.testing import TokenMinter


def event(user_id: uuid.UUID, event_type: str, at: float) -> UserEvent:
    return UserEvent(
        id=1,
        user_id=user_id,
        event_type=event_type,
        created_at=datetime.fromtimestamp(at, UTC),
        cursor=EventCursor(1, 1),
    )


@pytest.mark.parametrize("event_type", ["deactivated", "sessions_revoked", "roles_changed"])
def test_an_event_refuses_the_tokens_issued_up_to_it(event_type: str) -> None:
    revocations, user = Revocations(), uuid.uuid4()
    at = int(time.time()) - 10.5  # exact in a datetime's microseconds

    assert revocations.apply(event(user, event_type, at))

    assert revocations.not_before(user) == at
    assert revocations.not_before(uuid.uuid4()) is None


def test_a_deletion_refuses_every_token_and_a_reactivation_nothing() -> None:
    revocations, deleted, back = Revocations(), uuid.uuid4(), uuid.uuid4()
    now = float(int(time.time()))

    revocations.apply(event(deleted, "deleted", now))
    revocations.apply(event(back, "deactivated", now - 5))
    assert not revocations.apply(event(back, "reactivated", now))
    assert not revocations.apply(event(back, "some_future_kind", now))

    assert revocations.not_before(deleted) == math.inf
    # Tokens from before the deactivation stay refused after the reactivation.
    assert revocations.not_before(back) == now - 5


def test_the_newest_event_wins_in_any_order_and_twice_changes_nothing() -> None:
    revocations, user = Revocations(), uuid.uuid4()
    now = time.time()

    for at in (now - 3, now - 1, now - 2, now - 1):
        revocations.revoke(user, at)

    assert revocations.not_before(user) == now - 1
    assert len(revocations) == 1


def test_an_entry_goes_once_every_token_it_refuses_has_expired() -> None:
    now = [1_000_000.0]
    revocations = Revocations(horizon_seconds=960, clock=lambda: now[0])
    early, late = uuid.uuid4(), uuid.uuid4()
    revocations.revoke(early, now[0] - 100)
    revocations.revoke(late, now[0])
    revocations.revoke(uuid.uuid4(), now[0] - 1000)  # expired already: not kept

    now[0] += 900
    assert revocations.forget_expired() == 1
    assert revocations.not_before(early) is None
    assert revocations.not_before(late) == 1_000_000.0
    now[0] += 100
    assert revocations.forget_expired() == 1
    assert len(revocations) == 0


async def test_the_verifier_refuses_a_revoked_token_also_from_its_cache() -> None:
    minter, revocations, user = TokenMinter(), Revocations(), uuid.uuid4()
    verifier = minter.verifier("pshop", revocations=revocations)
    now = int(time.time())
    before = minter.mint(user_id=user, iat=now - 5, exp=now + 300)
    after = minter.mint(user_id=user, iat=now - 1, exp=now + 300)
    same_second = minter.mint(user_id=user, iat=now - 2, exp=now + 300)
    assert (await verifier.verify(before)).id == user  # now in the cache

    revocations.revoke(user, now - 2 + 0.4)

    with pytest.raises(RevokedTokenError, match="revoked"):
        await verifier.verify(before)
    # `iat` has whole seconds: a token of the revocation's second may be from before it.
    with pytest.raises(InvalidTokenError):
        await verifier.verify(same_second)
    assert (await verifier.verify(after)).issued_at == now - 1
    # Another user's tokens are untouched.
    assert await verifier.verify(minter.mint(iat=now - 5, exp=now + 300))
