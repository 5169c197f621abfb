"""SMTP delivery through aiosmtplib, configured by one URL.

smtp://user:pass@host:port               plain SMTP (port 25 by default)
smtp://host:587?starttls=true            upgrade with STARTTLS (also: smtp+starttls://host:587)
smtps://user:pass@host:465               implicit TLS
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import attrs

from billing.adapters.email.mime import to_mime
from billing.application.outbox import EmailMessage
from billing.application.ports import MailDeliveryError


@attrs.frozen
class SmtpSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps", "smtp+starttls") or not parts.hostname:
            raise ValueError("BILLING_SMTP_URL must look like smtp://user:pass@host:port")
        query = parse_qs(parts.query)
        start_tls = scheme == "smtp+starttls" or query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
        use_tls = scheme == "smtps"
        default_port = 465 if use_tls else 587 if start_tls else 25
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=use_tls,
            start_tls=start_tls,
        )


@attrs.frozen
class SmtpMailer:
    settings: SmtpSettings
    mail_from: str
    timeout: float = 10.0

    async def send(self, message: EmailMessage) -> None:
        mime = to_mime(message, self.mail_from)  # UndeliverableMessageError: never worth a retry
        try:
            await aiosmtplib.send(
                mime,
                hostname=self.settings.host,
                port=self.settings.port,
                username=self.settings.username,
                password=self.settings.password,
                use_tls=self.settings.use_tls,
                start_tls=self.settings.start_tls,
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise MailDeliveryError(f"{type(error).__name__}: {error}") from error
