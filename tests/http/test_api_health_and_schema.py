"""Health, readiness and the OpenAPI document."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from api_support import Api
from litestar.testing import AsyncTestClient

OPERATION_IDS = {
    "get_my_wallet",
    "list_my_transactions",
    "request_topup",
    "list_my_topup_requests",
    "get_topup_request",
    "cancel_topup_request",
    "list_topup_requests",
    "approve_topup_request",
    "reject_topup_request",
    "list_invoices",
    "get_invoice",
    "mark_invoice_paid",
    "void_invoice",
    "get_tenant_wallet",
    "list_tenant_transactions",
    "charge_wallet",
    "refund_charge",
    "get_billing_contact",
    "set_billing_contact",
    "create_rate_card",
    "list_rate_cards",
    "get_current_rate_card",
    "get_rate_card",
    "quote_messages",
    "place_hold",
    "place_holds",
    "settle_hold",
    "void_hold",
    "list_tenant_holds",
    "list_my_holds",
    "get_hold",
    "freeze_wallet",
    "unfreeze_wallet",
    "get_wallet_settings",
    "set_wallet_settings",
    "list_my_alerts",
    "list_alerts",
    "get_my_statement",
    "get_tenant_statement",
    "verify_whatsapp_webhook",
    "receive_whatsapp_statuses",
    "map_whatsapp_number",
    "list_whatsapp_numbers",
    "unmap_whatsapp_number",
    "list_webhook_events",
    "reverse_payment",
    "create_adjustment",
    "list_adjustments",
    "approve_adjustment",
    "reject_adjustment",
    "list_audit",
    "list_my_audit",
    "margin_report",
    "margin_report_csv",
    "health",
    "ready",
}


async def test_health_needs_no_token(api: Api) -> None:
    response = await api.client.get("/health")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_ready_when_the_store_answers(api: Api) -> None:
    response = await api.client.get("/ready")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def _schema(api: Api) -> dict[str, Any]:
    response = await api.client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


async def test_every_route_has_an_explicit_operation_id(api: Api) -> None:
    schema = await _schema(api)

    operations = [op for path in schema["paths"].values() for op in path.values() if isinstance(op, dict)]
    assert {op["operationId"] for op in operations} == OPERATION_IDS


async def test_the_schema_lists_problem_responses(api: Api) -> None:
    schema = await _schema(api)

    charge = schema["paths"]["/api/v1/billing/wallets/{tenant_id}/charges"]["post"]
    assert {"201", "400", "401", "403", "409", "413", "422", "500"} <= charge["responses"].keys()
    problem = charge["responses"]["409"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}
    assert {"type", "title", "status", "detail", "code"} <= set(schema["components"]["schemas"]["Problem"]["required"])


async def test_the_schema_documents_the_bearer_token(api: Api) -> None:
    schema = await _schema(api)

    assert schema["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    assert schema["paths"]["/api/v1/billing/wallet/me"]["get"]["security"] == [{"BearerToken": []}]


OPERATIONS = Path(__file__).with_name("openapi_operations.json")


async def test_the_openapi_paths_and_operation_ids_are_those_of_v1(client: AsyncTestClient[Any]) -> None:
    """Refactors keep the contract: every v1 path, method and operation id is still there, unchanged.

    v2 adds operations; the file lists what must never move (regenerate it only for a new contract)."""
    document = (await client.get("/schema/openapi.json")).json()
    served = {
        f"{method.upper()} {path}": operation["operationId"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }
    expected = json.loads(OPERATIONS.read_text())

    assert {key: served.get(key) for key in expected} == expected


FREEZE = Path(__file__).with_name("openapi_freeze.py")


def test_the_openapi_document_is_the_frozen_one() -> None:
    """Refactors keep the whole contract, not just its operation ids: the document a fresh process serves is byte for
    byte the frozen one (a fresh process, because Litestar names the schemas of later apps differently)."""
    served = subprocess.run([sys.executable, str(FREEZE)], capture_output=True, text=True, check=True).stdout

    assert served == FREEZE.with_name("openapi_document.json").read_text(), (
        "the OpenAPI document changed; if intended, run `.venv/bin/python tests/http/openapi_freeze.py --write`"
    )
