"""A rate card that would change no price (what `billing ratecard import` refuses unless --again), on every backend:
compared with the card of its own scope in force at its effective date, by prices only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from billing.application.handlers.rate_cards import CreateRateCard, create_rate_card
from billing.domain.errors import DuplicateError, UnchangedRateCardError
from billing.domain.pricing import RateCard

JANUARY = datetime(2026, 1, 1, tzinfo=UTC)
MARCH = datetime(2026, 3, 1, tzinfo=UTC)
JUNE = datetime(2026, 6, 1, tzinfo=UTC)
SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)
MARKETS = {"US": "North America", "*": "Other"}
RATES: list[dict[str, object]] = [
    {"market": "North America", "category": "utility", "unit_price": "0.0034"},
    {"market": "North America", "category": "utility", "unit_price": "0.0030", "tier_from": 1000},
    {"market": "Other", "category": "marketing", "unit_price": "0.0604"},
]
DEARER: list[dict[str, object]] = [{**RATES[0], "unit_price": "0.0040"}, *RATES[1:]]


async def add(
    scenario,
    effective_from: datetime,
    *,
    tenant_id: str | None = None,
    rates: Sequence[Mapping[str, object]] = RATES,
    name: str = "A card",
    refuse_unchanged: bool = True,
) -> RateCard:
    scenario.tick()
    command = CreateRateCard(
        name=name,
        currency="USD",
        effective_from=effective_from,
        tenant_id=tenant_id,
        free_in_service_window=["service"],
        markets=dict(MARKETS),
        rates=[dict(rate) for rate in rates],
        refuse_unchanged=refuse_unchanged,
    )
    card: RateCard = await scenario.operator.run(create_rate_card, command)
    return card


async def stored(scenario) -> list[RateCard]:
    return list((await scenario.operator.rate_cards(page_size=100)).items)


async def test_the_same_prices_again_are_refused_whatever_the_name_and_nothing_is_added(scenario) -> None:
    first = await add(scenario, JANUARY)

    with pytest.raises(UnchangedRateCardError) as refused:
        await add(scenario, JANUARY, name="The same, renamed")
    with pytest.raises(UnchangedRateCardError):
        await add(scenario, MARCH, rates=list(reversed(RATES)))  # later, rates in another order: no price changes

    assert isinstance(refused.value, DuplicateError)  # the API's table maps it as a duplicate (409)
    assert str(first.id) in refused.value.detail
    assert "default card in force from 2026-01-01T00:00:00Z" in refused.value.detail
    assert [card.id for card in await stored(scenario)] == [first.id]


async def test_without_the_flag_the_same_prices_are_added(scenario) -> None:
    await add(scenario, JANUARY)

    again = await add(scenario, JANUARY, refuse_unchanged=False)

    assert again.id in {card.id for card in await stored(scenario)}
    assert len(await stored(scenario)) == 2


async def test_a_changed_price_a_changed_free_category_or_a_new_tier_is_a_new_card(scenario) -> None:
    await add(scenario, JANUARY)

    dearer = await add(scenario, MARCH, rates=DEARER)
    fewer_tiers = await add(scenario, JUNE, rates=[RATES[0], RATES[2]])

    assert {dearer.id, fewer_tiers.id} <= {card.id for card in await stored(scenario)}


async def test_the_comparison_is_with_the_card_in_force_at_the_new_cards_date(scenario) -> None:
    await add(scenario, JANUARY)
    await add(scenario, JUNE, rates=DEARER)

    back_to_january = await add(scenario, SEPTEMBER)  # after June's card: it changes prices back
    with pytest.raises(UnchangedRateCardError):
        await add(scenario, MARCH)  # before June's card: January's is in force then

    assert back_to_january.effective_from == SEPTEMBER
    assert len(await stored(scenario)) == 3


async def test_only_a_card_of_the_same_scope_counts(scenario) -> None:
    await add(scenario, JANUARY)

    clinic_card = await add(scenario, JANUARY, tenant_id="clinic-a")  # same prices as the default: its own scope
    with pytest.raises(UnchangedRateCardError) as refused:
        await add(scenario, MARCH, tenant_id="clinic-a")
    other_clinic = await add(scenario, JANUARY, tenant_id="clinic-b")

    assert "card of clinic-a in force from 2026-01-01T00:00:00Z" in refused.value.detail
    assert (clinic_card.tenant_id, other_clinic.tenant_id) == ("clinic-a", "clinic-b")
    assert len(await stored(scenario)) == 3


async def test_a_first_card_is_never_refused(scenario) -> None:
    card = await add(scenario, JANUARY, tenant_id="clinic-a")

    assert [found.id for found in await stored(scenario)] == [card.id]
