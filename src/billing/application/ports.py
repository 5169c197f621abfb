"""The ports the use cases need. Adapters (memory, SQLAlchemy, ...) implement them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Protocol, Self, runtime_checkable
from uuid import UUID

import attrs

from billing.application.caller import Caller
from billing.application.idempotency import IdempotencyRecord
from billing.application.outbox import EmailMessage, OutboxEntry, OutboxStatus
from billing.application.pagination import Page, PageRequest
from billing.domain.adjustment import Adjustment, AdjustmentStatus
from billing.domain.audit import AuditEntry
from billing.domain.contact import BillingContact
from billing.domain.events import DomainEvent
from billing.domain.hold import Funds, Hold, HoldStatus
from billing.domain.invoice import Invoice, InvoicePurpose, InvoiceStatus
from billing.domain.ledger import LedgerEntry, Posting
from billing.domain.margins import GroupBy, MarginLine, MarginRow
from billing.domain.money import Money
from billing.domain.pricing import CardKind, Category, RateCard
from billing.domain.protections import LowBalanceAlert
from billing.domain.topup import TopupRequest, TopupStatus
from billing.domain.wallet import Wallet
from billing.domain.wallet_settings import WalletSettings
from billing.domain.webhook_events import Outcome, WebhookEvent, WhatsAppNumber


class ConcurrencyConflictError(Exception):
    """A race the database settled against this attempt; running the unit again resolves it."""


class DatabaseUnavailableError(Exception):
    """The database cannot be reached or went away mid-transaction; nothing was committed."""


class RecordsEvents(Protocol):
    """An aggregate that records domain events: its repository hands them to the unit of work on saving."""

    def pull_events(self) -> list[DomainEvent]: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class IdGenerator(Protocol):
    def new_id(self) -> UUID: ...


@attrs.frozen
class Movement:
    """What a money move did to its wallet's `available`, read from the wallet's row it updated (under the row's
    lock, so the moves of one wallet are seen one at a time), and the settings' `watch_below` read with it: a move
    that leaves `available` at or above it needs no protection (contract v2 §10)."""

    tenant_id: str
    before: Money
    after: Money
    watch_below: Money | None
    debt: Money | None = None  # the wallet's debt after the move, when it has one (a reversal's)

    @property
    def needs_protection(self) -> bool:
        return self.after < self.before and self.watch_below is not None and self.after < self.watch_below


@attrs.frozen
class ChargeAttempt:
    entry: LedgerEntry | None  # the new charge row
    earlier: LedgerEntry | None  # the charge that already holds this reference
    movement: Movement | None = None  # the new charge's


@attrs.frozen
class Credit:
    """A credit's ledger row, and whether its wallet still owes (contract v3 §19): then its debt is repaid next,
    in the same unit; a wallet that owes nothing pays no extra statement."""

    entry: LedgerEntry
    owes: bool


@attrs.frozen
class StatementLine:
    """One ledger row of a statement, and where the next chunk starts after it (opaque to the caller)."""

    entry: LedgerEntry
    cursor: object


class WalletRepository(Protocol):
    """Wallets and their append-only ledger."""

    async def get_or_open(self, tenant_id: str, currency: str, at: datetime) -> Wallet:
        """Race-safe get-or-create: concurrent first uses end with one wallet."""
        ...

    async def post(self, posting: Posting) -> LedgerEntry:
        """Apply a posting to an existing wallet and append its ledger row, atomically.

        Raises InsufficientFundsError (changing nothing) when a debit would overdraw or the
        wallet does not exist yet.
        """
        ...

    async def charge_once(self, posting: Posting, *, despite_freeze: bool = False) -> ChargeAttempt:
        """Apply a charge unless its (tenant, reference) was charged before; one atomic step.

        Returns the new row, or the earlier charge of that reference (changing nothing), or
        neither when the wallet cannot cover it, or is frozen and not `despite_freeze` (changing nothing).
        """
        ...

    async def lock(self, tenant_id: str) -> Wallet | None:
        """The tenant's wallet (None without one), its row locked until the unit of work ends: the
        tenant's money moves wait for each other. The ledger's rows are never locked (append-only)."""
        ...

    async def find_charge(self, tenant_id: str, reference_id: str) -> LedgerEntry | None: ...

    async def refunded_total(self, tenant_id: str, reference_id: str, currency: str) -> Money: ...

    async def list_entries(self, tenant_id: str, page: PageRequest) -> Page[LedgerEntry]: ...

    async def charged(self, tenant_id: str, reference_ids: Sequence[str]) -> set[str]:
        """Which of these references already have a `charge` row (a message id is its charge's reference)."""
        ...

    async def funds(self, tenant_id: str) -> Funds | None:
        """The wallet's money as the hold rules see it (its marketing reserve included); None without a wallet."""
        ...

    async def save_status(self, wallet: Wallet) -> None:
        """Store a frozen or unfrozen wallet's status and reason (nothing else of it)."""
        ...

    async def repay_debt(
        self, tenant_id: str, entry_id: UUID, reference_id: str, description: str, at: datetime
    ) -> LedgerEntry | None:
        """One step: when the wallet owes (debt > 0) and has `available` > 0, debit min(available, debt) as a
        `debt_repayment` row (`entry_id`) and lower the debt by it; else nothing (None). A repayment's
        `DebtRepaid` event reaches the unit of work. Cheap when nothing is owed: one conditional update."""
        ...

    async def spent_since(self, tenant_id: str, since: datetime) -> Money | None:
        """Message charges less their refunds in the hourly spend buckets starting at or after `since` (kept by
        the ledger's writes: never a ledger scan); None without a wallet."""
        ...

    async def statement(
        self, tenant_id: str, start: datetime, end: datetime, after: object | None, limit: int
    ) -> list[StatementLine]:
        """Up to `limit` ledger rows created in [start, end), oldest first, after the line whose cursor is `after`.
        Rows are appended, never changed, so a statement read in chunks is the statement read at once."""
        ...


@attrs.frozen
class HoldPlacement:
    hold: Hold | None  # the new hold
    earlier: Hold | None  # the hold this message id already had
    movement: Movement | None = None  # the new hold's


@attrs.frozen
class LockedHold:
    hold: Hold
    funds: Funds  # its wallet's, read under the wallet's row lock
    watch_below: Money | None = None  # its settings' (see Movement)
    # The cost card in force at `costs_at` (`lock(…, costs_at=)`), found by the same read: a settlement's cost
    # card costs no round trip. None: no cost card then (or not asked).
    cost_card_id: UUID | None = None
    costs_at: datetime | None = None


@attrs.frozen
class Sweep:
    """One sweep of expired holds: how many were expired, and whether another sweeper was at work while holds
    were due (this one then expired none)."""

    expired: int
    another_sweeper: bool = False
    # tenant -> the message ids of its holds this sweep expired (its audit row, the debt their release repays)
    expired_by_tenant: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)


@attrs.frozen
class HoldFilter:
    status: HoldStatus | None = None
    category: Category | None = None
    message_id: str | None = None


class HoldRepository(Protocol):
    """Holds (contract v2 §9) and the `held` they keep on their wallet's row. Whatever changes a hold's status
    changes `held` in the same step, so `held` is always the sum of the open holds."""

    async def place(self, hold: Hold) -> HoldPlacement:
        """One step: add the hold and its amount to `held` when the wallet is active, `available` covers it, a
        marketing hold leaves the marketing reserve, and its message id has neither a hold nor a charge. Else
        the message id's earlier hold, or neither (nothing changed: the caller finds out why)."""
        ...

    async def place_batch(self, holds: Sequence[Hold]) -> Movement | None:
        """All the holds and their total on `held` (their movement), or nothing (None) when the freeze, funds or
        lane rule refuses their total (marketing first). Raises ConcurrencyConflictError when one of their message
        ids was held or charged meanwhile."""
        ...

    async def find(self, tenant_id: str, message_ids: Sequence[str]) -> list[Hold]: ...

    async def get(self, tenant_id: str, hold_id: UUID) -> Hold | None: ...

    async def lock(self, tenant_id: str, message_id: str, costs_at: datetime | None = None) -> LockedHold | None:
        """The hold's row, then its wallet's, locked until the unit of work ends (always in that order: the
        sweeper takes them so too), with the wallet's funds; with `costs_at`, the id of the cost card in force then."""
        ...

    async def save_settled(self, hold: Hold, charge: Posting | None, margin: MarginLine) -> LedgerEntry | None:
        """A hold settled: its row, `held` less its amount, the charge (balance and ledger row) if any, and the
        message's line of the margin aggregate (v3 §15), all in one step."""
        ...

    async def save_released(self, hold: Hold) -> None:
        """A hold voided or expired: its row, and `held` less its amount."""
        ...

    async def save_released_charge(self, hold: Hold, charge: Posting) -> LedgerEntry:
        """A voided or expired hold charged after all (Meta's webhook, §11): its row's `charged` and
        `transaction_id`, and the charge (balance and ledger row); `held` is unchanged (it held nothing)."""
        ...

    async def expire_due(self, now: datetime, limit: int) -> Sweep:
        """Expire up to `limit` open holds whose `expires_at` <= now and take them off their wallets' `held` (a
        hold closed meanwhile is left alone); one sweeper at a time, the others expire nothing."""
        ...

    async def list(self, tenant_id: str, filters: HoldFilter, page: PageRequest) -> Page[Hold]:
        """Newest first."""
        ...


@attrs.frozen
class WebhookEventFilter:
    outcome: Outcome | None = None
    tenant_id: str | None = None


class WhatsAppNumberRepository(Protocol):
    """Meta's business phone numbers and their tenants (platform-wide, contract v2 §13)."""

    async def add(self, number: WhatsAppNumber) -> tuple[WhatsAppNumber, bool]:
        """Map the number unless it is mapped: the mapping in force afterwards (maybe another tenant's), and
        whether it is this one, new."""
        ...

    async def tenants_of(self, phone_number_ids: Sequence[str]) -> dict[str, str]:
        """phone_number_id -> tenant_id for those mapped."""
        ...

    async def list(self, tenant_id: str | None, page: PageRequest) -> Page[WhatsAppNumber]: ...

    async def remove(self, phone_number_id: str) -> bool:
        """False when it was not mapped."""
        ...


class WebhookEventRepository(Protocol):
    """Statuses received from Meta and what became of each; one per (tenant, message id, status)."""

    async def seen(self, tenant_id: str, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (message_id, status) of the tenant are recorded already."""
        ...

    async def record(self, events: Sequence[WebhookEvent]) -> None:
        """Record them; one whose (tenant, message id, status) is recorded already is left out."""
        ...

    async def list(self, filters: WebhookEventFilter, page: PageRequest) -> Page[WebhookEvent]:
        """Newest first."""
        ...


class WalletSettingsRepository(Protocol):
    async def get(self, tenant_id: str) -> WalletSettings | None:
        """None: the tenant never saved any (the defaults apply)."""
        ...

    async def save(self, settings: WalletSettings) -> None:
        """Insert or replace the tenant's settings."""
        ...


@attrs.frozen
class Tally:
    """How many, and how much in all."""

    count: int
    total: Money


@attrs.frozen
class TopupQueueFigures:
    """The operators' top-up queue at a glance: what waits for a decision, what waits for its payment, and what
    was paid in the month."""

    pending: Tally
    invoiced: Tally
    paid: Tally


class TopupRequestRepository(Protocol):
    async def get(
        self, request_id: UUID, *, for_update: bool = False, tenant_id: str | None = None
    ) -> TopupRequest | None:
        """By id; naming the tenant when it is known saves finding it first."""
        ...

    async def add(self, request: TopupRequest) -> None: ...

    async def save(self, request: TopupRequest) -> None: ...

    async def save_reversed(
        self, request: TopupRequest, invoice: Invoice, reversal: Posting | None, debt_added: Money
    ) -> Movement:
        """A reversed payment in one step (contract v3 §19): the reversed request, its invoice, the reversal's
        debit with its ledger row (None when `available` covered nothing) and `debt_added` on the wallet. The
        wallet's row is locked already (the invoice's lock takes it first). Raises ConcurrencyConflictError when
        the request's reversal row exists already (the unique index; the rerun then finds the invoice reversed)."""
        ...

    async def save_paid(self, request: TopupRequest, invoice: Invoice, credit: Posting) -> Credit:
        """A paid top-up in one step: the completed request, its paid invoice, and the wallet's credit (the
        wallet opened on first use) with its ledger row, and whether the wallet still owes after it. Raises
        InsufficientFundsError, changing nothing, when the tenant's wallet is in another currency, and
        DuplicateError as `InvoiceRepository.save`."""
        ...

    async def list(
        self, tenant_id: str | None, status: TopupStatus | None, page: PageRequest
    ) -> Page[TopupRequest]: ...

    async def has_open(self, tenant_id: str) -> bool:
        """Whether the tenant has a request `pending` or `invoiced`."""
        ...

    async def automatic_total_since(self, tenant_id: str, since: datetime) -> Money | None:
        """The amounts of the automatic requests created at or after `since`, whatever became of them."""
        ...

    async def add_automatic(self, request: TopupRequest) -> bool:
        """Add an automatic request unless the tenant already has an open one (the database's partial unique
        index decides); False when it had."""
        ...

    async def queue_figures(
        self, tenant_id: str | None, paid_from: datetime, paid_before: datetime, currency: str
    ) -> TopupQueueFigures:
        """Requests `pending`, `invoiced`, and `completed` (paid) in [paid_from, paid_before), of one tenant or of
        all (None): one aggregate read, no request loaded. Totals are in `currency`, every request's."""
        ...


class InvoiceRepository(Protocol):
    async def get(self, invoice_id: UUID, *, for_update: bool = False) -> Invoice | None: ...

    async def find_subscription(self, tenant_id: str, period: str) -> Invoice | None: ...

    async def find_paid_with_reference(self, tenant_id: str, reference_key: str) -> Invoice | None:
        """The tenant's paid invoice that holds this payment reference key (`Invoice.payment_reference_key`)."""
        ...

    async def add(self, invoice: Invoice) -> None:
        """Raises DuplicateError for a second subscription invoice of a tenant and period."""
        ...

    async def save(self, invoice: Invoice) -> None:
        """Raises DuplicateError when another paid invoice of the tenant holds its payment reference key."""
        ...

    async def list(
        self,
        tenant_id: str | None,
        status: InvoiceStatus | None,
        purpose: InvoicePurpose | None,
        page: PageRequest,
    ) -> Page[Invoice]: ...


class IdempotencyKeyRepository(Protocol):
    async def claim(self, tenant_id: str, key: str) -> bool:
        """Hold the key until this unit ends; False when another running unit holds it."""
        ...

    async def get(self, tenant_id: str, key: str, now: datetime) -> IdempotencyRecord | None:
        """The unexpired record of a completed first use, if any."""
        ...

    async def add(self, record: IdempotencyRecord) -> None: ...

    async def purge_expired(self, now: datetime) -> int: ...


class ContactRepository(Protocol):
    async def get(self, tenant_id: str) -> BillingContact | None: ...

    async def save(self, contact: BillingContact) -> None:
        """Insert or replace the tenant's one contact."""
        ...


class OutboxRepository(Protocol):
    async def add(self, message: EmailMessage) -> None:
        """Queue a message; one without a recipient is kept as undeliverable."""
        ...

    async def claim_next_due(self, now: datetime) -> OutboxEntry | None:
        """Lock one due pending message for this unit, skipping any another unit holds."""
        ...

    async def mark_sent(self, message: EmailMessage, at: datetime) -> None: ...

    async def mark_attempt_failed(self, message: EmailMessage, error: str, next_attempt_at: datetime | None) -> None:
        """Count the attempt; retry at `next_attempt_at`, or give up (failed) when it is None."""
        ...

    async def mark_undeliverable(self, message: EmailMessage, reason: str) -> None:
        """Count the attempt and never try again: the message can never be sent as it stands."""
        ...

    async def list(self, status: OutboxStatus | None, page: PageRequest) -> Page[OutboxEntry]: ...


class MailDeliveryError(Exception):
    """The mail server refused or could not be reached; the message stays queued."""


class UndeliverableMessageError(Exception):
    """The message itself can never be sent (say, a recipient no mail header can carry): retrying cannot help."""


class Mailer(Protocol):
    @property
    def delivers(self) -> bool:
        """False for a mailer that only writes messages to the log (no BILLING_SMTP_URL): the outbox is done with
        them, and reports them as logged, never as sent."""
        ...

    async def send(self, message: EmailMessage) -> None:
        """Raises MailDeliveryError for a failure worth retrying, UndeliverableMessageError for one that is not."""
        ...


class RateCardRepository(Protocol):
    """Rate cards, immutable once added: a clinic's own, and the platform's default ones (no tenant)."""

    async def add(self, card: RateCard) -> None: ...

    async def get(self, card_id: UUID) -> RateCard | None: ...

    async def list(self, tenant_id: str | None, page: PageRequest, kind: CardKind = CardKind.PRICE) -> Page[RateCard]:
        """Latest `effective_from` first (ties: the later created): one tenant's cards, or every card of `kind`
        (cost cards have no tenant)."""
        ...

    async def cost_in_force(self, at: datetime) -> RateCard | None:
        """The cost card in force at `at` (`cost_card_in_force`), in one read (none after `in_force` at the same
        `at` in this unit of work: that read found it too)."""
        ...

    async def cost_card(self, card_id: UUID) -> RateCard | None:
        """A cost card by id (cards are immutable: kept parsed, read at most once per process)."""
        ...

    async def in_force(self, tenant_id: str, at: datetime) -> RateCard | None:
        """The card that prices the tenant's messages at `at` (contract v2 §8), in one read."""
        ...

    async def in_force_in_scope(self, tenant_id: str | None, at: datetime) -> RateCard | None:
        """One scope's own card at `at` (`scope_card_in_force`): the tenant's, or the default one for None; a
        tenant without a card of its own gets None, not the default card."""
        ...


class MessageCountRepository(Protocol):
    """Settled billable messages per tenant, month, market and category: the n of a volume tier. The month is the
    calendar month of the message time `at` in the tenant's time zone (contract v3 §16, `month_in`), found by the
    adapter in the same read or write: the hot paths pay no round trip for the settings."""

    async def settled(self, tenant_id: str, at: datetime, category: Category, markets: Iterable[str]) -> dict[str, int]:
        """Each market's count (0 when none) in the tenant's month of `at`, in one read."""
        ...

    async def add_settled(self, tenant_id: str, at: datetime, market: str, category: Category, count: int = 1) -> None:
        """Count `count` more in the tenant's month of `at`, in one statement."""
        ...


class CountryOfNumber(Protocol):
    """The country of a phone number, by a real numbering plan (never a hand-written prefix table)."""

    def country_of(self, number: str) -> str | None:
        """ISO 3166-1 alpha-2 of a valid E.164 number (the `+` optional); None for an invalid one."""
        ...


class MarginRepository(Protocol):
    """What messages billed and cost, per tenant, UTC day, price market and category (contract v3 §15), moved by
    the unit of work that settles, charges or refunds a message."""

    async def add(self, line: MarginLine) -> None:
        """Add one message's (or refund's) figures to its group, in one statement."""
        ...

    async def report(self, from_day: date, to_day: date, group_by: GroupBy, currency: str) -> tuple[MarginRow, ...]:
        """The days' figures summed by `group_by`, sorted by key."""
        ...


class Repositories(Protocol):
    """The repository roster, written once: what a unit of work hands out, by the attribute handlers use. Each
    adapter family builds its unit of work's repositories from one mapping of these names to its classes (its
    `REPOSITORIES`); adding a repository is a line here and a line in each mapping."""

    wallets: WalletRepository
    topups: TopupRequestRepository
    invoices: InvoiceRepository
    idempotency_keys: IdempotencyKeyRepository
    contacts: ContactRepository
    outbox: OutboxRepository
    rate_cards: RateCardRepository
    message_counts: MessageCountRepository
    cost_counts: MessageCountRepository  # the cost tiers' (v3 §15): the cost card's markets
    margins: MarginRepository
    holds: HoldRepository
    wallet_settings: WalletSettingsRepository
    whatsapp_numbers: WhatsAppNumberRepository
    webhook_events: WebhookEventRepository
    alerts: LowBalanceAlertRepository
    adjustments: AdjustmentRepository
    audit_trail: AuditTrail


class UnitOfWork(Repositories, Protocol):
    """One transaction. Leaving the block without `commit()` rolls everything back."""

    @property
    def events(self) -> Sequence[DomainEvent]:
        """What this unit heard so far: the events of every aggregate its repositories saved, in order,
        and any recorded explicitly. The service handles them in the transaction, then publishes them."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def record(self, *events: DomainEvent) -> None:
        """Events that no saved aggregate carries (they are heard like the others; dropped on rollback). The
        package's own use cases never need it: their aggregates record their events and the repositories that
        write them hand them to the unit of work; it is here for another module's unit of work and for tests."""
        ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class AdjustmentRepository(Protocol):
    """Operators' adjustments (contract v3 §19); `reference_id` unique per tenant."""

    async def get(self, adjustment_id: UUID, *, for_update: bool = False) -> Adjustment | None: ...

    async def find_by_reference(self, tenant_id: str, reference_id: str) -> Adjustment | None: ...

    async def add(self, adjustment: Adjustment) -> None:
        """Raises ConcurrencyConflictError when a racer added one with its reference first (run again: the
        repeat then finds it)."""
        ...

    async def save(self, adjustment: Adjustment) -> None: ...

    async def list(self, tenant_id: str, status: AdjustmentStatus | None, page: PageRequest) -> Page[Adjustment]:
        """Newest first, v1's adjustment rows of the ledger among them as applied."""
        ...


@attrs.frozen
class AuditFilter:
    tenant_id: str | None = None  # None: every tenant's rows and the platform's
    actor: str | None = None  # the actor's sub
    action: str | None = None
    target_id: str | None = None
    from_day: date | None = None  # UTC days, both included
    to_day: date | None = None
    only_tenant: bool = False  # a clinic's own view: its tenant's rows, never the platform's
    # A clinic's view names no operator: `actor=` then never matches an actor of this tenant (the root's).
    hidden_actor_tenant: str | None = None


class AuditTrail(Protocol):
    """Who did what (contract v3 §20): append-only, written in the transaction of the change it records."""

    async def append(self, entry: AuditEntry) -> None:
        """A tenant's row (keyed by `tenant_id`) or, with `tenant_id` None, a platform-wide one."""
        ...

    async def list(self, filters: AuditFilter, page: PageRequest) -> Page[AuditEntry]:
        """Newest first."""
        ...


class LowBalanceAlertRepository(Protocol):
    async def add(self, alert: LowBalanceAlert) -> None: ...

    async def list(self, tenant_id: str, page: PageRequest) -> Page[LowBalanceAlert]:
        """Newest first."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class TokenVerifier(Protocol):
    def verify(self, authorization: str | Sequence[str] | None) -> Caller:
        """The caller an `Authorization` header proves (every value of it, when given a sequence).

        Raises UnauthorizedError, whose detail is a fixed sentence safe to repeat in a header."""
        ...

    def expired(self, token: str) -> bool:
        """Whether a bare token (no `Bearer `) is genuine (its signature, issuer and audience check out) but its
        `exp` has passed. It only chooses how a refusal is worded ("sign in again", not "invalid"): it grants
        nothing."""
        ...


class TokenIssuer(Protocol):
    def issue(
        self,
        *,
        tenant: str,
        user: str,
        permissions: Iterable[str],
        now: datetime,
        ttl: timedelta,
        email: str | None = None,
    ) -> str:
        """A signed token the deployment's TokenVerifier accepts until `now + ttl` (for local use)."""
        ...


@runtime_checkable  # Litestar checks a dependency's type against its annotation
class Readiness(Protocol):
    async def problem(self) -> str | None:
        """None when ready; otherwise what is wrong, in words an operator can act on."""
        ...
