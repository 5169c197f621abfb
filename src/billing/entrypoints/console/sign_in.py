"""Sign in (a JWT pasted once, verified like the API's Bearer tokens) and sign out."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect

from billing.application.audit import ConsoleSession, console_sign_in, console_sign_out
from billing.application.caller import Caller
from billing.application.service import BillingService
from billing.domain.errors import BillingError
from billing.entrypoints.console.session import (
    ConsoleAuth,
    SignInRequiredError,
    cleared_session_cookie,
    session_cookie,
)
from billing.entrypoints.console.views import ConsoleConfig, render, text

NOTES = {
    "required": "Sign in to continue.",
    "expired": "Your sign-in has expired. Paste a new token to continue.",
    "invalid": "Your sign-in is no longer valid. Paste a new token to continue.",
    "signed-out": "You have signed out.",
}


def home_of(console: ConsoleConfig, caller: Caller) -> str:
    """Operators land on the top-up queue, clinics on their wallet."""
    return "/console/topups" if console.authorizer.is_root(caller) else "/console/wallet"


class SignInController(Controller):
    path = "/"

    @get("/", name="console-home")
    async def home(
        self,
        request: Request[Any, Any, Any],
        auth: NamedDependency[ConsoleAuth],
        console: NamedDependency[ConsoleConfig],
    ) -> Redirect:
        try:
            caller = auth.caller(request)
        except SignInRequiredError:
            return Redirect("/console/sign-in", status_code=303)
        return Redirect(home_of(console, caller), status_code=303)

    @get("/sign-in", name="console-sign-in")
    async def form(self, request: Request[Any, Any, Any], console: NamedDependency[ConsoleConfig]) -> Response[Any]:
        reason = request.query_params.get("reason", "")
        return render("sign_in.html", console, None, note=NOTES.get(reason), note_is_warning=reason != "signed-out")

    @post("/sign-in", status_code=303)
    async def sign_in(
        self,
        request: Request[Any, Any, Any],
        auth: NamedDependency[ConsoleAuth],
        console: NamedDependency[ConsoleConfig],
        service: NamedDependency[BillingService],
    ) -> Response[Any]:
        token = text(await request.form(), "token").strip()
        if not token:
            return render("sign_in.html", console, None, status=400, note=None, error="Paste your token (a JWT).")
        try:
            caller = auth.verify(token)
        except BillingError as error:
            await auth.failures.failed(request.client.host if request.client else None, service)
            message = f"This token was not accepted: {error.detail.rstrip('.')}."
            return render("sign_in.html", console, None, status=401, note=None, error=message)
        await service.execute(console_sign_in, ConsoleSession(), caller)  # the trail's row (§20)
        return Redirect(home_of(console, caller), cookies=[session_cookie(token)], status_code=303)

    @post("/sign-out", status_code=303)
    async def sign_out(
        self,
        request: Request[Any, Any, Any],
        auth: NamedDependency[ConsoleAuth],
        service: NamedDependency[BillingService],
    ) -> Redirect:
        try:
            caller = auth.caller(request)
        except SignInRequiredError:
            caller = None  # an expired session signs out all the same; nobody to name in the trail
        if caller is not None:
            await service.execute(console_sign_out, ConsoleSession(), caller)
        return Redirect(
            "/console/sign-in",
            query_params={"reason": "signed-out"},
            cookies=[cleared_session_cookie()],
            status_code=303,
        )
