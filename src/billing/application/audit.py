"""Every audit row is made here (contract v3 §20), in the transaction of the change it records: the executor writes
one for each audited use case (`@requires(…, audit=Audited(…))`), and the service's own jobs (the hold sweeper,
automatic top-ups, low-balance alerts) write theirs through `record_system`. The console's sign-in and sign-out are
use cases too; failed sign-ins are counted and written at most once a minute per client address
(`SignInFailures`). Reads: `list_audit` (root + View, any tenant) and `list_my_audit` (a clinic's own rows,
without client addresses)."""

from __future__ import annotations

import time
from datetime import date
from typing import TYPE_CHECKING, Any

import attrs

from billing.application import context
from billing.application.caller import Caller
from billing.application.pagination import Page, PageRequest
from billing.application.ports import AuditFilter, UnitOfWork
from billing.application.runtime import Audited, Guarded, Runtime, root_viewer, run_in_unit_of_work, signed_in, viewer
from billing.application.runtime import requires as requires_rule
from billing.domain.audit import ALERTS, AUTO_TOPUP, Actor, ActorKind, AuditEntry, Target, redacted
from billing.domain.errors import ValidationError
from billing.domain.events import DomainEvent, LowBalance, TopupRequested
from billing.domain.protections import AUTO_REQUESTER
from billing.domain.tenant import validate_tenant_id
from billing.domain.text import validate_text

if TYPE_CHECKING:
    from billing.application.service import BillingService

SIGN_IN_FAILURES_EVERY_SECONDS = 60.0


async def record_use_case(
    handler: object, cmd: object, caller: Caller, result: object, uow: UnitOfWork, rt: Runtime
) -> None:
    """The row of an audited use case that changed something (its `Audited` says what, and where)."""
    audited = handler.audit if isinstance(handler, Guarded) else None
    if audited is None:
        return
    target = audited.target(cmd, result)
    if target is None:  # a repeat answered with the first result: nothing changed
        return
    tenant_id, target_id = target
    bound = context.current()
    await uow.audit_trail.append(
        AuditEntry(
            id=rt.ids.new_id(),
            at=rt.clock.now(),
            tenant_id=tenant_id,
            actor=Actor.user(caller.user_id, caller.tenant_id),
            action=bound.action or audited.method,
            target=Target(audited.target_type, target_id),
            request_id=bound.request_id,
            ip=bound.ip,
            details=redacted(cmd),
        )
    )


async def record_system(
    job: str,
    action: str,
    tenant_id: str | None,
    target: Target,
    details: dict[str, Any],
    uow: UnitOfWork,
    rt: Runtime,
) -> None:
    """A change the service made on its own: `job` (sweeper, auto_topup, alerts, reconciliation) is the actor."""
    bound = context.current()
    await uow.audit_trail.append(
        AuditEntry(
            id=rt.ids.new_id(),
            at=rt.clock.now(),
            tenant_id=tenant_id,
            actor=Actor.system(job),
            action=action,
            target=target,
            request_id=bound.request_id,
            ip=bound.ip,
            details=redacted(details),
        )
    )


@attrs.frozen
class ListAudit:
    tenant_id: str | None = None
    actor: str | None = None
    action: str | None = None
    target_id: str | None = None
    from_day: date | None = None
    to_day: date | None = None
    page: PageRequest = attrs.field(factory=PageRequest)


@attrs.frozen
class ListMyAudit:
    actor: str | None = None
    action: str | None = None
    target_id: str | None = None
    from_day: date | None = None
    to_day: date | None = None
    page: PageRequest = attrs.field(factory=PageRequest)


def _days(from_day: date | None, to_day: date | None) -> None:
    if from_day is not None and to_day is not None and to_day < from_day:
        raise ValidationError.of("to", "must not be before `from`")


def _filter_text(value: str | None, field: str) -> str | None:
    """A text filter (`actor`, `action`, `target_id`): one line of at most 200 characters, like what it matches."""
    return None if value is None else validate_text(value, field=field, max_length=200, required=True)


def _texts(cmd: ListAudit | ListMyAudit) -> tuple[tuple[str | None, str], ...]:
    return ((cmd.actor, "actor"), (cmd.action, "action"), (cmd.target_id, "target_id"))


@requires_rule(root_viewer)
async def list_audit(cmd: ListAudit, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Page[AuditEntry]:
    """Root + View: any tenant's rows (or all, with the platform's), newest first."""
    _days(cmd.from_day, cmd.to_day)
    tenant_id = None if cmd.tenant_id is None else validate_tenant_id(cmd.tenant_id)
    actor, action, target_id = (_filter_text(v, f) for v, f in _texts(cmd))
    filters = AuditFilter(tenant_id, actor, action, target_id, cmd.from_day, cmd.to_day)
    return await uow.audit_trail.list(filters, cmd.page)


@requires_rule(viewer)
async def list_my_audit(cmd: ListMyAudit, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Page[AuditEntry]:
    """The caller's own tenant's rows, as a clinic sees them: no client address, an operator named only as the
    platform (so `actor=` never finds an operator by name here)."""
    _days(cmd.from_day, cmd.to_day)
    root = rt.settings.root_tenant
    actor, action, target_id = (_filter_text(v, f) for v, f in _texts(cmd))
    filters = AuditFilter(
        caller.tenant_id,
        actor,
        action,
        target_id,
        cmd.from_day,
        cmd.to_day,
        only_tenant=True,
        hidden_actor_tenant=None if caller.tenant_id == root else root,
    )
    page = await uow.audit_trail.list(filters, cmd.page)
    return Page(tuple(entry.as_seen_by_tenant(root) for entry in page.items), page.page, page.page_size, page.total)


async def audit_automatic_topup(event: DomainEvent, uow: UnitOfWork, rt: Runtime) -> None:
    """An event handler (in the move's transaction): an automatic top-up request is the service's own change."""
    assert isinstance(event, TopupRequested)
    if event.requested_by != AUTO_REQUESTER:
        return  # a person's request: the executor audits it as theirs
    details = {"amount": event.amount, "requested_by": event.requested_by}
    target = Target("topup_request", str(event.request_id))
    await record_system(AUTO_TOPUP, "auto_topup_request", event.tenant_id, target, details, uow, rt)


async def audit_low_balance_alert(event: DomainEvent, uow: UnitOfWork, rt: Runtime) -> None:
    """An event handler (in the move's transaction): a low-balance alert raised on the wallet."""
    assert isinstance(event, LowBalance)
    details = {"alert_id": event.alert_id, "level": event.level, "available": event.available}
    target = Target("wallet", event.tenant_id)
    await record_system(ALERTS, "low_balance_alert", event.tenant_id, target, details, uow, rt)


@attrs.frozen
class ConsoleSession:
    """A person signed in to the console, or out of it (the session is the console's; the row is the trail's)."""


def _the_person(cmd: ConsoleSession, caller: Caller) -> tuple[str | None, str]:
    return caller.tenant_id, caller.user_id


@requires_rule(signed_in, audit=Audited("user", "console_sign_in", _the_person))
async def console_sign_in(cmd: ConsoleSession, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Caller:
    return caller


@requires_rule(signed_in, audit=Audited("user", "console_sign_out", _the_person))
async def console_sign_out(cmd: ConsoleSession, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Caller:
    return caller


class SignInFailures:
    """Failed console sign-ins, written to the trail at most once a minute per client address (§20): the first
    at once, the ones after it counted and written with the next failure a minute later (`details.failures`).
    Per process: with several workers, each writes its own count."""

    def __init__(self, every_seconds: float = SIGN_IN_FAILURES_EVERY_SECONDS, most_addresses: int = 10_000) -> None:
        self._every = every_seconds
        self._most = most_addresses
        self._seen: dict[str, tuple[float, int]] = {}  # address -> (when its last row was written, failures since)

    async def failed(self, ip: str | None, service: BillingService) -> None:
        address = ip or "unknown"
        now = time.monotonic()
        written, failures = self._seen.get(address, (float("-inf"), 0))
        failures += 1
        if now - written < self._every:
            self._seen[address] = (written, failures)
            return
        self._forget_quiet(now)
        self._seen[address] = (now, 0)
        rt = service.runtime

        async def write(uow: UnitOfWork) -> None:
            await _record_failed_sign_in(ip, failures, uow, rt)

        await run_in_unit_of_work(service.uow_factory, write)

    def _forget_quiet(self, now: float) -> None:
        """Bounded: addresses quiet for a minute are forgotten first (their count was written)."""
        if len(self._seen) < self._most:
            return
        for address, (written, failures) in list(self._seen.items()):
            if now - written >= self._every and failures == 0:
                del self._seen[address]


async def _record_failed_sign_in(ip: str | None, failures: int, uow: UnitOfWork, rt: Runtime) -> None:
    bound = context.current()
    await uow.audit_trail.append(
        AuditEntry(
            id=rt.ids.new_id(),
            at=rt.clock.now(),
            tenant_id=None,  # who tried is not known: a platform row
            actor=Actor(ActorKind.USER, None, None),
            action="console_sign_in_failed",
            target=Target("console", "sign_in"),
            request_id=bound.request_id,
            ip=ip,
            details={"failures": failures},
        )
    )
