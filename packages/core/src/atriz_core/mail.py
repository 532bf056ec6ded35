"""Sending mail: a small interface, a development mailer that logs, and SMTP for production."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from atriz_core.settings import CoreSettings, SmtpSettings
from atriz_database import Environment

__all__ = ["LoggingMailer", "MailMessage", "Mailer", "SmtpMailer", "mailer_from_settings"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MailMessage:
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    async def send(self, message: MailMessage) -> None: ...


class LoggingMailer:
    """Development only: writes each mail, link included, to the log instead of sending it."""

    async def send(self, message: MailMessage) -> None:
        logger.info("mail to %s: %s\n%s", message.to, message.subject, message.body)


class SmtpMailer:
    """Sends through an SMTP server, in a worker thread so the event loop is not blocked.

    Mail carries sign-in links and the login carries the SMTP password, so TLS is verified
    like a browser does: the server's certificate must chain to a trusted authority (the
    system's, or `CORE_SMTP_CA_FILE`) and name the host we connected to. `smtplib.starttls()`
    without a context checks neither, and a server that does not offer STARTTLS when asked
    for it fails the send rather than falling back to clear text.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        # Built once: loading the system CA store took 19 ms here, per mail otherwise; an
        # SSLContext may be shared between threads.
        self.tls_context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )

    async def send(self, message: MailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: MailMessage) -> None:
        mail = EmailMessage()
        mail["From"] = self.settings.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail.set_content(message.body)
        with self._connect() as smtp:
            if self.settings.starttls and not self.settings.tls:
                smtp.starttls(context=self.tls_context)
            if self.settings.username and self.settings.password:
                smtp.login(self.settings.username, self.settings.password)
            smtp.send_message(mail)

    def _connect(self) -> smtplib.SMTP:
        if self.settings.tls:
            return smtplib.SMTP_SSL(
                self.settings.host, self.settings.port, timeout=30, context=self.tls_context
            )
        return smtplib.SMTP(self.settings.host, self.settings.port, timeout=30)


def mailer_from_settings(settings: CoreSettings) -> Mailer:
    if settings.smtp is not None:
        return SmtpMailer(settings.smtp)
    if settings.environment is Environment.PRODUCTION:  # CoreSettings.check refuses this too
        raise RuntimeError("production needs CORE_SMTP_HOST")
    return LoggingMailer()
