"""Database errors turned into the application's answers, by constraint name where one applies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg.errors
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from billing.application.ports import ConcurrencyConflictError, DatabaseUnavailableError
from billing.domain.errors import DuplicateError, InsufficientFundsError, InvalidStateError

# A constraint that a race (or a retry) can trip, and what it means for the caller.
CONSTRAINT_ANSWERS: dict[str, Callable[[], Exception]] = {
    # A concurrent unit wrote the same credit or charge first: run again to see its result.
    "ux_wallet_transactions_topup_reference": lambda: ConcurrencyConflictError("top-up credited"),
    "ux_wallet_transactions_charge_reference": lambda: ConcurrencyConflictError("charge exists"),
    # A payment reversed twice (the invoice's lock serializes reversals, so a backstop): the re-run finds it reversed.
    "ux_wallet_transactions_payment_reversal_reference": lambda: ConcurrencyConflictError("payment reversed"),
    # A concurrent operator added an adjustment with the same reference first: run again to answer (or refuse) it.
    "ux_adjustments_reference": lambda: ConcurrencyConflictError("adjustment reference taken"),
    "pk_idempotency_keys": lambda: ConcurrencyConflictError("idempotency key stored"),
    "ux_invoices_subscription_period": lambda: DuplicateError(
        "this tenant already has a subscription invoice for that period"
    ),
    "uq_invoices_tenant_id_number": lambda: DuplicateError("an invoice with that number exists"),
    # A concurrent payer used the same payment reference (trimmed, any case) for another invoice of the tenant.
    "ux_invoices_payment_reference": lambda: DuplicateError(
        "that payment reference is already used by another paid (or payment-reversed) invoice of this tenant"
    ),
    "ck_wallets_balance_non_negative": lambda: InsufficientFundsError("the balance cannot go below zero"),
    # A concurrent twin held the same message id first: run again to answer its hold.
    "ux_holds_message": lambda: ConcurrencyConflictError("message held"),
    "ck_wallets_balance_covers_held": lambda: InsufficientFundsError("the balance cannot go below what is held"),
}

_RETRYABLE = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)
_UNAVAILABLE = (
    psycopg.errors.AdminShutdown,
    psycopg.errors.CrashShutdown,
    psycopg.errors.CannotConnectNow,
    psycopg.errors.ConnectionFailure,
)


def _answer(error: BaseException | None) -> Exception | None:
    """What a driver error means for the caller, when it means something."""
    if isinstance(error, psycopg.errors.IntegrityError):
        answer = CONSTRAINT_ANSWERS.get(error.diag.constraint_name or "")
        if answer is not None:
            return answer()
    if isinstance(error, psycopg.errors.NumericValueOutOfRange):  # the domain checks first; this is the backstop
        return InvalidStateError("a wallet's balance cannot exceed 999999999999999.9999")
    if isinstance(error, _RETRYABLE):
        return ConcurrencyConflictError(str(error))
    if isinstance(error, _UNAVAILABLE):
        return DatabaseUnavailableError("the database is unavailable; nothing was changed")
    return None


@contextmanager
def reachable(url: str | URL) -> Iterator[None]:
    """For commands: a database that does not answer is one sentence naming it (never its password)."""
    try:
        yield
    except OperationalError as error:
        parsed = make_url(url)
        shown = parsed.set(drivername=parsed.get_backend_name()).render_as_string(hide_password=True)
        reason = str(error.orig or error).strip().splitlines()[0]
        raise DatabaseUnavailableError(f"cannot reach the database at {shown}: {reason}") from error


def translate(error: DBAPIError) -> Exception:
    """The application error for a database error; the original error when it is a bug."""
    answer = _answer(error.orig)
    if answer is not None:
        return answer
    if error.connection_invalidated or isinstance(error, OperationalError | InterfaceError):
        return DatabaseUnavailableError("the database is unavailable; nothing was changed")
    return error


def translate_driver(error: psycopg.Error) -> Exception:
    """The same, for a statement run on the driver connection itself (the charge's hot path)."""
    answer = _answer(error)
    if answer is not None:
        return answer
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return DatabaseUnavailableError("the database is unavailable; nothing was changed")
    return error
