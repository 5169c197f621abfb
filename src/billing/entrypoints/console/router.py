"""The console's router: its pages, static files, security headers, CSRF protection and HTML error pages, all
under /console.

Everything here is scoped to this router, so the JSON API keeps its Bearer tokens, its
problem+json errors and no CSRF check.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Router
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers import BaseRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.static_files import create_static_files_router

from billing.application.caller import Authorizer, Caller
from billing.application.ports import TokenVerifier
from billing.config import ConfigError, Settings
from billing.entrypoints.console.adjustments import AdjustmentsPage
from billing.entrypoints.console.audit import AuditPage, MyAuditPage
from billing.entrypoints.console.csrf import SessionCSRFMiddleware
from billing.entrypoints.console.headers import SecurityHeadersMiddleware, security_headers
from billing.entrypoints.console.holds import HoldsPage
from billing.entrypoints.console.invoices import InvoicePage
from billing.entrypoints.console.margins import MarginPage
from billing.entrypoints.console.rate_cards import RateCardsPage
from billing.entrypoints.console.session import CONSOLE_PATH, ConsoleAuth, SignInRequiredError, csrf_config
from billing.entrypoints.console.settings import TenantSettingsPage, WalletSettingsPage
from billing.entrypoints.console.sign_in import SignInController
from billing.entrypoints.console.topups import TopupsPage
from billing.entrypoints.console.views import (
    OPERATORS_ONLY,
    STATIC,
    STATIC_NAME,
    ConsoleConfig,
    error_page,
    redirect_to_sign_in,
    require_operator_page,
)
from billing.entrypoints.console.wallet import WalletPage
from billing.entrypoints.console.wallets import TenantWalletsPage
from billing.entrypoints.console.whatsapp import WebhookEventsPage, WhatsAppNumbersPage


def console_router(settings: Settings, verifier: TokenVerifier) -> Router:
    """The console on the deployment's settings, signing in with the API's token verifier.

    The CSRF key is derived from the JWT secret, the root tenant's rules are the application's."""
    if settings.jwt.secret is None:
        raise ConfigError("BILLING_JWT_SECRET: is required to sign the console's forms")
    auth = ConsoleAuth(verifier)
    config = ConsoleConfig(
        billing=settings.billing,
        authorizer=Authorizer(settings.billing.root_tenant),
        low_balance_threshold=settings.low_balance_threshold,
    )

    def provide_auth() -> ConsoleAuth:
        return auth

    def provide_config() -> ConsoleConfig:
        return config

    def signed_in(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
        """The request's caller, verified once (the guard may have asked first)."""
        caller: Caller | None = getattr(connection.state, "console_caller", None)
        if caller is None:
            caller = auth.caller(connection)
            connection.state.console_caller = caller  # for the error page's header
        return caller

    def provide_caller(request: Request[Any, Any, Any]) -> Caller:
        return signed_in(request)

    def operators_pages(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        """The console's one guard: a page whose controller is `operators_only` refuses everyone else, first."""
        refusal = handler.opt.get(OPERATORS_ONLY)
        if refusal is not None:
            require_operator_page(config, signed_in(connection), refusal)

    static = create_static_files_router(path="/static", directories=[STATIC], name=STATIC_NAME)
    return Router(
        path=CONSOLE_PATH,
        route_handlers=[
            SignInController,
            WalletPage,
            WalletSettingsPage,
            MyAuditPage,
            HoldsPage,
            InvoicePage,
            TopupsPage,
            TenantWalletsPage,
            TenantSettingsPage,
            AdjustmentsPage,
            AuditPage,
            RateCardsPage,
            MarginPage,
            WebhookEventsPage,
            WhatsAppNumbersPage,
            static,
        ],
        dependencies={
            "auth": Provide(provide_auth, sync_to_thread=False),
            "console": Provide(provide_config, sync_to_thread=False),
            "caller": Provide(provide_caller, sync_to_thread=False),
        },
        # The first is the outermost: the headers go on whatever comes out, the CSRF check's refusal included.
        middleware=[
            DefineMiddleware(
                SecurityHeadersMiddleware, headers=security_headers(settings.public_url), on_error=error_page
            ),
            DefineMiddleware(SessionCSRFMiddleware, config=csrf_config(settings.jwt.secret)),
        ],
        guards=[operators_pages],
        exception_handlers={SignInRequiredError: redirect_to_sign_in, Exception: error_page},
        include_in_schema=False,
    )
