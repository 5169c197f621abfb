"""What the database itself refuses, whatever the application does: raw SQL against the migrated schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import errors

pytestmark = pytest.mark.postgres

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
Db = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def db(database_url: str) -> Iterator[Db]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def add_wallet(db: Db, tenant_id: str, balance: str = "100.00") -> uuid.UUID:
    wallet_id = uuid.uuid4()
    db.execute(
        "INSERT INTO wallets (tenant_id, id, currency, balance, created_at, updated_at)"
        " VALUES (%s, %s, 'USD', %s, %s, %s)",
        (tenant_id, wallet_id, balance, AT, AT),
    )
    return wallet_id


def add_entry(db: Db, tenant_id: str, wallet_id: uuid.UUID, kind: str, amount: str, reference: str | None) -> None:
    db.execute(
        "INSERT INTO wallet_transactions (tenant_id, id, wallet_id, kind, amount, currency, balance_after,"
        " reference_id, description, created_at) VALUES (%s, %s, %s, %s, %s, 'USD', 100.00, %s, NULL, %s)",
        (tenant_id, uuid.uuid4(), wallet_id, kind, amount, reference, AT),
    )


def add_request(db: Db, tenant_id: str) -> uuid.UUID:
    request_id = uuid.uuid4()
    db.execute(
        "INSERT INTO topup_requests (tenant_id, id, amount, currency, status, requested_by, requested_at)"
        " VALUES (%s, %s, 10.00, 'USD', 'pending', 'user-1', %s)",
        (tenant_id, request_id, AT),
    )
    return request_id


def add_invoice(db: Db, tenant_id: str, number: str, period: str = "2026-11", *, topup: bool = False) -> None:
    request_id = add_request(db, tenant_id) if topup else None
    db.execute(
        "INSERT INTO invoices (tenant_id, id, number, purpose, status, currency, total, period,"
        " topup_request_id, created_at) VALUES (%s, %s, %s, %s, 'draft', 'USD', 10.00, %s, %s, %s)",
        (tenant_id, uuid.uuid4(), number, "topup" if topup else "subscription", period, request_id, AT),
    )


def count(db: Db, statement: str) -> object:
    row = db.execute(statement).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE wallet_transactions SET amount = 1000.00",
        "UPDATE wallet_transactions SET description = 'quietly edited'",
        "DELETE FROM wallet_transactions",
        "TRUNCATE wallet_transactions",
    ],
)
def test_the_ledger_refuses_update_delete_and_truncate(db: Db, statement: str) -> None:
    add_entry(db, "clinic-a", add_wallet(db, "clinic-a"), "topup", "100.00", "request-1")
    with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
        db.execute(statement)
    assert db.execute("SELECT amount, description FROM wallet_transactions").fetchall() == [(100, None)]


def test_a_second_topup_credit_of_one_request_is_refused(db: Db) -> None:
    wallet_id = add_wallet(db, "clinic-a")
    add_entry(db, "clinic-a", wallet_id, "topup", "10.00", "request-1")
    with pytest.raises(errors.UniqueViolation) as refused:
        add_entry(db, "clinic-a", wallet_id, "topup", "10.00", "request-1")
    assert refused.value.diag.constraint_name == "ux_wallet_transactions_topup_reference"


def test_a_second_charge_with_one_reference_is_refused(db: Db) -> None:
    wallet_id = add_wallet(db, "clinic-a")
    add_entry(db, "clinic-a", wallet_id, "charge", "-1.00", "message-1")
    with pytest.raises(errors.UniqueViolation) as refused:
        add_entry(db, "clinic-a", wallet_id, "charge", "-2.00", "message-1")
    assert refused.value.diag.constraint_name == "ux_wallet_transactions_charge_reference"


def test_references_are_unique_per_kind_and_tenant_only(db: Db) -> None:
    wallet_a, wallet_b = add_wallet(db, "clinic-a"), add_wallet(db, "clinic-b")
    add_entry(db, "clinic-a", wallet_a, "charge", "-5.00", "message-1")
    add_entry(db, "clinic-a", wallet_a, "refund", "1.00", "message-1")
    add_entry(db, "clinic-a", wallet_a, "refund", "1.00", "message-1")  # partial refunds of one charge
    add_entry(db, "clinic-a", wallet_a, "topup", "1.00", "message-1")
    add_entry(db, "clinic-b", wallet_b, "charge", "-5.00", "message-1")  # another tenant's own message-1
    add_entry(db, "clinic-a", wallet_a, "adjustment", "1.00", None)
    add_entry(db, "clinic-a", wallet_a, "adjustment", "-1.00", None)
    assert count(db, "SELECT count(*) FROM wallet_transactions") == 7


def test_a_second_subscription_invoice_for_a_period_is_refused(db: Db) -> None:
    add_invoice(db, "clinic-a", "SUB-1", "2026-11")
    add_invoice(db, "clinic-a", "SUB-2", "2026-12")
    add_invoice(db, "clinic-b", "SUB-3", "2026-11")
    with pytest.raises(errors.UniqueViolation) as refused:
        add_invoice(db, "clinic-a", "SUB-4", "2026-11")
    assert refused.value.diag.constraint_name == "ux_invoices_subscription_period"


def test_any_number_of_topup_invoices_fit_in_one_period(db: Db) -> None:
    add_invoice(db, "clinic-a", "SUB-1", "2026-11")
    add_invoice(db, "clinic-a", "TOP-1", "2026-11", topup=True)
    add_invoice(db, "clinic-a", "TOP-2", "2026-11", topup=True)
    assert count(db, "SELECT count(*) FROM invoices WHERE period = '2026-11'") == 3


def test_an_invoice_number_is_unique_within_its_tenant(db: Db) -> None:
    add_invoice(db, "clinic-a", "TOP-1", topup=True)
    add_invoice(db, "clinic-b", "TOP-1", topup=True)
    with pytest.raises(errors.UniqueViolation) as refused:
        add_invoice(db, "clinic-a", "TOP-1", topup=True)
    assert refused.value.diag.constraint_name == "uq_invoices_tenant_id_number"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE wallets SET balance = -0.01",
        "INSERT INTO wallets (tenant_id, id, currency, balance, created_at, updated_at)"
        " VALUES ('clinic-b', gen_random_uuid(), 'USD', -5.00, now(), now())",
    ],
)
def test_a_wallet_balance_never_goes_below_zero(db: Db, statement: str) -> None:
    add_wallet(db, "clinic-a", "0.00")
    with pytest.raises(errors.CheckViolation) as refused:
        db.execute(statement)
    # PostgreSQL checks a table's constraints in name order: with nothing held, the covers-held check (which
    # implies the other) is the one that speaks. Either means insufficient_funds to the caller.
    assert refused.value.diag.constraint_name in {"ck_wallets_balance_covers_held", "ck_wallets_balance_non_negative"}
    assert count(db, "SELECT min(balance) FROM wallets") == 0


def test_a_ledger_row_never_records_a_negative_balance(db: Db) -> None:
    wallet_id = add_wallet(db, "clinic-a")
    with pytest.raises(errors.CheckViolation) as refused:
        db.execute(
            "INSERT INTO wallet_transactions (tenant_id, id, wallet_id, kind, amount, currency, balance_after,"
            " reference_id, created_at) VALUES ('clinic-a', gen_random_uuid(), %s, 'charge', -1.00, 'USD',"
            " -1.00, 'message-1', now())",
            (wallet_id,),
        )
    assert refused.value.diag.constraint_name == "ck_wallet_transactions_balance_after_non_negative"


def add_hold(
    db: Db, tenant_id: str, message_id: str, amount: str = "0.05", status: str = "held", **columns: object
) -> uuid.UUID:
    hold_id = uuid.uuid4()
    values: dict[str, object] = {
        "tenant_id": tenant_id,
        "id": hold_id,
        "message_id": message_id,
        "status": status,
        "recipient": "\u20263210",
        "country": "IN",
        "market": "India",
        "category": "utility",
        "tier": 1,
        "rate_card_id": uuid.uuid4(),
        "unit_price": amount,
        "amount": amount,
        "message_window": "none",
        "currency": "USD",
        "created_at": AT,
        "expires_at": AT + timedelta(days=30),
        **columns,
    }
    db.execute(
        f"INSERT INTO holds ({', '.join(values)}) VALUES ({', '.join(['%s'] * len(values))})",  # type: ignore[arg-type]
        list(values.values()),
    )
    return hold_id


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE wallets SET held = 100.01",  # more held than the balance
        "UPDATE wallets SET balance = 4.99",  # a debit below what is held
        "UPDATE wallets SET held = -0.01",
    ],
)
def test_a_wallet_never_holds_more_than_its_balance(db: Db, statement: str) -> None:
    add_wallet(db, "clinic-a", "100.00")
    db.execute("UPDATE wallets SET held = 5.00")
    with pytest.raises(errors.CheckViolation) as refused:
        db.execute(statement)
    assert refused.value.diag.constraint_name == "ck_wallets_balance_covers_held"
    assert db.execute("SELECT balance, held FROM wallets").fetchall() == [(100, 5)]


def test_a_wallet_is_active_or_frozen(db: Db) -> None:
    add_wallet(db, "clinic-a")
    db.execute("UPDATE wallets SET status = 'frozen', frozen_reason = 'unpaid invoices'")
    with pytest.raises(errors.CheckViolation) as refused:
        db.execute("UPDATE wallets SET status = 'closed'")
    assert refused.value.diag.constraint_name == "ck_wallets_status"


def test_one_hold_per_message_id_and_tenant(db: Db) -> None:
    add_wallet(db, "clinic-a")
    add_wallet(db, "clinic-b")
    add_hold(db, "clinic-a", "wamid.HBgM+/=")
    add_hold(db, "clinic-b", "wamid.HBgM+/=")  # another tenant's own message id
    with pytest.raises(errors.UniqueViolation) as refused:
        add_hold(db, "clinic-a", "wamid.HBgM+/=", status="voided")  # whatever the status
    assert refused.value.diag.constraint_name == "ux_holds_message"
    assert count(db, "SELECT count(*) FROM holds") == 2


def test_a_hold_belongs_to_a_wallet(db: Db) -> None:
    with pytest.raises(errors.ForeignKeyViolation) as refused:
        add_hold(db, "clinic-without-wallet", "message-1")
    assert refused.value.diag.constraint_name == "fk_holds_tenant_id_wallets"


@pytest.mark.parametrize(
    ("columns", "constraint"),
    [
        ({"status": "pending"}, "ck_holds_status"),
        ({"category": "marketing_lite"}, "ck_holds_category"),
        ({"amount": "-0.05"}, "ck_holds_amount_non_negative"),
        ({"charged": "-0.01", "shortfall": "0"}, "ck_holds_charged_non_negative"),
        ({"shortfall": "-0.01"}, "ck_holds_charged_non_negative"),
        ({"status": "settled"}, "ck_holds_settled_has_charge"),
        ({"expires_at": AT}, "ck_holds_expires_after_created"),
    ],
)
def test_a_hold_row_keeps_its_rules(db: Db, columns: dict[str, object], constraint: str) -> None:
    add_wallet(db, "clinic-a")
    with pytest.raises(errors.CheckViolation) as refused:
        add_hold(db, "clinic-a", "message-1", **columns)
    assert refused.value.diag.constraint_name == constraint


def test_a_price_snapshot_is_only_on_a_charge(db: Db) -> None:
    wallet_id = add_wallet(db, "clinic-a")
    with pytest.raises(errors.CheckViolation) as refused:
        db.execute(
            "INSERT INTO wallet_transactions (tenant_id, id, wallet_id, kind, amount, currency, balance_after,"
            " reference_id, created_at, price) VALUES ('clinic-a', gen_random_uuid(), %s, 'refund', 1.00, 'USD',"
            " 101.00, 'message-1', now(), '{}')",
            (wallet_id,),
        )
    assert refused.value.diag.constraint_name == "ck_wallet_transactions_price_on_charge"


def test_the_ledger_stays_append_only_with_its_price_column(db: Db) -> None:
    wallet_id = add_wallet(db, "clinic-a")
    db.execute(
        "INSERT INTO wallet_transactions (tenant_id, id, wallet_id, kind, amount, currency, balance_after,"
        " reference_id, created_at, price) VALUES ('clinic-a', gen_random_uuid(), %s, 'charge', -0.05, 'USD',"
        " 99.95, 'message-1', now(), '{\"unit_price\": \"0.05\"}')",
        (wallet_id,),
    )
    with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
        db.execute("UPDATE wallet_transactions SET price = NULL")


def test_a_marketing_reserve_is_never_negative(db: Db) -> None:
    with pytest.raises(errors.CheckViolation) as refused:
        db.execute(
            "INSERT INTO wallet_settings (tenant_id, currency, marketing_reserve, updated_by, updated_at)"
            " VALUES ('clinic-a', 'USD', -1.00, 'user-1', now())"
        )
    assert refused.value.diag.constraint_name == "ck_wallet_settings_marketing_reserve_non_negative"


def add_event(db: Db, tenant_id: str | None, message_id: str | None, status: str | None, **columns: object) -> None:
    """A webhook event: a tenant's (`webhook_events`), or a number nobody mapped's (`webhook_unknown_events`)."""
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "phone_number_id": "106540352242922",
        "message_id": message_id,
        "status": status,
        "outcome": "applied" if tenant_id is not None else "unmatched",
        "reason": None,
        "received_at": AT,
        **columns,
    }
    table = "webhook_unknown_events"
    if tenant_id is not None:
        table, values = "webhook_events", {"tenant_id": tenant_id, **values}
    db.execute(
        f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join(['%s'] * len(values))})",  # type: ignore[arg-type]
        list(values.values()),
    )


def test_each_status_of_a_message_is_recorded_once_per_tenant(db: Db) -> None:
    add_event(db, "clinic-a", "wamid.HBgM+/=", "delivered")
    add_event(db, "clinic-a", "wamid.HBgM+/=", "read")  # another status of the message
    add_event(db, "clinic-b", "wamid.HBgM+/=", "delivered")  # another tenant's own message id
    add_event(db, "clinic-a", None, None, outcome="ignored", reason="malformed_status")  # nothing to key it by:
    add_event(db, "clinic-a", None, None, outcome="ignored", reason="malformed_status")  # kept each time it comes
    with pytest.raises(errors.UniqueViolation) as refused:
        add_event(db, "clinic-a", "wamid.HBgM+/=", "delivered", outcome="ignored", reason="already_settled")
    assert refused.value.diag.constraint_name == "ux_webhook_events_status"
    assert count(db, "SELECT count(*) FROM webhook_events") == 5


def test_each_status_of_an_unknown_number_is_recorded_once(db: Db) -> None:
    add_event(db, None, "wamid.1", "delivered")
    add_event(db, None, "wamid.1", "delivered", phone_number_id="206540352242922")  # another number's
    add_event(db, None, "wamid.1", "delivered", phone_number_id=None, outcome="ignored")
    for phone_number_id in ("106540352242922", None):  # without a number too: compared through COALESCE
        with pytest.raises(errors.UniqueViolation) as refused:
            add_event(db, None, "wamid.1", "delivered", phone_number_id=phone_number_id)
        assert refused.value.diag.constraint_name == "ux_webhook_unknown_events_status"
    assert count(db, "SELECT count(*) FROM webhook_unknown_events") == 3


@pytest.mark.parametrize("tenant_id", ["clinic-a", None])
def test_a_webhook_event_has_a_known_outcome(db: Db, tenant_id: str | None) -> None:
    with pytest.raises(errors.CheckViolation) as refused:
        add_event(db, tenant_id, "wamid.1", "delivered", outcome="lost")
    table = "webhook_events" if tenant_id is not None else "webhook_unknown_events"
    assert refused.value.diag.constraint_name == f"ck_{table}_outcome"


def test_a_phone_number_maps_to_one_tenant(db: Db) -> None:
    insert = (
        "INSERT INTO whatsapp_numbers (phone_number_id, tenant_id, created_by, created_at)"
        " VALUES ('106540352242922', %s, 'operator-1', now())"
    )
    db.execute(insert, ("clinic-a",))
    with pytest.raises(errors.UniqueViolation) as refused:
        db.execute(insert, ("clinic-b",))
    assert refused.value.diag.constraint_name == "pk_whatsapp_numbers"


# Contract v3 §19-20 (migration 0009) ---------------------------------------------------------------------------


def test_a_second_reversal_of_one_topup_is_refused(db: Db) -> None:
    wallet_id = add_wallet(db, "clinic-a")
    add_entry(db, "clinic-a", wallet_id, "payment_reversal", "-10.00", "request-1")
    add_entry(db, "clinic-a", wallet_id, "payment_reversal", "-10.00", "request-2")
    add_entry(db, "clinic-b", add_wallet(db, "clinic-b"), "payment_reversal", "-10.00", "request-1")
    with pytest.raises(errors.UniqueViolation) as refused:
        add_entry(db, "clinic-a", wallet_id, "payment_reversal", "-1.00", "request-1")
    assert refused.value.diag.constraint_name == "ux_wallet_transactions_payment_reversal_reference"


def test_debt_repayments_may_share_a_reference(db: Db) -> None:
    """A refund's several parts, or one top-up credited and then repaid in steps, each repay under their reference."""
    wallet_id = add_wallet(db, "clinic-a")
    add_entry(db, "clinic-a", wallet_id, "debt_repayment", "-1.00", "message-1")
    add_entry(db, "clinic-a", wallet_id, "debt_repayment", "-2.00", "message-1")
    assert count(db, "SELECT count(*) FROM wallet_transactions WHERE kind = 'debt_repayment'") == 2


@pytest.mark.parametrize(
    ("kind", "amount", "reference", "constraint"),
    [
        ("payment_reversal", "10.00", "request-1", "ck_wallet_transactions_amount_sign"),
        ("debt_repayment", "1.00", "request-1", "ck_wallet_transactions_amount_sign"),
        ("payment_reversal", "-10.00", None, "ck_wallet_transactions_reference_required"),
        ("debt_repayment", "-1.00", None, "ck_wallet_transactions_reference_required"),
    ],
)
def test_reversals_and_repayments_are_debits_with_a_reference(
    db: Db, kind: str, amount: str, reference: str | None, constraint: str
) -> None:
    wallet_id = add_wallet(db, "clinic-a")
    with pytest.raises(errors.CheckViolation) as refused:
        add_entry(db, "clinic-a", wallet_id, kind, amount, reference)
    assert refused.value.diag.constraint_name == constraint


def test_a_wallets_debt_is_never_negative(db: Db) -> None:
    add_wallet(db, "clinic-a")
    db.execute("UPDATE wallets SET debt = 5.00")
    with pytest.raises(errors.CheckViolation) as refused:
        db.execute("UPDATE wallets SET debt = -0.0001")
    assert refused.value.diag.constraint_name == "ck_wallets_debt_non_negative"


PAID = "paid_at = now(), payment_reference = 'Ref-1', payment_reference_key = 'ref-1'"
REVERSED = (
    "reversed_at = now(), reversed_by = 'operator-1', reversal_reason = 'bounced', reversed_amount = 4.00,"
    " debt_added = 6.00"
)


def test_a_reversed_invoice_keeps_its_payment_reference(db: Db) -> None:
    """v3 §24: the reference stays unique per tenant among paid and payment_reversed invoices."""
    add_invoice(db, "clinic-a", "TOP-1", topup=True)
    add_invoice(db, "clinic-a", "TOP-2", topup=True)
    db.execute(f"UPDATE invoices SET status = 'payment_reversed', {PAID}, {REVERSED} WHERE number = 'TOP-1'")
    with pytest.raises(errors.UniqueViolation) as refused:
        db.execute(f"UPDATE invoices SET status = 'paid', {PAID} WHERE number = 'TOP-2'")
    assert refused.value.diag.constraint_name == "ux_invoices_payment_reference"


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        (f"status = 'payment_reversed', {PAID}", "ck_invoices_reversed_has_reversal"),
        (
            f"status = 'payment_reversed', {PAID}, {REVERSED.replace('6.00', '5.00')}",
            "ck_invoices_reversed_has_reversal",
        ),
        (f"status = 'void', voided_at = now(), {PAID}", "ck_invoices_reference_key_when_paid"),
        ("status = 'refunded'", "ck_invoices_status"),
    ],
    ids=["without its reversal", "not adding up to the total", "a key without a payment", "an unknown status"],
)
def test_an_invoice_keeps_its_reversal_rules(db: Db, values: str, constraint: str) -> None:
    add_invoice(db, "clinic-a", "TOP-1", topup=True)
    with pytest.raises(errors.CheckViolation) as refused:
        db.execute(f"UPDATE invoices SET {values}")  # type: ignore[arg-type]
    assert refused.value.diag.constraint_name == constraint


def test_a_topup_request_may_be_reversed_and_nothing_else(db: Db) -> None:
    add_request(db, "clinic-a")
    db.execute("UPDATE topup_requests SET status = 'reversed', invoice_id = gen_random_uuid(), reversed_at = now()")
    with pytest.raises(errors.CheckViolation) as refused:
        db.execute("UPDATE topup_requests SET status = 'bounced'")
    assert refused.value.diag.constraint_name == "ck_topup_requests_status"


def add_adjustment(db: Db, tenant_id: str, reference: str | None, **columns: object) -> None:
    row: dict[str, object] = {
        "tenant_id": tenant_id,
        "id": uuid.uuid4(),
        "amount": "5.00",
        "currency": "USD",
        "reason": "goodwill",
        "reference_id": reference,
        "status": "proposed",
        "proposed_by": "operator-1",
        "proposed_at": AT,
        **columns,
    }
    db.execute(
        f"INSERT INTO adjustments ({', '.join(row)}) VALUES ({', '.join(f'%({name})s' for name in row)})",  # type: ignore[arg-type]
        row,
    )


def test_an_adjustment_reference_is_unique_per_tenant(db: Db) -> None:
    add_adjustment(db, "clinic-a", "ticket-1")
    add_adjustment(db, "clinic-b", "ticket-1")
    add_adjustment(db, "clinic-a", None)
    add_adjustment(db, "clinic-a", None)  # in-process adjustments without a reference are never repeats
    with pytest.raises(errors.UniqueViolation) as refused:
        add_adjustment(db, "clinic-a", "ticket-1", amount="6.00")
    assert refused.value.diag.constraint_name == "ux_adjustments_reference"


@pytest.mark.parametrize(
    ("columns", "constraint"),
    [
        ({"amount": "0"}, "ck_adjustments_amount_not_zero"),
        ({"status": "cancelled"}, "ck_adjustments_status"),
        ({"status": "applied", "decided_at": AT}, "ck_adjustments_applied_has_transaction"),
        ({"status": "rejected", "decided_at": AT}, "ck_adjustments_rejected_has_reason"),
    ],
)
def test_an_adjustment_keeps_its_rules(db: Db, columns: dict[str, object], constraint: str) -> None:
    with pytest.raises(errors.CheckViolation) as refused:
        add_adjustment(db, "clinic-a", "ticket-1", **columns)
    assert refused.value.diag.constraint_name == constraint


def add_audit_row(db: Db, tenant_id: str | None) -> None:
    table, tenant = ("audit_events", "tenant_id, ") if tenant_id is not None else ("platform_audit_events", "")
    db.execute(
        f"INSERT INTO {table} ({tenant}id, at, actor_kind, actor_sub, action, target_type, target_id, details)"  # type: ignore[arg-type]
        f" VALUES ({'%(tenant_id)s, ' if tenant else ''}gen_random_uuid(), now(), 'system', 'sweeper',"
        " 'expire_holds', 'wallet', 'clinic-a', '{}')",
        {"tenant_id": tenant_id},
    )


@pytest.mark.parametrize("table", ["audit_events", "platform_audit_events"])
@pytest.mark.parametrize("statement", ["UPDATE {} SET action = 'quietly edited'", "DELETE FROM {}", "TRUNCATE {}"])
def test_the_audit_trail_refuses_update_delete_and_truncate(db: Db, table: str, statement: str) -> None:
    """Contract v3 §20: append-only, as the ledger is, whoever connects."""
    add_audit_row(db, "clinic-a" if table == "audit_events" else None)
    with pytest.raises(errors.InsufficientPrivilege, match=f"{table} is append-only"):
        db.execute(statement.format(table))  # type: ignore[arg-type]
    assert count(db, f"SELECT count(*) FROM {table}") == 1  # type: ignore[arg-type]


def test_an_audit_row_is_by_a_user_or_the_system(db: Db) -> None:
    with pytest.raises(errors.CheckViolation) as refused:
        db.execute(
            "INSERT INTO audit_events (tenant_id, id, at, actor_kind, action, target_type, target_id, details)"
            " VALUES ('clinic-a', gen_random_uuid(), now(), 'robot', 'freeze', 'wallet', 'clinic-a', '{}')"
        )
    assert refused.value.diag.constraint_name == "ck_audit_events_actor_kind"
