"""The statement download (contract v2 §12): a form with from/to days (default: this UTC month) whose answer is the
same CSV file the API serves, streamed (`entrypoints/statement_csv.py` writes both)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date

import attrs
from litestar.response import Stream

from billing.application.caller import Caller
from billing.application.service import BillingService
from billing.application.statements import StatementPeriod, open_statement
from billing.entrypoints import statement_csv
from billing.entrypoints.console.views import parse_days

STATEMENT = "statement"  # the form's name, for the messages beside its fields


@attrs.frozen
class StatementForm:
    """The download form's days as typed (`YYYY-MM-DD`; empty: the default of the contract)."""

    first_day: str = ""
    last_day: str = ""

    @classmethod
    def this_month(cls, service: BillingService) -> StatementForm:
        today = service.runtime.clock.now().astimezone(UTC).date()
        period = StatementPeriod.of(None, None, today)
        return cls(period.first_day.isoformat(), period.last_day.isoformat())

    @classmethod
    def of(cls, values: Mapping[str, str]) -> StatementForm:
        return cls((values.get("from") or "").strip(), (values.get("to") or "").strip())

    def days(self) -> tuple[date | None, date | None]:
        """ValidationError naming each field that is not a day."""
        return parse_days(self.first_day, self.last_day)


async def statement_download(
    service: BillingService, caller: Caller, form: StatementForm, tenant_id: str | None = None
) -> Stream:
    """The CSV as an attachment. The first chunk is read before the answer starts, so a refused caller or a bad
    period raises here (the page says why) rather than in the middle of a download."""
    first_day, last_day = form.days()
    today = service.runtime.clock.now().astimezone(UTC).date()
    period = StatementPeriod.of(first_day, last_day, today)
    statement = await open_statement(service.acting_as(caller), period, tenant_id)
    disposition = statement_csv.attachment(tenant_id or caller.tenant_id, period.first_day, period.last_day)
    return Stream(
        statement_csv.statement_csv(statement.entries()),
        media_type=statement_csv.MEDIA_TYPE,
        headers={"Content-Disposition": disposition},
    )
