"""Holds in memory, with the rules PostgreSQL's statements enforce: the funds, lane and freeze conditions of the
wallet's `held` update, one hold per (tenant, message id), and `held` moving with every status change."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from billing.adapters.memory.base import InMemoryRepository
from billing.adapters.memory.repositories import InMemoryWalletRepository, movement_of, paginate
from billing.application.pagination import Page, PageRequest
from billing.application.ports import ConcurrencyConflictError, HoldFilter, HoldPlacement, LockedHold, Movement, Sweep
from billing.domain.errors import BillingError
from billing.domain.hold import Funds, Hold, HoldStatus
from billing.domain.ledger import LedgerEntry, Posting
from billing.domain.margins import MarginLine
from billing.domain.money import Money
from billing.domain.pricing import cost_card_in_force


class InMemoryHoldRepository(InMemoryRepository):
    async def place(self, hold: Hold) -> HoldPlacement:
        earlier = self._state.holds.get((hold.tenant_id, hold.message_id))
        if earlier is not None:
            return HoldPlacement(hold=None, earlier=copy.deepcopy(earlier))
        if (hold.tenant_id, hold.message_id) in self._state.charges or not self._admits(hold.tenant_id, [hold]):
            return HoldPlacement(hold=None, earlier=None)
        self._collect(hold)
        movement = self._add(hold.tenant_id, [hold])
        return HoldPlacement(hold=copy.deepcopy(hold), earlier=None, movement=movement)

    async def place_batch(self, holds: Sequence[Hold]) -> Movement | None:
        if not holds:
            raise ValueError("a batch holds at least one message")
        tenant_id = holds[0].tenant_id
        for hold in holds:
            key = (tenant_id, hold.message_id)
            if key in self._state.holds or key in self._state.charges:
                raise ConcurrencyConflictError(f"message {hold.message_id!r} was held or charged meanwhile")
        if not self._admits(tenant_id, holds):
            return None
        for hold in holds:
            self._collect(hold)
        return self._add(tenant_id, holds)

    async def find(self, tenant_id: str, message_ids: Sequence[str]) -> list[Hold]:
        found = (self._state.holds.get((tenant_id, message_id)) for message_id in message_ids)
        return [copy.deepcopy(hold) for hold in found if hold is not None]

    async def get(self, tenant_id: str, hold_id: UUID) -> Hold | None:
        for hold in self._state.holds.values():
            if hold.id == hold_id and hold.tenant_id == tenant_id:
                return copy.deepcopy(hold)
        return None

    async def lock(self, tenant_id: str, message_id: str, costs_at: datetime | None = None) -> LockedHold | None:
        # Units of work already run one at a time (the store's lock).
        hold = self._state.holds.get((tenant_id, message_id))
        if hold is None:
            return None
        settings = self._state.wallet_settings.get(tenant_id)
        watch_below = None if settings is None else settings.watch_below
        cost_card = None if costs_at is None else cost_card_in_force(self._state.rate_cards.values(), costs_at)
        funds = Funds.of(self._state.wallets[tenant_id])
        cost_card_id = None if cost_card is None else cost_card.id
        return LockedHold(copy.deepcopy(hold), funds, watch_below, cost_card_id, costs_at)

    async def save_settled(self, hold: Hold, charge: Posting | None, margin: MarginLine) -> LedgerEntry | None:
        self._collect(hold)
        self._release(hold)
        self._state.margins.append(margin)
        entry = None if charge is None else await InMemoryWalletRepository(self._state).post(charge)
        self._state.holds[(hold.tenant_id, hold.message_id)] = copy.deepcopy(hold)
        return entry

    async def save_released(self, hold: Hold) -> None:
        self._collect(hold)
        self._release(hold)
        self._state.holds[(hold.tenant_id, hold.message_id)] = copy.deepcopy(hold)

    async def save_released_charge(self, hold: Hold, charge: Posting) -> LedgerEntry:
        entry = await InMemoryWalletRepository(self._state).post(charge)
        self._state.holds[(hold.tenant_id, hold.message_id)] = copy.deepcopy(hold)
        return entry

    async def expire_due(self, now: datetime, limit: int) -> Sweep:
        due = sorted(
            (h for h in self._state.holds.values() if h.is_open and h.is_expired_at(now)), key=lambda h: h.expires_at
        )[:limit]
        by_tenant: dict[str, tuple[str, ...]] = {}
        for stored in due:
            hold = copy.deepcopy(stored)
            hold.expire(now)
            await self.save_released(hold)
            by_tenant[hold.tenant_id] = (*by_tenant.get(hold.tenant_id, ()), hold.message_id)
        # Units of work run one at a time: never another sweeper.
        return Sweep(expired=len(due), expired_by_tenant=by_tenant)

    async def list(self, tenant_id: str, filters: HoldFilter, page: PageRequest) -> Page[Hold]:
        matches = [
            h
            for h in self._state.holds.values()
            if h.tenant_id == tenant_id
            and (filters.status is None or h.status is filters.status)
            and (filters.category is None or h.category is filters.category)
            and (filters.message_id is None or h.message_id == filters.message_id)
        ]
        return paginate(matches, lambda h: (h.created_at, h.id), page)

    def _admits(self, tenant_id: str, holds: Sequence[Hold]) -> bool:
        wallet = self._state.wallets.get(tenant_id)
        if wallet is None:
            return False
        settings = self._state.wallet_settings.get(tenant_id)
        funds = Funds.of(wallet, None if settings is None else settings.marketing_reserve)
        try:
            funds.check_holds((hold.amount, hold.category) for hold in holds)
        except BillingError:
            return False
        return True

    def _add(self, tenant_id: str, holds: Sequence[Hold]) -> Movement:
        total = sum((hold.amount for hold in holds), Money.zero(holds[0].amount.currency))
        before = Funds.of(self._state.wallets[tenant_id]).available
        self._move_held(tenant_id, total)
        for hold in holds:
            self._state.holds[(tenant_id, hold.message_id)] = copy.deepcopy(hold)
        return movement_of(self._state, tenant_id, before)

    def _release(self, hold: Hold) -> None:
        stored = self._state.holds[(hold.tenant_id, hold.message_id)]
        if stored.status is HoldStatus.HELD and not hold.is_open:
            self._move_held(hold.tenant_id, -hold.amount)

    def _move_held(self, tenant_id: str, amount: Money) -> None:
        wallet = copy.deepcopy(self._state.wallets[tenant_id])
        wallet.held = wallet.held + amount
        if wallet.held.is_negative or wallet.balance < wallet.held:  # the wallet row's CHECK
            raise AssertionError(f"held {wallet.held} breaks balance >= held >= 0 for {tenant_id}")
        self._state.wallets[tenant_id] = wallet
