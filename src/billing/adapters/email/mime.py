"""An outbox message as a MIME email: plain text and HTML alternatives, a stable Message-ID."""

from __future__ import annotations

from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, parseaddr

from billing.application.outbox import EmailMessage
from billing.application.ports import UndeliverableMessageError
from billing.domain.contact import validate_email


def sender_domain(mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    return address.rpartition("@")[2] or "billing.localhost"


def to_mime(message: EmailMessage, mail_from: str) -> MimeMessage:
    """The message as email; UndeliverableMessageError when it cannot be one (say, a CR or LF in the recipient).

    Building it touches no network, so whatever goes wrong here goes wrong again on every retry. The
    recipient is checked again: a message queued under an older, laxer rule may carry an address that
    would smuggle a header or a second recipient into the To line.
    """
    if message.recipient is None:
        raise UndeliverableMessageError("no recipient")
    try:
        return _build(message, message.recipient, mail_from)
    except Exception as error:
        raise UndeliverableMessageError(f"cannot be written as email: {type(error).__name__}: {error}") from error


def _build(message: EmailMessage, recipient: str, mail_from: str) -> MimeMessage:
    mime = MimeMessage()
    mime["From"] = mail_from
    mime["To"] = validate_email(recipient, field="recipient")
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(message.created_at)
    mime["Message-ID"] = message.message_id(sender_domain(mail_from))
    mime.set_content(message.text)
    mime.add_alternative(message.html, subtype="html")
    return mime
