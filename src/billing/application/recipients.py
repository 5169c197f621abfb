"""Recipients of quotes and holds read once (contract v2 §8, v3 §16): a business-scoped user id by its prefix, a
phone number by the numbering plan (`rt.countries`); a refusal names every recipient that is neither."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from billing.application.runtime import Runtime
from billing.domain.errors import FieldError, ValidationError
from billing.domain.recipients import Recipient, RecipientError, parse_recipient


def read_recipients(values: Sequence[object], rt: Runtime, field: Callable[[int], str]) -> list[Recipient]:
    """Each value as a Recipient, in order; else one ValidationError naming each bad one by `field(index)`
    (`recipients[2]`, `recipient`, `messages[3].recipient`). Nothing is read or stored before this passes."""
    recipients: list[Recipient] = []
    problems: list[FieldError] = []
    for index, value in enumerate(values):
        try:
            recipients.append(parse_recipient(value, rt.countries.country_of))
        except RecipientError as refused:
            problems.append(FieldError(field(index), str(refused)))
    if problems:
        raise ValidationError(problems)
    return recipients
