"""The web console (contract §5): server-rendered pages under /console, signed in with the API's JWT."""

from billing.entrypoints.console.router import console_router
from billing.entrypoints.console.views import template_config

__all__ = ["console_router", "template_config"]
