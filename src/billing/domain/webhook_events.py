"""What Meta's status webhook does to a message (contract v2 §11), and the record of each status received.

Meta bills what was delivered, so **delivered wins over failed, in either order**:

    status            no hold              held                 settled              voided / expired
    sent              ignored (sent)       ignored (sent)       ignored (sent)       ignored (sent)
    delivered, read   charge by the card   settle (Meta's       ignored              charge once at the
                      in force, else       category and type)   (already_settled)    hold's own price, else
                      unmatched (no_hold)                                            unmatched (no_hold)
    failed            ignored (no_hold)    void                 ignored              ignored
                                                                (already_settled)    (already_voided)

A hold still open past its `expires_at` is expired (swept or not), so `delivered` then charges it as released.
Settling, Meta's category reprices the hold when the hold's card prices it in the hold's market; a category we do
not know or the card cannot price settles at the hold's own price, and the event says why (`unknown_category`,
`meta_category_not_priced`): one status never refuses its body. A delivered message charged without a hold is
charged on a frozen wallet too: a freeze stops new sending, not paying for what Meta delivered.
A released hold already charged this way, and a message already charged without a hold, are `already_settled`.
Every (tenant, message id, status) is applied at most once: the event's record is unique by them.

Charged without a hold, a message is priced in its recipient's country (contract v3 §16, `status_recipient`): its
`recipient_user_id` (a BSUID), else its `recipient_parent_user_id`, decides it even beside a phone `recipient_id`;
else the `recipient_id` (a BSUID when BSUID-shaped, else a phone number). A status naming none of them charges only
through its hold: without one it is `unmatched`, `no_recipient`. One naming only ids that cannot be read (a prefix
that is no country, an invalid number) is `not_priced`, as a country no card prices.
"""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs

from billing.domain.hold import Hold, HoldStatus
from billing.domain.recipients import CountryOfNumber, Recipient, RecipientError, parse_bsuid, parse_recipient
from billing.domain.text import validate_text
from billing.domain.whatsapp import MessageStatus, StatusNotice

MAX_PHONE_NUMBER_ID_LENGTH = 64


class Outcome(enum.StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"
    UNMATCHED = "unmatched"


class Reason(enum.StrEnum):
    """Why a status changed nothing (`ignored`) or found nothing to change (`unmatched`)."""

    SENT = "sent"  # Meta bills nothing for sent
    NO_HOLD = "no_hold"
    NO_RECIPIENT = "no_recipient"  # no hold, and Meta named no recipient to price the message for (contract v3 §16)
    UNKNOWN_NUMBER = "unknown_number"
    ALREADY_SETTLED = "already_settled"
    ALREADY_VOIDED = "already_voided"
    NOT_PRICED = "not_priced"  # no hold, and no price to charge: Meta named no category, or no card prices the country
    # Meta's category is one we do not know (a future one), or one the card cannot price in the message's market:
    # a hold settles at its own price (`applied`); without a hold the status is `unmatched`.
    UNKNOWN_CATEGORY = "unknown_category"
    META_CATEGORY_NOT_PRICED = "meta_category_not_priced"


class Action(enum.Enum):
    """What a status does to its message, given the message's hold (`decide`)."""

    NOTHING = "nothing"
    SETTLE = "settle"  # settle the open hold with Meta's category and type
    VOID = "void"  # release the open hold
    CHARGE_RELEASED = "charge_released"  # charge a voided or expired hold once, at its own price
    CHARGE_UNHELD = "charge_unheld"  # no hold: charge by the card in force at the status's time


@attrs.frozen
class Decision:
    action: Action
    reason: Reason | None = None  # why NOTHING

    @classmethod
    def nothing(cls, reason: Reason) -> Decision:
        return cls(Action.NOTHING, reason)


def decide(status: MessageStatus, hold: Hold | None, at: datetime, charged_without_hold: bool = False) -> Decision:
    """What `status` does to a message whose hold is `hold` (None: never held) at `at` (the time it is applied).
    `charged_without_hold`: the message already has a charge row and no hold (an earlier delivery charged it)."""
    if status is MessageStatus.SENT:
        return Decision.nothing(Reason.SENT)
    if status is MessageStatus.FAILED:
        return _failed(hold)
    return _delivered(hold, at, charged_without_hold)


def _failed(hold: Hold | None) -> Decision:
    if hold is None:
        return Decision.nothing(Reason.NO_HOLD)
    if hold.status is HoldStatus.HELD:
        return Decision(Action.VOID)
    if hold.status is HoldStatus.SETTLED or hold.charged is not None:
        return Decision.nothing(Reason.ALREADY_SETTLED)
    return Decision.nothing(Reason.ALREADY_VOIDED)


def _delivered(hold: Hold | None, at: datetime, charged_without_hold: bool) -> Decision:
    if hold is None:
        if charged_without_hold:
            return Decision.nothing(Reason.ALREADY_SETTLED)
        return Decision(Action.CHARGE_UNHELD)
    if hold.status is HoldStatus.SETTLED or hold.charged is not None:
        return Decision.nothing(Reason.ALREADY_SETTLED)
    if hold.status is HoldStatus.HELD and not hold.is_expired_at(at):
        return Decision(Action.SETTLE)
    return Decision(Action.CHARGE_RELEASED)  # voided, expired, or open past its expires_at


def status_recipient(notice: StatusNotice, country_of_number: CountryOfNumber) -> Recipient | Reason:
    """Who a status's message went to, for pricing it without a hold: the first of `recipient_user_id`,
    `recipient_parent_user_id` (BSUIDs only: never read as phone numbers) and `recipient_id` that can be read.
    `no_recipient` when Meta named none of them, `not_priced` when none it named can be read."""
    for user_id in (notice.recipient_user_id, notice.recipient_parent_user_id):
        if user_id is not None:
            try:
                return parse_bsuid(user_id)
            except RecipientError:
                continue
    if notice.recipient_id is not None:
        try:
            return parse_recipient(notice.recipient_id, country_of_number)
        except RecipientError:
            return Reason.NOT_PRICED
    if notice.recipient_user_id is None and notice.recipient_parent_user_id is None:
        return Reason.NO_RECIPIENT
    return Reason.NOT_PRICED


def validate_phone_number_id(value: object) -> str:
    """Meta's id of a business phone number (digits in practice): one line of 1-64 characters."""
    field = "phone_number_id"
    return validate_text(value, field=field, max_length=MAX_PHONE_NUMBER_ID_LENGTH, required=True) or ""


@attrs.frozen
class WhatsAppNumber:
    """A business phone number of Meta's mapped to the tenant whose messages it sends (platform-wide)."""

    phone_number_id: str
    tenant_id: str
    created_by: str
    created_at: datetime


@attrs.frozen
class WebhookEvent:
    """One status as received and what became of it. `tenant_id` is None for a number nobody mapped; `message_id`
    and `status` are None when Meta's status was too malformed to say them."""

    id: UUID
    tenant_id: str | None
    phone_number_id: str | None
    message_id: str | None
    status: str | None
    outcome: Outcome
    reason: str | None
    received_at: datetime
    hold_id: UUID | None = None
    transaction_id: UUID | None = None
