"""The default mailer when no BILLING_SMTP_URL is set: it logs the message, which the outbox then reports as logged,
not sent."""

from __future__ import annotations

import logging

import attrs

from billing.adapters.email.mime import to_mime
from billing.application.outbox import EmailMessage

logger = logging.getLogger("billing.mail")


@attrs.frozen
class LoggingMailer:
    """Keeps nothing: a server without SMTP runs for months. Tests that read what was sent use
    `billing.adapters.memory.mailer.RecordingMailer`."""

    mail_from: str

    @property
    def delivers(self) -> bool:
        return False

    async def send(self, message: EmailMessage) -> None:
        mime = to_mime(message, self.mail_from)  # UndeliverableMessageError, as for SMTP
        logger.info("email (not sent: no BILLING_SMTP_URL) to %s: %s\n%s", message.recipient, message.subject, mime)
