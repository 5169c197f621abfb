"""Holds (contract v2 §9, with §10's lane and freeze rules): reserve a message's price when it is sent, charge it once
when Meta says it was delivered, release it when the message failed or the hold expired.

    held --settle--> settled
    held --void----> voided
    held --expire--> expired          (at or after expires_at)

settled, voided and expired are final. `available = balance - held`, where `held` is the sum of open holds.

`Funds` is the wallet's money as the rules see it (balance, held, status, marketing reserve): each `check_*` method
raises the contract's error and changes nothing, each `after_*` method answers the funds after a move. `Hold` is the
state machine; `reprice` is Meta's word at settlement. A handler reads them in this order:

    hold:   funds.check_hold(quote.amount, quote.category); Hold.place(...); funds.after_hold(quote.amount)
    settle: price = reprice(card, hold, ...).amount; funds.after_settle(hold.amount, price) -> charged, shortfall;
            hold.settle(at, charged, shortfall, transaction_id, category)
    void:   if hold.void(at): funds.after_release(hold.amount)        (the same for hold.expire(at))

Decisions the contract leaves open:
- A hold that cannot be paid at all is `insufficient_funds` whatever its category; `lane_closed` is for a marketing
  hold that `available` could pay but only by eating into the reserve. Without a reserve the lane never closes.
- A batch is checked as a whole, marketing first: `available >= total` and `available - marketing >= reserve`.
  The order of the messages in a batch never changes the answer, and marketing never eats into the reserve.
- Voiding a hold that is still `held` at or after its `expires_at` expires it instead: past `expires_at` a hold is
  expired whether or not the sweeper has run, and its status says so.
- Repricing a different category uses the hold's own tier directly: the rate of the new category with the largest
  `tier_from` <= the hold's tier. It reads no counter at settlement, and a hold made on the last day of a month and
  settled on the first of the next is priced by the month it was made in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID

import attrs

from billing.domain.costs import Cost, MetaWord
from billing.domain.errors import (
    DuplicateError,
    InsufficientFundsError,
    InvalidStateError,
    LaneClosedError,
    ValidationError,
    WalletFrozenError,
    WalletInDebtError,
)
from billing.domain.events import DomainEvent, HoldPlaced, HoldSettled, HoldVoided
from billing.domain.money import Money
from billing.domain.pricing import Category, FreeReason, Quote, RateCard, Window, parse_category, quote
from billing.domain.text import validate_text
from billing.domain.wallet import Wallet, WalletStatus

MAX_MESSAGE_ID_LENGTH = 200
MIN_HOLD_TTL = timedelta(seconds=1)
MAX_HOLD_TTL = timedelta(days=30)  # Meta's 30 days: BILLING_HOLD_TTL_SECONDS = 2592000
DEFAULT_HOLD_TTL = MAX_HOLD_TTL

# Meta's `pricing.type` at settlement: the free ones and why each is free; `regular` is billed.
REGULAR = "regular"
FREE_PRICING_TYPES: dict[str, FreeReason] = {
    "free_customer_service": FreeReason.CUSTOMER_SERVICE_WINDOW,
    "free_entry_point": FreeReason.FREE_ENTRY_POINT,
}


class HoldStatus(enum.StrEnum):
    HELD = "held"
    SETTLED = "settled"
    VOIDED = "voided"
    EXPIRED = "expired"


def validate_message_id(value: object, field: str = "message_id") -> str:
    """A message id as Meta writes it (a wamid is base64 after its prefix, so `/`, `+` and `=` are fine): one line
    of 1-200 characters, not blank."""
    return validate_text(value, field=field, max_length=MAX_MESSAGE_ID_LENGTH, required=True) or ""


def _not_negative(amount: Money, what: str) -> None:
    if amount.is_negative:
        raise ValueError(f"{what} cannot be negative: {amount}")


@attrs.frozen
class Funds:
    """A wallet's money as the hold, lane and freeze rules see it. `held` is the sum of the wallet's open holds;
    `balance >= held >= 0` always (the wallet row's CHECK), so `available` is never negative."""

    balance: Money
    held: Money
    status: WalletStatus
    marketing_reserve: Money
    # What the wallet owes (contract v3 §19): while it is > 0, `available` is 0 and billable holds are refused.
    debt: Money = attrs.field(default=attrs.Factory(lambda funds: Money.zero(funds.balance.currency), takes_self=True))

    def __attrs_post_init__(self) -> None:
        currencies = {self.balance.currency, self.held.currency, self.marketing_reserve.currency, self.debt.currency}
        if len(currencies) != 1:
            raise ValueError(f"funds in more than one currency: {sorted(currencies)}")
        _not_negative(self.held, "held")
        _not_negative(self.marketing_reserve, "marketing_reserve")
        _not_negative(self.debt, "debt")
        if self.balance < self.held:
            raise ValueError(f"balance {self.balance} cannot be below held {self.held}")

    @classmethod
    def of(cls, wallet: Wallet, marketing_reserve: Money | None = None) -> Funds:
        reserve = marketing_reserve if marketing_reserve is not None else Money.zero(wallet.currency)
        return cls(wallet.balance, wallet.held, wallet.status, reserve, wallet.debt)

    @property
    def currency(self) -> str:
        return self.balance.currency

    @property
    def available(self) -> Money:
        return self.balance - self.held

    @property
    def is_frozen(self) -> bool:
        return self.status is WalletStatus.FROZEN

    @property
    def in_debt(self) -> bool:
        return self.debt.is_positive

    def check_hold(self, amount: Money, category: Category) -> None:
        """A new hold of `amount`: wallet_frozen, insufficient_funds or lane_closed, or nothing when it may be held.
        A free hold (amount 0) is refused only by a freeze."""
        self.check_holds([(amount, category)])

    def check_holds(self, holds: Iterable[tuple[Money, Category]]) -> None:
        """New holds, all or nothing (a batch): the rules of `check_hold` for their total, marketing first."""
        if self.is_frozen:
            raise WalletFrozenError("the wallet is frozen: it takes no new holds")
        total = marketing = Money.zero(self.currency)
        for amount, category in holds:
            _not_negative(amount, "a hold")
            total += amount
            if category is Category.MARKETING:
                marketing += amount
        if total.is_positive and self.in_debt:
            raise WalletInDebtError(f"the wallet owes {self.debt} {self.currency}: it takes no billable holds")
        if total > self.available:
            raise InsufficientFundsError(f"available {self.available} {self.currency} cannot cover {total}")
        if marketing.is_positive and self.available - marketing < self.marketing_reserve:
            raise LaneClosedError(
                f"marketing of {marketing} {self.currency} would leave less than the marketing reserve of "
                f"{self.marketing_reserve} available (available: {self.available})"
            )

    def check_direct_charge(self, amount: Money) -> None:
        """A v1 direct charge: refused by a freeze, and it needs `available` (not `balance`) to cover it."""
        if self.is_frozen:
            raise WalletFrozenError("the wallet is frozen: it takes no direct charges")
        _not_negative(amount, "a charge")
        if self.in_debt:
            raise WalletInDebtError(f"the wallet owes {self.debt} {self.currency}: it takes no direct charges")
        if amount > self.available:
            raise InsufficientFundsError(f"available {self.available} {self.currency} cannot cover {amount}")

    def covers(self, amount: Money) -> bool:
        """Whether `available` covers `amount` (a webhook charge without an open hold needs it, frozen or not)."""
        return amount <= self.available

    def after_hold(self, amount: Money) -> Funds:
        """The funds once a hold (or a batch's total) is placed; `check_hold(s)` said it may be."""
        _not_negative(amount, "a hold")
        return attrs.evolve(self, held=self.held + amount)

    def after_charge(self, amount: Money) -> Funds:
        """The funds once `amount` is charged without a hold (a direct charge, a webhook charge of a released
        hold); `check_direct_charge` or `covers` said it may be."""
        _not_negative(amount, "a charge")
        return attrs.evolve(self, balance=self.balance - amount)

    def after_release(self, held_amount: Money) -> Funds:
        """The funds once an open hold of `held_amount` is voided or expires: its money is available again."""
        _not_negative(held_amount, "a hold")
        return attrs.evolve(self, held=self.held - held_amount)

    def after_settle(self, held_amount: Money, price: Money) -> tuple[Funds, Money, Money]:
        """Settle an open hold of `held_amount` at `price` (Meta's word, see `reprice`): the funds after it, what is
        charged and the shortfall. `held` falls by the hold's amount and `balance` by what is charged. A price
        above the hold takes the difference from `available`; what `available` cannot cover is not charged but
        returned as the shortfall, so the balance never goes below zero (nor below the other holds)."""
        _not_negative(price, "a price")
        released = self.after_release(held_amount)
        charged = min(price, released.available)
        return attrs.evolve(released, balance=released.balance - charged), charged, price - charged


@attrs.define
class Hold:
    """One message's reserved price. `quote` is the price snapshot taken when it was held (category, market,
    country, tier, rate_card_id, unit_price, amount, free_reason, the recipient masked); what settling charged is
    in `charged`, `shortfall` and `settled_category`."""

    id: UUID
    tenant_id: str
    message_id: str
    quote: Quote
    window: Window
    status: HoldStatus
    created_at: datetime
    expires_at: datetime
    settled_at: datetime | None = None
    voided_at: datetime | None = None
    charged: Money | None = None
    shortfall: Money | None = None
    transaction_id: UUID | None = None
    settled_category: Category | None = None
    # Contract v3 §15: the cost estimated when held (None: uncosted), and once charged its message time (Meta's
    # status timestamp, or the settle time) and what it cost (None: uncosted).
    cost_estimate: Money | None = None
    message_at: datetime | None = None
    cost: Cost | None = None
    # The business number that sends it (contract v3 §16), mapped to its tenant; None when not said.
    phone_number_id: str | None = None
    # What happened to it in this unit of work, heard by the unit once the hold is written (`pull_events`).
    events: list[DomainEvent] = attrs.field(factory=list, eq=False, repr=False)

    @classmethod
    def place(
        cls,
        hold_id: UUID,
        tenant_id: str,
        message_id: str,
        quote: Quote,
        window: Window,
        at: datetime,
        expires_in: timedelta = DEFAULT_HOLD_TTL,
        cost_estimate: Money | None = None,
        phone_number_id: str | None = None,
    ) -> Hold:
        """A new open hold. `Funds.check_hold` decides whether the wallet may take it; this checks the hold."""
        if at.utcoffset() is None:
            raise ValueError("a hold's time must carry a time zone")
        if not MIN_HOLD_TTL <= expires_in <= MAX_HOLD_TTL:
            raise ValidationError.of(
                "expires_in_seconds", f"must be from 1 to {int(MAX_HOLD_TTL.total_seconds())} seconds"
            )
        hold = cls(
            id=hold_id,
            tenant_id=tenant_id,
            message_id=validate_message_id(message_id),
            quote=quote,
            window=window,
            status=HoldStatus.HELD,
            created_at=at,
            expires_at=at + expires_in,
            cost_estimate=cost_estimate,
            phone_number_id=phone_number_id,
        )
        hold.events.append(HoldPlaced(hold_id, tenant_id, hold.message_id, quote.amount, str(quote.category), at))
        return hold

    def pull_events(self) -> list[DomainEvent]:
        events, self.events = self.events, []
        return events

    @property
    def amount(self) -> Money:
        return self.quote.amount

    @property
    def category(self) -> Category:
        return self.quote.category

    @property
    def market(self) -> str:
        return self.quote.market

    @property
    def is_open(self) -> bool:
        """Whether its amount counts in the wallet's `held` (until the sweeper expires it, even past expires_at)."""
        return self.status is HoldStatus.HELD

    @property
    def is_settled(self) -> bool:
        return self.status is HoldStatus.SETTLED

    def is_expired_at(self, at: datetime) -> bool:
        return at >= self.expires_at

    def same_request(self, category: Category, market: str, window: Window, phone_number_id: str | None = None) -> bool:
        """Whether a hold asked again for this message id is the same request: same category, market, window and
        business number (another number, or none where one was given, is another request: v3 §16)."""
        asked = (category, market, window, phone_number_id)
        return (self.category, self.market, self.window, self.phone_number_id) == asked

    def check_repeat(self, category: Category, market: str, window: Window, phone_number_id: str | None = None) -> None:
        """A hold asked again for this message id: nothing when it is the same request (the caller answers this
        hold, 200), DuplicateError when anything differs."""
        if not self.same_request(category, market, window, phone_number_id):
            number = "" if self.phone_number_id is None else f", number {self.phone_number_id}"
            raise DuplicateError(
                f"message {self.message_id!r} is already held as {self.category} in {self.market} "
                f"(window {self.window}{number})"
            )

    def check_settle(self, at: datetime) -> None:
        """InvalidStateError unless the hold is open and not past its `expires_at` (a settled one too: ask
        `is_settled` first, a repeat settle is the caller's idempotent 200)."""
        if self.status is not HoldStatus.HELD:
            raise InvalidStateError(f"cannot settle a hold that is {self.status}")
        if self.is_expired_at(at):
            raise InvalidStateError(f"the hold expired at {self.expires_at.isoformat()}; it cannot be settled")

    def settle(
        self,
        at: datetime,
        charged: Money,
        shortfall: Money,
        transaction_id: UUID | None,
        category: Category,
        *,
        message_at: datetime | None = None,
        cost: Cost | None = None,
    ) -> None:
        """Charge an open hold once (`Funds.after_settle` computed `charged` and `shortfall`). Anything but an open
        hold before its `expires_at` is InvalidStateError, a settled one too: a repeat settle is the caller's
        idempotent 200 (ask `is_settled` first)."""
        self.check_settle(at)
        _not_negative(charged, "charged")
        _not_negative(shortfall, "shortfall")
        self.status = HoldStatus.SETTLED
        self.settled_at = at
        self.charged = charged
        self.shortfall = shortfall
        self.transaction_id = transaction_id
        self.settled_category = category
        self.message_at = at if message_at is None else message_at
        self.cost = cost
        self.events.append(
            HoldSettled(self.id, self.tenant_id, self.message_id, charged, shortfall, transaction_id, at)
        )

    def void(self, at: datetime) -> bool:
        """The message failed: release the hold. True when this call released it (take its amount off `held`);
        False for a hold already voided or expired, which stays as it is. A hold still open at or after its
        `expires_at` expires instead (it is expired, swept or not). A settled hold is InvalidStateError."""
        if self.status is HoldStatus.SETTLED:
            raise InvalidStateError("cannot void a settled hold")
        if self.status is not HoldStatus.HELD:
            return False
        if self.expire(at):
            return True
        self.status = HoldStatus.VOIDED
        self.voided_at = at
        self.events.append(HoldVoided(self.id, self.tenant_id, self.message_id, self.amount, at))
        return True

    def expire(self, at: datetime) -> bool:
        """The sweeper: an open hold at or after its `expires_at` expires. True when this call released it."""
        if self.status is not HoldStatus.HELD or not self.is_expired_at(at):
            return False
        self.status = HoldStatus.EXPIRED
        return True

    def charge_released(
        self, charged: Money, transaction_id: UUID, *, message_at: datetime | None = None, cost: Cost | None = None
    ) -> None:
        """Meta's webhook delivered a message whose hold was already voided or expired (§11): it is charged once, at
        the hold's own price; the hold keeps its status and gains `charged` and `transaction_id`."""
        if self.status not in (HoldStatus.VOIDED, HoldStatus.EXPIRED):
            raise InvalidStateError(f"only a voided or expired hold is charged this way, not one {self.status}")
        if self.charged is not None:
            raise InvalidStateError("this released hold was already charged")
        _not_negative(charged, "charged")
        self.charged = charged
        self.shortfall = Money.zero(charged.currency)
        self.transaction_id = transaction_id
        self.message_at = message_at
        self.cost = cost


def reprices_category(hold: Hold, category: str | None) -> bool:
    """Whether Meta's `category` at settlement differs from the hold's, so that `reprice` needs the hold's card."""
    return category is not None and parse_category(category)[0] is not hold.category


def reprice(
    card: RateCard | None,
    hold: Hold,
    *,
    category: str | None = None,
    pricing_type: str | None = None,
    billable: bool | None = None,
) -> Quote:
    """The message's price by Meta's word at settlement, on the hold's own card (the card whose id is
    `hold.quote.rate_card_id`; only read when `reprices_category`, so None otherwise), market and tier. Nothing
    said (all None): the hold's own quote.

    - `category` (Meta's name, `marketing_lite` and `referral_conversion` included): a different category is
      priced on the same card, country (so market) and window, at the rate with the largest `tier_from` <= the
      hold's tier; NotPricedError when the card has no rate for it in that market.
    - Free: `pricing_type` `free_customer_service` / `free_entry_point` (that reason), Meta's `referral_conversion`
      (a free entry point), or `billable` False (the hold's own free reason, else a free entry point: Meta's only
      free kind outside a service window). The amount is then 0.
    - Billed: `pricing_type` `regular` or `billable` True, and nothing free said: the unit price, even when the
      hold was free by its window. Otherwise the hold's window decides, as it did at hold time.
    """
    if card is not None and card.id != hold.quote.rate_card_id:
        raise ValueError(f"hold {hold.id} was priced on card {hold.quote.rate_card_id}, not {card.id}")
    settled_category = hold.category if category is None else parse_category(category)[0]
    said = meta_word(hold, category=category, pricing_type=pricing_type, billable=billable)
    base = hold.quote
    if settled_category is not hold.category:
        if card is None:
            raise ValueError(f"repricing hold {hold.id} as {settled_category} needs its card")
        base = quote(
            card,
            recipient=hold.quote.recipient,  # already masked: masking keeps its last 4 digits
            country=hold.quote.country,
            category=settled_category,
            window=hold.window,
            settled_this_month=hold.quote.tier - 1,  # n = the hold's tier
        )
    currency = hold.amount.currency
    if said.free_reason is not None:
        return attrs.evolve(base, amount=Money.zero(currency), free_reason=said.free_reason)
    if said.billed:
        return attrs.evolve(base, amount=Money.rounded(base.unit_price.amount, currency), free_reason=None)
    return base


def meta_word(
    hold: Hold | None,
    *,
    category: str | None = None,
    pricing_type: str | None = None,
    billable: bool | None = None,
) -> MetaWord:
    """What Meta's status says of a message's charge (see `reprice`), for its price and its cost alike: free by a
    pricing type, by Meta's category (`referral_conversion`) or by `billable: false` (the hold's own free reason,
    else a free entry point); billed by `regular` or `billable: true`; else nothing."""
    reason = _free_by_type(pricing_type) or (None if category is None else parse_category(category)[1])
    if reason is None and billable is False:
        reason = (None if hold is None else hold.quote.free_reason) or FreeReason.FREE_ENTRY_POINT
    return MetaWord(reason, billed=reason is None and (pricing_type == REGULAR or billable is True))


def _free_by_type(pricing_type: str | None) -> FreeReason | None:
    if pricing_type is None or pricing_type == REGULAR:
        return None
    if pricing_type in FREE_PRICING_TYPES:
        return FREE_PRICING_TYPES[pricing_type]
    raise ValidationError.of("pricing_type", f"must be one of {', '.join([REGULAR, *FREE_PRICING_TYPES])}")
