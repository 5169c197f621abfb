"""Rate cards and quotes (contract v2 §8): what one WhatsApp message costs, on which card, and why.

A rate card is immutable once created. `RateCard.create` checks a card as a client sent it and lists every problem
at once; `card_in_force` picks the card that prices a tenant's messages at a moment; `quote` prices one message on
it. Nothing here knows phone numbers: an adapter finds a number's country and hands it over as an ISO 3166-1
alpha-2 code (upper case).

Decisions the contract leaves open:
- A free message (a window, or Meta's `referral_conversion`) still needs its country's market and a rate for its
  category: a quote always says its market, tier and unit price, so without them it is `not_priced`, free or not.
- A country the card does not list (Kosovo's "XK", which has no ISO code, included) takes the `"*"` market.
- Category names are matched exactly as Meta writes them (lower case); a card's rates and its
  `free_in_service_window` take only the five categories, not Meta's `marketing_lite` or `referral_conversion`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar
from uuid import UUID

import attrs

from billing.domain.errors import FieldError, NotPricedError, ValidationError
from billing.domain.money import Money, Scale
from billing.domain.tenant import validate_tenant_id
from billing.domain.text import validate_text

MAX_NAME_LENGTH = 200
MAX_MARKET_LENGTH = 200
MAX_TIER_FROM = 2_147_483_647  # fits any integer column
ANY_COUNTRY = "*"
MASK = "…"  # U+2026: what stands for the hidden part of a recipient
# A recipient as answers show it: a phone number's "…3210", a business-scoped user id's "US.…1918".
_MASKED = re.compile(r"(?:[A-Za-z]{2}\.)?…[A-Za-z0-9]{0,4}")

# ISO 3166-1 alpha-2: the 249 officially assigned codes (as tzdata's iso3166.tab lists them, ISO/TC 46 N1108).
# User-assigned codes such as XK (Kosovo) and reserved ones such as UK or EU are not country codes.
# fmt: off
ISO_3166_ALPHA_2: frozenset[str] = frozenset({
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD",
    "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA",
    "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE",
    "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA",
    "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT",
    "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS",
    "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST",
    "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
    "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA",
    "ZM", "ZW",
})
# fmt: on


class Category(enum.StrEnum):
    MARKETING = "marketing"
    UTILITY = "utility"
    AUTHENTICATION = "authentication"
    AUTHENTICATION_INTERNATIONAL = "authentication_international"
    SERVICE = "service"


class CardKind(enum.StrEnum):
    """What a card lists (contract v3 §15): the platform's prices to clinics, or Meta's costs to the platform."""

    PRICE = "price"
    COST = "cost"


def parse_card_kind(value: object, *, field: str = "kind") -> CardKind:
    """A card's kind as a client names it; absent (None) is `price`."""
    if value is None:
        return CardKind.PRICE
    if isinstance(value, str) and value in _KINDS:
        return _KINDS[value]
    raise ValidationError.of(field, f"must be one of {', '.join(_KINDS)}")


class Window(enum.StrEnum):
    NONE = "none"
    CUSTOMER_SERVICE = "customer_service"
    FREE_ENTRY_POINT = "free_entry_point"


class FreeReason(enum.StrEnum):
    CUSTOMER_SERVICE_WINDOW = "customer_service_window"
    FREE_ENTRY_POINT = "free_entry_point"


_CATEGORIES = {category.value: category for category in Category}
_KINDS = {kind.value: kind for kind in CardKind}
_WINDOWS = {window.value: window for window in Window}
# Meta's own names that are not categories of a card: how each is priced, and whether it is free.
_META_CATEGORIES: dict[str, tuple[Category, FreeReason | None]] = {
    "marketing_lite": (Category.MARKETING, None),
    "referral_conversion": (Category.MARKETING, FreeReason.FREE_ENTRY_POINT),
}


def _category(value: object, *, field: str) -> Category:
    """One of the five categories, as a card names them."""
    if isinstance(value, str) and value in _CATEGORIES:
        return _CATEGORIES[value]
    raise ValidationError.of(field, f"must be one of {', '.join(_CATEGORIES)}")


def parse_category(value: object, *, field: str = "category") -> tuple[Category, FreeReason | None]:
    """A category as Meta or a client names it: the five categories, Meta's `marketing_lite` (priced as marketing)
    and `referral_conversion` (marketing, free as a free entry point)."""
    if isinstance(value, str) and value in _META_CATEGORIES:
        return _META_CATEGORIES[value]
    if isinstance(value, str) and value in _CATEGORIES:
        return _CATEGORIES[value], None
    raise ValidationError.of(field, f"must be one of {', '.join([*_CATEGORIES, *_META_CATEGORIES])}")


def parse_window(value: object, *, field: str = "window") -> Window:
    """A message's window; absent (None) is `none`."""
    if value is None:
        return Window.NONE
    if isinstance(value, str) and value in _WINDOWS:
        return _WINDOWS[value]
    raise ValidationError.of(field, f"must be one of {', '.join(_WINDOWS)}")


def _not_negative(_: object, __: object, price: Money) -> None:
    if price.is_negative:
        raise ValueError(f"a unit price cannot be negative: {price}")


@attrs.frozen
class Rate:
    """The price of one message in a market and category, from the `tier_from`-th message of the month on."""

    market: str
    category: Category
    unit_price: Money = attrs.field(validator=_not_negative)
    tier_from: int = attrs.field(default=1, validator=attrs.validators.ge(1))


class _Markets(Mapping[str, str]):
    """A read-only country → market mapping, so that a frozen card's markets cannot change under it."""

    def __init__(self, items: Mapping[str, str]) -> None:
        self._items = dict(items)

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return repr(self._items)


def _frozen_markets(markets: Mapping[str, str]) -> Mapping[str, str]:
    return markets if isinstance(markets, _Markets) else _Markets(markets)


def _frozen_categories(categories: Iterable[Category]) -> frozenset[Category]:
    return frozenset(categories)


def _frozen_rates(rates: Iterable[Rate]) -> tuple[Rate, ...]:
    return tuple(rates)


@attrs.frozen
class RateCard:
    """The platform's price list for messages, for every tenant (`tenant_id` None) or for one; or, of kind `cost`,
    Meta's price list to the platform (always platform-wide), which prices what a message cost, never its price."""

    id: UUID
    name: str
    currency: str
    effective_from: datetime
    tenant_id: str | None
    free_in_service_window: frozenset[Category] = attrs.field(converter=_frozen_categories)
    markets: Mapping[str, str] = attrs.field(converter=_frozen_markets)
    rates: tuple[Rate, ...] = attrs.field(converter=_frozen_rates)
    created_by: str
    created_at: datetime
    kind: CardKind = CardKind.PRICE

    @classmethod
    def create(
        cls,
        *,
        card_id: UUID,
        name: object,
        currency: object,
        effective_from: datetime,
        tenant_id: str | None,
        free_in_service_window: object,
        markets: object,
        rates: object,
        created_by: str,
        created_at: datetime,
        deployment_currency: str,
        kind: object = None,
    ) -> RateCard:
        """A card as a client sent it (JSON-like values), checked whole: one ValidationError lists every problem."""
        problems = _Problems()
        checked_kind = problems.check(parse_card_kind, kind)
        if checked_kind is CardKind.COST and tenant_id is not None:
            problems.add("tenant_id", "must be null for a cost card: Meta's costs are the platform's, not a clinic's")
        checked_name = problems.check(validate_text, name, field="name", max_length=MAX_NAME_LENGTH, required=True)
        if currency != deployment_currency:
            problems.add("currency", f"must be {deployment_currency}, the currency of this deployment")
        if effective_from.utcoffset() is None:
            problems.add("effective_from", "must carry a time zone")
        if tenant_id is not None:
            problems.check(validate_tenant_id, tenant_id)
        free = _check_free_in_service_window(free_in_service_window, problems)
        checked_markets = _check_markets(markets, problems)
        checked_rates = _check_rates(rates, checked_markets, deployment_currency, problems)
        if problems.errors:
            raise ValidationError(problems.errors)
        assert checked_name is not None  # no problems: every part was read
        assert checked_markets is not None
        assert checked_kind is not None
        return cls(
            id=card_id,
            name=checked_name,
            currency=deployment_currency,
            effective_from=effective_from.astimezone(UTC),
            tenant_id=tenant_id,
            free_in_service_window=free,
            markets=checked_markets,
            rates=checked_rates,
            created_by=created_by,
            created_at=created_at,
            kind=checked_kind,
        )

    @property
    def is_cost(self) -> bool:
        return self.kind is CardKind.COST

    def market_of(self, country: str) -> str | None:
        """The market of an ISO alpha-2 country: its own entry, else the `"*"` entry, else None."""
        return self.markets.get(country.upper(), self.markets.get(ANY_COUNTRY))

    def rate(self, market: str, category: Category, n: int) -> Rate | None:
        """The rate of the n-th message of the month: the row with the largest `tier_from` <= n."""
        rows = (r for r in self.rates if r.market == market and r.category is category and r.tier_from <= n)
        return max(rows, key=lambda r: r.tier_from, default=None)

    def markets_of(self, countries: Iterable[str]) -> set[str]:
        """The markets these countries fall in (unmapped countries left out)."""
        return {market for country in countries if (market := self.market_of(country)) is not None}

    def prices_like(self, other: RateCard) -> bool:
        """Whether both cards price every message alike: the same currency, markets, rates and tiers, and the same
        categories free in a service window. Name, dates, scope and who made them do not count."""
        return (
            self.currency == other.currency
            and self.free_in_service_window == other.free_in_service_window
            and dict(self.markets) == dict(other.markets)
            and set(self.rates) == set(other.rates)
        )


def scope_card_in_force(cards: Iterable[RateCard], tenant_id: str | None, at: datetime) -> RateCard | None:
    """One scope's card at `at`: of the tenant's own cards (the default cards when `tenant_id` is None), the one with
    the latest `effective_from` <= at. Ties go to the later `created_at` (then the larger id, so that the answer
    never depends on the order of `cards`). A card of another scope is never chosen."""
    return _latest((card for card in cards if not card.is_cost and card.tenant_id == tenant_id), at)


def card_in_force(cards: Iterable[RateCard], tenant_id: str, at: datetime) -> RateCard | None:
    """The card pricing the tenant's messages at `at`: its own card in force (`scope_card_in_force`), else the
    default card in force, else None. Another tenant's card, or a cost card, is never chosen."""
    every = list(cards)
    return scope_card_in_force(every, tenant_id, at) or scope_card_in_force(every, None, at)


def cost_card_in_force(cards: Iterable[RateCard], at: datetime) -> RateCard | None:
    """The cost card that prices what a message at `at` cost the platform (ties as `scope_card_in_force`)."""
    return _latest((card for card in cards if card.is_cost), at)


def _latest(cards: Iterable[RateCard], at: datetime) -> RateCard | None:
    candidates = [card for card in cards if card.effective_from <= at]
    return max(candidates, key=lambda card: (card.effective_from, card.created_at, card.id), default=None)


@attrs.frozen
class Quote:
    """One message's price. It moves no money. `amount` is 0 when `free_reason` is set; `unit_price`, `tier` and
    `market` are those of the rate the message would otherwise pay."""

    recipient: str  # masked: a phone number by `mask_recipient`, a BSUID by `recipients.parse_bsuid`
    country: str
    market: str
    category: Category
    tier: int  # the tier_from of the rate used
    rate_card_id: UUID
    unit_price: Money
    amount: Money
    free_reason: FreeReason | None


def is_masked(recipient: str) -> bool:
    """Whether `recipient` is already as answers show it ("…3210", "US.…1918") and nothing more."""
    return _MASKED.fullmatch(recipient) is not None


def mask_recipient(number: str) -> str:
    """A phone number as a quote shows it: an ellipsis (U+2026) and its last 4 digits, "+91 98765 43210" ->
    "…3210". Other characters (+, spaces) are dropped; a number of 4 digits or fewer shows only what it has.
    A recipient already masked (it holds the ellipsis: "…3210", or a BSUID's "US.…1918", `recipients.py`) is kept
    as it is, so that a masked recipient can be priced again (a repriced hold)."""
    if is_masked(number):
        return number
    digits = "".join(char for char in number if char.isascii() and char.isdigit())
    return f"{MASK}{digits[-4:]}"


def quote(
    card: RateCard,
    *,
    recipient: str,
    country: str,
    category: Category,
    window: Window,
    free_reason: FreeReason | None = None,
    settled_this_month: int = 0,
) -> Quote:
    """One message's price on `card`. `settled_this_month`: the tenant's billable messages settled this UTC month in
    the message's market and category, so that this one is the n = 1 + settled_this_month-th. `free_reason`: Meta
    already says the message is free (`referral_conversion`). Raises NotPricedError when the country has no market
    or the market and category no rate, free or not."""
    if settled_this_month < 0:
        raise ValueError("settled_this_month cannot be negative")
    market = card.market_of(country)
    if market is None:
        raise NotPricedError(f"rate card {card.id} has no market for country {country} (and no '*')")
    rate = card.rate(market, category, 1 + settled_this_month)
    if rate is None:
        raise NotPricedError(f"rate card {card.id} has no {category} rate for the market {market!r}")
    reason = free_reason if free_reason is not None else _free_reason(card, category, window)
    # Rounded half-up to 4 digits here, once (contract §7); a card's prices have at most 4 digits already.
    billed = Money.rounded(rate.unit_price.amount, card.currency)
    return Quote(
        recipient=mask_recipient(recipient),
        country=country.upper(),
        market=market,
        category=category,
        tier=rate.tier_from,
        rate_card_id=card.id,
        unit_price=rate.unit_price,
        amount=Money.zero(card.currency) if reason is not None else billed,
        free_reason=reason,
    )


def _free_reason(card: RateCard, category: Category, window: Window) -> FreeReason | None:
    if window is Window.FREE_ENTRY_POINT:
        return FreeReason.FREE_ENTRY_POINT
    if window is Window.CUSTOMER_SERVICE and category in card.free_in_service_window:
        return FreeReason.CUSTOMER_SERVICE_WINDOW
    return None


# --- checking a card as a client sent it -------------------------------------------------------------------------

_P = ParamSpec("_P")
_T = TypeVar("_T")
_RATE_FIELDS = ("market", "category", "unit_price", "tier_from")


class _Problems:
    """Every problem found in a card, so that one answer lists them all."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def check(self, read: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T | None:
        try:
            return read(*args, **kwargs)
        except ValidationError as error:
            self.errors.extend(error.errors)
            return None


def _check_free_in_service_window(value: object, problems: _Problems) -> frozenset[Category]:
    field = "free_in_service_window"
    if not isinstance(value, list | tuple):
        problems.add(field, "must be a list of categories (empty when none is free in the window)")
        return frozenset()
    found = (problems.check(_category, item, field=f"{field}[{i}]") for i, item in enumerate(value))
    return frozenset(category for category in found if category is not None)


def _check_markets(value: object, problems: _Problems) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        problems.add("markets", 'must be an object of ISO 3166-1 alpha-2 country codes (or "*") to market names')
        return None
    if not value:
        problems.add("markets", "must map at least one country to a market")
    markets: dict[str, str] = {}
    for country, market in value.items():
        field = f"markets.{country}"
        if not isinstance(country, str) or (country != ANY_COUNTRY and country not in ISO_3166_ALPHA_2):
            hint = f" ({country.upper()})" if isinstance(country, str) and country.upper() in ISO_3166_ALPHA_2 else ""
            problems.add(field, f'must be an ISO 3166-1 alpha-2 country code in upper case{hint}, or "*"')
        name = problems.check(validate_text, market, field=field, max_length=MAX_MARKET_LENGTH, required=True)
        if isinstance(country, str) and name is not None:
            markets[country] = name
    return markets


def _check_rates(
    value: object, markets: Mapping[str, str] | None, currency: str, problems: _Problems
) -> tuple[Rate, ...]:
    if not isinstance(value, list | tuple):
        problems.add("rates", "must be a list of rates")
        return ()
    if not value:
        problems.add("rates", "must have at least one rate")
    known_markets = None if markets is None else set(markets.values())
    rates: list[Rate] = []
    first_row: dict[tuple[str, Category, int], int] = {}  # each (market, category, tier_from) -> where it is
    tiers: dict[tuple[str, Category], set[int]] = {}
    for i, row in enumerate(value):
        at = f"rates[{i}]"
        if not isinstance(row, Mapping):
            problems.add(at, f"must be an object with {', '.join(_RATE_FIELDS)}")
            continue
        for key in row:
            if key not in _RATE_FIELDS:
                problems.add(f"{at}.{key}", f"is not a field of a rate ({', '.join(_RATE_FIELDS)})")
        market = problems.check(
            validate_text, row.get("market"), field=f"{at}.market", max_length=MAX_MARKET_LENGTH, required=True
        )
        if market is not None and known_markets is not None and market not in known_markets:
            problems.add(f"{at}.market", f"{market!r} is not a market of this card's markets")
        category = problems.check(_category, row.get("category"), field=f"{at}.category")
        unit_price = problems.check(_unit_price, row.get("unit_price"), currency, field=f"{at}.unit_price")
        tier_from = problems.check(_tier_from, row.get("tier_from"), field=f"{at}.tier_from")
        if market is None or category is None or tier_from is None:
            continue
        if (earlier := first_row.setdefault((market, category, tier_from), i)) != i:
            problems.add(f"{at}.tier_from", f"rates[{earlier}] already prices {market} {category} from {tier_from}")
        tiers.setdefault((market, category), set()).add(tier_from)
        if unit_price is not None:
            rates.append(Rate(market, category, unit_price, tier_from))
    for (market, category), starts in tiers.items():
        if 1 not in starts:
            problems.add("rates", f"{market} {category} has no row with tier_from 1 (every price starts at 1)")
    return tuple(rates)


def _unit_price(value: object, currency: str, *, field: str) -> Money:
    if value is None:
        raise ValidationError.of(field, "is required")
    return Money.parse(value, currency, field=field, allow_zero=True, scale=Scale.MESSAGE)


def _tier_from(value: object, *, field: str) -> int:
    if value is None:
        return 1
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_TIER_FROM:
        raise ValidationError.of(field, f"must be a whole number from 1 to {MAX_TIER_FROM}")
    return value
