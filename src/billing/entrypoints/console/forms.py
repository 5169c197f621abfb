"""A console form's POST, the one way every form goes: read the form, parse it into a command, run the command
through the application; a refused command shows its page again with the problem beside the form, a done one
redirects (303, so that a reload asks for the next page, not for the form again).

A handler only says what is particular to it: the use case, how its form becomes the command, which page to show
again when refused (`Refused`), and where to go when done (`see_other`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs
from litestar import Request, Response
from litestar.datastructures import FormMultiDict
from litestar.response import Redirect

from billing.application.caller import Caller
from billing.application.runtime import Handler
from billing.application.service import BillingService
from billing.domain.errors import BillingError
from billing.entrypoints.console.views import FormProblem

C = TypeVar("C")
R = TypeVar("R")

Again = Callable[[FormMultiDict, FormProblem], Awaitable[Response[Any]]]
"""A page shown again: the form as it was sent, and why it was refused."""
Refusal = Callable[[FormMultiDict, BillingError], Awaitable[Response[Any]]]
"""The answer to a refused form: usually a `Refused`; a form whose errors need reading first writes its own."""


@attrs.frozen
class Refused:
    """Where a refused form goes: its page `again`, with the problem beside the form (or table row) `target` and
    the fields `known` shown as they were typed."""

    target: str
    again: Again
    known: tuple[str, ...] = ()

    async def __call__(self, form: FormMultiDict, error: BillingError) -> Response[Any]:
        return await self.again(form, FormProblem.of(error, self.target, form, known=self.known))


def typed(values: Any, name: str, default: str = "") -> str:
    """A query string's or a form's field as typed, trimmed; `default` when it is absent or blank."""
    value = values.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else default


def see_other(path: str, **query: str) -> Redirect:
    """Where a done form goes: the page to show next."""
    return Redirect(path, query_params=query, status_code=303)


async def form_action(
    request: Request[Any, Any, Any],
    service: BillingService,
    caller: Caller,
    handler: Handler[C, R],
    command: Callable[[FormMultiDict], C],
    *,
    refused: Refusal,
    done: Callable[[FormMultiDict, R], Redirect],
) -> Response[Any]:
    """The form's `command` through `handler`, as `caller`. Parsing the form is part of the attempt: a value the
    command refuses is the form's problem, shown beside it like the use case's own."""
    form = await request.form()
    try:
        result = await service.execute(handler, command(form), caller)
    except BillingError as error:
        return await refused(form, error)
    return done(form, result)
