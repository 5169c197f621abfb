"""The composition root: the one place where adapters are chosen and wired (dependency-injector).

    container = postgres_container(Settings.from_env())   # the service, on PostgreSQL
    container = in_memory_container()                     # tests, and other modules' unit tests
    billing = container.service()                         # the in-process facade (contract §2)
    app = create_app(container)                           # the HTTP API on the same wiring

Nothing is built until asked for: the engine on first use, a NEW unit of work per call.
"""

from __future__ import annotations

from dependency_injector import containers, providers

from billing.adapters.email.log_mailer import LoggingMailer
from billing.adapters.email.smtp import SmtpMailer, SmtpSettings
from billing.adapters.memory.store import InMemoryStore
from billing.adapters.memory.unit_of_work import InMemoryUnitOfWork
from billing.adapters.sqlalchemy.engine import create_engine
from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.application.dispatcher import OutboxDispatcher
from billing.application.ports import Clock, IdGenerator, Mailer
from billing.application.runtime import RandomIds, Runtime, SystemClock
from billing.application.service import BillingService
from billing.config import ConfigError, Settings
from billing.entrypoints.http.auth import JwtAuthenticator
from billing.entrypoints.http.idempotency import ExpiredKeyPurger
from billing.entrypoints.http.readiness import AlwaysReady, DatabaseReadiness

MEMORY = "memory"
POSTGRES = "postgres"


def build_mailer(settings: Settings) -> Mailer:
    """SMTP when BILLING_SMTP_URL is set; otherwise emails are logged, not sent (contract §4)."""
    if settings.smtp_url is None:
        return LoggingMailer(settings.mail_from)
    return SmtpMailer(SmtpSettings.from_url(settings.smtp_url), settings.mail_from)


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)  # storage: "memory" or "postgres"
    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(RandomIds)
    runtime = providers.Singleton(Runtime, clock=clock, ids=ids, settings=settings.provided.billing)

    memory_store = providers.Singleton(InMemoryStore)
    engine = providers.Singleton(create_engine, settings.provided.database_url)

    # A NEW unit of work per call: the service holds this provider, never a unit of work.
    unit_of_work = providers.Selector(
        config.storage,
        memory=providers.Factory(InMemoryUnitOfWork, store=memory_store),
        postgres=providers.Factory(SqlAlchemyUnitOfWork, engine=engine),
    )
    service = providers.Singleton(BillingService, uow_factory=unit_of_work.provider, runtime=runtime)

    # Invoice email leaves through the outbox: queued with the change, delivered by the dispatcher.
    mailer = providers.Singleton(build_mailer, settings)
    outbox_dispatcher = providers.Singleton(
        OutboxDispatcher, uow_factory=unit_of_work.provider, mailer=mailer, clock=clock
    )

    authenticator = providers.Singleton(JwtAuthenticator.from_settings, settings.provided.jwt)
    idempotency_purger = providers.Singleton(ExpiredKeyPurger)
    readiness = providers.Selector(
        config.storage,
        memory=providers.Singleton(AlwaysReady),
        postgres=providers.Singleton(DatabaseReadiness, engine=engine, url=settings.provided.database_url),
    )


def postgres_container(settings: Settings) -> Container:
    """The service's wiring: PostgreSQL at BILLING_DATABASE_URL."""
    if settings.database_url is None:
        raise ConfigError("BILLING_DATABASE_URL: is required (`billing serve` starts an embedded one without it)")
    container = Container(settings=settings)
    container.config.from_dict({"storage": POSTGRES})
    return container


def in_memory_container(
    settings: Settings | None = None, *, clock: Clock | None = None, ids: IdGenerator | None = None
) -> Container:
    """Everything on the in-memory adapters: for tests and for other modules' unit tests."""
    container = Container(settings=settings or Settings())
    container.config.from_dict({"storage": MEMORY})
    if clock is not None:
        container.clock.override(providers.Object(clock))
    if ids is not None:
        container.ids.override(providers.Object(ids))
    return container


def is_postgres(container: Container) -> bool:
    return bool(container.config.storage() == POSTGRES)


async def close(container: Container) -> None:
    """Release what the container opened (the engine's pool)."""
    if is_postgres(container):
        await container.engine().dispose()
