"""Top-up requests: a clinic asks and may cancel; an operator approves or rejects."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from billing.application import inputs, queries
from billing.application.caller import Caller
from billing.application.handlers import topups
from billing.application.handlers.topups import ApproveTopup, CancelTopup, RejectTopup, RequestTopup
from billing.application.pagination import Page, PageRequest
from billing.application.service import BillingService
from billing.domain.topup import TopupRequest, TopupStatus
from billing.entrypoints.http.body import JsonBody
from billing.entrypoints.http.controllers.params import parse_id, rendered
from billing.entrypoints.http.idempotency import Idempotency
from billing.entrypoints.http.problems import problem_responses
from billing.entrypoints.http.schemas import TopupApprove, TopupCreate, TopupReject, TopupRequestOut, TopupRequestPage
from billing.entrypoints.json_body import amount_text

ID = "request_id"


def _page(page: Page[TopupRequest]) -> TopupRequestPage:
    items = [TopupRequestOut.of(r) for r in page.items]
    return TopupRequestPage(items=items, page=page.page, page_size=page.page_size, total=page.total)


class TopupRequestController(Controller):
    path = "/wallet/topup-requests"
    tags = ["top-up requests"]

    @post(
        "/",
        operation_id="request_topup",
        status_code=201,
        dto=JsonBody[TopupCreate],
        return_dto=None,
        responses=problem_responses("forbidden", write=True),
    )
    async def request_topup(
        self,
        data: JSONBody[TopupCreate],
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
    ) -> Response[TopupRequestOut]:
        """Ask for a top-up of the caller's wallet; it starts `pending`."""
        cmd = RequestTopup(inputs.money(amount_text(data.amount), service.runtime.settings.currency), data.note)
        return await idempotency.run(topups.request_topup, cmd, caller, rendered(201, TopupRequestOut.of))

    @get("/me", operation_id="list_my_topup_requests", responses=problem_responses("forbidden"))
    async def list_my_topup_requests(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        page_request: NamedDependency[PageRequest],
        status: FromQuery[TopupStatus | None] = None,
    ) -> TopupRequestPage:
        """The caller's own requests, newest first."""
        query = queries.ListTopupRequests(caller.tenant_id, status, page_request)
        return _page(await service.execute(queries.list_topup_requests, query, caller))

    @get("/", operation_id="list_topup_requests", responses=problem_responses("forbidden"))
    async def list_topup_requests(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        page_request: NamedDependency[PageRequest],
        tenant_id: FromQuery[str | None] = None,
        status: FromQuery[TopupStatus | None] = None,
    ) -> TopupRequestPage:
        """Requests, newest first: the root tenant sees every tenant's, others only their own."""
        query = queries.ListTopupRequests(tenant_id, status, page_request)
        return _page(await service.execute(queries.list_topup_requests, query, caller))

    @get("/{request_id:str}", operation_id="get_topup_request", responses=problem_responses("forbidden", "not_found"))
    async def get_topup_request(
        self, service: NamedDependency[BillingService], caller: NamedDependency[Caller], request_id: FromPath[str]
    ) -> TopupRequestOut:
        """One request: the tenant's own, or any for the root tenant."""
        query = queries.GetTopupRequest(parse_id(request_id, ID))
        return TopupRequestOut.of(await service.execute(queries.get_topup_request, query, caller))

    @post(
        "/{request_id:str}/cancel",
        operation_id="cancel_topup_request",
        status_code=200,
        responses=problem_responses("forbidden", "not_found", "invalid_state", write=True),
    )
    async def cancel_topup_request(
        self, caller: NamedDependency[Caller], idempotency: NamedDependency[Idempotency], request_id: FromPath[str]
    ) -> Response[TopupRequestOut]:
        """The tenant withdraws its own pending request."""
        cmd = CancelTopup(parse_id(request_id, ID))
        return await idempotency.run(topups.cancel_topup, cmd, caller, rendered(200, TopupRequestOut.of))

    @post(
        "/{request_id:str}/approve",
        operation_id="approve_topup_request",
        status_code=200,
        dto=JsonBody[TopupApprove],
        return_dto=None,
        responses=problem_responses("forbidden", "not_found", "invalid_state", write=True),
    )
    async def approve_topup_request(
        self,
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        request_id: FromPath[str],
        data: JSONBody[TopupApprove | None] = None,
    ) -> Response[TopupRequestOut]:
        """An operator approves: a top-up invoice is created and issued, and the clinic is emailed."""
        body = data or TopupApprove()
        cmd = ApproveTopup(parse_id(request_id, ID), body.note, body.due_date)
        return await idempotency.run(topups.approve_topup, cmd, caller, rendered(200, TopupRequestOut.of))

    @post(
        "/{request_id:str}/reject",
        operation_id="reject_topup_request",
        status_code=200,
        dto=JsonBody[TopupReject],
        return_dto=None,
        responses=problem_responses("forbidden", "not_found", "invalid_state", write=True),
    )
    async def reject_topup_request(
        self,
        data: JSONBody[TopupReject],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        request_id: FromPath[str],
    ) -> Response[TopupRequestOut]:
        """An operator rejects a pending request, with a reason (1-512 characters)."""
        cmd = RejectTopup(parse_id(request_id, ID), data.reason)
        return await idempotency.run(topups.reject_topup, cmd, caller, rendered(200, TopupRequestOut.of))
