"""Pages: page >= 1, page_size 1-100, newest first, with the total."""

from __future__ import annotations

import pytest

from billing.domain.errors import ValidationError

CLINIC = "clinic-a"

LISTINGS = {
    "topup_requests": lambda s, **page: s.operator.topup_requests(**page),
    "invoices": lambda s, **page: s.operator.invoices(**page),
    "transactions": lambda s, **page: s.operator.transactions(CLINIC, **page),
}


@pytest.mark.parametrize("listing", list(LISTINGS))
@pytest.mark.parametrize(
    ("page", "fields"),
    [
        ({"page": 0}, ["page"]),
        ({"page": -1}, ["page"]),
        ({"page_size": 0}, ["page_size"]),
        ({"page_size": 101}, ["page_size"]),
        ({"page": 0, "page_size": 1000}, ["page", "page_size"]),
        ({"page": True}, ["page"]),
        ({"page": "2"}, ["page"]),
    ],
)
async def test_an_out_of_range_page_is_a_validation_error_naming_it(scenario, listing, page, fields) -> None:
    with pytest.raises(ValidationError) as caught:
        await LISTINGS[listing](scenario, **page)

    assert [e.field for e in caught.value.errors] == fields


async def test_requests_are_listed_newest_first_with_the_total(scenario) -> None:
    sent = [await scenario.pending(f"{n}.00") for n in range(1, 6)]
    newest_first = [r.id for r in reversed(sent)]

    first = await scenario.clinic.topup_requests(page=1, page_size=2)
    second = await scenario.clinic.topup_requests(page=2, page_size=2)
    third = await scenario.clinic.topup_requests(page=3, page_size=2)
    beyond = await scenario.clinic.topup_requests(page=4, page_size=2)

    assert [r.id for r in (*first.items, *second.items, *third.items)] == newest_first
    assert [len(p.items) for p in (first, second, third, beyond)] == [2, 2, 1, 0]
    assert {p.total for p in (first, second, third, beyond)} == {5}
    assert (second.page, second.page_size) == (2, 2)


async def test_the_default_page_is_the_first_twenty(scenario) -> None:
    for n in range(21):
        await scenario.pending(f"{n + 1}.00")

    page = await scenario.clinic.topup_requests()

    assert (page.page, page.page_size, page.total, len(page.items)) == (1, 20, 21, 20)
    assert str(page.items[0].amount) == "21.00"


async def test_the_largest_page_is_a_hundred(scenario) -> None:
    await scenario.pending()

    page = await scenario.clinic.topup_requests(page_size=100)

    assert page.page_size == 100


async def test_invoices_are_listed_newest_first(scenario) -> None:
    invoiced = [await scenario.invoiced(f"{n}.00") for n in range(1, 4)]

    page = await scenario.clinic.invoices()

    assert [i.id for i in page.items] == [r.invoice_id for r in reversed(invoiced)]
    assert page.total == 3


async def test_the_ledger_is_listed_newest_first(scenario) -> None:
    await scenario.fund(CLINIC, "100.00")
    for n in range(1, 4):
        scenario.tick()
        await scenario.operator.charge(CLINIC, f"{n}.00", f"wamid.{n}")

    page = await scenario.clinic.transactions(page_size=3)

    assert [row.reference_id for row in page.items] == ["wamid.3", "wamid.2", "wamid.1"]
    assert page.total == 4


async def test_ledger_rows_written_in_one_instant_keep_their_order(scenario) -> None:
    # The clock does not move: the order comes from the ledger, not from the timestamps.
    await scenario.fund(CLINIC, "100.00")
    for n in range(1, 6):
        await scenario.operator.charge(CLINIC, "1.00", f"wamid.{n}")

    page = await scenario.clinic.transactions()

    assert [str(row.balance_after) for row in page.items] == ["95.00", "96.00", "97.00", "98.00", "99.00", "100.00"]
