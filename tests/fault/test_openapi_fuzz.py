"""schemathesis against the app's own OpenAPI document (`/schema/openapi.json`), in-process over ASGI,
on PostgreSQL: as the operator and as a clinic (valid tokens), with schema-valid and schema-invalid
data, and with random ids as well as the ids of seeded resources in every state. No answer is a 5xx,
and every answer conforms to the schema (status code, content type, headers and body).

The cases come from schemathesis' Hypothesis strategies, one bounded run per operation (its pytest
plugin's lazy `from_fixture` loader does not run on this pytest).
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import attrs
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.core import NOT_SET

from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.service import BillingSession
from billing.config import JwtSettings, Settings, WhatsAppSettings
from billing.container import close, postgres_container
from billing.entrypoints.http.app import create_app

from .support import BASE, CLINIC, CLINIC_USER, OPERATOR, ROOT, SECRET

pytestmark = pytest.mark.postgres

EXAMPLES_PER_OPERATION = 25
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]


@attrs.frozen
class Seeded:
    """Ids of resources in every state, to aim generated requests at."""

    requests: tuple[str, ...]
    invoices: tuple[str, ...]
    holds: tuple[str, ...]
    adjustments: tuple[str, ...] = ()
    tenants: tuple[str, ...] = (CLINIC, ROOT, "clinic-b")

    def path_choices(self, operation: Any) -> list[dict[str, str]]:
        names = {parameter.name for parameter in operation.path_parameters}
        pools = {
            "request_id": self.requests,
            "invoice_id": self.invoices,
            "hold_id": self.holds,
            "adjustment_id": self.adjustments,
            "tenant_id": self.tenants,
        }
        chosen = [[(name, value) for value in pools[name]] for name in sorted(names) if name in pools]
        return [dict(combination) for combination in itertools.product(*chosen)] if chosen else []


async def _seed(database_url: str) -> Seeded:
    """A clinic with a request in every state, invoices issued, paid and void, charges and a refund, and holds
    open, settled and voided on a card that prices every country."""
    container = postgres_container(Settings(database_url=database_url, jwt=JwtSettings(secret=SECRET)))
    billing = container.service()
    clinic = billing.acting_as(Caller("clinic-user", CLINIC, {VIEW}, "owner@clinic-a.test"))
    operator = billing.acting_as(Caller("operator-1", ROOT, {VIEW, MANAGE}))
    try:
        paid = await operator.approve_topup((await clinic.request_topup("500.00", note="seed")).id)
        assert paid.invoice_id is not None
        await operator.mark_invoice_paid(paid.invoice_id, "bank-seed")
        issued = await operator.approve_topup((await clinic.request_topup("75.50")).id)
        voided = await operator.approve_topup((await clinic.request_topup("20.00")).id)
        assert voided.invoice_id is not None
        await operator.void_invoice(voided.invoice_id, "issued by mistake")
        rejected = await operator.reject_topup((await clinic.request_topup("30.00")).id, "not now")
        cancelled = await clinic.cancel_topup((await clinic.request_topup("40.00")).id)
        pending = await clinic.request_topup("60.00")
        await operator.charge(CLINIC, "1.25", "wamid.seed-1", "WhatsApp message")
        await operator.charge(CLINIC, "0.05", "wamid.seed-2")
        await operator.refund(CLINIC, "wamid.seed-1", "0.25")
        holds = await _seed_holds(billing.as_platform("messaging"))
        applied = await operator.adjust(CLINIC, "1.00", "seed", reference_id="seed-adjustment")
        requests = (pending, issued, paid, rejected, cancelled, voided)
        return Seeded(
            requests=tuple(str(r.id) for r in requests),
            invoices=tuple(str(r.invoice_id) for r in (issued, paid, voided)),
            holds=holds,
            adjustments=(str(applied.id),),
        )
    finally:
        await close(container)


async def _seed_holds(messaging: BillingSession) -> tuple[str, ...]:
    rates = [{"market": "Rest", "category": c, "unit_price": "0.0125"} for c in ("utility", "marketing")]
    await messaging.create_rate_card("Seed", datetime.now(UTC) - timedelta(days=1), {"*": "Rest"}, rates)
    placed = [await messaging.hold(CLINIC, f"wamid.hold-{n}", "utility", "+14155552671") for n in range(3)]
    await messaging.settle(CLINIC, "wamid.hold-1", "utility")
    await messaging.void(CLINIC, "wamid.hold-2")
    return tuple(str(result.hold.id) for result in placed)


@pytest.fixture
def api(database_url: str) -> tuple[Any, Seeded]:
    seeded = asyncio.run(_seed(database_url))
    # The webhook configured: unset, its routes answer the contract's 503, which the fuzzer counts as a failure.
    whatsapp = WhatsAppSettings(app_secret="fuzz-secret", verify_token="fuzz-token")
    settings = Settings(database_url=database_url, jwt=JwtSettings(secret=SECRET), whatsapp=whatsapp)
    app = create_app(postgres_container(settings), deliver_email=False)
    # schemathesis runs the app (and its lifespan) on its own event loop; its pytest plugin ends the
    # lifespan, which disposes the container's engine, when the test ends.
    return schemathesis.openapi.from_asgi("/schema/openapi.json", app), seeded


def _fuzz(operation: Any, cases: st.SearchStrategy[Case], headers: dict[str, str]) -> None:
    checks = [getattr(schemathesis.checks, name) for name in CHECKS]

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,  # the same cases on every run: CI never fails by the luck of the draw
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def run(case: Case) -> None:
        case.call_and_validate(headers=headers, checks=checks)

    run()


@pytest.mark.parametrize("who", ["operator", "clinic"])
def test_no_request_is_a_server_error_and_every_answer_conforms_to_the_schema(
    api: tuple[Any, Seeded], who: str
) -> None:
    schema, seeded = api
    headers = OPERATOR if who == "operator" else CLINIC_USER
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        strategies = [operation.as_strategy(mode, headers=headers) for mode in GenerationMode]
        strategies += [
            operation.as_strategy(GenerationMode.POSITIVE, headers=headers, path_parameters=path)
            for path in seeded.path_choices(operation)
        ]
        try:
            _fuzz(operation, st.one_of(strategies), headers)
        # Every operation runs; all their failures are reported together (schemathesis raises a group).
        except (Exception, BaseExceptionGroup) as failure:
            failures[operation.label] = f"{type(failure).__name__}: {failure}"
    assert failures == {}, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())


@attrs.frozen
class SchemaClient:
    """Explicit requests through schemathesis, each answer validated against the schema."""

    schema: Any

    def __call__(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        expect: int,
        body: Any = NOT_SET,
        path_parameters: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> Any:
        template = path if path in ("/health", "/ready") else BASE + path
        case = self.schema[template][method].Case(
            headers=headers,
            path_parameters=path_parameters,
            query=query,
            body=body,
            media_type=None if body is NOT_SET else "application/json",
        )
        response = case.call_and_validate(headers=headers, checks=[getattr(schemathesis.checks, c) for c in CHECKS])
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response.json()


def test_every_kind_of_answer_along_the_lifecycle_conforms_to_the_schema(api: tuple[Any, Seeded]) -> None:
    """Random data seldom gets past validation: walk the lifecycle (and its usual refusals) on purpose,
    so that every success body, list page and problem is checked against the schema as well."""
    call = SchemaClient(api[0])
    clinic, operator = CLINIC_USER, OPERATOR
    due = (date.today() + timedelta(days=30)).isoformat()

    paid = call("POST", "/wallet/topup-requests", clinic, 201, {"amount": "150.00", "note": "March"})
    voided = call("POST", "/wallet/topup-requests", clinic, 201, {"amount": 20})
    rejected = call("POST", "/wallet/topup-requests", clinic, 201, {"amount": 30.5})
    cancelled = call("POST", "/wallet/topup-requests", clinic, 201, {"amount": "40"})
    one = {"request_id": paid["id"]}
    approved = call(
        "POST", "/wallet/topup-requests/{request_id}/approve", operator, 200, {"note": "ok", "due_date": due}, one
    )
    call("POST", "/wallet/topup-requests/{request_id}/approve", operator, 409, {}, one)
    invoice = {"invoice_id": approved["invoice_id"]}
    call(
        "POST",
        "/invoices/{invoice_id}/mark-paid",
        operator,
        200,
        {"payment_reference": "bank-1", "paid_at": datetime.now(UTC).isoformat()},
        invoice,
    )
    call("POST", "/invoices/{invoice_id}/mark-paid", operator, 409, {"payment_reference": "bank-1"}, invoice)
    to_void = call(
        "POST", "/wallet/topup-requests/{request_id}/approve", operator, 200, {}, {"request_id": voided["id"]}
    )
    call(
        "POST",
        "/invoices/{invoice_id}/void",
        operator,
        200,
        {"reason": "mistake"},
        {"invoice_id": to_void["invoice_id"]},
    )
    call(
        "POST",
        "/wallet/topup-requests/{request_id}/reject",
        operator,
        200,
        {"reason": "no"},
        {"request_id": rejected["id"]},
    )
    call("POST", "/wallet/topup-requests/{request_id}/cancel", clinic, 200, NOT_SET, {"request_id": cancelled["id"]})
    call("POST", "/wallet/topup-requests/{request_id}/cancel", clinic, 409, NOT_SET, {"request_id": cancelled["id"]})

    wallet = {"tenant_id": CLINIC}
    charge = {"amount": "1.25", "reference_id": "wamid.conform", "description": "WhatsApp message"}
    call("POST", "/wallets/{tenant_id}/charges", operator, 201, charge, wallet)
    call("POST", "/wallets/{tenant_id}/charges", operator, 200, charge, wallet)
    call("POST", "/wallets/{tenant_id}/charges", operator, 409, {**charge, "amount": "2.00"}, wallet)
    call(
        "POST",
        "/wallets/{tenant_id}/charges",
        operator,
        409,
        {**charge, "amount": "99999", "reference_id": "big"},
        wallet,
    )
    call(
        "POST",
        "/wallets/{tenant_id}/refunds",
        operator,
        201,
        {"reference_id": "wamid.conform", "amount": "0.25"},
        wallet,
    )
    call("POST", "/wallets/{tenant_id}/refunds", operator, 201, {"reference_id": "wamid.conform"}, wallet)
    call("POST", "/wallets/{tenant_id}/refunds", operator, 409, {"reference_id": "wamid.conform"}, wallet)
    call("POST", "/wallets/{tenant_id}/refunds", operator, 404, {"reference_id": "nothing"}, wallet)
    call("POST", "/wallets/{tenant_id}/charges", clinic, 403, charge, wallet)
    call("PUT", "/contact", clinic, 403, {"email": "billing@clinic-a.test"})
    call(
        "PUT", "/contact", operator, 200, {"email": "billing@clinic-a.test", "name": "Ana"}, query={"tenant_id": CLINIC}
    )

    for headers in (clinic, operator):
        call("GET", "/wallet/me", headers, 200)
        call("GET", "/wallet/me/transactions", headers, 200, query={"page": "1", "page_size": "5"})
        call("GET", "/wallet/topup-requests/me", headers, 200, query={"status": "completed"})
        call("GET", "/wallet/topup-requests", headers, 200)
        call("GET", "/wallet/topup-requests/{request_id}", headers, 200, path_parameters=one)
        call("GET", "/invoices", headers, 200, query={"purpose": "topup"})
        call("GET", "/invoices/{invoice_id}", headers, 200, path_parameters=invoice)
        call("GET", "/invoices/{invoice_id}", headers, 404, path_parameters={"invoice_id": str(uuid4())})
        call("GET", "/contact", headers, 200, query={"tenant_id": CLINIC} if headers is operator else None)
    call("GET", "/wallets/{tenant_id}", operator, 200, path_parameters=wallet)
    # A page past what a 64-bit OFFSET can reach is a 400 (it was a 500 from the database).
    call("GET", "/wallet/me/transactions", clinic, 400, query={"page": str(10**21)})
    call("GET", "/wallets/{tenant_id}/transactions", operator, 200, path_parameters=wallet)
    call("GET", "/wallets/{tenant_id}", clinic, 403, path_parameters={"tenant_id": "clinic-b"})
    call("GET", "/wallet/me", {}, 401)
    call("GET", "/health", {}, 200)
    call("GET", "/ready", {}, 200)


# Hostile values in every body field (the adversarial review's classes) ------------------------------

HOSTILE_TEXT = (
    "a\x00b",  # PostgreSQL cannot store NUL
    "\ud800",  # a lone surrogate cannot be encoded as UTF-8
    "line\u2028separator",
    "x@clinic-a.test\r\nBcc: y@evil.example",
    "\x1b[31mred",
    "\ufeffbom",
    "x" * 10_000,
)
HOSTILE_TIMES = (
    "0001-01-01T00:00:00+00:01",  # year 0 in UTC
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-23:59",  # year 10000 in UTC
    "9999-12-31T23:59:59.999999Z",
    "1970-01-01T00:00:00Z",
    "2026-11-29T12:00:00",  # no offset
)
HOSTILE_DATES = ("0001-01-01", "9999-12-31", "2026-02-30")
HOSTILE_AMOUNTS = ("0.00001", "-1", "1e400", "999999999999999999999", "NaN", 1e308)


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


DEEP = _nested(900)  # as deep as the JSON encoder of the client goes; deeper bodies are in tests/http


def _body_properties(raw: dict[str, Any], path: str, method: str) -> dict[str, dict[str, Any]]:
    """The JSON body's properties of one operation, from the OpenAPI document itself."""
    content = raw["paths"][path][method].get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = raw["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    properties: dict[str, dict[str, Any]] = schema.get("properties", {})
    return properties


def _hostile_values(prop: dict[str, Any]) -> tuple[Any, ...]:
    kinds = {option.get("type") for option in prop.get("oneOf", prop.get("anyOf", [prop]))}
    formats = {option.get("format") for option in prop.get("oneOf", prop.get("anyOf", [prop]))}
    if "date-time" in formats:
        return HOSTILE_TIMES
    if "date" in formats:
        return HOSTILE_DATES
    if "number" in kinds:
        return HOSTILE_AMOUNTS
    return HOSTILE_TEXT


def test_hostile_values_in_every_body_field_are_never_a_server_error_and_leave_the_ledger_sound(
    api: tuple[Any, Seeded], database_url: str
) -> None:
    """NUL, surrogates, separators, header injection, extreme dates and amounts, deep nesting: in every
    field of every body, on seeded resources in every state; then `billing audit` finds no drift."""
    from billing.adapters.sqlalchemy.audit import audit_wallets
    from billing.adapters.sqlalchemy.engine import create_engine

    schema, seeded = api
    raw = schema.raw_schema
    checks = [getattr(schemathesis.checks, name) for name in CHECKS]
    tried, failures = 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        properties = _body_properties(raw, operation.path, operation.method.lower())
        if not properties:
            continue
        headers = CLINIC_USER if operation.path.endswith(("/topup-requests", "/cancel")) else OPERATOR
        valid = {
            "amount": "10.00",
            "reference_id": "wamid.seed-1",
            "payment_reference": "bank-x",
            "reason": "why",
            "email": "billing@clinic-a.test",
            "message_id": "wamid.hold-0",
            "category": "utility",
            "recipient": "+14155552671",
            "marketing_reserve": "1.00",
        }
        for path in seeded.path_choices(operation)[:6] or [{}]:
            bodies: list[Any] = [DEEP, {"amount": "10.00", "x": DEEP}]
            for name, prop in properties.items():
                base = {key: valid[key] for key in properties if key in valid}
                bodies += [{**base, name: value} for value in _hostile_values(prop)]
            for body in bodies:
                tried += 1
                case = operation.Case(
                    headers=headers, path_parameters=path or None, body=body, media_type="application/json"
                )
                try:
                    case.call_and_validate(headers=headers, checks=checks)
                except (Exception, BaseExceptionGroup) as failure:
                    failures.append(f"{operation.label} {path} {str(body)[:120]!r}: {failure}")
    assert tried > 250  # every field of every body, each on several seeded resources
    assert failures == [], "\n".join(failures[:20])

    async def drifting() -> list[str]:
        engine = create_engine(database_url)
        try:
            return await audit_wallets(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(drifting()) == []
