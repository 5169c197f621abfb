"""Statements (contract v2 §12): a wallet's ledger rows over whole UTC days as CSV, streamed.

The first chunk of rows is read before the answer starts, so a refused caller or a bad period is an ordinary
problem response; the rest is read chunk by chunk while it is sent (`billing.entrypoints.statement_csv`)."""

from __future__ import annotations

from datetime import UTC

from litestar import Controller, get
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Stream

from billing.application.caller import Caller
from billing.application.service import BillingService
from billing.application.statements import StatementPeriod, open_statement
from billing.entrypoints.http.controllers.params import FirstDay, LastDay, parse_day
from billing.entrypoints.http.problems import problem_responses
from billing.entrypoints.statement_csv import HEADER_LINE, MEDIA_TYPE, attachment, statement_csv

DESCRIPTION = f"CSV (RFC 4180, UTF-8), oldest row first, after the header line: {HEADER_LINE.strip()}"
DISPOSITION = ResponseHeader(
    name="Content-Disposition",
    description='attachment; filename="statement-{tenant_id}-{from}-{to}.csv"',
    required=True,
    documentation_only=True,
)


async def _stream(
    service: BillingService, caller: Caller, tenant_id: str | None, first_day: str | None, last_day: str | None
) -> Stream:
    today = service.runtime.clock.now().astimezone(UTC).date()
    period = StatementPeriod.of(parse_day(first_day, "from"), parse_day(last_day, "to"), today)
    statement = await open_statement(service.acting_as(caller), period, tenant_id)
    disposition = attachment(tenant_id or caller.tenant_id, period.first_day, period.last_day)
    return Stream(
        statement_csv(statement.entries()),
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": disposition},
    )


class StatementController(Controller):
    path = "/"
    tags = ["statements"]

    @get(
        "/wallet/me/statement.csv",
        operation_id="get_my_statement",
        media_type=MEDIA_TYPE,
        response_description=DESCRIPTION,
        response_headers=[DISPOSITION],
        responses=problem_responses("forbidden"),
    )
    async def get_my_statement(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        first_day: FirstDay = None,
        last_day: LastDay = None,
    ) -> Stream:
        """The caller's own statement (View) for `from`-`to`, inclusive UTC days; default this UTC month."""
        return await _stream(service, caller, None, first_day, last_day)

    @get(
        "/wallets/{tenant_id:str}/statement.csv",
        operation_id="get_tenant_statement",
        media_type=MEDIA_TYPE,
        response_description=DESCRIPTION,
        response_headers=[DISPOSITION],
        responses=problem_responses("forbidden"),
    )
    async def get_tenant_statement(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        tenant_id: FromPath[str],
        first_day: FirstDay = None,
        last_day: LastDay = None,
    ) -> Stream:
        """Any tenant's statement, for the root tenant (root + View)."""
        return await _stream(service, caller, tenant_id, first_day, last_day)
