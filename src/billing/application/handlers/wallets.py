"""Charges, refunds, freezes: operator (or platform-module) actions on a tenant's wallet."""

from __future__ import annotations

import attrs

from billing.application.caller import Caller
from billing.application.ports import ConcurrencyConflictError, UnitOfWork
from billing.application.protections import protect, with_runway
from billing.application.runtime import Audited, Runtime, operator, requires
from billing.domain.errors import DuplicateError, InsufficientFundsError, NotFoundError
from billing.domain.ledger import LedgerEntry, Posting, describe, refund_posting
from billing.domain.margins import MarginLine
from billing.domain.money import Money, Scale
from billing.domain.tenant import validate_tenant_id
from billing.domain.text import validate_text
from billing.domain.wallet import Wallet

MAX_REFERENCE_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 512


@attrs.frozen
class ChargeResult:
    entry: LedgerEntry
    created: bool  # False: an idempotent repeat answered with the first charge


@attrs.frozen
class ChargeWallet:
    tenant_id: str
    amount: Money
    reference_id: str
    description: str | None = None


@attrs.frozen
class RefundCharge:
    tenant_id: str
    reference_id: str
    amount: Money | None = None  # None: the rest of the charge
    description: str | None = None


def _reference(value: object) -> str:
    reference = validate_text(value, field="reference_id", max_length=MAX_REFERENCE_LENGTH, required=True)
    assert reference is not None
    return reference


def _description(value: object, *, required: bool = False) -> str | None:
    return validate_text(
        value, field="description", max_length=MAX_DESCRIPTION_LENGTH, required=required, multiline=True
    )


@requires(operator)
async def charge_wallet(cmd: ChargeWallet, caller: Caller, uow: UnitOfWork, rt: Runtime) -> ChargeResult:
    """Debit once per (tenant, reference): a repeat with the same amount returns the first row."""
    tenant_id = validate_tenant_id(cmd.tenant_id)
    amount = cmd.amount.checked(rt.settings.currency, scale=Scale.MESSAGE)
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
        await _explain_refused_charge(tenant_id, amount, reference_id, uow)
    assert attempt.entry is not None
    await protect(attempt.movement, uow, rt)
    return ChargeResult(attempt.entry, created=True)


async def _explain_refused_charge(tenant_id: str, amount: Money, reference_id: str, uow: UnitOfWork) -> None:
    """The charge was refused in its one step: raise the rule's error (a held message's id, a freeze, funds);
    ConcurrencyConflictError when none refuses it any more (the wallet changed meanwhile: run again)."""
    if await uow.holds.find(tenant_id, [reference_id]):
        raise DuplicateError(f"reference {reference_id!r} is a held message's id: its hold charges it")
    funds = await uow.wallets.funds(tenant_id)
    if funds is None:
        raise InsufficientFundsError(f"the wallet of {tenant_id} cannot cover {amount} {amount.currency}")
    funds.check_direct_charge(amount)
    raise ConcurrencyConflictError("no rule refuses this charge now: the wallet changed meanwhile")


@attrs.frozen
class FreezeWallet:
    tenant_id: str
    reason: str


@attrs.frozen
class UnfreezeWallet:
    tenant_id: str


def _the_wallet(cmd: object, wallet: Wallet) -> tuple[str | None, str]:
    return wallet.tenant_id, wallet.tenant_id


@requires(operator, audit=Audited("wallet", "freeze", _the_wallet))
async def freeze_wallet(cmd: FreezeWallet, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Wallet:
    """No new holds or direct charges (409 wallet_frozen) until unfrozen; settles, voids, top-ups go on."""
    tenant_id = validate_tenant_id(cmd.tenant_id)
    wallet = await _locked_wallet(tenant_id, uow, rt)
    wallet.freeze(cmd.reason, rt.clock.now())
    await uow.wallets.save_status(wallet)
    return await with_runway(wallet, uow, rt)


@requires(operator, audit=Audited("wallet", "unfreeze", _the_wallet))
async def unfreeze_wallet(cmd: UnfreezeWallet, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Wallet:
    tenant_id = validate_tenant_id(cmd.tenant_id)
    wallet = await _locked_wallet(tenant_id, uow, rt)
    wallet.unfreeze(rt.clock.now())
    await uow.wallets.save_status(wallet)
    return await with_runway(wallet, uow, rt)


async def _locked_wallet(tenant_id: str, uow: UnitOfWork, rt: Runtime) -> Wallet:
    wallet = await uow.wallets.lock(tenant_id)
    if wallet is None:
        await uow.wallets.get_or_open(tenant_id, rt.settings.currency, rt.clock.now())
        wallet = await uow.wallets.lock(tenant_id)
    assert wallet is not None
    return wallet


def _the_refund(cmd: RefundCharge, entry: LedgerEntry) -> tuple[str | None, str]:
    return entry.tenant_id, str(entry.id)


@requires(operator, audit=Audited("transaction", "refund", _the_refund))
async def refund_charge(cmd: RefundCharge, caller: Caller, uow: UnitOfWork, rt: Runtime) -> LedgerEntry:
    """The rest of the charge by default; never more than charged minus already refunded."""
    tenant_id = validate_tenant_id(cmd.tenant_id)
    reference_id = _reference(cmd.reference_id)
    currency = rt.settings.currency
    amount = None if cmd.amount is None else cmd.amount.checked(currency, scale=Scale.MESSAGE)
    description = _description(cmd.description)
    # The wallet's row lock (the one every debit and credit of the tenant takes) serializes refunds
    # of one charge: what was refunded is read after it, so a refund committed meanwhile counts.
    # Never a lock on the ledger's rows: they are append-only, and the production role may not.
    await uow.wallets.lock(tenant_id)
    charge = await uow.wallets.find_charge(tenant_id, reference_id)
    if charge is None:
        raise NotFoundError(f"no charge with reference {reference_id!r}")
    refunded = await uow.wallets.refunded_total(tenant_id, reference_id, currency)
    now = rt.clock.now()
    posting = refund_posting(charge, refunded, amount, rt.ids.new_id(), now, description)
    entry = await uow.wallets.post(posting)
    if charge.price is not None:  # a message's charge: less billed on its message's day (v3 §15)
        await uow.margins.add(MarginLine.of_refund(tenant_id, charge.price, charge.created_at, posting.amount))
    debt_note = describe(f"Debt repaid from the refund of charge {reference_id}")
    await uow.wallets.repay_debt(tenant_id, rt.ids.new_id(), reference_id, debt_note, now)
    return entry
