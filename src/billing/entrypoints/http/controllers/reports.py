"""Reports (contract v3 §15): the margin on messages, as JSON and as CSV."""

from __future__ import annotations

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from billing.application.caller import Caller
from billing.application.handlers.margins import GetMarginReport, margin_report
from billing.application.service import BillingService
from billing.domain.margins import MarginReport, MarginRow
from billing.entrypoints.http.controllers.params import FirstDay, LastDay, parse_day
from billing.entrypoints.http.problems import problem_responses
from billing.entrypoints.margin_csv import margin_csv
from billing.entrypoints.statement_csv import MEDIA_TYPE


class MarginRowOut(msgspec.Struct, kw_only=True):
    key: str
    messages: int
    billed: str  # amounts as the contract writes money: strings
    cost: str
    margin: str
    uncosted: int
    uncosted_billed: str

    @classmethod
    def of(cls, row: MarginRow) -> MarginRowOut:
        return cls(
            key=row.key,
            messages=row.messages,
            billed=str(row.billed),
            cost=str(row.cost),
            margin=str(row.margin),
            uncosted=row.uncosted,
            uncosted_billed=str(row.uncosted_billed),
        )


class MarginReportOut(msgspec.Struct, kw_only=True, rename={"from_day": "from", "to_day": "to"}):
    currency: str
    from_day: str
    to_day: str
    group_by: str
    rows: list[MarginRowOut]
    total: MarginRowOut

    @classmethod
    def of(cls, report: MarginReport) -> MarginReportOut:
        return cls(
            currency=report.currency,
            from_day=report.from_day.isoformat(),
            to_day=report.to_day.isoformat(),
            group_by=report.group_by.value,
            rows=[MarginRowOut.of(row) for row in report.rows],
            total=MarginRowOut.of(report.total),
        )


async def _report(
    service: BillingService, caller: Caller, first_day: str | None, last_day: str | None, group_by: str | None
) -> MarginReport:
    query = GetMarginReport(parse_day(first_day, "from"), parse_day(last_day, "to"), group_by)
    return await service.execute(margin_report, query, caller)


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]

    @get("/margin", operation_id="margin_report", responses=problem_responses("forbidden"))
    async def margin(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        first_day: FirstDay = None,
        last_day: LastDay = None,
        group_by: FromQuery[str | None] = None,
    ) -> MarginReportOut:
        """Root + View: billed, cost and margin of WhatsApp messages by `group_by` (tenant, market, category or
        day) over inclusive UTC days of message time (default: this UTC month; at most 366 days)."""
        return MarginReportOut.of(await _report(service, caller, first_day, last_day, group_by))

    @get(
        "/margin.csv",
        operation_id="margin_report_csv",
        media_type=MEDIA_TYPE,
        responses=problem_responses("forbidden"),
    )
    async def margin_csv(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        first_day: FirstDay = None,
        last_day: LastDay = None,
        group_by: FromQuery[str | None] = None,
    ) -> Response[str]:
        """The margin report's rows as CSV (header `key,messages,billed,cost,margin,uncosted,uncosted_billed`)."""
        report = await _report(service, caller, first_day, last_day, group_by)
        return Response(margin_csv(report), media_type=MEDIA_TYPE)
