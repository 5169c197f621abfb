"""Meta's WhatsApp status webhook and its phone numbers (contract v2 §11).

Two kinds of routes live here:

- `WhatsAppWebhookController` (`/webhooks/whatsapp`) is Meta's: no JWT (app.py mounts it outside the
  authenticated router). `GET` answers Meta's subscription challenge when its verify token matches
  BILLING_WHATSAPP_VERIFY_TOKEN; `POST` reads the raw body (1 MiB at most, this route only), checks
  `X-Hub-Signature-256` over those exact bytes with BILLING_WHATSAPP_APP_SECRET before anything is decoded, then
  applies the statuses as the platform's `webhook` module. Without its setting a route answers 503 `unavailable`.
  The answer is 200 only once every status in the body is applied or recorded: anything else (a database outage is
  a 503) makes Meta deliver the body again, and a status recorded before is skipped then.
- `WhatsAppNumberController` (`/whatsapp-numbers`) and `WebhookEventController` (`/webhooks/whatsapp/events`) are
  the operators', behind the JWT like every other route.

The request and response structs live beside their routes."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, MediaType, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter

from billing.application.caller import Caller
from billing.application.handlers import whatsapp
from billing.application.handlers.whatsapp import (
    ListNumbers,
    ListWebhookEvents,
    MapNumber,
    NumberMapping,
    UnmapNumber,
)
from billing.application.pagination import Page, PageRequest
from billing.application.ports import WebhookEventFilter
from billing.application.service import BillingService
from billing.config import WhatsAppSettings
from billing.domain.errors import ValidationError
from billing.domain.text import validate_text
from billing.domain.webhook_events import Outcome, WebhookEvent, WhatsAppNumber
from billing.domain.whatsapp import SIGNATURE_HEADER, parse_status_notifications, signature_matches
from billing.entrypoints.http.body import JsonBody
from billing.entrypoints.http.controllers.params import JSON
from billing.entrypoints.http.idempotency import Idempotency
from billing.entrypoints.http.problems import Rendered, problem_responses, render_problem
from billing.entrypoints.http.schemas import encode
from billing.entrypoints.json_body import TOO_DEEP, Body

# Meta's bodies are a few KB (a handful of statuses); 1 MiB leaves room for a large batch, and nothing past it is
# read: Litestar refuses a larger Content-Length at once, and a chunked body as soon as it streams past the limit.
MAX_WEBHOOK_BODY_BYTES = 1024 * 1024
MAX_CHALLENGE_LENGTH = 1000  # Meta's challenge is a number; it is echoed, so it is bounded
SUBSCRIBE = "subscribe"
SIGNATURE_DESCRIPTION = "sha256=<hex HMAC-SHA256 of the raw body, keyed with the app secret>"
WEBHOOK_MODULE = "webhook"  # the platform module the statuses are applied as (`as_platform`)


# The webhook (Meta's, no JWT) --------------------------------------------------------------------------------


class WebhookReceiptOut(msgspec.Struct, kw_only=True):
    """What one delivery did: `received` counts the statuses in the body; `applied`, `ignored` and `unmatched`
    count the events this delivery recorded (a status recorded by an earlier delivery is skipped, not counted)."""

    received: int
    applied: int
    ignored: int
    unmatched: int

    @classmethod
    def of(cls, received: int, events: list[WebhookEvent]) -> WebhookReceiptOut:
        outcomes = [event.outcome for event in events]
        return cls(
            received=received,
            applied=outcomes.count(Outcome.APPLIED),
            ignored=outcomes.count(Outcome.IGNORED),
            unmatched=outcomes.count(Outcome.UNMATCHED),
        )


def _text(description: str, *examples: str) -> Schema:
    return Schema(type=OpenAPIType.STRING, description=description, examples=list(examples) or None)


_PRICING = Schema(
    type=OpenAPIType.OBJECT,
    description="On `sent` and on one of `delivered` or `read`: how Meta bills the message.",
    properties={
        "billable": Schema(type=OpenAPIType.BOOLEAN),
        "pricing_model": _text("PMP (per message)", "PMP"),
        "category": _text("marketing, utility, authentication, service, ...", "utility"),
        "type": _text("regular, free_customer_service or free_entry_point", "regular"),
    },
)
_STATUS = Schema(
    type=OpenAPIType.OBJECT,
    description="One message's status. A status that cannot be read is recorded as ignored, with its reason.",
    properties={
        "id": _text("the message id (wamid)", "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"),
        "status": _text("sent, delivered, read or failed (any other is ignored)", "delivered"),
        "timestamp": _text("unix seconds", "1795167003"),
        "recipient_id": _text(
            "the recipient's phone number, digits only, or its business-scoped user id when Meta hides the number",
            "16505551234",
        ),
        "recipient_user_id": _text(
            "the recipient's business-scoped user id: its prefix decides the country of a message charged without "
            "a hold",
            "US.13491208655302741918",
        ),
        "recipient_parent_user_id": _text(
            "the recipient's parent business-scoped user id (used when there is no recipient_user_id)",
            "US.ENT.11815799212886844830",
        ),
        "pricing": _PRICING,
        "errors": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.OBJECT), description="on failed"),
    },
)
_VALUE = Schema(
    type=OpenAPIType.OBJECT,
    properties={
        "metadata": Schema(
            type=OpenAPIType.OBJECT,
            properties={
                "phone_number_id": _text("the business number: its tenant is found by the number map"),
                "display_phone_number": _text("the business number as shown"),
            },
        ),
        "statuses": Schema(type=OpenAPIType.ARRAY, items=_STATUS),
    },
    description="Only `statuses` are read; inbound `messages`, `contacts` and other keys are ignored.",
)
META_ENVELOPE = Schema(
    type=OpenAPIType.OBJECT,
    required=["object", "entry"],
    description="Meta's status notification, exactly as Meta sent it (the signature covers these bytes).",
    properties={
        "object": _text("always whatsapp_business_account", "whatsapp_business_account"),
        "entry": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                properties={
                    "id": _text("the WhatsApp Business Account id"),
                    "changes": Schema(
                        type=OpenAPIType.ARRAY,
                        items=Schema(
                            type=OpenAPIType.OBJECT,
                            properties={"field": _text("only `messages` is read", "messages"), "value": _VALUE},
                        ),
                    ),
                },
            ),
        ),
    },
)


@dataclass
class StatusWebhookOperation(Operation):
    """OpenAPI: the route reads its body as raw bytes (the signature is over them), so Litestar cannot see it; the
    document describes Meta's envelope instead, and says that no bearer token is needed."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={JSON: OpenAPIMediaType(schema=META_ENVELOPE)},
            required=True,
            description=f"At most {MAX_WEBHOOK_BODY_BYTES} bytes, signed in `{SIGNATURE_HEADER}`.",
        )
        self.security = []


@dataclass
class ChallengeOperation(Operation):
    """OpenAPI: Meta's subscription check carries no bearer token."""

    def __post_init__(self) -> None:
        self.security = []


def _unavailable(variable: str) -> Response[Any]:
    detail = f"the WhatsApp webhook is not configured on this server ({variable} is not set)"
    return render_problem("unavailable", detail).to_response()


def _same_secret(given: str, expected: str) -> bool:
    """Compared in constant time, their lengths included (both are hashed first); any text compares, a lone
    surrogate from a query string too."""

    def digest(text: str) -> bytes:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()

    return hmac.compare_digest(digest(given), digest(expected))


def _decode(raw: bytes) -> object:
    """The body's JSON, strictly (no NaN, no lone surrogate, no trailing bytes), or a 400 naming `body`."""
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as error:  # msgspec's ValidationError (a number out of range) is one too
        raise ValidationError.of("body", f"is not valid JSON ({error})") from None
    except RecursionError:
        raise ValidationError.of("body", TOO_DEEP) from None


class WhatsAppWebhookController(Controller):
    path = "/webhooks/whatsapp"
    tags = ["whatsapp webhook"]

    @get(
        "/",
        operation_id="verify_whatsapp_webhook",
        media_type=MediaType.TEXT,
        operation_class=ChallengeOperation,
        responses=problem_responses("validation_error", "forbidden", public=True),
    )
    async def verify_whatsapp_webhook(
        self,
        whatsapp_settings: NamedDependency[WhatsAppSettings],
        mode: Annotated[str | None, QueryParameter(name="hub.mode", description="`subscribe`")] = None,
        verify_token: Annotated[
            str | None, QueryParameter(name="hub.verify_token", description="BILLING_WHATSAPP_VERIFY_TOKEN")
        ] = None,
        challenge: Annotated[str | None, QueryParameter(name="hub.challenge", description="echoed back")] = None,
    ) -> Response[str]:
        """Meta's subscription check: the challenge back as text/plain when the verify token matches, else 403."""
        expected = whatsapp_settings.verify_token
        if not expected:
            return _unavailable("BILLING_WHATSAPP_VERIFY_TOKEN")
        if mode != SUBSCRIBE or verify_token is None or not _same_secret(verify_token, expected):
            return render_problem("forbidden", "the verify token does not match").to_response()
        echoed = validate_text(challenge, field="hub.challenge", max_length=MAX_CHALLENGE_LENGTH, required=True)
        return Response(content=echoed or "", media_type=MediaType.TEXT, status_code=200)

    @post(
        "/",
        operation_id="receive_whatsapp_statuses",
        status_code=200,
        request_max_body_size=MAX_WEBHOOK_BODY_BYTES,
        operation_class=StatusWebhookOperation,
        responses=problem_responses("validation_error", "unauthorized", "payload_too_large", public=True),
    )
    async def receive_whatsapp_statuses(
        self,
        request: Request[Any, Any, Any],
        service: NamedDependency[BillingService],
        whatsapp_settings: NamedDependency[WhatsAppSettings],
        signature: Annotated[
            str | None, HeaderParameter(name=SIGNATURE_HEADER, description=SIGNATURE_DESCRIPTION)
        ] = None,
    ) -> Response[WebhookReceiptOut]:
        """Meta's message statuses: settle, void or charge each message once, and record every status. The
        signature is checked over the raw bytes before anything is decoded; a bad one (401) applies nothing."""
        secret = whatsapp_settings.app_secret
        if not secret:
            return _unavailable("BILLING_WHATSAPP_APP_SECRET")
        raw = await request.body()  # 413 past MAX_WEBHOOK_BODY_BYTES, before more is read
        single = len(request.headers.getall(SIGNATURE_HEADER, [])) == 1  # two signatures: neither is trusted
        if not signature_matches(secret, raw, signature if single else None):
            detail = f"{SIGNATURE_HEADER} is missing or does not sign this body"
            return render_problem("unauthorized", detail).to_response()
        parsed = parse_status_notifications(_decode(raw))
        events = await whatsapp.apply_body(service.as_platform(WEBHOOK_MODULE), parsed)
        receipt = WebhookReceiptOut.of(len(parsed.statuses) + len(parsed.ignored), events)
        return Response(receipt, status_code=200)


# The number map and the events (operators, JWT) ------------------------------------------------------------


class WhatsAppNumberCreate(Body):
    phone_number_id: str
    tenant_id: str


class WhatsAppNumberOut(msgspec.Struct, kw_only=True):
    phone_number_id: str
    tenant_id: str
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, number: WhatsAppNumber) -> WhatsAppNumberOut:
        return cls(
            phone_number_id=number.phone_number_id,
            tenant_id=number.tenant_id,
            created_by=number.created_by,
            created_at=number.created_at.astimezone(UTC),
        )


class WhatsAppNumberPage(msgspec.Struct, kw_only=True):
    items: list[WhatsAppNumberOut]
    page: int
    page_size: int
    total: int

    @classmethod
    def of(cls, page: Page[WhatsAppNumber]) -> WhatsAppNumberPage:
        items = [WhatsAppNumberOut.of(number) for number in page.items]
        return cls(items=items, page=page.page, page_size=page.page_size, total=page.total)


class WebhookEventOut(msgspec.Struct, kw_only=True):
    """One status as received and what became of it; `tenant_id` is null for a number nobody mapped, `message_id`
    and `status` for a status too malformed to say them. `hold_id` and `transaction_id`: the hold it settled,
    voided or charged, and the ledger row of its charge."""

    message_id: str | None
    status: str | None
    tenant_id: str | None
    phone_number_id: str | None
    outcome: str
    reason: str | None
    received_at: datetime
    hold_id: UUID | None
    transaction_id: UUID | None

    @classmethod
    def of(cls, event: WebhookEvent) -> WebhookEventOut:
        return cls(
            message_id=event.message_id,
            status=event.status,
            tenant_id=event.tenant_id,
            phone_number_id=event.phone_number_id,
            outcome=event.outcome.value,
            reason=event.reason,
            received_at=event.received_at.astimezone(UTC),
            hold_id=event.hold_id,
            transaction_id=event.transaction_id,
        )


class WebhookEventPage(msgspec.Struct, kw_only=True):
    items: list[WebhookEventOut]
    page: int
    page_size: int
    total: int

    @classmethod
    def of(cls, page: Page[WebhookEvent]) -> WebhookEventPage:
        items = [WebhookEventOut.of(event) for event in page.items]
        return cls(items=items, page=page.page, page_size=page.page_size, total=page.total)


def _mapped(result: NumberMapping) -> Rendered:
    """201 for a new mapping; 200 with the mapping as it was for the same one asked again."""
    return Rendered(201 if result.created else 200, encode(WhatsAppNumberOut.of(result.number)), JSON)


class WhatsAppNumberController(Controller):
    path = "/whatsapp-numbers"
    tags = ["whatsapp webhook"]

    @post(
        "/",
        operation_id="map_whatsapp_number",
        status_code=201,
        dto=JsonBody[WhatsAppNumberCreate],
        return_dto=None,
        responses={
            200: ResponseSpec(WhatsAppNumberOut, description="The same mapping asked again: the mapping as it was"),
            **problem_responses("forbidden", "duplicate", write=True),
        },
    )
    async def map_whatsapp_number(
        self,
        data: JSONBody[WhatsAppNumberCreate],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[WhatsAppNumberOut]:
        """Statuses from Meta's business number `phone_number_id` are the tenant's (root + Manage). The same
        mapping again answers 200; a number mapped to another tenant is a 409 (unmap it first)."""
        cmd = MapNumber(data.phone_number_id, data.tenant_id)
        return await idempotency.run(whatsapp.map_number, cmd, caller, _mapped)

    @get("/", operation_id="list_whatsapp_numbers", responses=problem_responses("forbidden"))
    async def list_whatsapp_numbers(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        page_request: NamedDependency[PageRequest],
        tenant_id: FromQuery[str | None] = None,
    ) -> WhatsAppNumberPage:
        """The mapped numbers, newest first: one tenant's (`?tenant_id=`) or all (root + View)."""
        query = ListNumbers(tenant_id, page_request)
        return WhatsAppNumberPage.of(await service.execute(whatsapp.list_numbers, query, caller))

    @delete(
        "/{phone_number_id:str}",
        operation_id="unmap_whatsapp_number",
        status_code=204,
        responses=problem_responses("forbidden", "not_found"),
    )
    async def unmap_whatsapp_number(
        self, service: NamedDependency[BillingService], caller: NamedDependency[Caller], phone_number_id: FromPath[str]
    ) -> None:
        """Statuses from the number are `unmatched` (`unknown_number`) from now on (root + Manage)."""
        await service.execute(whatsapp.unmap_number, UnmapNumber(phone_number_id), caller)


class WebhookEventController(Controller):
    path = "/webhooks/whatsapp/events"
    tags = ["whatsapp webhook"]

    @get("/", operation_id="list_webhook_events", responses=problem_responses("forbidden"))
    async def list_webhook_events(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        page_request: NamedDependency[PageRequest],
        outcome: FromQuery[Outcome | None] = None,
        tenant_id: FromQuery[str | None] = None,
    ) -> WebhookEventPage:
        """Every status received and what became of it, newest first (root + View)."""
        query = ListWebhookEvents(WebhookEventFilter(outcome, tenant_id), page_request)
        return WebhookEventPage.of(await service.execute(whatsapp.list_webhook_events, query, caller))
