"""In-memory repositories over a staging `State`. Reads hand out copies, so a rollback is free."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar
from uuid import UUID, uuid4

import attrs

from billing.adapters.memory.base import InMemoryRepository
from billing.adapters.memory.store import State
from billing.application.idempotency import IdempotencyRecord
from billing.application.outbox import EmailMessage, OutboxEntry, OutboxStatus
from billing.application.pagination import Page, PageRequest
from billing.application.ports import ChargeAttempt, Credit, Movement, StatementLine, Tally, TopupQueueFigures
from billing.domain.adjustment import Adjustment
from billing.domain.contact import BillingContact
from billing.domain.errors import InsufficientFundsError
from billing.domain.events import DebtRepaid
from billing.domain.hold import Funds
from billing.domain.invoice import Invoice, InvoicePurpose, InvoiceStatus
from billing.domain.ledger import EntryKind, LedgerEntry, Posting
from billing.domain.margins import GroupBy, MarginLine, MarginRow, summed
from billing.domain.money import Money
from billing.domain.pricing import CardKind, Category, RateCard, card_in_force, cost_card_in_force, scope_card_in_force
from billing.domain.protections import AUTO_REQUESTER, LowBalanceAlert
from billing.domain.topup import TopupRequest, TopupStatus
from billing.domain.wallet import Wallet
from billing.domain.wallet_settings import DEFAULT_TIMEZONE, WalletSettings, month_in

T = TypeVar("T")
A = TypeVar("A", TopupRequest, Invoice, Adjustment)


def stored_copy(aggregate: A) -> A:
    """What the database would keep: the state, not the events still waiting to be published."""
    stored = copy.deepcopy(aggregate)
    stored.events.clear()
    return stored


def paginate(items: Iterable[T], newest_first: Callable[[T], object], page: PageRequest) -> Page[T]:
    ordered = sorted(items, key=newest_first, reverse=True)  # type: ignore[arg-type]
    chunk = ordered[page.offset : page.offset + page.page_size]
    return Page(tuple(copy.deepcopy(chunk)), page.page, page.page_size, len(ordered))


class InMemoryWalletRepository(InMemoryRepository):
    async def get_or_open(self, tenant_id: str, currency: str, at: datetime) -> Wallet:
        if tenant_id not in self._state.wallets:
            self._state.wallets[tenant_id] = Wallet.open(uuid4(), tenant_id, currency, at)
        return copy.deepcopy(self._state.wallets[tenant_id])

    async def post(self, posting: Posting) -> LedgerEntry:
        stored = self._state.wallets.get(posting.tenant_id)
        if stored is None:
            raise InsufficientFundsError(f"tenant {posting.tenant_id} has no wallet yet")
        wallet = copy.deepcopy(stored)
        entry = wallet.apply(posting)
        self._state.append_entry(entry)
        self._state.wallets[wallet.tenant_id] = wallet
        return entry

    async def spent_since(self, tenant_id: str, since: datetime) -> Money | None:
        wallet = self._state.wallets.get(tenant_id)
        if wallet is None:
            return None
        spent = sum(
            (amount for (tenant, hour), amount in self._state.spend.items() if tenant == tenant_id and hour >= since),
            Decimal(0),
        )
        return Money(spent, wallet.currency)

    async def charge_once(self, posting: Posting, *, despite_freeze: bool = False) -> ChargeAttempt:
        reference = posting.reference_id or ""
        if (posting.tenant_id, reference) in self._state.holds:  # a held message's id: its hold charges it
            return ChargeAttempt(entry=None, earlier=None)
        earlier = self._state.charges.get((posting.tenant_id, reference))
        if earlier is not None:
            return ChargeAttempt(entry=None, earlier=earlier)
        wallet = self._state.wallets.get(posting.tenant_id)
        if wallet is None or (wallet.is_frozen and not despite_freeze):
            return ChargeAttempt(entry=None, earlier=None)
        before = Funds.of(wallet).available
        try:
            entry = await self.post(posting)
        except InsufficientFundsError:
            return ChargeAttempt(entry=None, earlier=None)
        return ChargeAttempt(entry, None, movement_of(self._state, posting.tenant_id, before))

    async def lock(self, tenant_id: str) -> Wallet | None:
        # Units of work already run one at a time (the store's lock).
        return copy.deepcopy(self._state.wallets.get(tenant_id))

    async def find_charge(self, tenant_id: str, reference_id: str) -> LedgerEntry | None:
        return self._state.charges.get((tenant_id, reference_id))

    async def refunded_total(self, tenant_id: str, reference_id: str, currency: str) -> Money:
        total = Money.zero(currency)
        for entry in self._state.entries:
            if entry.tenant_id == tenant_id and entry.kind is EntryKind.REFUND and entry.reference_id == reference_id:
                total = total + entry.amount
        return total

    async def list_entries(self, tenant_id: str, page: PageRequest) -> Page[LedgerEntry]:
        # The ledger is in append order; its position is the tie-breaker for equal timestamps.
        rows = [(i, e) for i, e in enumerate(self._state.entries) if e.tenant_id == tenant_id]
        result = paginate(rows, lambda row: (row[1].created_at, row[0]), page)
        return Page(tuple(e for _, e in result.items), page.page, page.page_size, result.total)

    async def charged(self, tenant_id: str, reference_ids: Sequence[str]) -> set[str]:
        return {reference for reference in reference_ids if (tenant_id, reference) in self._state.charges}

    async def funds(self, tenant_id: str) -> Funds | None:
        wallet = self._state.wallets.get(tenant_id)
        if wallet is None:
            return None
        settings = self._state.wallet_settings.get(tenant_id)
        return Funds.of(wallet, None if settings is None else settings.marketing_reserve)

    async def save_status(self, wallet: Wallet) -> None:
        stored = copy.deepcopy(self._state.wallets[wallet.tenant_id])
        stored.status, stored.frozen_reason, stored.updated_at = wallet.status, wallet.frozen_reason, wallet.updated_at
        self._state.wallets[wallet.tenant_id] = stored

    async def repay_debt(
        self, tenant_id: str, entry_id: UUID, reference_id: str, description: str, at: datetime
    ) -> LedgerEntry | None:
        wallet = copy.deepcopy(self._state.wallets.get(tenant_id))
        if wallet is None or not wallet.repayable.is_positive:
            return None
        amount = wallet.repayable
        entry = wallet.apply(Posting.debt_repayment(entry_id, tenant_id, amount, reference_id, description, at))
        wallet.repay(amount)
        self._state.append_entry(entry)
        self._state.wallets[tenant_id] = wallet
        self._events.append(DebtRepaid(tenant_id, amount, wallet.debt, reference_id, entry.id, at))
        return entry

    async def statement(
        self, tenant_id: str, start: datetime, end: datetime, after: object | None, limit: int
    ) -> list[StatementLine]:
        # The cursor is (created_at, position in the append-only ledger), as PostgreSQL's is (created_at, seq).
        rows = sorted(
            ((e.created_at, i), e)
            for i, e in enumerate(self._state.entries)
            if e.tenant_id == tenant_id and start <= e.created_at < end
        )
        if after is not None:
            rows = [row for row in rows if row[0] > after]  # type: ignore[operator]
        return [StatementLine(entry, cursor) for cursor, entry in rows[:limit]]


class InMemoryTopupRequestRepository(InMemoryRepository):
    async def get(
        self, request_id: UUID, *, for_update: bool = False, tenant_id: str | None = None
    ) -> TopupRequest | None:
        request = self._state.requests.get(request_id)
        if request is None or tenant_id not in (None, request.tenant_id):
            return None
        return copy.deepcopy(request)

    async def add(self, request: TopupRequest) -> None:
        self._collect(request)
        self._state.requests[request.id] = stored_copy(request)

    async def save(self, request: TopupRequest) -> None:
        self._collect(request)
        self._state.requests[request.id] = stored_copy(request)

    async def save_reversed(
        self, request: TopupRequest, invoice: Invoice, reversal: Posting | None, debt_added: Money
    ) -> Movement:
        before = Funds.of(self._state.wallets[invoice.tenant_id]).available
        await InMemoryInvoiceRepository(self._state, self._events).save(invoice)
        await self.save(request)
        if reversal is not None:
            await InMemoryWalletRepository(self._state).post(reversal)
        wallet = copy.deepcopy(self._state.wallets[invoice.tenant_id])
        wallet.owe(debt_added, invoice.reversed_at or wallet.updated_at)
        self._state.wallets[wallet.tenant_id] = wallet
        movement = movement_of(self._state, invoice.tenant_id, before)
        return attrs.evolve(movement, debt=wallet.debt)

    async def save_paid(self, request: TopupRequest, invoice: Invoice, credit: Posting) -> Credit:
        await InMemoryInvoiceRepository(self._state, self._events).save(invoice)
        await self.save(request)
        wallets = InMemoryWalletRepository(self._state)
        await wallets.get_or_open(credit.tenant_id, credit.amount.currency, credit.at)
        entry = await wallets.post(credit)
        return Credit(entry, owes=self._state.wallets[credit.tenant_id].in_debt)

    async def has_open(self, tenant_id: str) -> bool:
        return any(
            r.tenant_id == tenant_id and r.status in (TopupStatus.PENDING, TopupStatus.INVOICED)
            for r in self._state.requests.values()
        )

    async def automatic_total_since(self, tenant_id: str, since: datetime) -> Money | None:
        amounts = [
            r.amount
            for r in self._state.requests.values()
            if r.tenant_id == tenant_id and r.requested_by == AUTO_REQUESTER and r.requested_at >= since
        ]
        return sum(amounts[1:], amounts[0]) if amounts else None

    async def add_automatic(self, request: TopupRequest) -> bool:
        open_automatic = any(
            r.tenant_id == request.tenant_id
            and r.requested_by == AUTO_REQUESTER
            and r.status in (TopupStatus.PENDING, TopupStatus.INVOICED)
            for r in self._state.requests.values()
        )  # the partial unique index ux_topup_requests_open_automatic
        if open_automatic:
            return False
        self._collect(request)
        self._state.requests[request.id] = stored_copy(request)
        return True

    async def list(self, tenant_id: str | None, status: TopupStatus | None, page: PageRequest) -> Page[TopupRequest]:
        matches = [
            r
            for r in self._state.requests.values()
            if (tenant_id is None or r.tenant_id == tenant_id) and (status is None or r.status is status)
        ]
        return paginate(matches, lambda r: (r.requested_at, r.id), page)

    async def queue_figures(
        self, tenant_id: str | None, paid_from: datetime, paid_before: datetime, currency: str
    ) -> TopupQueueFigures:
        def tally(kept: Callable[[TopupRequest], bool]) -> Tally:
            amounts = [
                r.amount
                for r in self._state.requests.values()
                if (tenant_id is None or r.tenant_id == tenant_id) and kept(r)
            ]
            return Tally(len(amounts), sum(amounts, Money.zero(currency)))

        def paid(r: TopupRequest) -> bool:
            return (
                r.status is TopupStatus.COMPLETED
                and r.completed_at is not None
                and (paid_from <= r.completed_at < paid_before)
            )

        return TopupQueueFigures(
            tally(lambda r: r.status is TopupStatus.PENDING),
            tally(lambda r: r.status is TopupStatus.INVOICED),
            tally(paid),
        )


class InMemoryInvoiceRepository(InMemoryRepository):
    async def get(self, invoice_id: UUID, *, for_update: bool = False) -> Invoice | None:
        return copy.deepcopy(self._state.invoices.get(invoice_id))

    async def find_subscription(self, tenant_id: str, period: str) -> Invoice | None:
        for invoice in self._state.invoices.values():
            if (
                invoice.tenant_id == tenant_id
                and invoice.purpose is InvoicePurpose.SUBSCRIPTION
                and invoice.period == period
            ):
                return copy.deepcopy(invoice)
        return None

    async def find_paid_with_reference(self, tenant_id: str, reference_key: str) -> Invoice | None:
        invoice_id = self._state.payment_references.get((tenant_id, reference_key))
        return None if invoice_id is None else copy.deepcopy(self._state.invoices[invoice_id])

    async def add(self, invoice: Invoice) -> None:
        self._collect(invoice)
        self._state.insert_invoice(stored_copy(invoice))

    async def save(self, invoice: Invoice) -> None:
        self._collect(invoice)
        self._state.replace_invoice(stored_copy(invoice))

    async def list(
        self,
        tenant_id: str | None,
        status: InvoiceStatus | None,
        purpose: InvoicePurpose | None,
        page: PageRequest,
    ) -> Page[Invoice]:
        matches = [
            i
            for i in self._state.invoices.values()
            if (tenant_id is None or i.tenant_id == tenant_id)
            and (status is None or i.status is status)
            and (purpose is None or i.purpose is purpose)
        ]
        return paginate(matches, lambda i: (i.created_at, i.id), page)


class InMemoryIdempotencyKeyRepository(InMemoryRepository):
    """Units of work run one at a time in memory, so a key is never held by another."""

    async def claim(self, tenant_id: str, key: str) -> bool:
        return True

    async def get(self, tenant_id: str, key: str, now: datetime) -> IdempotencyRecord | None:
        record = self._state.idempotency.get((tenant_id, key))
        return record if record is not None and record.expires_at > now else None

    async def add(self, record: IdempotencyRecord) -> None:
        self._state.idempotency[(record.tenant_id, record.key)] = record

    async def purge_expired(self, now: datetime) -> int:
        expired = [k for k, r in self._state.idempotency.items() if r.expires_at <= now]
        for k in expired:
            del self._state.idempotency[k]
        return len(expired)


class InMemoryContactRepository(InMemoryRepository):
    async def get(self, tenant_id: str) -> BillingContact | None:
        return self._state.contacts.get(tenant_id)

    async def save(self, contact: BillingContact) -> None:
        self._state.contacts[contact.tenant_id] = contact


class InMemoryOutboxRepository(InMemoryRepository):
    async def add(self, message: EmailMessage) -> None:
        status = OutboxStatus.PENDING if message.recipient else OutboxStatus.UNDELIVERABLE
        error = None if message.recipient else "no billing contact and no requester email"
        self._state.outbox[message.id] = OutboxEntry(message, status, 0, message.created_at, error, None)

    async def claim_next_due(self, now: datetime) -> OutboxEntry | None:
        due = [e for e in self._state.outbox.values() if e.status is OutboxStatus.PENDING and e.next_attempt_at <= now]
        return min(due, key=lambda e: (e.next_attempt_at, e.message.created_at), default=None)

    async def mark_sent(self, message: EmailMessage, at: datetime) -> None:
        entry = self._state.outbox[message.id]
        self._state.outbox[message.id] = attrs.evolve(
            entry, status=OutboxStatus.SENT, attempts=entry.attempts + 1, sent_at=at
        )

    async def mark_attempt_failed(self, message: EmailMessage, error: str, next_attempt_at: datetime | None) -> None:
        entry = self._state.outbox[message.id]
        self._state.outbox[message.id] = attrs.evolve(
            entry,
            status=OutboxStatus.FAILED if next_attempt_at is None else OutboxStatus.PENDING,
            attempts=entry.attempts + 1,
            next_attempt_at=next_attempt_at or entry.next_attempt_at,
            last_error=error,
        )

    async def mark_undeliverable(self, message: EmailMessage, reason: str) -> None:
        entry = self._state.outbox[message.id]
        self._state.outbox[message.id] = attrs.evolve(
            entry, status=OutboxStatus.UNDELIVERABLE, attempts=entry.attempts + 1, last_error=reason
        )

    async def list(self, status: OutboxStatus | None, page: PageRequest) -> Page[OutboxEntry]:
        matches = [e for e in self._state.outbox.values() if status is None or e.status is status]
        return paginate(matches, lambda e: (e.message.created_at, e.message.id), page)


class InMemoryRateCardRepository(InMemoryRepository):
    async def add(self, card: RateCard) -> None:
        self._state.rate_cards[card.id] = card  # immutable: stored as it is

    async def get(self, card_id: UUID) -> RateCard | None:
        return self._state.rate_cards.get(card_id)

    async def list(self, tenant_id: str | None, page: PageRequest, kind: CardKind = CardKind.PRICE) -> Page[RateCard]:
        cards = [
            c
            for c in self._state.rate_cards.values()
            if c.kind is kind and (tenant_id is None or c.tenant_id == tenant_id)
        ]
        return paginate(cards, lambda c: (c.effective_from, c.created_at, c.id), page)

    async def in_force(self, tenant_id: str, at: datetime) -> RateCard | None:
        return card_in_force(self._state.rate_cards.values(), tenant_id, at)

    async def cost_in_force(self, at: datetime) -> RateCard | None:
        return cost_card_in_force(self._state.rate_cards.values(), at)

    async def cost_card(self, card_id: UUID) -> RateCard | None:
        card = self._state.rate_cards.get(card_id)
        return card if card is not None and card.is_cost else None

    async def in_force_in_scope(self, tenant_id: str | None, at: datetime) -> RateCard | None:
        return scope_card_in_force(self._state.rate_cards.values(), tenant_id, at)


class InMemoryMessageCountRepository(InMemoryRepository):
    """The price tiers' counts, by the tenant's month of the message time (its saved time zone, else UTC)."""

    @property
    def _counts(self) -> dict[tuple[str, str, str, str], int]:
        return self._state.message_counts

    def _month(self, tenant_id: str, at: datetime) -> str:
        settings = self._state.wallet_settings.get(tenant_id)
        return month_in(at, DEFAULT_TIMEZONE if settings is None else settings.timezone)

    async def settled(self, tenant_id: str, at: datetime, category: Category, markets: Iterable[str]) -> dict[str, int]:
        month = self._month(tenant_id, at)
        return {market: self._counts.get((tenant_id, month, market, category.value), 0) for market in markets}

    async def add_settled(self, tenant_id: str, at: datetime, market: str, category: Category, count: int = 1) -> None:
        key = (tenant_id, self._month(tenant_id, at), market, category.value)
        self._counts[key] = self._counts.get(key, 0) + count


class InMemoryCostCountRepository(InMemoryMessageCountRepository):
    """The cost tiers' counts (contract v3 §15): per tenant in the cost card's markets, apart from the prices'."""

    @property
    def _counts(self) -> dict[tuple[str, str, str, str], int]:
        return self._state.cost_counts


class InMemoryMarginRepository(InMemoryRepository):
    async def add(self, line: MarginLine) -> None:
        self._state.margins.append(line)

    async def report(self, from_day: date, to_day: date, group_by: GroupBy, currency: str) -> tuple[MarginRow, ...]:
        lines = [line for line in self._state.margins if from_day <= line.day <= to_day]
        return summed(lines, group_by, currency)


def movement_of(state: State, tenant_id: str, before: Money) -> Movement:
    """A move's movement, as PostgreSQL's statements answer it: `available` before and after, and `watch_below`."""
    settings = state.wallet_settings.get(tenant_id)
    after = Funds.of(state.wallets[tenant_id]).available
    return Movement(tenant_id, before, after, None if settings is None else settings.watch_below)


class InMemoryLowBalanceAlertRepository(InMemoryRepository):
    async def add(self, alert: LowBalanceAlert) -> None:
        self._collect(alert)
        self._state.alerts[alert.id] = alert  # frozen: stored as it is

    async def list(self, tenant_id: str, page: PageRequest) -> Page[LowBalanceAlert]:
        mine = [alert for alert in self._state.alerts.values() if alert.tenant_id == tenant_id]
        return paginate(mine, lambda alert: (alert.created_at, alert.id), page)


class InMemoryWalletSettingsRepository(InMemoryRepository):
    async def get(self, tenant_id: str) -> WalletSettings | None:
        return self._state.wallet_settings.get(tenant_id)

    async def save(self, settings: WalletSettings) -> None:
        self._state.wallet_settings[settings.tenant_id] = settings  # frozen: stored as it is
