"""The HTTP API's half of the app: its routes under /api/v1/billing, Meta's webhook, /health, its OpenAPI document and
the pages that render it. `entrypoints/web.py` mounts them beside the console."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.handlers import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ControllerRouterHandler

from billing.application.caller import Caller
from billing.application.ports import TokenVerifier
from billing.application.service import BillingService
from billing.config import WhatsAppSettings
from billing.container import Container
from billing.entrypoints.http.controllers.adjustments import AdjustmentController
from billing.entrypoints.http.controllers.alerts import AlertController
from billing.entrypoints.http.controllers.audit import AuditController
from billing.entrypoints.http.controllers.contact import ContactController
from billing.entrypoints.http.controllers.health import HealthController
from billing.entrypoints.http.controllers.holds import HoldController
from billing.entrypoints.http.controllers.invoices import InvoiceController
from billing.entrypoints.http.controllers.params import provide_page
from billing.entrypoints.http.controllers.rate_cards import QuoteController, RateCardController
from billing.entrypoints.http.controllers.reports import ReportController
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
from billing.entrypoints.http.openapi_pages import render_plugins

BASE_PATH = "/api/v1/billing"
MAX_BODY_BYTES = 64 * 1024
BEARER = "BearerToken"


def api_routes(container: Container, verifier: TokenVerifier) -> list[ControllerRouterHandler]:
    """The API's routes: the token-guarded ones, Meta's webhook beside them and /health."""
    whatsapp = container.settings().whatsapp

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

    def provide_whatsapp_settings() -> WhatsAppSettings:
        return whatsapp

    async def provide_idempotency(request: Request[Any, Any, Any], caller: NamedDependency[Caller]) -> Idempotency:
        return await Idempotency.of(request, container.run_once())

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
            AdjustmentController,
            AuditController,
            ReportController,
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
    return [api, meta, HealthController]


def openapi_config() -> OpenAPIConfig:
    """The API's OpenAPI document, served at /schema with its pages."""
    return OpenAPIConfig(
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
    )
