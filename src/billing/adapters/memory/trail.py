"""Adjustments and the audit trail in memory, with the rules PostgreSQL keeps: one adjustment per (tenant,
reference), audit rows appended and never changed. (v1's adjustment rows of the ledger, which PostgreSQL's
migration lists as applied adjustments, never exist in memory: every adjustment here has its own record.)"""

from __future__ import annotations

import copy
from uuid import UUID

from billing.adapters.memory.base import InMemoryRepository
from billing.adapters.memory.repositories import paginate, stored_copy
from billing.application.pagination import Page, PageRequest
from billing.application.ports import AuditFilter, ConcurrencyConflictError
from billing.domain.adjustment import Adjustment, AdjustmentStatus
from billing.domain.audit import AuditEntry


class InMemoryAdjustmentRepository(InMemoryRepository):
    async def get(self, adjustment_id: UUID, *, for_update: bool = False) -> Adjustment | None:
        return copy.deepcopy(self._state.adjustments.get(adjustment_id))

    async def find_by_reference(self, tenant_id: str, reference_id: str) -> Adjustment | None:
        for adjustment in self._state.adjustments.values():
            if adjustment.tenant_id == tenant_id and adjustment.reference_id == reference_id:
                return copy.deepcopy(adjustment)
        return None

    async def add(self, adjustment: Adjustment) -> None:
        if adjustment.reference_id is not None and await self.find_by_reference(
            adjustment.tenant_id, adjustment.reference_id
        ):
            raise ConcurrencyConflictError(f"adjustment {adjustment.reference_id!r} was added meanwhile")
        self._collect(adjustment)
        self._state.adjustments[adjustment.id] = stored_copy(adjustment)

    async def save(self, adjustment: Adjustment) -> None:
        self._collect(adjustment)
        self._state.adjustments[adjustment.id] = stored_copy(adjustment)

    async def list(self, tenant_id: str, status: AdjustmentStatus | None, page: PageRequest) -> Page[Adjustment]:
        matches = [
            a
            for a in self._state.adjustments.values()
            if a.tenant_id == tenant_id and (status is None or a.status is status)
        ]
        return paginate(matches, lambda a: (a.proposed_at, a.id), page)


class InMemoryAuditTrail(InMemoryRepository):
    async def append(self, entry: AuditEntry) -> None:
        self._state.audit.append(entry)  # frozen: stored as it is

    async def list(self, filters: AuditFilter, page: PageRequest) -> Page[AuditEntry]:
        def kept(entry: AuditEntry) -> bool:
            day = entry.at.date()
            actor = filters.actor
            return (
                (filters.tenant_id is None or entry.tenant_id == filters.tenant_id)
                and (actor is None or (entry.actor.sub == actor and not _hidden(entry, filters)))
                and (filters.action is None or entry.action == filters.action)
                and (filters.target_id is None or entry.target.id == filters.target_id)
                and (filters.from_day is None or day >= filters.from_day)
                and (filters.to_day is None or day <= filters.to_day)
            )

        rows = [(i, e) for i, e in enumerate(self._state.audit) if kept(e)]
        result = paginate(rows, lambda row: (row[1].at, row[0]), page)
        return Page(tuple(e for _, e in result.items), page.page, page.page_size, result.total)


def _hidden(entry: AuditEntry, filters: AuditFilter) -> bool:
    """A clinic's view never finds an operator by name (`hidden_actor_tenant` is the root's)."""
    return filters.hidden_actor_tenant is not None and entry.actor.tenant == filters.hidden_actor_tenant
