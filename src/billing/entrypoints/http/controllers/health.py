"""Liveness and readiness, outside the base path and without a token."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from billing.application.ports import Readiness
from billing.entrypoints.http.problems import problem_responses, render_problem
from billing.entrypoints.http.schemas import HealthOut

READY_RETRY_AFTER = "5"  # seconds: what a load balancer or client should wait before asking again


class HealthController(Controller):
    path = "/"
    tags = ["health"]

    @get("/health", operation_id="health")
    async def health(self) -> HealthOut:
        """The process is up."""
        return HealthOut(status="ok")

    @get("/ready", operation_id="ready", responses=problem_responses(public=True))
    async def ready(self, readiness: NamedDependency[Readiness]) -> Response[HealthOut]:
        """200 when the database answers and its schema is at the latest migration, else 503."""
        problem = await readiness.problem()
        if problem is not None:
            return render_problem("unavailable", problem, headers={"Retry-After": READY_RETRY_AFTER}).to_response()
        return Response(HealthOut(status="ok"))
