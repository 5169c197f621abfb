"""The PostgreSQL unit of work: one connection and one transaction; leaving without commit rolls back."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billing.adapters.sqlalchemy.adjustments import SqlAlchemyAdjustmentRepository
from billing.adapters.sqlalchemy.alerts import SqlAlchemyLowBalanceAlertRepository
from billing.adapters.sqlalchemy.audit_trail import SqlAlchemyAuditTrail
from billing.adapters.sqlalchemy.base import SqlAlchemyRepository
from billing.adapters.sqlalchemy.contacts import SqlAlchemyContactRepository
from billing.adapters.sqlalchemy.errors import translate
from billing.adapters.sqlalchemy.holds import SqlAlchemyHoldRepository
from billing.adapters.sqlalchemy.idempotency_keys import SqlAlchemyIdempotencyKeyRepository
from billing.adapters.sqlalchemy.invoices import SqlAlchemyInvoiceRepository
from billing.adapters.sqlalchemy.margins import SqlAlchemyMarginRepository
from billing.adapters.sqlalchemy.outbox import SqlAlchemyOutboxRepository
from billing.adapters.sqlalchemy.rate_cards import (
    SqlAlchemyCostCountRepository,
    SqlAlchemyMessageCountRepository,
    SqlAlchemyRateCardRepository,
)
from billing.adapters.sqlalchemy.topup_requests import SqlAlchemyTopupRequestRepository
from billing.adapters.sqlalchemy.wallet_settings import SqlAlchemyWalletSettingsRepository
from billing.adapters.sqlalchemy.wallets import SqlAlchemyWalletRepository
from billing.adapters.sqlalchemy.whatsapp import SqlAlchemyWebhookEventRepository, SqlAlchemyWhatsAppNumberRepository
from billing.application.ports import Repositories
from billing.domain.events import DomainEvent

# The roster's PostgreSQL classes, by the names application/ports.py's Repositories gives them. Every repository
# is given the unit's events: every aggregate records its own (top-ups, invoices, holds, alerts, adjustments), and its
# repository adds them as it writes the aggregate (a debt's repayment, written by one statement, adds its own).
REPOSITORIES: dict[str, type[SqlAlchemyRepository]] = {
    "wallets": SqlAlchemyWalletRepository,
    "topups": SqlAlchemyTopupRequestRepository,
    "invoices": SqlAlchemyInvoiceRepository,
    "idempotency_keys": SqlAlchemyIdempotencyKeyRepository,
    "contacts": SqlAlchemyContactRepository,
    "outbox": SqlAlchemyOutboxRepository,
    "rate_cards": SqlAlchemyRateCardRepository,
    "message_counts": SqlAlchemyMessageCountRepository,
    "cost_counts": SqlAlchemyCostCountRepository,
    "margins": SqlAlchemyMarginRepository,
    "holds": SqlAlchemyHoldRepository,
    "wallet_settings": SqlAlchemyWalletSettingsRepository,
    "whatsapp_numbers": SqlAlchemyWhatsAppNumberRepository,
    "webhook_events": SqlAlchemyWebhookEventRepository,
    "alerts": SqlAlchemyLowBalanceAlertRepository,
    "adjustments": SqlAlchemyAdjustmentRepository,
    "audit_trail": SqlAlchemyAuditTrail,
}


class SqlAlchemyUnitOfWork(Repositories):
    """Its repositories (`wallets`, `holds`, …) are built on entering, from REPOSITORIES, on the unit's connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self.events: list[DomainEvent] = []

    @property
    def connection(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("the unit of work is not open")
        return self._connection

    async def __aenter__(self) -> Self:
        try:
            self._connection = await self._engine.connect()
            await self._connection.begin()
        except DBAPIError as error:
            await self._close()
            raise translate(error) from error
        self.events = []
        for name, repository in REPOSITORIES.items():
            setattr(self, name, repository(self._connection, self.events))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.rollback()
        finally:
            await self._close()

    def record(self, *events: DomainEvent) -> None:
        self.events.extend(events)

    async def commit(self) -> None:
        try:
            await self.connection.commit()
        except DBAPIError as error:
            raise translate(error) from error

    async def rollback(self) -> None:
        connection = self._connection
        if connection is None or not connection.in_transaction():
            return
        try:
            await connection.rollback()
        except DBAPIError:
            # The connection died with the transaction; the server has rolled it back.
            await connection.invalidate()

    async def _close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()
