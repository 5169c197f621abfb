"""Adjustments (contract v3 §19): an operator's correction of a wallet, either sign, applied at once or, with
`BILLING_FOUR_EYES=true`, proposed and then approved (or rejected) by another operator. Funds are checked when it
is applied; a repeat of its `reference_id` with the same amount answers the first."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import attrs

from billing.application.caller import Caller
from billing.application.pagination import Page, PageRequest
from billing.application.ports import UnitOfWork
from billing.application.protections import movement_after, protect
from billing.application.runtime import Audited, Runtime, operator, requires, root_viewer
from billing.domain.adjustment import Adjustment, AdjustmentStatus, validate_reference
from billing.domain.errors import DuplicateError, NotFoundError
from billing.domain.ledger import describe
from billing.domain.money import Money, Scale
from billing.domain.tenant import validate_tenant_id


@attrs.frozen
class AdjustWallet:
    tenant_id: str
    amount: Money  # either sign, never zero
    reason: str
    reference_id: str | None = None  # required over HTTP; in-process without one, it is never a repeat


@attrs.frozen
class ApproveAdjustment:
    adjustment_id: UUID


@attrs.frozen
class RejectAdjustment:
    adjustment_id: UUID
    reason: str


@attrs.frozen
class ListAdjustments:
    tenant_id: str
    status: AdjustmentStatus | None = None
    page: PageRequest = attrs.field(factory=PageRequest)


@attrs.frozen
class AdjustmentResult:
    adjustment: Adjustment
    created: bool  # False: its reference's first adjustment, answered again


def _if_created(cmd: Any, result: AdjustmentResult) -> tuple[str | None, str] | None:
    return (result.adjustment.tenant_id, str(result.adjustment.id)) if result.created else None


@requires(operator, audit=Audited("adjustment", "adjust", _if_created))
async def adjust_wallet(cmd: AdjustWallet, caller: Caller, uow: UnitOfWork, rt: Runtime) -> AdjustmentResult:
    tenant_id = validate_tenant_id(cmd.tenant_id)
    amount = cmd.amount.checked(rt.settings.currency, allow_negative=True, scale=Scale.MESSAGE)
    reference_id = None if cmd.reference_id is None else validate_reference(cmd.reference_id)
    if reference_id is not None:
        earlier = await uow.adjustments.find_by_reference(tenant_id, reference_id)
        if earlier is not None:
            if not earlier.same_as(amount):
                raise DuplicateError(f"reference {reference_id!r} was already an adjustment of {earlier.amount}")
            return AdjustmentResult(earlier, created=False)
    adjustment = Adjustment.propose(
        rt.ids.new_id(), tenant_id, amount, cmd.reason, reference_id, caller.user_id, rt.clock.now()
    )
    if not rt.settings.four_eyes:
        await _apply(adjustment, caller, uow, rt)  # insufficient funds: nothing is created
    await uow.adjustments.add(adjustment)
    return AdjustmentResult(adjustment, created=True)


@requires(operator, audit=Audited("adjustment", "approve_adjustment"))
async def approve_adjustment(cmd: ApproveAdjustment, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Adjustment:
    """Another operator than its proposer applies it; when `available` cannot cover it, it stays proposed."""
    adjustment = await _adjustment(uow, cmd.adjustment_id, for_update=False)
    adjustment.check_approver(caller.user_id, four_eyes=rt.settings.four_eyes)
    await uow.wallets.lock(adjustment.tenant_id)  # the lock order: the wallet's row before the tenant's others
    adjustment = await _adjustment(uow, cmd.adjustment_id, for_update=True)
    adjustment.check_approver(caller.user_id, four_eyes=rt.settings.four_eyes)  # decided meanwhile?
    await _apply(adjustment, caller, uow, rt)
    await uow.adjustments.save(adjustment)
    return adjustment


@requires(operator, audit=Audited("adjustment", "reject_adjustment"))
async def reject_adjustment(cmd: RejectAdjustment, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Adjustment:
    adjustment = await _adjustment(uow, cmd.adjustment_id, for_update=True)
    adjustment.reject(caller.user_id, cmd.reason, rt.clock.now())
    await uow.adjustments.save(adjustment)
    return adjustment


@requires(root_viewer)
async def list_adjustments(cmd: ListAdjustments, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Page[Adjustment]:
    return await uow.adjustments.list(validate_tenant_id(cmd.tenant_id), cmd.status, cmd.page)


async def _adjustment(uow: UnitOfWork, adjustment_id: UUID, *, for_update: bool) -> Adjustment:
    adjustment = await uow.adjustments.get(adjustment_id, for_update=for_update)
    if adjustment is None:
        raise NotFoundError("adjustment not found")
    return adjustment


async def _apply(adjustment: Adjustment, caller: Caller, uow: UnitOfWork, rt: Runtime) -> None:
    """Its ledger row, under the wallet's lock: a credit repays debt first; a debit answers to the protections."""
    now = rt.clock.now()
    tenant_id = adjustment.tenant_id
    await uow.wallets.get_or_open(tenant_id, adjustment.amount.currency, now)
    wallet = await uow.wallets.lock(tenant_id)
    assert wallet is not None
    entry = await uow.wallets.post(adjustment.posting(rt.ids.new_id(), now))  # InsufficientFundsError: nothing
    adjustment.applied(caller.user_id, entry.id, now)
    if adjustment.amount.is_positive:
        reference = adjustment.reference_id or str(adjustment.id)
        description = describe(f"Debt repaid from adjustment {reference}: {adjustment.reason}")
        await uow.wallets.repay_debt(tenant_id, rt.ids.new_id(), reference, description, now)
    else:
        await protect(await movement_after(tenant_id, wallet.available, adjustment.amount, uow), uow, rt)
