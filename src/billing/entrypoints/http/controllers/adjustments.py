"""Adjustments (contract v3 §19): operators propose a correction of a wallet; with four eyes another approves it."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody

from billing.application import inputs
from billing.application.caller import Caller
from billing.application.handlers import adjustments
from billing.application.handlers.adjustments import (
    AdjustmentResult,
    AdjustWallet,
    ApproveAdjustment,
    ListAdjustments,
    RejectAdjustment,
)
from billing.application.pagination import PageRequest
from billing.application.service import BillingService
from billing.domain.adjustment import AdjustmentStatus
from billing.domain.money import Scale
from billing.entrypoints.http.body import JsonBody
from billing.entrypoints.http.controllers.params import JSON, parse_id, rendered
from billing.entrypoints.http.idempotency import Idempotency
from billing.entrypoints.http.problems import Rendered, problem_responses
from billing.entrypoints.http.schemas import (
    AdjustmentCreate,
    AdjustmentOut,
    AdjustmentPage,
    AdjustmentReject,
    encode,
)
from billing.entrypoints.json_body import amount_text

ID = "adjustment_id"


def _adjusted(result: AdjustmentResult) -> Rendered:
    """201 for a new adjustment; 200 with the first for a repeat of its reference and amount."""
    return Rendered(201 if result.created else 200, encode(AdjustmentOut.of(result.adjustment)), JSON)


class AdjustmentController(Controller):
    path = "/"
    tags = ["adjustments (operator)"]

    @post(
        "/wallets/{tenant_id:str}/adjustments",
        operation_id="create_adjustment",
        status_code=201,
        dto=JsonBody[AdjustmentCreate],
        return_dto=None,
        responses={
            200: ResponseSpec(AdjustmentOut, description="A repeat of the same reference and amount: the first"),
            **problem_responses("forbidden", "insufficient_funds", "duplicate", write=True),
        },
    )
    async def create_adjustment(
        self,
        data: JSONBody[AdjustmentCreate],
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        tenant_id: FromPath[str],
    ) -> Response[AdjustmentOut]:
        """Applied at once, or `proposed` when BILLING_FOUR_EYES=true (another operator then approves it). Funds
        are checked when it is applied: a debit `available` cannot cover is a 409 insufficient_funds."""
        currency = service.runtime.settings.currency
        raw = amount_text(data.amount)
        amount = inputs.money(raw, currency, allow_negative=True, scale=Scale.MESSAGE)
        cmd = AdjustWallet(tenant_id, amount, data.reason, data.reference_id)
        return await idempotency.run(adjustments.adjust_wallet, cmd, caller, _adjusted)

    @get(
        "/wallets/{tenant_id:str}/adjustments",
        operation_id="list_adjustments",
        responses=problem_responses("forbidden"),
    )
    async def list_adjustments(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        page_request: NamedDependency[PageRequest],
        tenant_id: FromPath[str],
        status: FromQuery[AdjustmentStatus | None] = None,
    ) -> AdjustmentPage:
        """A tenant's adjustments, newest first (v1's adjustment rows among them, as applied)."""
        page = await service.execute(
            adjustments.list_adjustments, ListAdjustments(tenant_id, status, page_request), caller
        )
        items = [AdjustmentOut.of(a) for a in page.items]
        return AdjustmentPage(items=items, page=page.page, page_size=page.page_size, total=page.total)

    @post(
        "/adjustments/{adjustment_id:str}/approve",
        operation_id="approve_adjustment",
        status_code=200,
        responses=problem_responses("forbidden", "not_found", "invalid_state", "insufficient_funds", write=True),
    )
    async def approve_adjustment(
        self,
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        adjustment_id: FromPath[str],
    ) -> Response[AdjustmentOut]:
        """Another operator than its proposer applies a proposed adjustment (the proposer: 403)."""
        cmd = ApproveAdjustment(parse_id(adjustment_id, ID))
        return await idempotency.run(adjustments.approve_adjustment, cmd, caller, rendered(200, AdjustmentOut.of))

    @post(
        "/adjustments/{adjustment_id:str}/reject",
        operation_id="reject_adjustment",
        status_code=200,
        dto=JsonBody[AdjustmentReject],
        return_dto=None,
        responses=problem_responses("forbidden", "not_found", "invalid_state", write=True),
    )
    async def reject_adjustment(
        self,
        data: JSONBody[AdjustmentReject],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        adjustment_id: FromPath[str],
    ) -> Response[AdjustmentOut]:
        """A proposed adjustment is not applied (reason: 1-512 characters)."""
        cmd = RejectAdjustment(parse_id(adjustment_id, ID), data.reason)
        return await idempotency.run(adjustments.reject_adjustment, cmd, caller, rendered(200, AdjustmentOut.of))
