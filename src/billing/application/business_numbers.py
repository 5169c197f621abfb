"""The business number that sends a message (contract v3 §16): a quote, a hold or a batch item may name it, and it
must be one of Meta's numbers mapped to the same tenant (v2 §11)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from billing.application.ports import UnitOfWork
from billing.domain.errors import FieldError, ValidationError
from billing.domain.webhook_events import validate_phone_number_id

# How a message's field is named in errors: `phone_number_id` alone, `messages[3].phone_number_id` in a batch.
FieldName = Callable[[int, str], str]


async def require_business_numbers(
    tenant_id: str, numbers: Sequence[str | None], uow: UnitOfWork, *, field: FieldName
) -> None:
    """Each business number given (v3 §16) is well formed and mapped to this tenant (v2 §11), else one 400 naming
    every bad one; one read for all of them, none when no number is given."""
    given = {index: number for index, number in enumerate(numbers) if number is not None}
    if not given:
        return
    problems: list[FieldError] = []
    for index, number in given.items():
        try:
            validate_phone_number_id(number)
        except ValidationError as error:
            problems += [FieldError(field(index, "phone_number_id"), e.message) for e in error.errors]
    if problems:
        raise ValidationError(problems)
    tenants = await uow.whatsapp_numbers.tenants_of(sorted(set(given.values())))
    refused = [
        FieldError(field(index, "phone_number_id"), "is not a WhatsApp number mapped to this tenant")
        for index, number in given.items()
        if tenants.get(number) != tenant_id
    ]
    if refused:
        raise ValidationError(refused)
