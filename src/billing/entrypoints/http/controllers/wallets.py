"""Operators on any tenant's wallet: read it, charge it, refund a charge, freeze and unfreeze it."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody

from billing.application import inputs, queries
from billing.application.caller import Caller
from billing.application.handlers import wallets
from billing.application.handlers.wallets import ChargeResult, ChargeWallet, FreezeWallet, RefundCharge, UnfreezeWallet
from billing.application.pagination import PageRequest
from billing.application.service import BillingService
from billing.domain.money import Scale
from billing.entrypoints.http.body import JsonBody
from billing.entrypoints.http.controllers.params import JSON, rendered, sees_costs
from billing.entrypoints.http.idempotency import Idempotency
from billing.entrypoints.http.problems import Rendered, problem_responses
from billing.entrypoints.http.schemas import (
    ChargeCreate,
    RefundCreate,
    TransactionOut,
    TransactionPage,
    WalletOut,
    encode,
    transaction_for_root,
)
from billing.entrypoints.json_body import Body, amount_text


class WalletFreeze(Body):
    reason: str


def _charged(result: ChargeResult) -> Rendered:
    """201 for a new charge; 200 with the original row for a repeat of the same reference and amount."""
    return Rendered(201 if result.created else 200, encode(TransactionOut.of(result.entry)), JSON)


class WalletsController(Controller):
    path = "/wallets"
    tags = ["wallets (operator)"]

    @get("/{tenant_id:str}", operation_id="get_tenant_wallet", responses=problem_responses("forbidden"))
    async def get_tenant_wallet(
        self, service: NamedDependency[BillingService], caller: NamedDependency[Caller], tenant_id: FromPath[str]
    ) -> WalletOut:
        """Any tenant's wallet, for the root tenant."""
        wallet = await service.execute(queries.get_wallet, queries.GetWallet(tenant_id), caller)
        return WalletOut.of(wallet)

    @get(
        "/{tenant_id:str}/transactions",
        operation_id="list_tenant_transactions",
        responses=problem_responses("forbidden"),
    )
    async def list_tenant_transactions(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        tenant_id: FromPath[str],
        page_request: NamedDependency[PageRequest],
    ) -> TransactionPage:
        """Any tenant's ledger, newest first, for the root tenant."""
        query = queries.ListTransactions(tenant_id, page_request)
        page = await service.execute(queries.list_transactions, query, caller)
        items = [TransactionOut.of(e, costs=sees_costs(service, caller)) for e in page.items]
        return TransactionPage(items=items, page=page.page, page_size=page.page_size, total=page.total)

    @post(
        "/{tenant_id:str}/charges",
        operation_id="charge_wallet",
        status_code=201,
        dto=JsonBody[ChargeCreate],
        return_dto=None,
        responses={
            200: ResponseSpec(TransactionOut, description="A repeat of the same reference and amount: the first row"),
            **problem_responses(
                "forbidden", "insufficient_funds", "duplicate", "wallet_frozen", "wallet_in_debt", write=True
            ),
        },
    )
    async def charge_wallet(
        self,
        data: JSONBody[ChargeCreate],
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        tenant_id: FromPath[str],
    ) -> Response[TransactionOut]:
        """Debit a wallet once per reference: a repeat with the same amount answers 200 with the first row."""
        currency = service.runtime.settings.currency
        amount = inputs.money(amount_text(data.amount), currency, scale=Scale.MESSAGE)
        cmd = ChargeWallet(tenant_id, amount, data.reference_id, data.description)
        return await idempotency.run(wallets.charge_wallet, cmd, caller, _charged)

    @post(
        "/{tenant_id:str}/refunds",
        operation_id="refund_charge",
        status_code=201,
        dto=JsonBody[RefundCreate],
        return_dto=None,
        responses=problem_responses("forbidden", "not_found", "invalid_state", write=True),
    )
    async def refund_charge(
        self,
        data: JSONBody[RefundCreate],
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        tenant_id: FromPath[str],
    ) -> Response[TransactionOut]:
        """Credit back a charge: the rest of it by default, never more than was charged."""
        given = amount_text(data.amount)
        currency = service.runtime.settings.currency
        amount = None if given is None else inputs.money(given, currency, scale=Scale.MESSAGE)
        cmd = RefundCharge(tenant_id, data.reference_id, amount, data.description)
        return await idempotency.run(wallets.refund_charge, cmd, caller, rendered(201, transaction_for_root))

    @post(
        "/{tenant_id:str}/freeze",
        operation_id="freeze_wallet",
        status_code=200,
        dto=JsonBody[WalletFreeze],
        return_dto=None,
        responses=problem_responses("forbidden", write=True),
    )
    async def freeze_wallet(
        self,
        data: JSONBody[WalletFreeze],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        tenant_id: FromPath[str],
    ) -> Response[WalletOut]:
        """No new holds or direct charges until unfrozen (409 wallet_frozen); settles, voids, top-ups and refunds
        go on. Freezing a frozen wallet replaces its reason (1-512 characters)."""
        cmd = FreezeWallet(tenant_id, data.reason)
        return await idempotency.run(wallets.freeze_wallet, cmd, caller, rendered(200, WalletOut.of))

    @post(
        "/{tenant_id:str}/unfreeze",
        operation_id="unfreeze_wallet",
        status_code=200,
        responses=problem_responses("forbidden", write=True),
    )
    async def unfreeze_wallet(
        self, caller: NamedDependency[Caller], idempotency: NamedDependency[Idempotency], tenant_id: FromPath[str]
    ) -> Response[WalletOut]:
        """Back to active; unfreezing an active wallet changes nothing."""
        cmd = UnfreezeWallet(tenant_id)
        return await idempotency.run(wallets.unfreeze_wallet, cmd, caller, rendered(200, WalletOut.of))
