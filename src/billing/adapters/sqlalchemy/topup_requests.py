"""Top-up requests (`topup_requests`), and a paid top-up's one statement."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import attrs
from sqlalchemy import and_, exists, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.adapters.sqlalchemy import ledger
from billing.adapters.sqlalchemy.base import Row, SqlAlchemyRepository
from billing.adapters.sqlalchemy.invoices import invoice_to_row
from billing.adapters.sqlalchemy.ledger import append_entry
from billing.adapters.sqlalchemy.tables import invoices, topup_requests
from billing.application.pagination import Page, PageRequest
from billing.application.ports import Credit, Movement, Tally, TopupQueueFigures
from billing.domain.errors import InsufficientFundsError
from billing.domain.events import DomainEvent
from billing.domain.invoice import Invoice
from billing.domain.ledger import EntryKind, Posting
from billing.domain.money import Money
from billing.domain.protections import AUTO_REQUESTER
from billing.domain.topup import TopupRequest, TopupStatus

KEYS = ("tenant_id", "id")
_OPEN = (TopupStatus.PENDING.value, TopupStatus.INVOICED.value)


# What a top-up's payment or reversal never changes: not written, and not sent. Under 51 parameters psycopg keeps
# a statement's parsed form; mark paid sent 51 and was parsed afresh on every call (docs/performance.md).
_INVOICE_FIXED = {*KEYS, "number", "purpose", "currency", "total", "period", "topup_request_id", "created_at"}
_REQUEST_FIXED = {*KEYS, "amount", "currency", "note", "requested_by", "requester_email", "requested_at"}
_INVOICE_STATE = [column.name for column in invoices.c if column.name not in _INVOICE_FIXED]
_REQUEST_STATE = [column.name for column in topup_requests.c if column.name not in _REQUEST_FIXED]


def _assignments(columns: list[str], prefix: str) -> str:
    return ", ".join(f"{name} = %({prefix}{name})s" for name in columns)


def _state_params(invoice: Invoice, request_row: Mapping[str, Any]) -> dict[str, Any]:
    """The invoice's and the request's changing columns, and their ids (`invoice_id`, `request_id`)."""
    invoice_row = invoice_to_row(invoice)
    return {
        **{f"invoice_{name}": invoice_row[name] for name in ("id", *_INVOICE_STATE)},
        **{f"request_{name}": request_row[name] for name in ("id", *_REQUEST_STATE)},
    }


LOCK = f"""
    SELECT {", ".join(column.name for column in topup_requests.c)} FROM topup_requests
    WHERE tenant_id = %(tenant_id)s AND id = %(id)s FOR UPDATE
"""

# Mark paid's writes in one round trip, as the charge's (wallets.CHARGE_ONCE): the invoice paid, its request
# completed, the wallet credited (opened on first use: the upsert) and the ledger row appended (no `price`: a
# message charge's only). Every statement names the tenant (Citus routes the whole to one shard). A wallet in
# another currency is not credited: no row comes back, and the caller's error rolls the unit back. The wallet's
# row lock is taken last, so it is held for the shortest time, as by the charge.
PAY_TOPUP = f"""
    WITH paid AS (
        UPDATE invoices SET {_assignments(_INVOICE_STATE, "invoice_")}
        WHERE tenant_id = %(tenant_id)s AND id = %(invoice_id)s
    ), completed AS (
        UPDATE topup_requests SET {_assignments(_REQUEST_STATE, "request_")}
        WHERE tenant_id = %(tenant_id)s AND id = %(request_id)s
    ), credited AS (
        INSERT INTO wallets AS w (tenant_id, id, currency, balance, created_at, updated_at)
        VALUES (%(tenant_id)s, %(wallet_id)s, %(currency)s, %(amount)s, %(at)s, %(at)s)
        ON CONFLICT (tenant_id) DO UPDATE SET balance = w.balance + EXCLUDED.balance, updated_at = EXCLUDED.updated_at
        WHERE w.currency = EXCLUDED.currency
        RETURNING id, balance, debt
    ), appended AS (
        {append_entry("credited", "driver", price=False)}
    )
    SELECT appended.wallet_id, appended.balance_after, credited.debt FROM appended, credited
"""


def _reversal(debit: bool) -> str:
    """A reversed payment's writes in one round trip (contract v3 §19): the invoice payment_reversed, its request
    reversed, the wallet's balance less what `available` covered (`amount`, 0 without a debit) and its debt plus
    the rest, and, with a debit, the `payment_reversal` row (`ux_wallet_transactions_payment_reversal_reference`:
    one per request). The wallet's row is locked already (the invoice's lock takes it first). It answers the move's
    `available` after, the settings' `watch_below` and the debt after."""
    appended = (
        f""", appended AS (
        {append_entry("moved", "driver", kind=EntryKind.PAYMENT_REVERSAL.value, price=False)}
    )"""
        if debit
        else ""
    )
    return f"""
    WITH reversed AS (
        UPDATE invoices SET {_assignments(_INVOICE_STATE, "invoice_")}
        WHERE tenant_id = %(tenant_id)s AND id = %(invoice_id)s
    ), request AS (
        UPDATE topup_requests SET {_assignments(_REQUEST_STATE, "request_")}
        WHERE tenant_id = %(tenant_id)s AND id = %(request_id)s
    ), moved AS (
        UPDATE wallets SET balance = balance + %(amount)s, debt = debt + %(debt_added)s, updated_at = %(at)s
        WHERE tenant_id = %(tenant_id)s AND balance + %(amount)s >= held
        RETURNING id, balance, tenant_id, currency, debt, balance - held AS available_after,
                  (SELECT watch_below FROM wallet_settings WHERE tenant_id = %(tenant_id)s) AS watch_below
    ){appended}
    SELECT tenant_id, currency, debt, available_after, watch_below FROM moved
"""


REVERSE_WITH_DEBIT = _reversal(debit=True)
REVERSE_WITHOUT_DEBIT = _reversal(debit=False)


class SqlAlchemyTopupRequestRepository(SqlAlchemyRepository):
    """Rows this unit of work has locked or written are kept (`_held`): no other transaction can change them
    before it ends, so reading one again (the receipt's recipient, after mark paid) needs no round trip."""

    def __init__(self, connection: AsyncConnection, events: list[DomainEvent] | None = None) -> None:
        super().__init__(connection, events)
        self._held: dict[UUID, dict[str, Any]] = {}

    async def get(
        self, request_id: UUID, *, for_update: bool = False, tenant_id: str | None = None
    ) -> TopupRequest | None:
        held = self._held.get(request_id)
        if held is not None:
            return request_from_row(held) if tenant_id in (None, held["tenant_id"]) else None
        row: Mapping[str, Any] | None
        if for_update and tenant_id is not None:  # mark paid, void: on the driver connection (as the charge)
            row = await self._fetch_one_on_driver(LOCK, {"tenant_id": tenant_id, "id": request_id})
        else:
            row = await self._by_id(topup_requests, request_id, for_update, tenant_id)
        if row is None:
            return None
        if for_update:
            self._held[request_id] = dict(row)
        return request_from_row(row)

    async def add(self, request: TopupRequest) -> None:
        self._collect(request)
        values = request_to_row(request)
        await self._execute(insert(topup_requests), [values])
        self._held[request.id] = values

    async def save(self, request: TopupRequest) -> None:
        self._collect(request)
        values = request_to_row(request)
        await self._execute(
            update(topup_requests)
            .where(topup_requests.c.tenant_id == request.tenant_id, topup_requests.c.id == request.id)
            .values(values)
        )
        self._held[request.id] = values

    async def save_paid(self, request: TopupRequest, invoice: Invoice, credit: Posting) -> Credit:
        self._collect(invoice)  # the order the events were recorded in: the invoice's, then the request's
        self._collect(request)
        request_row = request_to_row(request)
        params = {
            **_state_params(invoice, request_row),
            **ledger.posting_params(credit),
            "wallet_id": uuid4(),
        }
        row = await self._fetch_one_on_driver(PAY_TOPUP, params)
        if row is None:
            raise InsufficientFundsError(
                f"the wallet of {credit.tenant_id} is not in {credit.amount.currency}: it cannot be credited"
            )
        self._held[request.id] = request_row
        return Credit(ledger.entry_from_posting(credit, row), owes=row["debt"] > 0)

    async def save_reversed(
        self, request: TopupRequest, invoice: Invoice, reversal: Posting | None, debt_added: Money
    ) -> Movement:
        self._collect(invoice)  # the order the events were recorded in: the invoice's, then the request's
        self._collect(request)
        request_row = request_to_row(request)
        taken = Money.zero(invoice.currency) if reversal is None else -reversal.amount
        params: dict[str, Any] = {
            **_state_params(invoice, request_row),
            "tenant_id": invoice.tenant_id,
            "amount": -taken.amount,
            "debt_added": debt_added.amount,
            "at": invoice.reversed_at,
        }
        if reversal is not None:
            params.update(ledger.posting_params(reversal))  # the same tenant, amount and time
        row = await self._fetch_one_on_driver(REVERSE_WITHOUT_DEBIT if reversal is None else REVERSE_WITH_DEBIT, params)
        if row is None:
            raise InsufficientFundsError(f"the wallet of {invoice.tenant_id} cannot give back {taken}")
        self._held[request.id] = request_row
        movement = ledger.movement_from_row(row, taken)
        return attrs.evolve(movement, debt=Money(row["debt"], row["currency"]))

    async def has_open(self, tenant_id: str) -> bool:
        columns = topup_requests.c
        query = select(exists().where(columns.tenant_id == tenant_id, columns.status.in_(_OPEN)))
        return bool((await self._execute(query)).scalar_one())

    async def automatic_total_since(self, tenant_id: str, since: datetime) -> Money | None:
        columns = topup_requests.c
        query = select(func.sum(columns.amount).label("total"), func.min(columns.currency).label("currency")).where(
            columns.tenant_id == tenant_id, columns.requested_by == AUTO_REQUESTER, columns.requested_at >= since
        )
        row = (await self._execute(query)).mappings().one()
        return None if row["total"] is None else Money(row["total"], row["currency"])

    async def add_automatic(self, request: TopupRequest) -> bool:
        """ON CONFLICT on `ux_topup_requests_open_automatic`: a racer's open automatic request wins, quietly."""
        values = request_to_row(request)
        statement = (
            pg_insert(topup_requests)
            .values(values)
            .on_conflict_do_nothing(
                index_elements=[topup_requests.c.tenant_id],
                index_where=text(f"requested_by = '{AUTO_REQUESTER}' AND status IN ('pending', 'invoiced')"),
            )
            .returning(topup_requests.c.id)
        )
        added = (await self._execute(statement)).first() is not None
        if added:
            self._collect(request)
            self._held[request.id] = values
        return added

    async def list(self, tenant_id: str | None, status: TopupStatus | None, page: PageRequest) -> Page[TopupRequest]:
        query = select(topup_requests)
        if tenant_id is not None:
            query = query.where(topup_requests.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(topup_requests.c.status == status.value)
        order = [topup_requests.c.requested_at.desc(), topup_requests.c.id.desc()]
        found, total = await self._page(query, order, page)
        return Page(tuple(request_from_row(r) for r in found), page.page, page.page_size, total)

    async def queue_figures(
        self, tenant_id: str | None, paid_from: datetime, paid_before: datetime, currency: str
    ) -> TopupQueueFigures:
        c = topup_requests.c
        kinds = {
            "pending": c.status == TopupStatus.PENDING.value,
            "invoiced": c.status == TopupStatus.INVOICED.value,
            "paid": and_(
                c.status == TopupStatus.COMPLETED.value, c.completed_at >= paid_from, c.completed_at < paid_before
            ),
        }
        # One aggregate over the open requests and the month's paid ones (the status index finds them).
        columns = []
        for name, kind in kinds.items():
            columns.append(func.count().filter(kind).label(f"{name}_count"))
            columns.append(func.coalesce(func.sum(c.amount).filter(kind), 0).label(f"{name}_total"))
        query = select(*columns).where(or_(*kinds.values()))
        if tenant_id is not None:
            query = query.where(c.tenant_id == tenant_id)
        row = (await self._execute(query)).mappings().one()
        tallies = {
            name: Tally(int(row[f"{name}_count"]), Money(Decimal(row[f"{name}_total"]), currency)) for name in kinds
        }
        return TopupQueueFigures(tallies["pending"], tallies["invoiced"], tallies["paid"])


# Rows <-> domain: every field written and read back (tests/integration/test_reloading.py reloads them).


def request_to_row(request: TopupRequest) -> dict[str, Any]:
    return {
        "tenant_id": request.tenant_id,
        "id": request.id,
        "amount": request.amount.amount,
        "currency": request.currency,
        "note": request.note,
        "status": request.status.value,
        "requested_by": request.requested_by,
        "requester_email": request.requester_email,
        "requested_at": request.requested_at,
        "decided_by": request.decided_by,
        "decided_at": request.decided_at,
        "decision_note": request.decision_note,
        "rejection_reason": request.rejection_reason,
        "invoice_id": request.invoice_id,
        "invoice_number": request.invoice_number,
        "completed_at": request.completed_at,
        "cancelled_at": request.cancelled_at,
        "reversed_at": request.reversed_at,
    }


def request_from_row(row: Row) -> TopupRequest:
    return TopupRequest(
        id=row["id"],
        tenant_id=row["tenant_id"],
        amount=Money(row["amount"], row["currency"]),
        note=row["note"],
        status=TopupStatus(row["status"]),
        requested_by=row["requested_by"],
        requester_email=row["requester_email"],
        requested_at=row["requested_at"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        decision_note=row["decision_note"],
        rejection_reason=row["rejection_reason"],
        invoice_id=row["invoice_id"],
        invoice_number=row["invoice_number"],
        completed_at=row["completed_at"],
        cancelled_at=row["cancelled_at"],
        reversed_at=row["reversed_at"],
    )
