"""The margin on messages for operators (contract v3 §15): what clinics were billed against what Meta charged the
platform, by tenant, market, category or UTC day over inclusive UTC days of message time (default: this UTC month by
tenant), as a table with its total, a chart drawn on the server (margin_chart.py) and the same rows as CSV.

Seeing it needs the root tenant with Billing.View, as `GET /reports/margin` (the use case checks that too). The CSV is
served here, under /console, because the session cookie never reaches the API (which takes Bearer tokens only)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import attrs
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency

from billing.application.caller import Caller
from billing.application.handlers.margins import GetMarginReport, margin_report
from billing.application.service import BillingService
from billing.domain.errors import ValidationError
from billing.domain.margins import GroupBy, MarginReport
from billing.entrypoints import margin_csv
from billing.entrypoints.console.forms import typed
from billing.entrypoints.console.margin_chart import MAX_ROWS, margin_chart
from billing.entrypoints.console.views import ConsoleConfig, FormProblem, operators_only, parse_days, render
from billing.entrypoints.statement_csv import MEDIA_TYPE

PAGE = "/console/margin"
CSV = "/console/margin.csv"
API_CSV = "/api/v1/billing/reports/margin.csv"  # the same file for scripts, with a Bearer token
FILTERS = "filters"  # the form's name, for the messages beside its fields
FILTER_FIELDS = ("from", "to", "group_by")
GROUPS = tuple(group.value for group in GroupBy)
FOR_OPERATORS = (
    "the margin is for operators of the platform (the root tenant with Billing.View); "
    "clinics never see what Meta charges"
)


@attrs.frozen
class MarginFilters:
    """The form's values as typed, from the query string (empty: the contract's default)."""

    first_day: str = ""
    last_day: str = ""
    group_by: str = ""

    @classmethod
    def of(cls, values: Any) -> MarginFilters:
        return cls(*(typed(values, name) for name in FILTER_FIELDS))

    @classmethod
    def covered(cls, report: MarginReport) -> MarginFilters:
        """What a report covers, defaults filled in: the form as it stands after the page is shown."""
        return cls(report.from_day.isoformat(), report.to_day.isoformat(), report.group_by.value)

    def query(self) -> GetMarginReport:
        """ValidationError naming each field that is not a day."""
        first_day, last_day = parse_days(self.first_day, self.last_day)
        return GetMarginReport(first_day, last_day, self.group_by or None)

    def query_string(self) -> str:
        return urlencode(dict(zip(FILTER_FIELDS, attrs.astuple(self), strict=True)))


def margin_page(
    console: ConsoleConfig,
    caller: Caller,
    filters: MarginFilters,
    report: MarginReport | None,
    problem: FormProblem | None = None,
) -> Response[Any]:
    """The report's page, or the form alone with its problem when the report was refused (`report` None)."""
    shown = filters if report is None else MarginFilters.covered(report)
    return render(
        "margin.html",
        console,
        caller,
        status=problem.status if problem else 200,
        active="margin",
        filters=shown,
        groups=GROUPS,
        report=report,
        chart=margin_chart(report) if report is not None else "",
        chart_rows=MAX_ROWS,
        csv_href=f"{CSV}?{shown.query_string()}",
        api_csv=f"{API_CSV}?{shown.query_string()}",
        problem=problem,
    )


async def report_of(
    service: BillingService, caller: Caller, filters: MarginFilters
) -> tuple[MarginReport | None, FormProblem | None]:
    """The report, or the problem to show beside the form (a day that is not one, `from` after `to`, too long a
    range, an unknown grouping)."""
    try:
        return await service.execute(margin_report, filters.query(), caller), None
    except ValidationError as error:
        return None, FormProblem.of(error, FILTERS, known=FILTER_FIELDS)


class MarginPage(Controller):
    path = "/"
    opt = operators_only(FOR_OPERATORS)

    @get("/margin", name="console-margin")
    async def show(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        filters = MarginFilters.of(request.query_params)
        report, problem = await report_of(service, caller, filters)
        return margin_page(console, caller, filters, report, problem)

    @get("/margin.csv", name="console-margin-csv")
    async def download(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        """The same file as `GET /reports/margin.csv`; a bad range is the page with its message."""
        filters = MarginFilters.of(request.query_params)
        report, problem = await report_of(service, caller, filters)
        if report is None:
            return margin_page(console, caller, filters, None, problem)
        disposition = margin_csv.attachment(report.group_by.value, report.from_day, report.to_day)
        return Response(
            margin_csv.margin_csv(report), media_type=MEDIA_TYPE, headers={"Content-Disposition": disposition}
        )
