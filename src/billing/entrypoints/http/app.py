"""The Litestar application: `create_app(container)`, and the factory uvicorn's workers call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response, Router
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.handlers import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from billing.application.caller import Caller
from billing.application.ports import Readiness, TokenVerifier
from billing.application.service import BillingService
from billing.config import Settings, WhatsAppSettings
from billing.container import Container, close, postgres_container
from billing.entrypoints.console import console_router, template_config
from billing.entrypoints.console.headers import security_headers
from billing.entrypoints.console.session import CONSOLE_PATH
from billing.entrypoints.console.views import error_page
from billing.entrypoints.http.asgi import BillingApp
from billing.entrypoints.http.background import HoldExpiry, OutboxDelivery
from billing.entrypoints.http.body import RawAmountSchema
from billing.entrypoints.http.controllers.alerts import AlertController
from billing.entrypoints.http.controllers.contact import ContactController
from billing.entrypoints.http.controllers.health import HealthController
from billing.entrypoints.http.controllers.holds import HoldController
from billing.entrypoints.http.controllers.invoices import InvoiceController
from billing.entrypoints.http.controllers.params import provide_page
from billing.entrypoints.http.controllers.rate_cards import QuoteController, RateCardController
from billing.entrypoints.http.controllers.statements import StatementController
from billing.entrypoints.http.controllers.topup_requests import TopupRequestController
from billing.entrypoints.http.controllers.wallet import WalletController
from billing.entrypoints.http.controllers.wallet_settings import WalletSettingsController
from billing.entrypoints.http.controllers.wallets import WalletsController
from billing.entrypoints.http.controllers.whatsapp import (
    WebhookEventController,
    WhatsAppNumberController,
    WhatsAppWebhookController,
)
from billing.entrypoints.http.idempotency import Idempotency
from billing.entrypoints.http.openapi_pages import assets_router, render_plugins
from billing.entrypoints.http.problems import handle_exception

BASE_PATH = "/api/v1/billing"
MAX_BODY_BYTES = 64 * 1024
BEARER = "BearerToken"


def create_app(container: Container, *, deliver_email: bool = True, expire_holds: bool = True) -> Litestar:
    """The HTTP API on the container's wiring; every dependency asks the container.

    While it runs, the outbox's invoice email is delivered (`deliver_email`) and expired holds are swept
    (`expire_holds`) in the background.
    """
    settings: Settings = container.settings()
    verifier: TokenVerifier = container.authenticator()  # fails now, not at the first request, without a secret

    async def authenticate(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        """A guard: runs before the body is read, so a request without a valid token is a 401 first. Async, so
        Litestar runs it in the event loop: a sync guard goes through a worker thread on every request (the
        profile in docs/performance.md), while verifying a token that was verified before is a dictionary read."""
        connection.state.caller = verifier.verify(connection.headers.getall("authorization", []))

    # The providers are chained (service -> caller -> idempotency) so that Litestar resolves them one after another:
    # the dependencies of one level are resolved concurrently, in an anyio task group with a task each, on every
    # request: about 5% of an HTTP charge's CPU (docs/performance.md) for providers that read an attribute or two.
    def provide_caller(request: Request[Any, Any, Any], service: NamedDependency[BillingService]) -> Caller:
        caller: Caller = request.state.caller
        return caller

    def provide_service() -> BillingService:
        return container.service()

    def provide_whatsapp_settings() -> WhatsAppSettings:
        return settings.whatsapp

    def provide_readiness() -> Readiness:
        readiness: Readiness = container.readiness()
        return readiness

    async def provide_idempotency(request: Request[Any, Any, Any], caller: NamedDependency[Caller]) -> Idempotency:
        return await Idempotency.of(request, container.run_once())

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

    api = Router(
        path=BASE_PATH,
        route_handlers=[
            WalletController,
            TopupRequestController,
            InvoiceController,
            WalletsController,
            ContactController,
            RateCardController,
            QuoteController,
            HoldController,
            WalletSettingsController,
            AlertController,
            StatementController,
            WhatsAppNumberController,
            WebhookEventController,
        ],
        guards=[authenticate],
        security=[{BEARER: []}],
        dependencies={
            "caller": Provide(provide_caller, sync_to_thread=False),
            "idempotency": Provide(provide_idempotency),
            "page_request": Provide(provide_page, sync_to_thread=False),
        },
    )
    # Meta's webhook carries no JWT (it signs its bodies instead, v2 §11): its routes sit outside `api`'s guard, as
    # /health does, under the same base path.
    meta = Router(
        path=BASE_PATH,
        route_handlers=[WhatsAppWebhookController],
        dependencies={"whatsapp_settings": Provide(provide_whatsapp_settings, sync_to_thread=False)},
    )
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
        route_handlers=[api, meta, HealthController, console_router(settings, verifier), assets_router()],
        dependencies={
            "service": Provide(provide_service, sync_to_thread=False),
            "readiness": Provide(provide_readiness, sync_to_thread=False),
        },
        exception_handlers={Exception: answer_error},
        request_max_body_size=MAX_BODY_BYTES,
        plugins=[RawAmountSchema()],
        template_config=template_config(),
        openapi_config=OpenAPIConfig(
            title="billing",
            version="1.0.0",
            description="Prepaid messaging wallet: top-ups, invoices and an exactly-once ledger.",
            path="/schema",
            render_plugins=render_plugins(),  # their scripts and styles served by the app: no CDN
            components=Components(
                security_schemes={
                    BEARER: SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                }
            ),
        ),
        lifespan=[lifespan],
        debug=False,
    )


def create_app_from_env() -> Litestar:
    """For uvicorn (`--factory`): each worker builds its own container from BILLING_* variables."""
    settings = Settings.from_env()
    settings.require_jwt_secret()
    return create_app(postgres_container(settings))
