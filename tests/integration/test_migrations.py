"""The Alembic migrations: built from empty, stepped up and down, matching the Core tables, and
keeping the schema ready for Citus (spec §6)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from billing.adapters.sqlalchemy.engine import psycopg_url
from billing.adapters.sqlalchemy.errors import CONSTRAINT_ANSWERS
from billing.adapters.sqlalchemy.migrations import (
    MIGRATIONS,
    current_revision,
    downgrade,
    head_revision,
    is_at_head,
    upgrade,
)
from billing.adapters.sqlalchemy.tables import metadata

pytestmark = pytest.mark.postgres

# What a migration leaves behind, in a form two databases can be compared by.
SCHEMA_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, character_maximum_length, numeric_precision,
               numeric_scale, is_nullable, column_default, is_identity, identity_generation
        FROM information_schema.columns WHERE table_schema = 'public'""",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace""",
    "triggers": "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal",
    "functions": """
        SELECT proname, pg_get_functiondef(oid) FROM pg_proc
        WHERE pronamespace = 'public'::regnamespace""",
    "sequences": "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'",
}

# Citus distributes by tenant_id: it must be a column of every table and a key column of every
# primary key, unique constraint, unique index and foreign key (on both sides).
# Platform-wide by nature (contract v2 §13: "the default rate cards and their rows, the phone-number map, and
# webhook events of unknown numbers"; v3 §23: platform audit rows): reference tables on Citus, exempt from the key
# rule.
PLATFORM_WIDE = (
    "default_rate_cards",
    "cost_cards",
    "whatsapp_numbers",
    "webhook_unknown_events",
    "platform_audit_events",
)
_EXEMPT = ", ".join(f"'{name}'" for name in ("alembic_version", *PLATFORM_WIDE))
CITUS_QUERIES = {
    "tables without tenant_id": f"""
        SELECT c.relname FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
          AND c.relname NOT IN ({_EXEMPT})
          AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                          WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)""",
    "keys without tenant_id": f"""
        SELECT k.conname FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
        WHERE k.connamespace = 'public'::regnamespace AND k.contype IN ('p', 'u', 'x')
          AND t.relname NOT IN ({_EXEMPT})
          AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                          WHERE a.attrelid = k.conrelid AND a.attname = 'tenant_id' AND a.attnum = ANY (k.conkey))""",
    "unique indexes without tenant_id": f"""
        SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relnamespace = 'public'::regnamespace AND t.relname NOT IN ({_EXEMPT}) AND i.indisunique
          AND NOT EXISTS (SELECT 1 FROM generate_series(1, i.indnkeyatts) AS key(n)
                          WHERE pg_get_indexdef(i.indexrelid, key.n, true) = 'tenant_id')""",
    "foreign keys not by tenant_id": """
        SELECT k.conname FROM pg_constraint k
        WHERE k.connamespace = 'public'::regnamespace AND k.contype = 'f'
          AND NOT EXISTS (
              SELECT 1 FROM generate_subscripts(k.conkey, 1) AS key(n)
              JOIN pg_attribute mine ON mine.attrelid = k.conrelid AND mine.attnum = k.conkey[key.n]
              JOIN pg_attribute theirs ON theirs.attrelid = k.confrelid AND theirs.attnum = k.confkey[key.n]
              WHERE mine.attname = 'tenant_id' AND theirs.attname = 'tenant_id')""",
}


def _query(url: str, statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as connection:
        return sorted(connection.execute(statement).fetchall(), key=repr)


def schema_of(url: str) -> dict[str, list[tuple[object, ...]]]:
    return {name: _query(url, statement) for name, statement in SCHEMA_QUERIES.items()}


def citus_violations(url: str) -> dict[str, list[object]]:
    return {name: [row[0] for row in _query(url, statement)] for name, statement in CITUS_QUERIES.items()}


def revisions_in_order() -> list[str]:
    script = ScriptDirectory(str(MIGRATIONS))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def test_the_migrations_build_the_schema_from_an_empty_database(empty_database_url: str, database_url: str) -> None:
    assert current_revision(empty_database_url) is None
    upgrade(empty_database_url)
    assert is_at_head(empty_database_url)
    assert schema_of(empty_database_url) == schema_of(database_url)


def test_stairway_each_revision_upgrades_downgrades_and_upgrades_again(
    empty_database_url: str, database_url: str
) -> None:
    url = empty_database_url
    revisions = revisions_in_order()
    assert revisions[-1] == head_revision()
    below: str | None = None
    for revision in revisions:
        upgrade(url, revision)
        assert current_revision(url) == revision
        downgrade(url, below or "base")
        assert current_revision(url) == below
        upgrade(url, revision)
        assert current_revision(url) == revision
        below = revision
    # A downgrade that left something behind (or dropped too much) shows up here.
    assert schema_of(url) == schema_of(database_url)


def test_downgrading_to_base_leaves_nothing_behind(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    downgrade(empty_database_url, "base")
    schema = schema_of(empty_database_url)
    assert {row[0] for row in schema["columns"]} == {"alembic_version"}
    assert schema["functions"] == []
    assert schema["triggers"] == []
    assert schema["sequences"] == []


def test_core_tables_match_the_migrated_schema(database_url: str) -> None:
    """The queries' tables (tables.py) and the migrations must describe the same columns."""
    engine = create_engine(psycopg_url(database_url))
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            assert set(inspector.get_table_names()) == set(metadata.tables) | {"alembic_version"}
            for name, table in metadata.tables.items():
                migrated = {column["name"]: column["nullable"] for column in inspector.get_columns(name)}
                declared = {column.name: column.nullable for column in table.columns}
                assert migrated == declared, name
                primary_key = inspector.get_pk_constraint(name)["constrained_columns"]
                assert primary_key == [column.name for column in table.primary_key.columns], name
    finally:
        engine.dispose()


def test_every_constraint_the_errors_map_exists_in_the_schema(database_url: str) -> None:
    """A renamed index would silently turn a race's answer into a raw database error."""
    names = {
        row[0]
        for row in _query(
            database_url,
            "SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
            " UNION SELECT indexname FROM pg_indexes WHERE schemaname = 'public'",
        )
    }
    assert set(CONSTRAINT_ANSWERS) <= names


def test_every_key_includes_tenant_id_so_citus_can_distribute_by_tenant(database_url: str) -> None:
    assert citus_violations(database_url) == {name: [] for name in CITUS_QUERIES}
    # Not vacuous: the checks saw the exactly-once indexes and every table.
    checked = {row[0] for row in _query(database_url, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert {
        "ux_wallet_transactions_topup_reference",
        "ux_wallet_transactions_charge_reference",
        "ux_invoices_subscription_period",
        "ux_invoices_payment_reference",
        "uq_invoices_tenant_id_number",
        "pk_wallet_transactions",
        "ux_webhook_events_status",
        "pk_webhook_events",
        "ux_wallet_transactions_payment_reversal_reference",
        "ux_adjustments_reference",
        "pk_adjustments",
        "pk_audit_events",
    } <= checked


def test_the_platform_wide_allow_list_names_only_tables_that_need_it(database_url: str) -> None:
    """Each exempt table exists and really breaks the key rule (a table that gained tenant keys leaves the list)."""
    tables = {row[0] for row in _query(database_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert set(PLATFORM_WIDE) <= tables
    unexempt = {name: statement.replace(_EXEMPT, "'alembic_version'") for name, statement in CITUS_QUERIES.items()}
    flagged = {row[0] for statement in unexempt.values() for row in _query(database_url, statement)}
    for table in PLATFORM_WIDE:
        assert table in flagged or f"pk_{table}" in flagged, table


def test_each_status_is_recorded_once_by_the_schema(database_url: str) -> None:
    """The webhook's exactly-once keys (contract v2 §11), as migration 0006 builds them."""
    indexes = dict(
        _query(
            database_url,
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            " AND indexname IN ('ux_webhook_events_status', 'ux_webhook_unknown_events_status')",
        )
    )
    assert indexes == {
        "ux_webhook_events_status": "CREATE UNIQUE INDEX ux_webhook_events_status ON public.webhook_events"
        " USING btree (tenant_id, message_id, status)"
        " WHERE ((message_id IS NOT NULL) AND (status IS NOT NULL))",
        "ux_webhook_unknown_events_status": "CREATE UNIQUE INDEX ux_webhook_unknown_events_status"
        " ON public.webhook_unknown_events USING btree (COALESCE(phone_number_id, ''::character varying),"
        " message_id, status) WHERE ((message_id IS NOT NULL) AND (status IS NOT NULL))",
    }


def test_the_citus_check_catches_a_key_without_tenant_id(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE audit_notes (id integer PRIMARY KEY)")
        connection.execute("CREATE UNIQUE INDEX ux_bad_invoice_number ON invoices (number)")
        connection.execute("CREATE UNIQUE INDEX ux_bad_included ON invoices (id) INCLUDE (tenant_id)")
        connection.execute("ALTER TABLE wallets ADD CONSTRAINT uq_bad_wallet_id UNIQUE (id)")
        connection.execute(
            "ALTER TABLE wallet_transactions ADD CONSTRAINT fk_bad_wallet"
            " FOREIGN KEY (wallet_id) REFERENCES wallets (id)"
        )
    found = citus_violations(database_url)
    assert found["tables without tenant_id"] == ["audit_notes"]
    assert sorted(found["keys without tenant_id"]) == ["audit_notes_pkey", "uq_bad_wallet_id"]
    assert sorted(found["unique indexes without tenant_id"]) == [
        "audit_notes_pkey",
        "uq_bad_wallet_id",
        "ux_bad_included",
        "ux_bad_invoice_number",
    ]
    assert found["foreign keys not by tenant_id"] == ["fk_bad_wallet"]


def _paid_invoice(tenant_id: str, month: int, reference: str | None) -> dict[str, object]:
    """A subscription invoice of 2026-{month}, paid on that month's first day with `reference` (None: issued)."""
    return {
        "tenant_id": tenant_id,
        "id": uuid.uuid4(),
        "number": f"SUB-2026{month:02d}-{tenant_id}",
        "status": "issued" if reference is None else "paid",
        "period": f"2026-{month:02d}",
        "paid_at": None if reference is None else datetime(2026, month, 1, 12, tzinfo=UTC),
        "payment_reference": reference,
    }


def test_invoices_already_paid_with_one_reference_keep_it_through_the_upgrade(
    empty_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Migration 0007 (contract v2 §12): equal references paid before the rule keep them; the earliest paid holds
    the key, the others are listed, and from then on the reference is taken."""
    url = empty_database_url
    upgrade(url, "0006")
    invoices = [
        _paid_invoice("clinic-a", 3, "  REF-1"),  # paid last of the three
        _paid_invoice("clinic-a", 1, "Ref-1 "),  # paid first: it holds the key
        _paid_invoice("clinic-a", 2, "ref-1"),
        _paid_invoice("clinic-a", 4, "ref-2"),
        _paid_invoice("clinic-a", 5, None),
        _paid_invoice("clinic-b", 1, "ref-1"),  # another tenant's
    ]
    with psycopg.connect(url) as connection:
        connection.cursor().executemany(
            "INSERT INTO invoices (tenant_id, id, number, purpose, status, currency, total, period, issued_at, paid_at,"
            " payment_reference, created_at) VALUES (%(tenant_id)s, %(id)s, %(number)s, 'subscription', %(status)s,"
            " 'USD', 49, %(period)s, '2026-01-01Z', %(paid_at)s, %(payment_reference)s, '2026-01-01Z')",
            invoices,
        )

    with caplog.at_level(logging.WARNING, logger="billing.migrations"):
        upgrade(url)

    assert is_at_head(url)
    keys = dict(_query(url, "SELECT number, payment_reference_key FROM invoices"))
    assert keys == {
        "SUB-202601-clinic-a": "ref-1",
        "SUB-202602-clinic-a": None,
        "SUB-202603-clinic-a": None,
        "SUB-202604-clinic-a": "ref-2",
        "SUB-202605-clinic-a": None,
        "SUB-202601-clinic-b": "ref-1",
    }
    [listed] = [record for record in caplog.records if record.name == "billing.migrations"]
    assert listed.levelno == logging.WARNING
    assert "clinic-a" in listed.getMessage()
    assert all(number in listed.getMessage() for number in ("202601", "202602", "202603"))
    assert all(invoice["payment_reference"] in listed.getMessage() for invoice in invoices[:3])
    # The reference is taken now: an issued invoice paid with it is refused by the index.
    with psycopg.connect(url) as connection, pytest.raises(psycopg.errors.UniqueViolation):
        connection.execute(
            "UPDATE invoices SET status = 'paid', paid_at = now(), payment_reference = 'REF-1',"
            " payment_reference_key = 'ref-1' WHERE number = 'SUB-202605-clinic-a'"
        )
    downgrade(url, "0006")
    assert _query(url, "SELECT count(*) FROM invoices WHERE status = 'paid'") == [(5,)]
    upgrade(url)
    assert dict(_query(url, "SELECT number, payment_reference_key FROM invoices")) == keys


def test_adjustments_made_before_v3_are_listed_as_applied_after_the_upgrade(
    empty_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Migration 0009 (contract v3 §19): v1's ledger rows of kind `adjustment` become applied adjustments; of a
    reference v1 let be used twice, only the oldest keeps it, and the others are listed."""
    url = empty_database_url
    upgrade(url, "0008")
    wallet_id = uuid.uuid4()
    rows = [  # (tenant, amount, reference, description), oldest first
        ("clinic-a", "5.00", None, "welcome credit"),
        ("clinic-a", "-1.00", "ticket-9", "correction"),
        ("clinic-a", "2.00", "ticket-9", "correction again"),  # v1 allowed it
        ("clinic-a", "0.0001", "ticket-10", None),
        ("clinic-b", "3.00", "ticket-9", "another tenant's"),
    ]
    ids = [uuid.uuid4() for _ in rows]
    at = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    with psycopg.connect(url) as connection:
        for tenant in ("clinic-a", "clinic-b"):
            connection.execute(
                "INSERT INTO wallets (tenant_id, id, currency, balance, created_at, updated_at)"
                " VALUES (%s, %s, 'USD', 0, %s, %s)",
                (tenant, wallet_id, at, at),
            )
        for row_id, (tenant, amount, reference, description) in zip(ids, rows, strict=True):
            connection.execute(
                "INSERT INTO wallet_transactions (tenant_id, id, wallet_id, kind, amount, currency, balance_after,"
                " reference_id, description, created_at) VALUES (%s, %s, %s, 'adjustment', %s, 'USD', 100, %s, %s, %s)",
                (tenant, row_id, wallet_id, amount, reference, description, at),
            )

    with caplog.at_level(logging.WARNING, logger="billing.migrations"):
        upgrade(url)

    adjustments = {
        row[0]: row[1:]
        for row in _query(
            url,
            "SELECT id, tenant_id, amount, currency, reason, reference_id, status, proposed_by, proposed_at,"
            " decided_by, decided_at, transaction_id, rejection_reason FROM adjustments",
        )
    }
    expected = {
        row_id: (
            tenant,
            Decimal(amount),
            "USD",
            description or "",
            reference,
            "applied",
            None,
            at,
            None,
            at,
            row_id,
            None,
        )
        for row_id, (tenant, amount, reference, description) in zip(ids, rows, strict=True)
    }
    expected[ids[2]] = (*expected[ids[2]][:4], None, *expected[ids[2]][5:])  # ticket-9's second use: without it
    assert adjustments == expected
    [listed] = [record for record in caplog.records if record.name == "billing.migrations"]
    assert "clinic-a" in listed.getMessage()
    assert "ticket-9" in listed.getMessage()
    # The reference is taken now: a second adjustment with it is refused by the index.
    with psycopg.connect(url) as connection, pytest.raises(psycopg.errors.UniqueViolation):
        connection.execute(
            "INSERT INTO adjustments (tenant_id, id, amount, currency, reason, reference_id, status, proposed_by,"
            " proposed_at) VALUES ('clinic-a', %s, 1, 'USD', 'again', 'ticket-10', 'proposed', 'op', now())",
            (uuid.uuid4(),),
        )
