"""billing: the prepaid messaging wallet of a multi-tenant clinic SaaS."""

from billing.adapters.memory import build_in_memory_billing
from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.service import BillingService, BillingSession
from billing.application.settings import BillingSettings

__all__ = [
    "MANAGE",
    "VIEW",
    "BillingService",
    "BillingSession",
    "BillingSettings",
    "Caller",
    "build_in_memory_billing",
]
