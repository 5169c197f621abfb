"""The margin report (contract v3 §15): root + View, from the per-tenant margin aggregate, never the messages."""

from __future__ import annotations

from datetime import UTC, date

import attrs

from billing.application.caller import Caller
from billing.application.ports import UnitOfWork
from billing.application.runtime import Runtime, requires, root_viewer
from billing.domain.margins import MarginReport, parse_group_by, report_days


@attrs.frozen
class GetMarginReport:
    from_day: date | None = None  # inclusive UTC days of message time; default: the current UTC month
    to_day: date | None = None
    group_by: str | None = None  # tenant (default), market, category or day


@requires(root_viewer)
async def margin_report(query: GetMarginReport, caller: Caller, uow: UnitOfWork, rt: Runtime) -> MarginReport:
    group_by = parse_group_by(query.group_by)
    first, last = report_days(query.from_day, query.to_day, rt.clock.now().astimezone(UTC).date())
    currency = rt.settings.currency
    return MarginReport(currency, first, last, group_by, await uow.margins.report(first, last, group_by, currency))
