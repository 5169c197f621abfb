"""BILLING_* settings: checked at startup, every problem named by its variable, no secret echoed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.adapters.sqlalchemy.engine import psycopg_url
from billing.config import ConfigError, Settings, SmtpSettings


def test_defaults_without_any_variable() -> None:
    settings = Settings.from_env({})

    assert settings.database_url is None
    assert settings.jwt.secret is None
    assert settings.billing.root_tenant == "root"
    assert settings.billing.currency == "USD"
    assert (settings.billing.topup_min_amount, settings.billing.topup_max_amount) == (
        Decimal("1.00"),
        Decimal("1000000.00"),
    )
    assert settings.billing.invoice_due_days == 14
    assert settings.idempotency_ttl == timedelta(hours=24)
    assert settings.smtp is None
    assert settings.public_url is None


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "BILLING_DATABASE_URL": "postgres://billing:pw@db:5432/billing",
            "BILLING_JWT_SECRET": "s" * 32,
            "BILLING_JWT_ISSUER": "https://id.example",
            "BILLING_JWT_AUDIENCE": "billing",
            "BILLING_ROOT_TENANT": "platform",
            "BILLING_CURRENCY": "jpy",
            "BILLING_TOPUP_MIN_AMOUNT": "100",
            "BILLING_TOPUP_MAX_AMOUNT": "500000",
            "BILLING_INVOICE_DUE_DAYS": "30",
            "BILLING_IDEMPOTENCY_TTL_HOURS": "48",
            "BILLING_SMTP_URL": "smtp://user:pw@mail:587",
            "BILLING_MAIL_FROM": "Billing <billing@example.com>",
            "BILLING_PUBLIC_URL": "https://billing.example.com/",
        }
    )

    assert settings.database_url == "postgres://billing:pw@db:5432/billing"  # the engine names the driver
    assert (settings.jwt.issuer, settings.jwt.audience) == ("https://id.example", "billing")
    assert settings.billing.root_tenant == "platform"
    assert settings.billing.currency == "JPY"
    assert settings.billing.topup_min_amount == Decimal("100")
    assert settings.billing.invoice_due_days == 30
    assert settings.idempotency_ttl == timedelta(hours=48)
    assert settings.smtp == SmtpSettings("mail", 587, "user", "pw", use_tls=False, start_tls=False)
    assert settings.mail_from == "Billing <billing@example.com>"
    assert settings.public_url == "https://billing.example.com"  # a base: without its trailing slash


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://billing:pw@db:5432/billing",
        "postgres://billing:pw@db:5432/billing",
        "postgresql+psycopg://billing:pw@db:5432/billing",
    ],
)
def test_every_accepted_database_url_reaches_the_psycopg_driver(url: str) -> None:
    settings = Settings.from_env({"BILLING_DATABASE_URL": url})

    assert settings.database_url is not None
    assert psycopg_url(settings.database_url) == "postgresql+psycopg://billing:pw@db:5432/billing"


def test_an_empty_variable_means_its_default() -> None:
    assert Settings.from_env({"BILLING_CURRENCY": "", "BILLING_JWT_ISSUER": " "}).billing.currency == "USD"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BILLING_DATABASE_URL", "mysql://db/billing"),
        ("BILLING_JWT_SECRET", "too-short"),
        ("BILLING_ROOT_TENANT", "root tenant"),
        ("BILLING_CURRENCY", "XYZ"),
        ("BILLING_TOPUP_MIN_AMOUNT", "1.001"),
        ("BILLING_TOPUP_MAX_AMOUNT", "lots"),
        ("BILLING_INVOICE_DUE_DAYS", "-1"),
        ("BILLING_IDEMPOTENCY_TTL_HOURS", "0"),
        ("BILLING_SMTP_URL", "http://mail"),
        ("BILLING_MAIL_FROM", "nobody"),
        ("BILLING_PUBLIC_URL", "billing.example.com"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"BILLING_CURRENCY": "XYZ", "BILLING_INVOICE_DUE_DAYS": "soon"})

    assert "BILLING_CURRENCY" in str(refused.value)
    assert "BILLING_INVOICE_DUE_DAYS" in str(refused.value)


def test_min_above_max_is_refused() -> None:
    with pytest.raises(ConfigError, match="BILLING_TOPUP_MIN_AMOUNT"):
        Settings.from_env({"BILLING_TOPUP_MIN_AMOUNT": "50", "BILLING_TOPUP_MAX_AMOUNT": "10"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BILLING_JWT_SECRET", "hunter2"),
        ("BILLING_DATABASE_URL", "mysql://admin:hunter2@db/x"),
        ("BILLING_SMTP_URL", "ftp://u:hunter2@m"),
        ("BILLING_PUBLIC_URL", "https://admin:hunter2@billing.example.com"),
    ],
)
def test_a_refused_secret_is_never_echoed(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({name: value})

    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    "value",
    ["https://billing.example.com", "http://localhost:8000", "https://platform.example/billing", "HTTPS://B.EXAMPLE"],
)
def test_a_public_url_is_an_absolute_http_or_https_base(value: str) -> None:
    assert Settings.from_env({"BILLING_PUBLIC_URL": value}).public_url == value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("billing.example.com", "absolute http:// or https://"),
        ("/console", "absolute http:// or https://"),
        ("ftp://billing.example.com", "absolute http:// or https://"),
        ("https://", "absolute http:// or https://"),
        ("https://billing.example.com/?tenant=a", "query or a fragment"),
        ("https://billing.example.com/#top", "query or a fragment"),
        ("https://billing.example.com:99999", "port"),
        ("https://billing.example.com:https", "port"),
        ("https://billing.example\n.com", "control characters"),
        ("https://billing example.com", "spaces"),
        ("https://admin@billing.example.com", "user name or password"),
    ],
)
def test_a_public_url_that_is_not_a_base_url_is_a_startup_error(value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"BILLING_PUBLIC_URL: must .*{problem}"):
        Settings.from_env({"BILLING_PUBLIC_URL": value})


def test_a_database_url_needs_a_jwt_secret_to_serve() -> None:
    settings = Settings.from_env({"BILLING_DATABASE_URL": "postgresql://db/billing"})

    with pytest.raises(ConfigError, match="BILLING_JWT_SECRET"):
        settings.require_jwt_secret()


def test_payment_instructions_for_the_invoice_email_are_configurable() -> None:
    instructions = "Transfer to IBAN DE02 1203 0000 0000 2020 51, quoting the invoice number."

    assert (
        Settings.from_env({"BILLING_PAYMENT_INSTRUCTIONS": instructions}).billing.payment_instructions == instructions
    )
    assert "invoice number" in Settings.from_env({}).billing.payment_instructions


@pytest.mark.parametrize(
    "value",
    [
        "billing@platform.example\rBcc: x@evil.example",
        "billing@platform.example\nBcc: x@evil.example",
        "a@b.c\r\nBcc: x@y.z",
        "Billing\r\nBcc: x@evil.example <billing@platform.example>",  # in the display name
        "Billing <billing@platform.example>\r\nBcc: x@evil.example",
        "Bill\x00ing <billing@platform.example>",
        "Bill\ting <billing@platform.example>",
        "Billing <billing@platform.example>\u2028Bcc: x@evil.example",
        "Bill\u2029ing <billing@platform.example>",
        "Bill\x85ing <billing@platform.example>",
        "=?utf-8?q?Billing=0D=0ABcc:_x@evil.example?= <billing@platform.example>",  # a line break, encoded
        "Billing <" + "b" * 65 + "@platform.example>",
        "Billing <billing@" + ".".join(["p" * 63] * 4) + ".example>",
        "billing@platform.example, x@evil.example",
        "Billing <billing@platform.example> trailing",
    ],
)
def test_a_mail_from_that_is_not_exactly_one_safe_address_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="BILLING_MAIL_FROM") as refused:
        Settings.from_env({"BILLING_MAIL_FROM": value})

    [_, problem] = str(refused.value).splitlines()  # the refused value is shown escaped, on one line
    assert problem.startswith("  BILLING_MAIL_FROM: must ")


@pytest.mark.parametrize(
    "value",
    ["billing@platform.example", "Billing <billing@platform.example>", '"Billing, Inc." <billing@platform.example>'],
)
def test_a_mail_from_with_or_without_a_display_name_is_kept_as_given(value: str) -> None:
    assert Settings.from_env({"BILLING_MAIL_FROM": value}).mail_from == value
