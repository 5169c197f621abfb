"""SMTP delivery through aiosmtplib, configured by one URL.

smtp://user:pass@host:port               plain SMTP (port 25 by default)
smtp://host:587?starttls=true            upgrade with STARTTLS (also: smtp+starttls://host:587)
smtps://user:pass@host:465               implicit TLS
"""

from __future__ import annotations

import aiosmtplib
import attrs

from billing.adapters.email.mime import to_mime
from billing.application.outbox import EmailMessage
from billing.application.ports import MailDeliveryError
from billing.config import SmtpSettings


@attrs.frozen
class SmtpMailer:
    settings: SmtpSettings
    mail_from: str
    timeout: float = 10.0

    @property
    def delivers(self) -> bool:
        return True

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
