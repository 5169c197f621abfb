"""The deployment's settings, read from BILLING_* environment variables (contract §4).

Nothing is read at import time: `Settings.from_env()` is called by the entry points, and every
problem is reported at once, each naming its variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from email import policy
from email.errors import HeaderParseError
from typing import TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import attrs

from billing.application.settings import BillingSettings
from billing.domain.contact import is_header_safe, validate_email
from billing.domain.errors import ValidationError
from billing.domain.money import Money
from billing.domain.tenant import validate_tenant_id

T = TypeVar("T")

PREFIX = "BILLING_"
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (256 bits).
MIN_JWT_SECRET_BYTES = 32
MAX_IDEMPOTENCY_TTL_HOURS = 24 * 366
MAX_INVOICE_DUE_DAYS = 3650
MAX_HOLD_TTL_SECONDS = 2_592_000  # Meta's 30 days (contract v2 §9)
DEFAULT_LOW_BALANCE_THRESHOLD = Decimal("10.00")
# A wallet holds at most ~10^15 (NUMERIC(19, 4)): a top-up of at most 10^9 leaves room for a million of them,
# and the credit that would still overflow is refused (409 invalid_state).
MAX_TOPUP_AMOUNT = Decimal("1000000000")


class ConfigError(Exception):
    """The environment does not describe a deployment that can run; the message says why."""


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
            raise ValueError("must look like smtp://user:password@host:port (or smtps://, smtp+starttls://)")
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
class JwtSettings:
    secret: str | None = None
    issuer: str | None = None
    audience: str | None = None


@attrs.frozen
class WhatsAppSettings:
    """Meta's status webhook (contract v2 §11): the app secret that signs its bodies (HMAC-SHA256) and the token
    its subscription challenge must present. Unset, the webhook's routes answer 503. Never shown in a repr (a
    settings object in a log line or a traceback keeps them out)."""

    app_secret: str | None = attrs.field(default=None, repr=False)
    verify_token: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class Settings:
    billing: BillingSettings = attrs.field(factory=BillingSettings)
    database_url: str | None = None
    jwt: JwtSettings = attrs.field(factory=JwtSettings)
    idempotency_ttl: timedelta = timedelta(hours=24)
    smtp: SmtpSettings | None = None  # None: email is logged, not sent
    mail_from: str = "billing@localhost"
    low_balance_threshold: Decimal = DEFAULT_LOW_BALANCE_THRESHOLD  # the console's hint; 0 turns it off
    whatsapp: WhatsAppSettings = attrs.field(factory=WhatsAppSettings)
    public_url: str | None = None  # where browsers reach the service; https turns on HSTS for the console

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check every BILLING_* variable; raise one ConfigError listing every problem."""
        return _Reader(os.environ if environ is None else environ).settings()

    def require_jwt_secret(self) -> str:
        if self.jwt.secret is None:
            raise ConfigError(f"{PREFIX}JWT_SECRET: is required when {PREFIX}DATABASE_URL is set")
        return self.jwt.secret


class _Reader:
    """Reads variables one by one, collecting problems instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._problems: list[str] = []

    def raw(self, name: str) -> str | None:
        """An unset or empty variable is the default (as docker-compose's `VAR=` means)."""
        value = self._environ.get(PREFIX + name, "").strip()
        return value or None

    def read(self, name: str, parse: Callable[[str], T], default: T, *, secret: bool = False) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except (ValueError, ValidationError, InvalidOperation) as error:
            message = "; ".join(e.message for e in error.errors) if isinstance(error, ValidationError) else str(error)
            shown = "" if secret else f" (got {value!r})"  # never echo a secret or a password
            self._problems.append(f"{PREFIX}{name}: {message}{shown}")
            return default

    def settings(self) -> Settings:
        defaults = BillingSettings()
        currency = self.read("CURRENCY", _currency, defaults.currency)
        root_tenant = self.read("ROOT_TENANT", validate_tenant_id, defaults.root_tenant)
        minimum = self.read("TOPUP_MIN_AMOUNT", _amount(currency), defaults.topup_min_amount)
        maximum = self.read("TOPUP_MAX_AMOUNT", _amount(currency), defaults.topup_max_amount)
        if maximum > MAX_TOPUP_AMOUNT:
            self._problems.append(f"{PREFIX}TOPUP_MAX_AMOUNT: must be at most {MAX_TOPUP_AMOUNT}")
        if minimum > maximum:
            self._problems.append(
                f"{PREFIX}TOPUP_MIN_AMOUNT: must not exceed {PREFIX}TOPUP_MAX_AMOUNT ({minimum} > {maximum})"
            )
        due_days = self.read("INVOICE_DUE_DAYS", _whole(0, MAX_INVOICE_DUE_DAYS), defaults.invoice_due_days)
        hold_ttl = self.read("HOLD_TTL_SECONDS", _whole(1, MAX_HOLD_TTL_SECONDS), MAX_HOLD_TTL_SECONDS)
        ttl_hours = self.read("IDEMPOTENCY_TTL_HOURS", _whole(1, MAX_IDEMPOTENCY_TTL_HOURS), 24)
        four_eyes = self.read("FOUR_EYES", _flag, defaults.four_eyes)
        settings = Settings(
            billing=BillingSettings(
                root_tenant,
                currency,
                minimum,
                maximum,
                due_days,
                payment_instructions=self.raw("PAYMENT_INSTRUCTIONS") or defaults.payment_instructions,
                hold_ttl_seconds=hold_ttl,
                four_eyes=four_eyes,
            )
            if not self._problems
            else defaults,
            database_url=self.read("DATABASE_URL", _database_url, None, secret=True),
            jwt=JwtSettings(
                secret=self.read("JWT_SECRET", _jwt_secret, None, secret=True),
                issuer=self.raw("JWT_ISSUER"),
                audience=self.raw("JWT_AUDIENCE"),
            ),
            idempotency_ttl=timedelta(hours=ttl_hours),
            smtp=self.read("SMTP_URL", SmtpSettings.from_url, None, secret=True),
            mail_from=self.read("MAIL_FROM", _email, "billing@localhost"),
            low_balance_threshold=self.read(
                "LOW_BALANCE_THRESHOLD", _threshold(currency), DEFAULT_LOW_BALANCE_THRESHOLD
            ),
            whatsapp=WhatsAppSettings(
                app_secret=self.read("WHATSAPP_APP_SECRET", _one_line_secret, None, secret=True),
                verify_token=self.read("WHATSAPP_VERIFY_TOKEN", _one_line_secret, None, secret=True),
            ),
            # Refused with credentials in it, it is not echoed: they would reach the log.
            public_url=self.read("PUBLIC_URL", _public_url, None, secret="@" in (self.raw("PUBLIC_URL") or "")),
        )
        if self._problems:
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(self._problems))
        return settings


def _currency(value: str) -> str:
    code = value.upper()
    Money.zero(code)  # raises for a currency whose minor digits we do not know
    return code


def _amount(currency: str) -> Callable[[str], Decimal]:
    def parse(value: str) -> Decimal:
        return Money.parse(value, currency).amount

    return parse


def _threshold(currency: str) -> Callable[[str], Decimal]:
    """An amount in the currency, or zero (no low-balance hint)."""

    def parse(value: str) -> Decimal:
        if re.fullmatch(r"0+(\.0+)?", value):
            return Money.zero(currency).amount
        return Money.parse(value, currency).amount

    return parse


def _flag(value: str) -> bool:
    """A switch: true/false (also 1/0, yes/no, on/off), in any case."""
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        if not re.fullmatch(r"[0-9]+", value) or not low <= int(value) <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return int(value)

    return parse


def _database_url(value: str) -> str:
    """Kept as given: the engine (adapters/sqlalchemy/engine.py) turns it into the driver's URL."""
    if urlsplit(value).scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ValueError("must be a PostgreSQL URL such as postgresql://user:password@host:5432/billing")
    return value


def _public_url(value: str) -> str:
    """The service's base URL as browsers reach it: http(s), a host, perhaps a port and a path; nothing a base
    cannot have (a query, a fragment, credentials). Kept without its trailing slash."""
    if not value.isprintable() or " " in value:  # urlsplit would quietly drop a tab or a line break
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL such as https://billing.example.com")
    if "?" in value or "#" in value:
        raise ValueError("must not have a query or a fragment")
    if "@" in parts.netloc:
        raise ValueError("must not carry a user name or password")
    try:
        _ = parts.port  # a port that is not a number from 0 to 65535 raises
    except ValueError:
        raise ValueError("must have a port from 0 to 65535") from None
    return value.rstrip("/")


def _jwt_secret(value: str) -> str:
    if len(value.encode("utf-8")) < MIN_JWT_SECRET_BYTES:
        raise ValueError(f"must be at least {MIN_JWT_SECRET_BYTES} bytes for HS256 (RFC 7518 §3.2)")
    return value


def _one_line_secret(value: str) -> str:
    """A secret compared byte for byte with what Meta sends: one line of printable characters (a stray control
    character from a copy and paste would make every request fail without saying why)."""
    if not value.isprintable():
        raise ValueError("must be one line of printable characters")
    return value


def _email(value: str) -> str:
    """An address, optionally with a display name: `Billing <billing@example.com>`.

    It becomes every message's From header: a line break would add headers of its own, and a
    value the header parser has to repair would make every message undeliverable.
    """
    unsafe = ValueError("must not contain line breaks or other control characters")
    if not is_header_safe(value):
        raise unsafe
    try:
        header = policy.default.header_factory("From", value)
    except (ValueError, HeaderParseError):  # an encoded word that decodes to a line break, say
        raise unsafe from None
    if header.defects or len(header.groups) != 1 or header.groups[0].display_name is not None:
        raise ValueError("must be one email address, optionally as 'Name <address>'")
    [address] = header.groups[0].addresses
    if not is_header_safe(address.display_name):
        raise unsafe
    if address.domain != "localhost":  # the default's domain: a machine that has no mail domain of its own
        validate_email(address.addr_spec, field=f"{PREFIX}MAIL_FROM")
    return value
