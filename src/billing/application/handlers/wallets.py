"""Charges, refunds and adjustments: operator (or platform-module) actions on a tenant's wallet."""

from __future__ import annotations

import attrs

from billing.application.caller import Caller
from billing.application.commands import AdjustWallet, ChargeWallet, RefundCharge
from billing.application.ports import UnitOfWork
from billing.application.runtime import Runtime
from billing.domain.errors import DuplicateError, InsufficientFundsError, NotFoundError, ValidationError
from billing.domain.ledger import EntryKind, LedgerEntry, Posting, refund_posting
from billing.domain.money import Money
from billing.domain.tenant import validate_tenant_id

MAX_REFERENCE_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 512


@attrs.frozen
class ChargeResult:
    entry: LedgerEntry
    created: bool  # False: an idempotent repeat answered with the first charge


def _reference(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_REFERENCE_LENGTH:
        raise ValidationError.of("reference_id", f"must be 1-{MAX_REFERENCE_LENGTH} characters")
    return value


def _description(value: object, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION_LENGTH or (required and not value.strip()):
        raise ValidationError.of(
            "description", f"must be {'1' if required else '0'}-{MAX_DESCRIPTION_LENGTH} characters"
        )
    return value


async def charge_wallet(cmd: ChargeWallet, caller: Caller, uow: UnitOfWork, rt: Runtime) -> ChargeResult:
    """Debit once per (tenant, reference): a repeat with the same amount returns the first row."""
    rt.auth.require_operator(caller)
    tenant_id = validate_tenant_id(cmd.tenant_id)
    amount = Money.parse(cmd.amount, rt.settings.currency)
    reference_id = _reference(cmd.reference_id)
    description = _description(cmd.description)
    posting = Posting.charge(rt.ids.new_id(), tenant_id, amount, reference_id, description, rt.clock.now())
    attempt = await uow.wallets.charge_once(posting)
    if attempt.earlier is not None:
        earlier = attempt.earlier
        if -earlier.amount != amount:
            raise DuplicateError(f"reference {reference_id!r} was already charged {-earlier.amount}, not {amount}")
        return ChargeResult(earlier, created=False)
    if attempt.entry is None:
        raise InsufficientFundsError(f"the wallet of {tenant_id} cannot cover {amount} {amount.currency}")
    uow.record(attempt.entry.to_event())
    return ChargeResult(attempt.entry, created=True)


async def refund_charge(cmd: RefundCharge, caller: Caller, uow: UnitOfWork, rt: Runtime) -> LedgerEntry:
    """The rest of the charge by default; never more than charged minus already refunded."""
    rt.auth.require_operator(caller)
    tenant_id = validate_tenant_id(cmd.tenant_id)
    reference_id = _reference(cmd.reference_id)
    currency = rt.settings.currency
    amount = None if cmd.amount is None else Money.parse(cmd.amount, currency)
    description = _description(cmd.description)
    # Locking the charge row serializes refunds of one charge.
    charge = await uow.wallets.find_charge(tenant_id, reference_id, for_update=True)
    if charge is None:
        raise NotFoundError(f"no charge with reference {reference_id!r}")
    refunded = await uow.wallets.refunded_total(tenant_id, reference_id, currency)
    posting = refund_posting(charge, refunded, amount, rt.ids.new_id(), rt.clock.now(), description)
    entry = await uow.wallets.post(posting)
    uow.record(entry.to_event())
    return entry


async def adjust_wallet(cmd: AdjustWallet, caller: Caller, uow: UnitOfWork, rt: Runtime) -> LedgerEntry:
    """An operator's correction, either sign; it may not take the balance below zero."""
    rt.auth.require_operator(caller)
    tenant_id = validate_tenant_id(cmd.tenant_id)
    amount = Money.parse(cmd.amount, rt.settings.currency, allow_negative=True)
    description = _description(cmd.description, required=True)
    reference_id = None if cmd.reference_id is None else _reference(cmd.reference_id)
    now = rt.clock.now()
    await uow.wallets.get_or_open(tenant_id, amount.currency, now)
    posting = Posting(rt.ids.new_id(), tenant_id, EntryKind.ADJUSTMENT, amount, reference_id, description, now)
    entry = await uow.wallets.post(posting)
    uow.record(entry.to_event())
    return entry
