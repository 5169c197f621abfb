"""The `billing` command (contract §4): serve, db upgrade, token, audit, outbox, ratecard, holds, whatsapp."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import attrs

from billing.application.caller import MANAGE, VIEW
from billing.application.dispatcher import DispatchReport
from billing.application.handlers.rate_cards import CreateRateCard, ListRateCards, create_rate_card, list_rate_cards
from billing.application.outbox import OutboxEntry, OutboxStatus
from billing.application.pagination import MAX_PAGE_SIZE, PageRequest
from billing.application.ports import DatabaseUnavailableError, Sweep, TokenIssuer
from billing.config import ConfigError, Settings
from billing.domain.errors import BillingError, UnchangedRateCardError, ValidationError
from billing.domain.pricing import RateCard
from billing.domain.tenant import validate_tenant_id
from billing.entrypoints import serve_record
from billing.entrypoints.rate_card_files import (
    CSV_LAYOUT,
    SAMPLE_CARD,
    CardOptions,
    import_sample_card,
    read_card,
)
from billing.entrypoints.whatsapp_simulator import (
    DEFAULT_BATCH,
    DEFAULT_URL,
    MAX_MESSAGES,
    WEBHOOK_PATH,
    SimulationOptions,
    SimulationReport,
    simulate,
)

if TYPE_CHECKING:
    from billing.application.service import BillingService
    from billing.container import Container

APP_FACTORY = "billing.entrypoints.web:create_app_from_env"
HOME = Path(".billing")  # the embedded default's data, relative to where `billing serve` runs
DEMO_CLINIC = "demo-clinic"
DEMO_TOKEN_TTL = timedelta(hours=24)


class CommandError(Exception):
    """A problem the user can fix; printed without a trace."""


def _say(message: str) -> None:
    print(message, flush=True)


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Container]:
    """The wiring on the database at `settings.database_url` for one command; its connections closed after it."""
    from billing.container import close, postgres_container

    container = postgres_container(settings)
    try:
        yield container
    finally:
        await close(container)


@asynccontextmanager
async def _service(settings: Settings) -> AsyncIterator[BillingService]:
    """The service on the database at `settings.database_url` for one command (see `_database`)."""
    async with _database(settings) as container:
        yield container.service()


def _token_issuer(settings: Settings, secret: str) -> TokenIssuer:
    """The container's issuer for the deployment's settings, signing with `secret` (which may come from
    ./.billing/jwt-secret rather than the environment)."""
    from billing.container import Container

    with_secret = attrs.evolve(settings, jwt=attrs.evolve(settings.jwt, secret=secret))
    issuer: TokenIssuer = Container(settings=with_secret).token_issuer()
    return issuer


# billing serve ------------------------------------------------------------------------------------


def _secret_file(home: Path) -> str:
    """The embedded default's JWT secret: generated once, kept (owner-only) between runs."""
    path = home / "jwt-secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip()


def _exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so `finally` stops the embedded server cleanly."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's cpuset), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _workers(value: str) -> int:
    """`--workers`: a count, or `auto` for one process per usable core (production: docs/performance.md)."""
    if value == "auto":
        return usable_cores()
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of processes or 'auto' (one per core)") from None


def _tcp_socket(host: str) -> socket.socket:
    """A TCP socket made as asyncio's own `create_server` makes it: with `proto` IPPROTO_TCP.

    uvicorn's `Config.bind_socket()` (its `--workers` path) leaves the protocol 0; every accepted connection
    inherits it, and asyncio sets TCP_NODELAY only on sockets whose `proto` is IPPROTO_TCP. Without it, Nagle's
    algorithm holds the body of each keep-alive response (sent after its head) until the client's delayed ACK,
    about 40 ms on Linux: two workers served a fortieth of what one did (docs/performance.md; uvicorn #3149)."""
    return socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)


def listen_reuse_port(host: str, port: int) -> socket.socket:
    """A worker's own listening socket, in the port's SO_REUSEPORT group: the kernel spreads new connections
    evenly over the workers' sockets. One socket shared by every worker is not spread: the worker that wakes
    first accepts every connection waiting (libuv and asyncio accept until none is left), so a burst of
    keep-alive connections (a proxy's pool, the benchmark's clients) lands on one worker (docs/performance.md)."""
    sock = _tcp_socket(host)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart binds past the last run's TIME_WAITs
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)  # uvicorn's default backlog
    return sock


class WorkersPort(socket.socket):
    """The port `billing serve --workers N` listens on, held by the supervisor (bound, never listening, so it
    receives no connection). uvicorn's supervisor hands it to every worker it starts, and restarts, by pickling
    it: each worker unpickles a listening socket of its own on the same port (`listen_reuse_port`)."""

    def __init__(self, host: str, port: int) -> None:
        probe = _tcp_socket(host)  # without SO_REUSEPORT: refused while anything listens on the port
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        except OSError as error:
            raise CommandError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
        finally:
            probe.close()
        super().__init__(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self.bind((host, port))
        self.address = (host, self.getsockname()[1])  # the port bound, also when 0 asked for any

    def __reduce__(self) -> tuple[object, tuple[str, int]]:
        return listen_reuse_port, self.address


def _run_uvicorn(host: str, port: int, workers: int) -> None:
    """uvicorn on uvloop and httptools (docs/performance.md: measured beside asyncio + h11 and granian, they cost
    the least CPU per request), its request heads bounded as h11 bounds them. Each worker builds its own container
    from the environment (the app factory)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from billing.entrypoints.http.server import BoundedHttpToolsProtocol

    config = uvicorn.Config(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http=BoundedHttpToolsProtocol,
        ws="none",  # the app has no WebSocket route
        access_log=False,  # the proxy in front logs requests; here a line per request cost 4% of a charge's CPU
    )
    if workers == 1:  # uvicorn binds through the event loop's create_server: TCP_NODELAY is set
        uvicorn.Server(config).run()
        return
    port_held = WorkersPort(host, port)
    try:
        Multiprocess(config, sockets=[port_held]).run()  # uvicorn's supervisor: restarts a worker that dies
    finally:
        port_held.close()


def _banner(host: str, port: int, settings: Settings, secret: str | None) -> None:
    address = f"http://{host}:{port}"
    _say(f"billing listens on {address}  (API under {address}/api/v1/billing, docs at {address}/schema)")
    if secret is None:
        return
    now = datetime.now(UTC)
    issuer = _token_issuer(settings, secret)

    def token(tenant: str, user: str, permissions: list[str]) -> str:
        return issuer.issue(
            tenant=tenant,
            user=user,
            permissions=permissions,
            now=now,
            ttl=DEMO_TOKEN_TTL,
            email=f"{user}@{tenant}.example",
        )

    root = settings.billing.root_tenant
    _say(f"\noperator token ({root}, {VIEW} + {MANAGE}, valid 24 h):\n  {token(root, 'operator', [VIEW, MANAGE])}")
    _say(f"\nclinic token ({DEMO_CLINIC}, {VIEW}, valid 24 h):\n  {token(DEMO_CLINIC, 'clinic-user', [VIEW])}")
    _say(f'\ntry:  curl -H "Authorization: Bearer <clinic token>" {address}/api/v1/billing/wallet/me\n')


def serve(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.workers < 1:
        raise CommandError("--workers must be at least 1 (or 'auto': one per core)")
    if settings.database_url is not None:
        return _serve_configured(args, settings)
    return _serve_embedded(args, settings)


def _require_current_schema(settings: Settings) -> None:
    """The database answers and is at the latest migration (else one line: which, and what to run)."""
    from billing.container import postgres_container

    if not postgres_container(settings).schema().is_current():
        raise CommandError(
            "the database at BILLING_DATABASE_URL is not at the latest migration; run `billing db upgrade` first"
        )


def _serve_configured(args: argparse.Namespace, settings: Settings) -> int:
    settings.require_jwt_secret()
    _require_current_schema(settings)
    _banner(args.host, args.port, settings, secret=None)
    _run_uvicorn(args.host, args.port, args.workers)
    return 0


def _serve_embedded(args: argparse.Namespace, settings: Settings) -> int:
    from billing.container import embedded_postgres, postgres_container

    home = HOME.resolve()
    _refuse_a_second_serve(home)
    secret = settings.jwt.secret or _secret_file(home)
    server = embedded_postgres(home / "pgdata")
    _exit_on_sigterm()
    try:
        _say(f"starting the embedded PostgreSQL (data in {home / 'pgdata'}) ...")
        url = server.start()
        embedded = attrs.evolve(settings, database_url=url)
        postgres_container(embedded).schema().upgrade()
        asyncio.run(import_sample_card_on_first_start(embedded))
        # The workers read their settings from the environment, like any deployment; the other commands run from
        # this directory read ./.billing/serve.json.
        os.environ["BILLING_DATABASE_URL"] = url
        os.environ["BILLING_JWT_SECRET"] = secret
        serve_record.write(home, url)
        _say(f"database: {url}  (other `billing` commands run from this directory use it while this serve runs)")
        _banner(args.host, args.port, settings, secret)
        _run_uvicorn(args.host, args.port, args.workers)
    finally:
        serve_record.remove(home)
        _say("stopping the embedded PostgreSQL ...")
        server.stop()
    return 0


def _refuse_a_second_serve(home: Path) -> None:
    """Starting the embedded server would stop the one another serve of this directory runs."""
    try:
        other = serve_record.running(home)
    except serve_record.NoRunningServeError:
        return  # a record left by a serve that was killed: this serve replaces it
    if other is not None and other.pid != os.getpid():
        raise CommandError(
            f"another `billing serve` (process {other.pid}) runs the embedded database of {home} already: stop it "
            "(Ctrl-C in its terminal), or run this one from another directory or with BILLING_DATABASE_URL (if "
            f"process {other.pid} is not a `billing serve`, remove {home / serve_record.RECORD})"
        )


async def import_sample_card_on_first_start(settings: Settings) -> RateCard | None:
    """The embedded database's first start: the shipped sample card becomes the default card when the database
    has no rate card at all, and one line says so. Later starts (there is a card) print and import nothing."""
    try:
        async with _service(settings) as service:
            card = await import_sample_card(service)
    except BillingError as error:  # the sample does not fit this deployment (its currency): serve without it
        _say(f"the sample rate card {SAMPLE_CARD} was not imported: {error.detail}")
        return None
    if card is not None:
        _say(
            f"first start: imported the sample rate card {SAMPLE_CARD} as the default card ({len(card.rates)} rates, "
            f"effective from {_instant(card.effective_from)}; `billing ratecard list` shows it)"
        )
    return card


# billing db upgrade, token, audit -----------------------------------------------------------------


def _database_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise CommandError("BILLING_DATABASE_URL is not set (`billing serve` migrates its embedded database by itself)")
    return settings.database_url


def db_upgrade(args: argparse.Namespace) -> int:
    from billing.container import postgres_container

    settings = Settings.from_env()
    _database_url(settings)
    revision = postgres_container(settings).schema().upgrade()
    _say(f"the database is at the latest migration ({revision})")
    return 0


def token(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    secret = settings.jwt.secret
    if secret is None:
        if not (HOME / "jwt-secret").exists():
            raise CommandError(
                "BILLING_JWT_SECRET is not set, and there is no ./.billing/jwt-secret (`billing serve` makes one)"
            )
        secret = (HOME / "jwt-secret").read_text().strip()
    try:
        validate_tenant_id(args.tenant)
    except ValidationError:
        raise CommandError("--tenant must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'") from None
    if args.ttl < 1:
        raise CommandError("--ttl must be at least 1 second")
    if not args.user:
        raise CommandError("--user must not be empty")
    signed = _token_issuer(settings, secret).issue(
        tenant=args.tenant,
        user=args.user,
        permissions=args.permission,
        now=datetime.now(UTC),
        ttl=timedelta(seconds=args.ttl),
        email=args.email,
    )
    _say(signed)
    return 0


async def _audit(settings: Settings) -> list[str]:
    async with _database(settings) as container:
        drifting: list[str] = await container.wallet_audit().drifting()
        return drifting


def audit(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    _database_url(settings)
    drifting = asyncio.run(_audit(settings))
    if drifting:
        print(
            f"drift in {len(drifting)} wallet(s): cached balance, newest balance_after and ledger sum disagree "
            f"for tenants: {', '.join(sorted(drifting))}",
            file=sys.stderr,
        )
        return 1
    _say("every wallet agrees with its ledger")
    return 0


# billing outbox run, list -----------------------------------------------------------------------

OUTBOX_POLL_SECONDS = 5.0


async def _outbox_run(once: bool) -> int:
    async with _database(Settings.from_env()) as container:
        dispatcher = container.outbox_dispatcher()
        while True:
            # A bad message never gets here (the dispatcher records it and goes on); a round fails only
            # as a whole, say the database went away: `main` reports that for --once, else the next round
            # tries again.
            try:
                report = await dispatcher.dispatch_due()
            except Exception as error:
                if once:
                    raise
                print(
                    f"billing: outbox: delivery stopped ({type(error).__name__}: {error}); "
                    f"trying again in {OUTBOX_POLL_SECONDS:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
            else:
                if report.handled or once:
                    _say(_outbox_report(report))
                if once:
                    return 0
            await asyncio.sleep(OUTBOX_POLL_SECONDS)


def _outbox_report(report: DispatchReport) -> str:
    """One line; messages a logging mailer took (no BILLING_SMTP_URL) are counted apart: they were never sent."""
    logged = f"{report.logged} logged, not sent (no BILLING_SMTP_URL), " if report.logged else ""
    return (
        f"outbox: {report.sent} sent, {logged}{report.retrying} to retry, {report.failed} failed, "
        f"{report.undeliverable} undeliverable"
    )


def outbox_run(args: argparse.Namespace) -> int:
    return asyncio.run(_outbox_run(args.once))


async def _outbox_list(status: OutboxStatus | None, limit: int) -> list[OutboxEntry]:
    async with _database(Settings.from_env()) as container, container.unit_of_work() as uow:
        return list((await uow.outbox.list(status, PageRequest(1, limit))).items)


def _one_line(text: str) -> str:
    """Control characters shown escaped: a poisoned recipient must not write to the terminal."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def outbox_list(args: argparse.Namespace) -> int:
    status = None if args.status is None else OutboxStatus(args.status)
    entries = asyncio.run(_outbox_list(status, args.limit))
    for entry in entries:
        message = entry.message
        _say(
            f"{message.created_at:%Y-%m-%d %H:%M:%S}  {entry.status:<13} attempts={entry.attempts}  "
            f"{message.tenant_id}  to={_one_line(message.recipient or '-')}  {_one_line(message.subject)}"
            + (f"\n    last error: {_one_line(entry.last_error)}" if entry.last_error else "")
        )
    _say(f"{len(entries)} message(s)")
    return 0


# billing ratecard import, list ------------------------------------------------------------------

RATECARD_IMPORT_HELP = """\
Read a rate card from FILE and add it through the same use case as POST /rate-cards, as an operator of the
platform. FILE is either a .json file, exactly the API's body (the options given replace its values), or a
.csv file as exported from a spreadsheet (--name and --effective-from are then required).

A card with the same prices as the card of its scope (its tenant, or the default card) in force at its effective
date would change nothing: it is not imported (exit 3) unless --again is given.
"""
EXIT_UNCHANGED = 3  # the card's prices are in force already: nothing imported


def _tenant_label(card: RateCard) -> str:
    return card.tenant_id or "default"


async def _add_rate_card(settings: Settings, command: CreateRateCard) -> RateCard:
    async with _service(settings) as service:
        return await service.as_platform("cli").run(create_rate_card, command)


def _refused(what: str, problems: list[str]) -> int:
    print(f"billing: the rate card in {what} was refused ({len(problems)} problem(s)):", file=sys.stderr)
    for problem in problems:
        print(f"  {_one_line(problem)}", file=sys.stderr)
    return 2


def ratecard_import(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    _database_url(settings)
    path = Path(args.file)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read {args.file}: {error.strerror or error}") from None
    options = CardOptions(
        name=args.name,
        effective_from=args.effective_from,
        tenant_id=args.tenant,
        currency=args.currency,
        free_in_service_window=args.free_in_service_window,
    )
    try:
        card_file = read_card(path.name, content, options, default_currency=settings.billing.currency)
    except ValidationError as error:
        return _refused(args.file, [f"{problem.field}: {problem.message}" for problem in error.errors])
    _require_current_schema(settings)
    command = attrs.evolve(card_file.command, refuse_unchanged=not args.again)
    try:
        card = asyncio.run(_add_rate_card(settings, command))
    except ValidationError as error:
        return _refused(args.file, [card_file.describe(problem) for problem in error.errors])
    except UnchangedRateCardError as error:
        print(
            f"billing: nothing imported from {args.file}: {_one_line(error.detail)}\n"
            "  `billing ratecard list` shows the cards; --again imports it all the same",
            file=sys.stderr,
        )
        return EXIT_UNCHANGED
    except BillingError as error:
        raise CommandError(error.detail) from None
    markets = set(card.markets.values())
    _say(f"imported rate card {card.id}")
    _say(f"  name:            {_one_line(card.name)}")
    _say(f"  tenant:          {_tenant_label(card)}")
    _say(f"  effective from:  {_instant(card.effective_from)}")
    _say(f"  rates:           {len(card.rates)} ({len(markets)} markets, {len(card.markets)} countries mapped)")
    return 0


async def _rate_cards(settings: Settings, tenant_id: str | None) -> list[RateCard]:
    async with _service(settings) as service:
        platform = service.as_platform("cli")
        cards: list[RateCard] = []
        page = 1
        while True:
            found = await platform.run(list_rate_cards, ListRateCards(tenant_id, PageRequest(page, MAX_PAGE_SIZE)))
            cards.extend(found.items)
            if not found.items or len(cards) >= found.total:
                return cards
            page += 1


def ratecard_list(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    _database_url(settings)
    _require_current_schema(settings)
    try:
        cards = asyncio.run(_rate_cards(settings, args.tenant))
    except ValidationError:
        raise CommandError("--tenant must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'") from None
    tenant_width = max([len("TENANT"), *(len(_tenant_label(card)) for card in cards)])
    _say(f"{'ID':<36}  {'TENANT':<{tenant_width}}  {'EFFECTIVE FROM':<20}  {'RATES':>5}  NAME")
    for card in cards:
        _say(
            f"{card.id}  {_tenant_label(card):<{tenant_width}}  {_instant(card.effective_from):<20}  "
            f"{len(card.rates):>5}  {_one_line(card.name)}"
        )
    _say(f"{len(cards)} rate card(s), latest effective date first")
    return 0


# billing holds expire ---------------------------------------------------------------------------


# sysexits.h's EX_TEMPFAIL: try again later (another sweeper, e.g. `billing serve`'s, is sweeping right now).
EXIT_ANOTHER_SWEEPER = 75


async def _expire_holds(settings: Settings) -> Sweep:
    from billing.entrypoints.http.background import HoldExpiry

    async with _service(settings) as service:
        return await HoldExpiry(service).sweep()  # the sweep `billing serve` runs every 15 s


def holds_expire(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    _database_url(settings)
    _require_current_schema(settings)
    swept = asyncio.run(_expire_holds(settings))
    if swept.another_sweeper:
        done = f"{swept.expired} hold(s) expired; " if swept.expired else ""
        _say(f"{done}another sweeper is running and holds are due: it sweeps them (try again later)")
        return EXIT_ANOTHER_SWEEPER
    _say(f"{swept.expired} hold(s) expired" if swept.expired else "no hold was due to expire")
    return 0


# billing whatsapp simulate ------------------------------------------------------------------------

SIMULATE_HELP = f"""\
Play Meta's side of the status webhook against a running `billing serve`: message i is PREFIX<i> (a random
prefix without --message-prefix), sent then delivered (and perhaps read), or sent then failed with --fail-rate;
its statuses go out in time order, --batch to a body, each body signed with the app secret and POSTed to
URL{WEBHOOK_PATH}. A body answered 5xx or not answered is sent again (--retries times, backing off); any other
answer is final. One line per figure of the report; the exit code is 1 when a body was refused or unanswered.

To see the charges, map the number to a tenant (POST /whatsapp-numbers) and hold PREFIX0 .. PREFIX<N-1> first.
"""


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CommandError(f"--url must be an http:// or https:// address such as {DEFAULT_URL}")
    return value


def _simulation_options(args: argparse.Namespace, settings: Settings) -> SimulationOptions:
    secret = args.secret if args.secret is not None else settings.whatsapp.app_secret
    if secret is None:
        print(
            "billing: warning: no --secret and BILLING_WHATSAPP_APP_SECRET is not set: the bodies go unsigned and "
            "the server will refuse them (401)",
            file=sys.stderr,
        )
    try:
        return SimulationOptions(
            phone_number_id=args.number,
            messages=args.messages,
            fail_rate=args.fail_rate,
            bsuid_rate=args.bsuid_rate,
            read_rate=args.read_rate,
            url=_url(args.url),
            secret=secret,
            batch=args.batch,
            duplicates=args.duplicates,
            reorder=args.reorder,
            seed=args.seed,
            message_prefix=args.message_prefix,
            category=args.category,
            retries=args.retries,
        )
    except ValidationError as error:
        raise CommandError("; ".join(f"{_flag(e.field)} {e.message}" for e in error.errors)) from None


def _report_lines(report: SimulationReport) -> list[str]:
    figures: list[tuple[str, int]] = [
        ("messages", report.messages),
        ("failed messages", report.failed_messages),
        ("statuses", report.statuses),
        ("bodies", report.bodies),
        *((f"answered {code}", count) for code, count in report.answers.items()),
        ("retries", report.retries),
        ("accepted", report.accepted),
        ("refused", report.refused),
        ("unanswered", report.unanswered),
    ]
    width = max(len(name) for name, _ in figures) + 1
    return [f"{name + ':':<{width}} {count}" for name, count in figures]


def whatsapp_simulate(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if not args.number.strip():
        raise CommandError("--number must not be blank")
    options = _simulation_options(args, settings)
    report = asyncio.run(simulate(options))
    for line in _report_lines(report):
        _say(line)
    if report.refused or report.unanswered:
        print(
            f"billing: {report.refused} body(ies) refused and {report.unanswered} unanswered by "
            f"{options.url.rstrip('/')}{WEBHOOK_PATH}",
            file=sys.stderr,
        )
        return 1
    return 0


def _rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number from 0 to 1") from None
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError("must be a number from 0 to 1")
    return rate


def _whatsapp_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser("whatsapp", help="Meta's WhatsApp status webhook: simulate Meta's deliveries")
    whatsapp_commands = group.add_subparsers(dest="whatsapp_command", required=True, metavar="COMMAND")
    run = whatsapp_commands.add_parser(
        "simulate",
        help="send Meta-shaped, signed status bodies to a running `billing serve`",
        description=SIMULATE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--number", required=True, metavar="PHONE_NUMBER_ID", help="the business number's id")
    run.add_argument("--messages", type=int, default=10, metavar="N", help=f"messages, 1-{MAX_MESSAGES} (default 10)")
    run.add_argument("--fail-rate", type=_rate, default=0.0, metavar="R", help="share that fail, 0-1 (default 0)")
    run.add_argument(
        "--bsuid-rate",
        type=_rate,
        default=0.0,
        metavar="R",
        help="share sent to a business-scoped user id instead of a phone number, 0-1 (default 0)",
    )
    run.add_argument(
        "--read-rate", type=_rate, default=0.5, metavar="R", help="share of delivered that are read, 0-1 (default 0.5)"
    )
    run.add_argument("--url", default=DEFAULT_URL, help=f"where `billing serve` listens (default {DEFAULT_URL})")
    run.add_argument("--secret", help="the app secret that signs the bodies (default: BILLING_WHATSAPP_APP_SECRET)")
    run.add_argument("--batch", type=int, default=DEFAULT_BATCH, metavar="B", help="statuses per body (default 100)")
    run.add_argument("--duplicates", action="store_true", help="send some bodies twice, later, as Meta redelivers")
    run.add_argument("--reorder", action="store_true", help="shuffle the statuses (a read may come before delivered)")
    run.add_argument("--seed", type=int, metavar="N", help="replay the same run (default: random)")
    run.add_argument("--message-prefix", metavar="P", help="message i is P<i> (default: a random wamid prefix)")
    run.add_argument("--category", default="utility", help="Meta's pricing category of the messages (default utility)")
    run.add_argument(
        "--retries", type=int, default=4, metavar="N", help="resends of a 5xx or unanswered body, 0-20 (default 4)"
    )
    run.set_defaults(action=whatsapp_simulate)


# the parser --------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="billing", description="The billing service: API, database and tools.")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("serve", help="run the HTTP API (an embedded PostgreSQL without BILLING_DATABASE_URL)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N|auto",
        help="worker processes (default 1); 'auto': one per usable core, as in production (docs/performance.md)",
    )
    run.set_defaults(action=serve)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    db_commands.add_parser("upgrade", help="apply the migrations to BILLING_DATABASE_URL").set_defaults(
        action=db_upgrade
    )

    sign = commands.add_parser("token", help="print a signed JWT for local use")
    sign.add_argument("--tenant", required=True)
    sign.add_argument("--user", required=True)
    sign.add_argument("--permission", action="append", required=True, help="repeat for several")
    sign.add_argument("--email")
    sign.add_argument("--ttl", type=int, default=3600, help="seconds (default 3600)")
    sign.set_defaults(action=token)

    check = commands.add_parser("audit", help="check every wallet against its ledger; non-zero exit on drift")
    check.set_defaults(action=audit)

    outbox = commands.add_parser("outbox", help="the invoice email outbox")
    outbox_commands = outbox.add_subparsers(dest="outbox_command", required=True, metavar="COMMAND")
    deliver = outbox_commands.add_parser("run", help="deliver due email (until Ctrl-C, or once with --once)")
    deliver.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
    deliver.set_defaults(action=outbox_run)
    show = outbox_commands.add_parser("list", help="list outbox messages, newest first")
    show.add_argument("--status", choices=[status.value for status in OutboxStatus])
    show.add_argument("--limit", type=int, default=100, choices=range(1, MAX_PAGE_SIZE + 1), metavar="1-100")
    show.set_defaults(action=outbox_list)

    _ratecard_parser(commands)

    holds = commands.add_parser("holds", help="message holds")
    hold_commands = holds.add_subparsers(dest="holds_command", required=True, metavar="COMMAND")
    hold_commands.add_parser(
        "expire",
        help="expire every hold past its expiry now, in batches (`billing serve` does it every 15 s)",
    ).set_defaults(action=holds_expire)

    _whatsapp_parser(commands)
    return root


def _ratecard_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cards = commands.add_parser("ratecard", help="rate cards: import one from a JSON or CSV file, list them")
    card_commands = cards.add_subparsers(dest="ratecard_command", required=True, metavar="COMMAND")
    read = card_commands.add_parser(
        "import",
        help="add a rate card from a .json (the API's body) or .csv file",
        description=RATECARD_IMPORT_HELP,
        epilog=CSV_LAYOUT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    read.add_argument("file", metavar="FILE", help="a .json or .csv file")
    read.add_argument("--tenant", help="a card for this tenant only (default: the default card, for every tenant)")
    read.add_argument(
        "--effective-from",
        metavar="ISO",
        help="from when the card prices messages: a date (2026-01-01, midnight UTC) or a date-time with a time zone "
        "(2026-01-01T00:00Z); required for CSV",
    )
    read.add_argument("--name", help="the card's name (required for CSV)")
    read.add_argument("--currency", help="the card's currency (CSV default: the deployment's, BILLING_CURRENCY)")
    read.add_argument(
        "--free-in-service-window",
        metavar="CATEGORIES",
        help="comma-separated categories free inside an open customer service window, e.g. utility,service "
        "(CSV default: none)",
    )
    read.add_argument(
        "--again",
        action="store_true",
        help="import the card even when the card of its scope in force at its effective date has the same prices "
        f"(without it: nothing is imported, exit {EXIT_UNCHANGED})",
    )
    read.set_defaults(action=ratecard_import)
    show = card_commands.add_parser("list", help="list rate cards, latest effective date first")
    show.add_argument("--tenant", help="only this tenant's own cards (default: every card)")
    show.set_defaults(action=ratecard_list)


# The commands that need the database. Without BILLING_DATABASE_URL they use the embedded database of the
# `billing serve` running from the same directory (./.billing/serve.json), as if its URL were exported.
DATABASE_COMMANDS: frozenset[Callable[[argparse.Namespace], int]] = frozenset(
    {db_upgrade, audit, outbox_run, outbox_list, ratecard_import, ratecard_list, holds_expire}
)


def _database_of_serve(action: Callable[[argparse.Namespace], int]) -> str | None:
    """The URL of the running serve's embedded database, for a command that needs a database and was given none."""
    if action not in DATABASE_COMMANDS or Settings.from_env().database_url is not None:
        return None
    try:
        return serve_record.database_url(HOME)
    except serve_record.NoRunningServeError as error:
        raise CommandError(f"BILLING_DATABASE_URL is not set, and {error}") from None


@contextmanager
def _exported(database_url: str | None) -> Iterator[None]:
    """The command runs with BILLING_DATABASE_URL set to `database_url` (when given), and the environment restored."""
    if database_url is None:
        yield
        return
    os.environ["BILLING_DATABASE_URL"] = database_url
    try:
        yield
    finally:
        os.environ.pop("BILLING_DATABASE_URL", None)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    action: Callable[[argparse.Namespace], int] = args.action
    of_serve: str | None = None
    try:
        of_serve = _database_of_serve(action)
        with _exported(of_serve):
            return action(args)
    except (ConfigError, CommandError) as error:
        print(f"billing: {error}", file=sys.stderr)
        return 2
    except DatabaseUnavailableError as error:
        check = (
            "it is the embedded database of the `billing serve` running from this directory: is that serve still "
            "running? Start it again, or set BILLING_DATABASE_URL"
            if of_serve
            else "is PostgreSQL running there, and is BILLING_DATABASE_URL right?"
        )
        print(f"billing: {error}\n  {check}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
