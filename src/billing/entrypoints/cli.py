"""The `billing` command (contract §4): serve, db upgrade, token, audit, outbox."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

import attrs

from billing.application.caller import MANAGE, VIEW
from billing.application.outbox import OutboxEntry, OutboxStatus
from billing.application.pagination import MAX_PAGE_SIZE, PageRequest
from billing.application.ports import DatabaseUnavailableError, TokenIssuer
from billing.config import ConfigError, Settings
from billing.domain.errors import ValidationError
from billing.domain.tenant import validate_tenant_id

APP_FACTORY = "billing.entrypoints.http.app:create_app_from_env"
HOME = Path(".billing")  # the embedded default's data, relative to where `billing serve` runs
DEMO_CLINIC = "demo-clinic"
DEMO_TOKEN_TTL = timedelta(hours=24)


class CommandError(Exception):
    """A problem the user can fix; printed without a trace."""


def _say(message: str) -> None:
    print(message, flush=True)


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


def _run_uvicorn(host: str, port: int, workers: int) -> None:
    import uvicorn

    # An import string and a factory: each worker builds its own container from the environment.
    uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, workers=workers, log_level="info")


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
        raise CommandError("--workers must be at least 1")
    if settings.database_url is not None:
        return _serve_configured(args, settings)
    return _serve_embedded(args, settings)


def _serve_configured(args: argparse.Namespace, settings: Settings) -> int:
    from billing.container import postgres_container

    settings.require_jwt_secret()
    if not postgres_container(settings).schema().is_current():
        raise CommandError(
            "the database at BILLING_DATABASE_URL is not at the latest migration; run `billing db upgrade` first"
        )
    _banner(args.host, args.port, settings, secret=None)
    _run_uvicorn(args.host, args.port, args.workers)
    return 0


def _serve_embedded(args: argparse.Namespace, settings: Settings) -> int:
    from billing.container import embedded_postgres, postgres_container

    home = HOME.resolve()
    secret = settings.jwt.secret or _secret_file(home)
    server = embedded_postgres(home / "pgdata")
    _exit_on_sigterm()
    try:
        _say(f"starting the embedded PostgreSQL (data in {home / 'pgdata'}) ...")
        url = server.start()
        postgres_container(attrs.evolve(settings, database_url=url)).schema().upgrade()
        # The workers read their settings from the environment, like any deployment.
        os.environ["BILLING_DATABASE_URL"] = url
        os.environ["BILLING_JWT_SECRET"] = secret
        _say(f"database: {url}  (export it as BILLING_DATABASE_URL for `billing audit`)")
        _banner(args.host, args.port, settings, secret)
        _run_uvicorn(args.host, args.port, args.workers)
    finally:
        _say("stopping the embedded PostgreSQL ...")
        server.stop()
    return 0


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
    from billing.container import close, postgres_container

    container = postgres_container(settings)
    try:
        drifting: list[str] = await container.wallet_audit().drifting()
        return drifting
    finally:
        await close(container)


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
    from billing.container import close, postgres_container

    container = postgres_container(Settings.from_env())
    dispatcher = container.outbox_dispatcher()
    try:
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
                    _say(
                        f"outbox: {report.sent} sent, {report.retrying} to retry, {report.failed} failed, "
                        f"{report.undeliverable} undeliverable"
                    )
                if once:
                    return 0
            await asyncio.sleep(OUTBOX_POLL_SECONDS)
    finally:
        await close(container)


def outbox_run(args: argparse.Namespace) -> int:
    return asyncio.run(_outbox_run(args.once))


async def _outbox_list(status: OutboxStatus | None, limit: int) -> list[OutboxEntry]:
    from billing.container import close, postgres_container

    container = postgres_container(Settings.from_env())
    try:
        async with container.unit_of_work() as uow:
            return list((await uow.outbox.list(status, PageRequest(1, limit))).items)
    finally:
        await close(container)


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


# the parser --------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="billing", description="The billing service: API, database and tools.")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("serve", help="run the HTTP API (an embedded PostgreSQL without BILLING_DATABASE_URL)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--workers", type=int, default=1)
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

    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    action: Callable[[argparse.Namespace], int] = args.action
    try:
        return action(args)
    except (ConfigError, CommandError) as error:
        print(f"billing: {error}", file=sys.stderr)
        return 2
    except DatabaseUnavailableError as error:
        print(f"billing: {error}\n  is PostgreSQL running there, and is BILLING_DATABASE_URL right?", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
