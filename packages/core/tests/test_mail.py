"""The SMTP mailer, against a real SMTP server on the loopback interface."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from atriz_core.mail import MailMessage, SmtpMailer
from atriz_core.settings import SmtpSettings


class Inbox:
    def __init__(self) -> None:
        self.received: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope)
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


async def test_smtp_mailer_delivers_the_message(inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    mailer = SmtpMailer(
        SmtpSettings(host="127.0.0.1", port=port, sender="Atriz <auth@atriz.test>", starttls=False)
    )

    await mailer.send(
        MailMessage(to="ana@example.test", subject="Reset", body="https://auth.atriz.test/x\n")
    )

    (envelope,) = handler.received
    assert envelope.rcpt_tos == ["ana@example.test"]
    mail = message_from_bytes(envelope.content)
    assert mail["From"] == "Atriz <auth@atriz.test>"
    assert mail["Subject"] == "Reset"
    assert "https://auth.atriz.test/x" in mail.get_payload()
