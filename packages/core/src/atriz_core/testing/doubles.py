"""Stand-ins for time and mail: a clock that moves only when told, a mailbox that keeps mail."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from atriz_core.mail import MailMessage

__all__ = ["FrozenClock", "MemoryMailer"]


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime.now(UTC)

    def now(self) -> datetime:
        """The time the clock shows."""
        return self.current

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds`."""
        self.current += timedelta(seconds=seconds)


@dataclass
class MemoryMailer:
    """Keeps every mail it is asked to send."""

    sent: list[MailMessage] = field(default_factory=list)

    async def send(self, message: MailMessage) -> None:
        """Keep `message` in `sent`."""
        self.sent.append(message)

    def last_token(self, to: str) -> str:
        """The `token` of the link in the newest mail to `to`."""
        for message in reversed(self.sent):
            if message.to == to:
                match = re.search(r"[?&]token=([A-Za-z0-9_\-]+)", message.body)
                if match:
                    return match[1]
        raise AssertionError(f"no mail with a token was sent to {to}")
