"""The protections a move that lowers `available` answers to (contract v2 §10), inside the move's unit of work.

The moves are a hold (or a batch), a direct charge, a settle that costs more than its hold, and a webhook charge
without an open hold; each hands its `Movement` here. The wallet's row lock the move took is held until commit,
so a wallet's moves pass through here one at a time and each sees the `available` before and after its own move:
exactly one move crosses a level, and only one can find no open top-up request (the partial unique index on
automatic requests is the database's last word). What is queued here (the alert's and the request's emails)
commits with the move or not at all.
"""

from __future__ import annotations

from datetime import UTC, datetime

from billing.application.ports import Movement, UnitOfWork
from billing.application.runtime import Runtime
from billing.domain.money import Money
from billing.domain.protections import AUTO_REQUESTER, LowBalanceAlert, Runway, spend_window_start
from billing.domain.topup import TopupRequest
from billing.domain.wallet import Wallet
from billing.domain.wallet_settings import WalletSettings


async def protect(movement: Movement | None, uow: UnitOfWork, rt: Runtime) -> None:
    """Alerts for the levels the move crossed, and an automatic top-up request when one is due."""
    if movement is None or not movement.needs_protection:
        return  # the hot path: no read at all
    settings = await uow.wallet_settings.get(movement.tenant_id)
    if settings is None:
        return
    now = rt.clock.now()
    for level in settings.levels_crossed(movement.before, movement.after):
        await uow.alerts.add(LowBalanceAlert.raised(rt.ids.new_id(), movement.tenant_id, level, movement.after, now))
    if settings.auto_topup.is_due(movement.after):
        await _request_automatic_topup(settings, movement.after, movement.debt, now, uow, rt)


async def _request_automatic_topup(
    settings: WalletSettings, available: Money, debt: Money | None, now: datetime, uow: UnitOfWork, rt: Runtime
) -> None:
    tenant_id = settings.tenant_id
    if await uow.topups.has_open(tenant_id):
        return
    currency = available.currency
    requested = await uow.topups.automatic_total_since(tenant_id, month_start(now)) or Money.zero(currency)
    bounds = rt.settings
    amount = settings.auto_topup.request_amount(
        available, Money(bounds.topup_min_amount, currency), Money(bounds.topup_max_amount, currency), requested, debt
    )
    if amount is None:
        return
    threshold = settings.auto_topup.threshold
    note = f"Automatic top-up: available {available} {currency} fell below the threshold of {threshold} {currency}."
    if debt is not None and debt.is_positive:
        note += f" It also repays the wallet's debt of {debt} {currency}."
    request = TopupRequest.submit(rt.ids.new_id(), tenant_id, amount, note, AUTO_REQUESTER, None, now)
    await uow.topups.add_automatic(request)  # a racer's open automatic request wins, quietly


async def movement_after(tenant_id: str, before: Money, change: Money, uow: UnitOfWork) -> Movement:
    """The movement of a move made outside the hot statements (an adjustment): `available` before and after it,
    and its settings' `watch_below`."""
    settings = await uow.wallet_settings.get(tenant_id)
    return Movement(tenant_id, before, before + change, None if settings is None else settings.watch_below)


def month_start(at: datetime) -> datetime:
    """The start of `at`'s UTC month: the monthly cap counts from here."""
    return at.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def runway_of(tenant_id: str, available: Money, uow: UnitOfWork, rt: Runtime) -> Runway:
    spent = await uow.wallets.spent_since(tenant_id, spend_window_start(rt.clock.now()))
    return Runway.of(available, spent or Money.zero(available.currency))


async def with_runway(wallet: Wallet, uow: UnitOfWork, rt: Runtime) -> Wallet:
    """The wallet as its readers see it: with its runway (one read of at most 336 hourly buckets)."""
    wallet.runway = await runway_of(wallet.tenant_id, wallet.available, uow, rt)
    return wallet
