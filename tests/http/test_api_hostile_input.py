"""Hostile input, route by route: every text field, every JSON body, every POST and the token itself.

Four tables cover the JWT-authenticated API class-wide, each with a guard that compares it with the OpenAPI
document, so that a new route or a new text field cannot escape them (Meta's webhook, signed by Meta instead of
a token, has its own hostile bodies in test_api_whatsapp_webhook.py):

1. every text field of every request body refuses NUL, lone surrogates and (in one-line fields) line
   separators with a 400 naming the field, and changes nothing;
2. every JSON body refuses deeply nested JSON with a 400, never a 500, and changes nothing;
3. an idempotent replay answers only a caller who may make the request;
4. every recipient refuses a business-scoped user id whose prefix is no ISO 3166-1 alpha-2 code with a 400 naming
   the field (contract v3 §16), and changes nothing.

A route whose state exists only with `BILLING_FOUR_EYES=true` (a proposed adjustment, contract v3 §19) says so in
the table, and its tests run with four eyes on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import attrs
import pytest
from api_support import (
    BASE,
    CLINIC,
    CLINIC_MANAGER,
    CLINIC_USER,
    OPERATOR,
    ROOT,
    SECRET,
    Api,
    assert_problem,
    bearer,
    field_errors,
)
from httpx import Response

from billing.application.caller import MANAGE, VIEW
from billing.config import Settings

CLINIC_WITHOUT_PERMISSIONS = bearer(CLINIC, user="other")
ROOT_VIEW_ONLY = bearer(ROOT, VIEW, user="viewer-2")
ROOT_WITHOUT_PERMISSIONS = bearer(ROOT, user="nobody")
SECOND_OPERATOR = bearer(ROOT, VIEW, MANAGE, user="operator-2")  # proposes what OPERATOR approves under four eyes
CHARGED_REFERENCE = "wamid.HBgM"

Arrange = Callable[[Api], Awaitable[dict[str, str]]]


async def _nothing(api: Api) -> dict[str, str]:
    return {}


async def _pending_request(api: Api) -> dict[str, str]:
    return {"request_id": (await api.request_topup())["id"]}


async def _issued_invoice(api: Api) -> dict[str, str]:
    return {"invoice_id": (await api.invoiced())["invoice_id"]}


async def _paid_invoice(api: Api) -> dict[str, str]:
    """A top-up invoice marked paid (by OPERATOR: without four eyes, OPERATOR may then reverse its payment)."""
    return {"invoice_id": (await api.fund("10.00"))["id"]}


async def _funded_wallet(api: Api) -> dict[str, str]:
    await api.fund("10.00")
    return {"tenant_id": CLINIC}


async def _existing_charge(api: Api) -> dict[str, str]:
    await api.fund("10.00")
    charge = {"amount": "1.00", "reference_id": CHARGED_REFERENCE}
    response = await api.post(f"/wallets/{CLINIC}/charges", OPERATOR, charge)
    assert response.status_code == 201, response.text
    return {"tenant_id": CLINIC}


SMALL_CARD = {
    "name": "Clinic A, negotiated",
    "currency": "USD",
    "effective_from": "2026-01-01T00:00:00Z",
    "tenant_id": CLINIC,
    "markets": {"BR": "Brazil", "*": "Other"},
    "rates": [
        {"market": "Brazil", "category": "marketing", "unit_price": "0.0625"},
        {"market": "Other", "category": "marketing", "unit_price": "0.0604"},
    ],
}


BUSINESS_NUMBER = "106540352242922"  # mapped to the clinic by the routes that send one (v3 §16)


async def _a_card_in_force(api: Api) -> dict[str, str]:
    response = await api.post("/rate-cards", OPERATOR, SMALL_CARD)
    assert response.status_code == 201, response.text
    mapped = await api.post("/whatsapp-numbers", OPERATOR, {"phone_number_id": BUSINESS_NUMBER, "tenant_id": CLINIC})
    assert mapped.status_code == 201, mapped.text
    return {}


US_NUMBER = "+14155552671"
HELD_MESSAGE = "wamid.HBgL/+=="


async def _a_card_and_money(api: Api) -> dict[str, str]:
    await _a_card_in_force(api)
    return await _funded_wallet(api)


async def _an_open_hold(api: Api) -> dict[str, str]:
    params = await _a_card_and_money(api)
    body = {"message_id": HELD_MESSAGE, "category": "marketing", "recipient": US_NUMBER}
    response = await api.post(f"/wallets/{CLINIC}/holds", OPERATOR, body)
    assert response.status_code == 201, response.text
    return params


async def _a_frozen_wallet(api: Api) -> dict[str, str]:
    params = await _funded_wallet(api)
    response = await api.post(f"/wallets/{CLINIC}/freeze", OPERATOR, {"reason": "audit"})
    assert response.status_code == 200, response.text
    return params


async def _existing_contact(api: Api) -> dict[str, str]:
    response = await api.client.put(BASE + "/contact", headers=CLINIC_MANAGER, json={"email": "old@clinic-a.example"})
    assert response.status_code == 200, response.text
    return {}


async def _a_proposed_adjustment(api: Api) -> dict[str, str]:
    """Proposed by SECOND_OPERATOR, so that OPERATOR may approve it; only a `four_eyes` route has one."""
    body = {"amount": "10.00", "reason": "goodwill credit", "reference_id": "adj-proposed"}
    response = await api.post(f"/wallets/{CLINIC}/adjustments", SECOND_OPERATOR, body)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "proposed", response.text
    return {"adjustment_id": response.json()["id"]}


@attrs.frozen
class Route:
    """One write route: a request that succeeds once `arrange` has run, and who must be refused it.

    `body` fills every text field with a safe value (line breaks in the multi-line ones)."""

    method: str
    template: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    success: int
    arrange: Arrange
    single_line: tuple[str, ...] = ()
    multiline: tuple[str, ...] = ()
    refused: tuple[dict[str, str], ...] = ()
    read_only: bool = False  # a quote moves no money: nothing in `_state` changes
    four_eyes: bool = False  # its tests run with BILLING_FOUR_EYES=true (see the `settings` fixture)

    def path(self, params: dict[str, str]) -> str:
        return self.template.format(**params)


ROUTES: dict[str, Route] = {
    "request_topup": Route(
        "POST",
        "/wallet/topup-requests",
        CLINIC_USER,
        {"amount": "150.00", "note": "March\ntop-up"},
        201,
        _nothing,
        multiline=("note",),
        refused=(CLINIC_WITHOUT_PERMISSIONS,),
    ),
    "cancel_topup_request": Route(
        "POST",
        "/wallet/topup-requests/{request_id}/cancel",
        CLINIC_USER,
        None,
        200,
        _pending_request,
        refused=(CLINIC_WITHOUT_PERMISSIONS,),
    ),
    "approve_topup_request": Route(
        "POST",
        "/wallet/topup-requests/{request_id}/approve",
        OPERATOR,
        {"note": "Thanks!\nPay by the 15th."},
        200,
        _pending_request,
        multiline=("note",),
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS),
    ),
    "reject_topup_request": Route(
        "POST",
        "/wallet/topup-requests/{request_id}/reject",
        OPERATOR,
        {"reason": "Too much\nfor a first top-up"},
        200,
        _pending_request,
        multiline=("reason",),
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS),
    ),
    "mark_invoice_paid": Route(
        "POST",
        "/invoices/{invoice_id}/mark-paid",
        OPERATOR,
        {"payment_reference": "bank-2026-0042"},
        200,
        _issued_invoice,
        single_line=("payment_reference",),
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS),
    ),
    "void_invoice": Route(
        "POST",
        "/invoices/{invoice_id}/void",
        OPERATOR,
        {"reason": "Issued twice\nby mistake"},
        200,
        _issued_invoice,
        multiline=("reason",),
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS),
    ),
    "charge_wallet": Route(
        "POST",
        "/wallets/{tenant_id}/charges",
        OPERATOR,
        {"amount": "1.00", "reference_id": CHARGED_REFERENCE, "description": "WhatsApp message\nto Ana"},
        201,
        _funded_wallet,
        single_line=("reference_id",),
        multiline=("description",),
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS),
    ),
    "refund_charge": Route(
        "POST",
        "/wallets/{tenant_id}/refunds",
        OPERATOR,
        {"reference_id": CHARGED_REFERENCE, "amount": "1.00", "description": "Not delivered\n(error 131026)"},
        201,
        _existing_charge,
        single_line=("reference_id",),
        multiline=("description",),
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS),
    ),
    "set_billing_contact": Route(
        "PUT",
        "/contact",
        CLINIC_MANAGER,
        {"email": "accounts@clinic-a.example", "name": "Accounts team"},
        200,
        _existing_contact,
        single_line=("email", "name"),
    ),
    "create_rate_card": Route(
        "POST",
        "/rate-cards",
        OPERATOR,
        SMALL_CARD,
        201,
        _nothing,
        single_line=("name", "currency", "tenant_id"),
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS),
    ),
    "quote_messages": Route(
        "POST",
        "/quotes",
        CLINIC_USER,
        {
            "category": "marketing",
            "recipients": ["+5511987654321"],
            "window": "none",
            "tenant_id": CLINIC,
            "phone_number_id": BUSINESS_NUMBER,
        },
        200,
        _a_card_in_force,
        single_line=("category", "window", "tenant_id", "phone_number_id"),
        refused=(CLINIC_WITHOUT_PERMISSIONS,),
        read_only=True,
    ),
    "place_hold": Route(
        "POST",
        "/wallets/{tenant_id}/holds",
        OPERATOR,
        {
            "message_id": "wamid.HBgM/+==",
            "category": "marketing",
            "recipient": US_NUMBER,
            "window": "none",
            "phone_number_id": BUSINESS_NUMBER,
        },
        201,
        _a_card_and_money,
        single_line=("message_id", "category", "recipient", "window", "phone_number_id"),
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS, CLINIC_MANAGER),
    ),
    "place_holds": Route(
        "POST",
        "/wallets/{tenant_id}/holds/batch",
        OPERATOR,
        {
            "messages": [
                {"message_id": "wamid.1", "category": "marketing", "recipient": US_NUMBER},
                {"message_id": "wamid.2", "category": "marketing", "recipient": US_NUMBER, "window": "none"},
            ],
            "expires_in_seconds": 600,
        },
        201,
        _a_card_and_money,
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS, CLINIC_MANAGER),
    ),
    "settle_hold": Route(
        "POST",
        "/wallets/{tenant_id}/holds/settle",
        OPERATOR,
        {"message_id": HELD_MESSAGE, "category": "marketing", "pricing_type": "regular", "billable": True},
        200,
        _an_open_hold,
        single_line=("message_id", "category", "pricing_type"),
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS, CLINIC_MANAGER),
    ),
    "void_hold": Route(
        "POST",
        "/wallets/{tenant_id}/holds/void",
        OPERATOR,
        {"message_id": HELD_MESSAGE},
        200,
        _an_open_hold,
        single_line=("message_id",),
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS, CLINIC_MANAGER),
    ),
    "freeze_wallet": Route(
        "POST",
        "/wallets/{tenant_id}/freeze",
        OPERATOR,
        {"reason": "Chargeback\nunder review"},
        200,
        _funded_wallet,
        multiline=("reason",),
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS, CLINIC_MANAGER),
    ),
    "unfreeze_wallet": Route(
        "POST",
        "/wallets/{tenant_id}/unfreeze",
        OPERATOR,
        None,
        200,
        _a_frozen_wallet,
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS, CLINIC_MANAGER),
    ),
    "set_wallet_settings": Route(
        "PUT",
        "/wallet/settings",
        CLINIC_MANAGER,
        {"marketing_reserve": "5.00", "timezone": "Asia/Kolkata"},
        200,
        _nothing,
        single_line=("timezone",),
    ),
    "map_whatsapp_number": Route(
        "POST",
        "/whatsapp-numbers",
        OPERATOR,
        {"phone_number_id": "106540352242922", "tenant_id": CLINIC},
        201,
        _nothing,
        single_line=("phone_number_id", "tenant_id"),
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS, CLINIC_MANAGER),
    ),
    "reverse_payment": Route(
        "POST",
        "/invoices/{invoice_id}/reverse-payment",
        OPERATOR,
        {"reason": "The transfer bounced\n(returned by the bank)"},
        200,
        _paid_invoice,
        multiline=("reason",),
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS),
    ),
    "create_adjustment": Route(
        "POST",
        "/wallets/{tenant_id}/adjustments",
        OPERATOR,
        {"amount": "10.00", "reason": "Goodwill credit\nfor the March outage", "reference_id": "adj-2026-0001"},
        201,
        _funded_wallet,
        single_line=("reference_id",),
        multiline=("reason",),
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS),
    ),
    "approve_adjustment": Route(
        "POST",
        "/adjustments/{adjustment_id}/approve",
        OPERATOR,
        None,
        200,
        _a_proposed_adjustment,
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS),
        four_eyes=True,
    ),
    "reject_adjustment": Route(
        "POST",
        "/adjustments/{adjustment_id}/reject",
        OPERATOR,
        {"reason": "Not agreed\nwith the clinic"},
        200,
        _a_proposed_adjustment,
        multiline=("reason",),
        refused=(ROOT_VIEW_ONLY, ROOT_WITHOUT_PERMISSIONS),
        four_eyes=True,
    ),
}
BODY_ROUTES = {operation: route for operation, route in ROUTES.items() if route.body is not None}
POST_ROUTES = {operation: route for operation, route in ROUTES.items() if route.method == "POST"}


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The HTTP tests' settings, with four eyes on for a test of a `four_eyes` route (its `operation` parameter)."""
    callspec = getattr(request.node, "callspec", None)
    operation = callspec.params.get("operation") if callspec is not None else None
    four_eyes = operation in ROUTES and ROUTES[operation].four_eyes
    return attrs.evolve(settings, billing=attrs.evolve(settings.billing, four_eyes=four_eyes))


async def _send(api: Api, method: str, path: str, headers: Any, raw: bytes | None) -> Response:
    """`headers` as a dict, or a list of pairs when a name repeats."""
    if raw is not None:
        headers = [*(headers.items() if isinstance(headers, dict) else headers), ("content-type", "application/json")]
    return await api.client.request(method, BASE + path, headers=headers, content=raw)


def _raw(body: dict[str, Any]) -> bytes:
    """JSON as a client would send it; ensure_ascii writes NUL as \\u0000 and a lone surrogate as \\ud800."""
    return json.dumps(body, ensure_ascii=True).encode("ascii")


async def _state(api: Api) -> list[tuple[int, Any]]:
    """Everything a write could change, as the operator sees it: requests, invoices, ledger, contact, cards, holds,
    settings, WhatsApp numbers and adjustments."""
    paths = [
        f"/rate-cards?tenant_id={CLINIC}",
        f"/wallet/topup-requests?tenant_id={CLINIC}",
        f"/invoices?tenant_id={CLINIC}",
        f"/wallets/{CLINIC}",
        f"/wallets/{CLINIC}/transactions",
        f"/contact?tenant_id={CLINIC}",
        f"/wallets/{CLINIC}/holds",
        f"/wallet/settings?tenant_id={CLINIC}",
        "/whatsapp-numbers",
        f"/wallets/{CLINIC}/adjustments",
    ]
    # One request id for every snapshot: a problem body names its request (contract v3 §20).
    responses = [await api.get(path, {**OPERATOR, "X-Request-ID": "state"}) for path in paths]
    return [(response.status_code, response.json()) for response in responses]


async def _openapi(api: Api) -> dict[str, Any]:
    response = await api.client.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId -> (METHOD, path under BASE, operation), of the operations that take a bearer token."""
    found = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation and operation.get("security"):
                found[operation["operationId"]] = (method.upper(), path.removeprefix(BASE), operation)
    return found


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def _alternatives(document: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A schema's non-null alternatives, oneOf/anyOf flattened and references followed."""
    schema = _resolve(document, schema)
    nested = schema.get("oneOf") or schema.get("anyOf")
    if nested:
        return [alternative for part in nested for alternative in _alternatives(document, part)]
    return [] if schema.get("type") == "null" else [schema]


def _is_text(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    """A free-text string: not an amount (string or number) and not a date (a string with a format)."""
    kinds = _alternatives(document, schema)
    return bool(kinds) and all(kind.get("type") == "string" and "format" not in kind for kind in kinds)


def _body_schema(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    """The one object schema of an operation's JSON request body."""
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    (body,) = _alternatives(document, schema)
    assert body.get("type") == "object", body
    return body


# 1. Every text field refuses unsafe characters ---------------------------------------------------

UNSAFE_EVERYWHERE = {"NUL": "\x00", "lone surrogate": "\ud800"}
UNSAFE_IN_ONE_LINE = {"U+2028": "\u2028", "CRLF": "\r\n"}


def _text_cases() -> list[Any]:
    cases = []
    for operation, route in BODY_ROUTES.items():
        for field in (*route.single_line, *route.multiline):
            unsafe = {**UNSAFE_EVERYWHERE, **(UNSAFE_IN_ONE_LINE if field in route.single_line else {})}
            for name, char in unsafe.items():
                cases.append(pytest.param(operation, field, char, id=f"{operation}-{field}-{name}"))
    return cases


def _with_unsafe(route: Route, field: str, char: str) -> bytes:
    """The succeeding body with `char` in the middle of the field's otherwise valid value."""
    assert route.body is not None
    value: str = route.body[field]
    return _raw({**route.body, field: f"{value[:1]}{char}{value[1:]}"})


@pytest.mark.parametrize("operation", BODY_ROUTES)
async def test_the_safe_body_of_every_route_succeeds_and_changes_the_state(api: Api, operation: str) -> None:
    """The control for the refusals below: their setup is right and `_state` sees each route's effect."""
    route = ROUTES[operation]
    path = route.path(await route.arrange(api))
    before = await _state(api)

    response = await _send(api, route.method, path, route.headers, _raw(route.body or {}))

    assert response.status_code == route.success, response.text
    if route.read_only:
        assert await _state(api) == before
    else:
        assert await _state(api) != before


@pytest.mark.parametrize(("operation", "field", "char"), _text_cases())
async def test_every_text_field_refuses_unsafe_characters_and_changes_nothing(
    api: Api, operation: str, field: str, char: str
) -> None:
    route = ROUTES[operation]
    path = route.path(await route.arrange(api))
    before = await _state(api)

    response = await _send(api, route.method, path, route.headers, _with_unsafe(route, field, char))

    assert list(field_errors(response)) == [field]
    assert await _state(api) == before


@pytest.mark.parametrize(
    ("operation", "field"),
    [
        pytest.param(operation, field, id=f"{operation}-{field}")
        for operation, route in BODY_ROUTES.items()
        for field in (*route.single_line, *route.multiline)
    ],
)
async def test_a_lone_surrogate_in_any_text_field_is_a_400_and_changes_nothing(
    api: Api, operation: str, field: str
) -> None:
    route = ROUTES[operation]
    path = route.path(await route.arrange(api))
    before = await _state(api)

    response = await _send(api, route.method, path, route.headers, _with_unsafe(route, field, "\ud800"))

    assert set(field_errors(response)) in ({field}, {"body"})
    assert await _state(api) == before


@pytest.mark.parametrize("container", ["memory"], indirect=True)
async def test_the_text_field_table_covers_every_text_field_of_every_request_body(api: Api) -> None:
    document = await _openapi(api)
    documented = set()
    for operation_id, (_, _, operation) in _operations(document).items():
        if "requestBody" in operation:
            properties = _body_schema(document, operation)["properties"]
            documented |= {(operation_id, name) for name, schema in properties.items() if _is_text(document, schema)}

    tabled = {(op, field) for op, route in BODY_ROUTES.items() for field in (*route.single_line, *route.multiline)}
    assert tabled == documented
    assert ("charge_wallet", "amount") not in documented  # amounts and dates are not free text
    assert ("approve_topup_request", "due_date") not in documented


# 2. Every JSON body refuses deeply nested JSON ---------------------------------------------------


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _deep_bodies(route: Route) -> dict[str, tuple[bytes, list[set[str]]]]:
    """Deeply nested bodies, each with the field sets its 400 may name."""
    assert route.body is not None
    first, value = next(iter(route.body.items()))
    head = b"{" + json.dumps(first).encode() + b": "
    return {
        "deep unknown field": (head + json.dumps(value).encode() + b', "x": ' + _deep(1000) + b"}", [{"body"}, {"x"}]),
        "deep known field": (head + _deep(1000) + b"}", [{"body"}, {first}]),
        "only brackets": (_deep(5000), [{"body"}]),
    }


@pytest.mark.parametrize(
    ("operation", "shape"),
    [(operation, shape) for operation, route in BODY_ROUTES.items() for shape in _deep_bodies(route)],
)
async def test_every_json_body_refuses_deep_nesting_with_a_400_and_changes_nothing(
    api: Api, operation: str, shape: str
) -> None:
    route = ROUTES[operation]
    raw, allowed = _deep_bodies(route)[shape]
    path = route.path(await route.arrange(api))
    before = await _state(api)

    response = await _send(api, route.method, path, route.headers, raw)

    assert set(field_errors(response)) in allowed
    assert await _state(api) == before


@pytest.mark.parametrize("container", ["memory"], indirect=True)
async def test_the_body_table_covers_every_operation_with_a_request_body(api: Api) -> None:
    document = await _openapi(api)
    operations = _operations(document)
    with_body = {operation_id for operation_id, (_, _, op) in operations.items() if "requestBody" in op}

    assert set(BODY_ROUTES) == with_body
    for operation_id, route in ROUTES.items():  # the table's routes are the documented ones
        assert operations.get(operation_id, ())[:2] == (route.method, route.template), operation_id


# 3. An idempotent replay never skips the permission check ----------------------------------------


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value, nested ones too (a batch answers a list of holds)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _leaks(first: Response, path: str) -> list[str]:
    """Values of the stored answer a refusal must not repeat (the path's ids and the tenant aside)."""
    values = [value for value in _strings(first.json()) if len(value) >= 8]
    return [value for value in values if value not in path and value not in (CLINIC, ROOT)]


@pytest.mark.parametrize(
    ("operation", "refused"),
    [
        pytest.param(operation, refused, id=f"{operation}-{index}")
        for operation, route in POST_ROUTES.items()
        for index, refused in enumerate(route.refused)
    ],
)
async def test_a_replay_is_refused_to_a_caller_without_the_permission(
    api: Api, operation: str, refused: dict[str, str]
) -> None:
    route = ROUTES[operation]
    path = route.path(await route.arrange(api))
    raw = None if route.body is None else _raw(route.body)
    first = await _send(api, "POST", path, {**route.headers, "Idempotency-Key": "replay-1"}, raw)
    assert first.status_code == route.success, first.text
    leaks = _leaks(first, path)
    assert leaks  # something identifies the stored answer

    response = await _send(api, "POST", path, {**refused, "Idempotency-Key": "replay-1"}, raw)

    assert_problem(response, 403, "forbidden")
    assert "idempotent-replayed" not in response.headers
    assert [value for value in leaks if value in response.text] == []
    again = await _send(api, "POST", path, {**route.headers, "Idempotency-Key": "replay-1"}, raw)
    assert (again.status_code, again.content) == (first.status_code, first.content)  # the key still replays
    assert again.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize("container", ["memory"], indirect=True)
async def test_the_replay_table_covers_every_post(api: Api) -> None:
    operations = _operations(await _openapi(api))
    posts = {operation_id for operation_id, (method, _, _) in operations.items() if method == "POST"}

    assert set(POST_ROUTES) == posts
    assert all(route.refused for route in POST_ROUTES.values())


@pytest.mark.parametrize("container", ["memory"], indirect=True)
async def test_the_tables_leave_out_only_the_routes_without_a_token(api: Api) -> None:
    """The guards above read the operations that take a bearer token; those that do not are the known public ones,
    whose hostile input is tested where they are."""
    document = await _openapi(api)
    public = {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation and not operation.get("security")
    }

    assert public == {"health", "ready", "verify_whatsapp_webhook", "receive_whatsapp_statuses"}


# 4. Every recipient refuses a business-scoped user id whose prefix is no country ------------------

# Two letters, a dot, then letters or digits: BSUID-shaped, but the prefix is no ISO 3166-1 alpha-2 code
# (contract v3 §16): user-assigned (XK, ZZ), reserved (UK, EU), lower case, or with Meta's enterprise `ENT.`.
BAD_BSUIDS = {
    "user-assigned XK": "XK.13491208655302741918",
    "user-assigned ZZ": "ZZ.1",
    "reserved UK": "UK.13491208655302741918",
    "enterprise EU": "EU.ENT.11815799212886844830",
    "lower case": "us.13491208655302741918",
    "not a letter": "U5.13491208655302741918",
}


def _safe_body(operation: str) -> dict[str, Any]:
    return dict(ROUTES[operation].body or {})


# Each route taking recipients: the body with `value` as one of them, and the field its 400 names.
RECIPIENT_ROUTES: dict[str, Callable[[str], tuple[dict[str, Any], str]]] = {
    "quote_messages": lambda value: (
        {**_safe_body("quote_messages"), "recipients": [US_NUMBER, value]},
        "recipients[1]",
    ),
    "place_hold": lambda value: ({**_safe_body("place_hold"), "recipient": value}, "recipient"),
    "place_holds": lambda value: (
        {
            "messages": [
                {"message_id": "wamid.1", "category": "marketing", "recipient": US_NUMBER},
                {"message_id": "wamid.2", "category": "marketing", "recipient": value},
            ]
        },
        "messages[1].recipient",
    ),
}


@pytest.mark.parametrize(
    ("operation", "value"),
    [
        pytest.param(operation, value, id=f"{operation}-{name}")
        for operation in RECIPIENT_ROUTES
        for name, value in BAD_BSUIDS.items()
    ],
)
async def test_every_recipient_refuses_a_bsuid_whose_prefix_is_no_country_and_changes_nothing(
    api: Api, operation: str, value: str
) -> None:
    route = ROUTES[operation]
    path = route.path(await route.arrange(api))
    body, field = RECIPIENT_ROUTES[operation](value)
    before = await _state(api)

    response = await _send(api, route.method, path, route.headers, _raw(body))

    assert list(field_errors(response)) == [field]
    assert value not in response.text  # the refusal names the field, never echoes the id whole
    assert await _state(api) == before


def _names(document: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """Every property name of a body schema, those of nested objects and arrays too."""
    names: set[str] = set()
    for kind in _alternatives(document, schema):
        for name, child in kind.get("properties", {}).items():
            names |= {name, *_names(document, child)}
        if "items" in kind:
            names |= _names(document, kind["items"])
    return names


@pytest.mark.parametrize("container", ["memory"], indirect=True)
async def test_the_recipient_table_covers_every_request_body_with_a_recipient(api: Api) -> None:
    document = await _openapi(api)
    with_recipients = {
        operation_id
        for operation_id, (_, _, operation) in _operations(document).items()
        if "requestBody" in operation
        and {"recipient", "recipients"}
        & _names(document, operation["requestBody"]["content"]["application/json"]["schema"])
    }

    assert set(RECIPIENT_ROUTES) == with_recipients


# The token itself ------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signed(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An HS256 token made by hand, so that its header and claims can be anything at all."""
    signing_input = f"{_b64(json.dumps(header, ensure_ascii=False).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(SECRET.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    return {"sub": "clinic-user", "tenant": CLINIC, "permissions": [VIEW], "exp": now + 300, **extra}


HS256 = {"alg": "HS256", "typ": "JWT"}


async def test_a_token_signed_by_hand_is_accepted(api: Api) -> None:
    """The control for the refusals below: `_signed` makes tokens the API takes."""
    now = int(datetime.now(UTC).timestamp())
    signed = _signed(HS256, _claims(nbf=now - 60, iat=now - 60))

    assert (await api.get("/wallet/me", {"Authorization": f"Bearer {signed}"})).status_code == 200


CRITS = {
    "CRLF": "x\r\nX: y",
    "U+2028": "x\u2028X: y",
    "10 KB": "X" * 10_240,
}


@pytest.mark.parametrize("crit", CRITS.values(), ids=CRITS.keys())
async def test_a_crit_header_is_refused_and_never_echoed(api: Api, crit: str) -> None:
    signed = _signed({**HS256, "crit": [crit]}, _claims())

    response = await api.get("/wallet/me", {"Authorization": f"Bearer {signed}"})

    assert_problem(response, 401, "unauthorized")
    (challenge,) = [value for name, value in response.headers.raw if name.lower() == b"www-authenticate"]
    assert challenge.isascii()
    assert len(challenge) < 300
    assert b"X: y" not in challenge
    assert b"XXXXXXXX" not in challenge
    assert not any(part.encode() in challenge for part in signed.split("."))
    assert "X: y" not in response.text
    assert "XXXXXXXX" not in response.text


def _numeric_string_dates() -> dict[str, dict[str, Any]]:
    now = int(datetime.now(UTC).timestamp())
    return {"exp": _claims(exp=str(now + 300)), "nbf": _claims(nbf=str(now - 60)), "iat": _claims(iat=str(now - 60))}


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
async def test_a_date_claim_given_as_a_numeric_string_is_refused(api: Api, claim: str) -> None:
    signed = _signed(HS256, _numeric_string_dates()[claim])

    assert_problem(await api.get("/wallet/me", {"Authorization": f"Bearer {signed}"}), 401, "unauthorized")


UNSAFE_IDENTITIES = {
    "sub with NUL": {"user": "clinic\x00user"},
    "sub with CRLF": {"user": "clinic\r\nX-Injected: 1"},
    "email with NUL": {"email": "ana\x00@clinic-a.example"},
    "email with CRLF": {"email": "ana@clinic-a.example\r\nBcc: evil@example.com"},
}


@pytest.mark.parametrize("claims", UNSAFE_IDENTITIES.values(), ids=UNSAFE_IDENTITIES.keys())
async def test_a_sub_or_email_claim_with_control_characters_is_refused(api: Api, claims: dict[str, str]) -> None:
    response = await api.get("/wallet/me", bearer(CLINIC, VIEW, **claims))

    assert_problem(response, 401, "unauthorized")


TWO_AUTHORIZATIONS = {
    "the same token twice": (CLINIC_USER["Authorization"], CLINIC_USER["Authorization"]),
    "two valid tokens": (CLINIC_USER["Authorization"], OPERATOR["Authorization"]),
    "a valid and an invalid token": (CLINIC_USER["Authorization"], "Bearer not-a-jwt"),
}


@pytest.mark.parametrize("values", TWO_AUTHORIZATIONS.values(), ids=TWO_AUTHORIZATIONS.keys())
async def test_two_authorization_headers_are_refused(api: Api, values: tuple[str, str]) -> None:
    """Through httpx; Litestar's test transport joins the two into one `a, b` value on the way."""
    headers = [("Authorization", value) for value in values]

    response = await api.client.get(BASE + "/wallet/me", headers=headers)

    assert_problem(response, 401, "unauthorized")


async def _asgi(api: Api, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"") -> Response:
    """A request handed to the app as an ASGI server would: a repeated header stays two header fields."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": BASE + path,
        "raw_path": (BASE + path).encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    # On the client's own event loop (its portal's thread), where the app's lifespan opened the database pool.
    await anyio.to_thread.run_sync(api.client.blocking_portal.call, api.client.app, scope, receive, send)
    (start,) = [message for message in sent if message["type"] == "http.response.start"]
    content = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return Response(start["status"], headers=start["headers"], content=content)


async def test_one_authorization_header_field_through_raw_asgi_is_accepted(api: Api) -> None:
    """The control for the refusals below: `_asgi` makes requests the API answers."""
    response = await _asgi(api, "GET", "/wallet/me", [("Authorization", CLINIC_USER["Authorization"])])

    assert (response.status_code, response.json()["tenant_id"]) == (200, CLINIC)


@pytest.mark.parametrize("values", TWO_AUTHORIZATIONS.values(), ids=TWO_AUTHORIZATIONS.keys())
async def test_two_authorization_header_fields_are_refused(api: Api, values: tuple[str, str]) -> None:
    response = await _asgi(api, "GET", "/wallet/me", [("Authorization", value) for value in values])

    assert_problem(response, 401, "unauthorized")


async def test_two_authorization_header_fields_on_a_write_change_nothing(api: Api) -> None:
    headers = [
        ("Authorization", OPERATOR["Authorization"]),
        ("Authorization", bearer(ROOT, VIEW, MANAGE)["Authorization"]),
        ("Content-Type", "application/json"),
    ]
    request = await api.request_topup()
    before = await _state(api)

    response = await _asgi(api, "POST", f"/wallet/topup-requests/{request['id']}/approve", headers, b"{}")

    assert_problem(response, 401, "unauthorized")
    assert await _state(api) == before
