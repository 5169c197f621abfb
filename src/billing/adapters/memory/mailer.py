"""A mailer for tests: it keeps every message it takes, so a test asserts on what was sent.

It refuses what cannot be written as email, as the shipped mailers do; it never runs in a deployment
(the logging mailer, which keeps nothing, stands in for SMTP there)."""

from __future__ import annotations

import attrs

from billing.adapters.email.mime import to_mime
from billing.application.outbox import EmailMessage


@attrs.define
class RecordingMailer:
    mail_from: str = "billing@localhost"
    sent: list[EmailMessage] = attrs.field(factory=list)

    @property
    def delivers(self) -> bool:
        return True  # it stands in for SMTP

    async def send(self, message: EmailMessage) -> None:
        to_mime(message, self.mail_from)  # UndeliverableMessageError, as for SMTP
        self.sent.append(message)
