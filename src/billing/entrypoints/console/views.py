"""What every console page shares: the template setup, the page context, and errors as messages.

An application error becomes a message on the page (with the API's field names and wording beside
the fields), with the HTTP status the API would answer; never a 500 for a user's mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import attrs
from litestar import Request, Response
from litestar.datastructures import FormMultiDict
from litestar.exceptions import PermissionDeniedException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from billing.application.caller import Authorizer, Caller
from billing.application.pagination import Page
from billing.application.settings import BillingSettings
from billing.domain.errors import BillingError, FieldError, ForbiddenError, NotFoundError, ValidationError
from billing.domain.ledger import LedgerEntry
from billing.domain.money import Money
from billing.entrypoints.console.session import SignInRequiredError, cleared_session_cookie
from billing.entrypoints.errors import fault_of, status_of

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_NAME = "console-static"


@attrs.frozen
class ConsoleConfig:
    """What the pages need besides the service: the deployment's billing settings (currency, top-up
    limits), the application's authorization rules, and the console's own low-balance hint."""

    billing: BillingSettings
    authorizer: Authorizer
    low_balance_threshold: Decimal


@attrs.frozen
class FormProblem:
    """A refused form: a message for the page, and the API's field errors to show beside the fields.

    `target` names the form (or the table row) the errors belong to."""

    message: str
    target: str
    fields: Mapping[str, str] = attrs.field(factory=dict)
    values: Mapping[str, str] = attrs.field(factory=dict)
    status: int = 400

    @classmethod
    def of(
        cls, error: BillingError, target: str, form: FormMultiDict | None = None, *, known: tuple[str, ...] = ()
    ) -> FormProblem:
        values = {key: text(form, key) for key in known} if form is not None else {}
        if isinstance(error, ValidationError):
            fields = {e.field: e.message for e in error.errors if e.field in known}
            others = [f"{e.field}: {e.message}" for e in error.errors if e.field not in known]
            message = "; ".join(others) if others else "Please correct the field marked below."
            return cls(message, target, fields, values, status_of(error.code))
        return cls(sentence(error.detail), target, {}, values, status_of(error.code))


def sentence(detail: str) -> str:
    return detail[:1].upper() + detail[1:] + ("" if detail.endswith(".") else ".")


def text(form: FormMultiDict | None, name: str) -> str:
    """A form field as text ('' when it is missing or is a file)."""
    value = form.get(name) if form is not None else None
    return value if isinstance(value, str) else ""


def optional(value: str) -> str | None:
    """An empty optional field is 'not given', as an absent JSON field is in the API."""
    return value or None


def page_number(request: Request[Any, Any, Any], name: str = "page") -> int:
    raw = request.query_params.get(name, "1")
    return max(1, int(raw)) if raw.isdigit() and len(raw) < 7 else 1


@attrs.frozen
class Pager:
    """Links to the newer and older pages of a list; `keep` holds the page's other query parameters."""

    page: int
    pages: int
    param: str = "page"
    keep: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def of(cls, page: Page[Any], param: str = "page", keep: Mapping[str, str] | None = None) -> Pager:
        return cls(page.page, max(1, -(-page.total // page.page_size)), param, dict(keep or {}))

    def href(self, page: int) -> str:
        return "?" + urlencode({**self.keep, self.param: str(page)})


def render(
    template: str,
    console: ConsoleConfig,
    caller: Caller | None,
    *,
    status: int = 200,
    **context: Any,
) -> Template:
    rules = console.authorizer
    return Template(
        template,
        context={
            "caller": caller,
            "is_operator": caller is not None and rules.is_operator_viewer(caller),
            "can_manage": caller is not None and rules.is_operator(caller),
            "currency": console.billing.currency,
            **context,
        },
        status_code=status,
    )


def parse_days(first_day: str, last_day: str) -> tuple[date | None, date | None]:
    """A form's `from` and `to` days as typed (`YYYY-MM-DD`; empty: not given); a ValidationError names each field
    that is not a day."""
    parsed: list[date | None] = []
    problems: list[FieldError] = []
    for field, typed in (("from", first_day), ("to", last_day)):
        try:
            parsed.append(date.fromisoformat(typed) if typed else None)
        except ValueError:
            parsed.append(None)
            problems.append(FieldError(field, "must be a date YYYY-MM-DD"))
    if problems:
        raise ValidationError(problems)
    return parsed[0], parsed[1]


# Pages of operators, ids in URLs -------------------------------------------------------------------

TENANT_WALLETS_FOR_OPERATORS = (
    "tenants' wallets are for operators of the platform (the root tenant with Billing.View); "
    "your wallet page shows your own"
)


OPERATORS_ONLY = "operators_only"  # the key of a controller's `opt`


def operators_only(refusal: str) -> dict[str, str]:
    """A controller's `opt` making every page of it an operators' page: the console's guard answers everyone else
    with `refusal` before the page does anything."""
    return {OPERATORS_ONLY: refusal}


def require_operator_page(console: ConsoleConfig, caller: Caller, refusal: str) -> None:
    """An operators' page (the root tenant with Billing.View); `refusal` says what it is, and where to look instead."""
    if not console.authorizer.is_operator_viewer(caller):
        raise ForbiddenError(refusal)


def parse_id(value: str, what: str) -> UUID:
    """A malformed id in a console URL is simply 'not found', as the API's lookups answer."""
    try:
        return UUID(value)
    except ValueError:
        raise NotFoundError(f"{what} not found") from None


# Filters ------------------------------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "—"


def _day(value: date | None) -> str:
    return value.isoformat() if value is not None else "—"


def _money(value: Money) -> str:
    return f"{value} {value.currency}"


def _signed(value: LedgerEntry | Money) -> str:
    """A ledger row's or an adjustment's amount with its sign ("+5.00", "-0.30")."""
    amount = value.amount if isinstance(value, LedgerEntry) else value
    return ("+" if amount.is_positive else "") + str(amount)


def _register_filters(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters.update({"when": _when, "day": _day, "money": _money, "signed": _signed})


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_register_filters)


# Errors as pages ----------------------------------------------------------------------------------

CSRF_REFUSED = (
    "This form could not be verified (it did not come from this console, or the page was too old). "
    "Reload the page and try again."
)


def redirect_to_sign_in(request: Request[Any, Any, Any], exc: SignInRequiredError) -> Response[Any]:
    return Redirect(
        "/console/sign-in",
        query_params={"reason": exc.reason},
        cookies=[cleared_session_cookie()],
        status_code=303,
    )


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Any other error on a console route: an HTML page with the status and wording of the API's problem."""
    fault = fault_of(exc)
    detail = CSRF_REFUSED if isinstance(exc, PermissionDeniedException) else sentence(fault.detail)
    return Template(
        "error.html",
        context={
            "caller": getattr(request.state, "console_caller", None),
            "status": fault.kind.status,
            "title": fault.kind.title,
            "detail": detail,
        },
        status_code=fault.kind.status,
    )
