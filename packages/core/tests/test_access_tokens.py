"""An access token's `iat` after a revocation of its user: past the revocation's second, at most
a second ahead of core's clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from atriz_core.tokens.access import issue_access_token
from atriz_core.tokens.keys import load_keyring
from atriz_database import Environment

NOW = datetime(2026, 3, 1, 12, 0, 0, 400_000, tzinfo=UTC)  # 0.4 s into its second
SECOND = int(NOW.timestamp())


def issued_at(tmp_path: Path, issued_after: datetime | None) -> int:
    keyring = load_keyring(pem=None, folder=tmp_path, environment=Environment.TEST)
    token = issue_access_token(
        keyring,
        issuer="https://core.test",
        audiences=["website"],
        user_id=uuid.uuid4(),
        email="ana@example.test",
        roles=["user"],
        session_id=uuid.uuid4(),
        now=NOW,
        lifetime_seconds=900,
        issued_after=issued_after,
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 900
    iat: int = claims["iat"]
    return iat


@pytest.mark.parametrize(
    ("revoked_at", "expected"),
    [
        (None, SECOND),  # never revoked
        (NOW - timedelta(seconds=1), SECOND),  # in an earlier second: refuses SECOND - 1
        (NOW - timedelta(milliseconds=300), SECOND + 1),  # in this second, before now
        (NOW, SECOND + 1),
        # Stamped ahead (a second revocation within one second, or a core host whose clock
        # runs ahead): one second on at most, within verifiers' leeway; the token is refused
        # until the clock passes that revocation, and the client refreshes again.
        (NOW + timedelta(milliseconds=900), SECOND + 1),
        (NOW + timedelta(seconds=5), SECOND + 1),
    ],
)
def test_a_token_is_issued_past_the_users_newest_revocation_within_a_second(
    tmp_path: Path, revoked_at: datetime | None, expected: int
) -> None:
    assert issued_at(tmp_path, revoked_at) == expected
