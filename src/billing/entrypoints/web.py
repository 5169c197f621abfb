"""The web app: the HTTP API and the console mounted side by side on the container's wiring, neither knowing the other.

`create_app(container)` builds it; `create_app_from_env` is the factory uvicorn's workers call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response
from litestar.di import Provide

from billing.application.ports import Readiness, TokenVerifier
from billing.application.service import BillingService
from billing.config import Settings
from billing.container import Container, close, postgres_container
from billing.entrypoints.console import console_router, template_config
from billing.entrypoints.console.headers import security_headers
from billing.entrypoints.console.session import CONSOLE_PATH
from billing.entrypoints.console.views import error_page
from billing.entrypoints.http import request_ids
from billing.entrypoints.http.api import MAX_BODY_BYTES, api_routes, openapi_config
from billing.entrypoints.http.asgi import BillingApp
from billing.entrypoints.http.background import HoldExpiry, OutboxDelivery
from billing.entrypoints.http.body import RawAmountSchema
from billing.entrypoints.http.openapi_pages import assets_router
from billing.entrypoints.http.problems import handle_exception


def create_app(container: Container, *, deliver_email: bool = True, expire_holds: bool = True) -> Litestar:
    """The API and the console on the container's wiring; every dependency asks the container.

    While it runs, the outbox's invoice email is delivered (`deliver_email`) and expired holds are swept
    (`expire_holds`) in the background.
    """
    settings: Settings = container.settings()
    verifier: TokenVerifier = container.authenticator()  # fails now, not at the first request, without a secret

    def provide_service() -> BillingService:
        return container.service()

    def provide_readiness() -> Readiness:
        readiness: Readiness = container.readiness()
        return readiness

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        delivery = OutboxDelivery(container.outbox_dispatcher()) if deliver_email else None
        # In every worker: the sweep skips what another one holds.
        expiry = HoldExpiry(container.service()) if expire_holds else None
        if delivery is not None:
            delivery.start()
        if expiry is not None:
            expiry.start()
        try:
            yield
        finally:
            if expiry is not None:
                await expiry.stop()
            if delivery is not None:
                await delivery.stop()
            await close(container)

    console_headers = dict(security_headers(settings.public_url))

    def answer_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        """An unknown path or method under /console (Litestar answers them before any route): the console's page."""
        path = request.url.path
        if path == CONSOLE_PATH or path.startswith(CONSOLE_PATH + "/"):
            page = error_page(request, exc)
            page.headers.update(console_headers)
            return page
        return handle_exception(request, exc)

    return BillingApp(
        route_handlers=[*api_routes(container, verifier), console_router(settings, verifier), assets_router()],
        dependencies={
            "service": Provide(provide_service, sync_to_thread=False),
            "readiness": Provide(provide_readiness, sync_to_thread=False),
        },
        exception_handlers={Exception: answer_error},
        # Both faces: the request's id around routing (a 404 of an unknown path has one), its action after it.
        before_routing=[request_ids.RequestIds],
        middleware=[request_ids.bind_action],
        response_headers=[request_ids.DOCUMENTED],
        request_max_body_size=MAX_BODY_BYTES,
        plugins=[RawAmountSchema()],
        template_config=template_config(),
        openapi_config=openapi_config(),
        lifespan=[lifespan],
        debug=False,
    )


def create_app_from_env() -> Litestar:
    """For uvicorn (`--factory`): each worker builds its own container from BILLING_* variables."""
    settings = Settings.from_env()
    settings.require_jwt_secret()
    return create_app(postgres_container(settings))
