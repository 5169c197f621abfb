"""billing: the prepaid messaging wallet of a multi-tenant clinic SaaS."""

from typing import TYPE_CHECKING, Any

from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.service import BillingService, BillingSession
from billing.application.settings import BillingSettings

if TYPE_CHECKING:
    from billing.container import build_in_memory_billing

__all__ = [
    "MANAGE",
    "VIEW",
    "BillingService",
    "BillingSession",
    "BillingSettings",
    "Caller",
    "build_in_memory_billing",
]


def __getattr__(name: str) -> Any:
    """`build_in_memory_billing` comes from the composition root, loaded on first use: importing the
    domain (`billing.domain...`) must not load every adapter."""
    if name == "build_in_memory_billing":
        from billing.container import build_in_memory_billing

        return build_in_memory_billing
    raise AttributeError(f"module 'billing' has no attribute {name!r}")
