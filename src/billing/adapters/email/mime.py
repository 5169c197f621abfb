"""An outbox message as a MIME email: plain text and HTML alternatives, a stable Message-ID."""

from __future__ import annotations

from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, parseaddr

from billing.application.outbox import EmailMessage


def sender_domain(mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    return address.rpartition("@")[2] or "billing.localhost"


def to_mime(message: EmailMessage, mail_from: str) -> MimeMessage:
    assert message.recipient is not None
    mime = MimeMessage()
    mime["From"] = mail_from
    mime["To"] = message.recipient
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(message.created_at)
    mime["Message-ID"] = message.message_id(sender_domain(mail_from))
    mime.set_content(message.text)
    mime.add_alternative(message.html, subtype="html")
    return mime
