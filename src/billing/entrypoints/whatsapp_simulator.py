"""`billing whatsapp simulate`: plays Meta's side of the status webhook against a running `billing serve`.

`build_bodies` turns `SimulationOptions` into the bodies Meta would POST (pure: the same options give the same
bytes); `simulate` signs each one and sends it, retrying as Meta does, and answers a `SimulationReport`. The CLI
builds the options from its flags and prints the report; nothing here prints or keeps state between calls.

What the bodies hold, after Meta's status webhook reference:
- Message i is `<prefix>i` (or the i-th of `message_ids`). It is `sent`, then `delivered` and, with
  `read_rate`, `read`; or, with `fail_rate`, `sent` then `failed` with a Meta-shaped `errors` (so a failed
  message never has `delivered`).
- Message i goes to the phone number `1650555` + i (mod 10,000, `recipient_id`); with `bsuid_rate`, to a user whose
  number Meta hides (contract v3 §16): a business-scoped user id `US.` + digits in `recipient_user_id` and no
  `recipient_id`.
- `pricing` rides on `sent` and on `delivered`, not on a `read` that follows a `delivered`: Meta includes it
  "with sent status, and one of either delivered or read status". Per-message pricing: `billable: true`,
  `pricing_model: "PMP"`, `type: "regular"`, the options' `category`.
- Statuses go out in time order, `batch` to a body, in Meta's envelope (one entry for the WABA, one `messages`
  change with the number's metadata). `reorder` shuffles them first (a `read` may come before its `delivered`,
  even in an earlier body); `duplicates` sends some bodies a second time, later, byte for byte (Meta's
  redelivery).
- One `random.Random(seed)` draws everything; without a seed a run is not reproducible. Timestamps start at
  `started_at` (taken when the options are made, so `build_bodies` reads no clock).

Sending: a body answered 5xx, or not answered (a `send` raises OSError: a refused connection, a timeout), is sent
again after `backoff_seconds`, doubling, at most `retries` more times. Any other answer is final: a 401 or a 400 is
the server's word on that body, and sending it again would get the same.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import httpx

from billing.domain.errors import ValidationError
from billing.domain.hold import MAX_MESSAGE_ID_LENGTH, validate_message_id
from billing.domain.whatsapp import MAX_STATUSES, SIGNATURE_HEADER, MessageStatus, sign

WEBHOOK_PATH = "/api/v1/billing/webhooks/whatsapp"
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_BATCH = 100
MAX_MESSAGES = 100_000  # every body is built before the first is sent (so a seed replays a run)
BSUID_BASE = 13491208655302740000  # message i's business-scoped user id is US.<BSUID_BASE + i>, Meta's shape
DUPLICATE_SHARE = 0.1  # of the bodies, at least one, are sent twice
ERROR_CODES_URL = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
# Meta's failures a template message commonly meets: code, title, error_data.details.
META_ERRORS = (
    (131026, "Message undeliverable", "Message Undeliverable."),
    (
        131049,
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    ),
    (
        131050,
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp "
        "from your business.",
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp "
        "from your business.",
    ),
)

Send = Callable[[bytes, dict[str, str]], Awaitable[int]]
"""POST one body with these headers; answer the HTTP status code, or raise OSError when no answer came."""

Json = dict[str, Any]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _rate(field: str) -> Callable[[object, attrs.Attribute[float], float], None]:
    def check(_: object, __: attrs.Attribute[float], value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValidationError.of(field, "must be from 0 to 1")

    return check


def _within(field: str, low: int, high: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(_: object, __: attrs.Attribute[int], value: int) -> None:
        if not low <= value <= high:
            raise ValidationError.of(field, f"must be from {low} to {high}")

    return check


@attrs.frozen
class SimulationOptions:
    """What `billing whatsapp simulate` was asked; the field names follow its flags. `message_ids`, when given,
    are the messages (and `messages` is not read). `secret` None sends no signature (the server answers 401): the
    CLI passes BILLING_WHATSAPP_APP_SECRET unless `--secret` is given."""

    phone_number_id: str
    messages: int = attrs.field(default=10, validator=_within("messages", 1, MAX_MESSAGES))
    fail_rate: float = attrs.field(default=0.0, validator=_rate("fail_rate"))
    bsuid_rate: float = attrs.field(default=0.0, validator=_rate("bsuid_rate"))
    read_rate: float = attrs.field(default=0.5, validator=_rate("read_rate"))
    url: str = DEFAULT_URL
    secret: str | None = None
    batch: int = attrs.field(default=DEFAULT_BATCH, validator=_within("batch", 1, MAX_STATUSES))
    duplicates: bool = False
    reorder: bool = False
    seed: int | None = None
    message_prefix: str | None = None
    message_ids: tuple[str, ...] | None = None
    category: str = "utility"
    waba_id: str = "102290129340398"
    display_phone_number: str = "15550783881"
    started_at: datetime = attrs.field(factory=_now)
    retries: int = attrs.field(default=4, validator=_within("retries", 0, 20))
    backoff_seconds: float = 0.5
    timeout_seconds: float = 10.0

    def __attrs_post_init__(self) -> None:
        if self.message_prefix is not None:
            longest = len(str(MAX_MESSAGES))
            if len(self.message_prefix) > MAX_MESSAGE_ID_LENGTH - longest:
                raise ValidationError.of(
                    "message_prefix", f"must be at most {MAX_MESSAGE_ID_LENGTH - longest} characters"
                )
            validate_message_id(self.message_prefix + "0", "message_prefix")
        for message_id in self.message_ids or ():
            validate_message_id(message_id)
        if self.started_at.utcoffset() is None:
            raise ValidationError.of("started_at", "must carry a time zone")
        if self.backoff_seconds < 0 or self.timeout_seconds <= 0:
            raise ValidationError.of("backoff_seconds", "must not be negative (and timeout_seconds positive)")


@attrs.frozen
class SimulationReport:
    """What a run sent and what it was answered. `answers` counts every HTTP answer by status code, those that were
    retried included; `accepted`, `refused` and `unanswered` count bodies by how they ended (2xx; any other code
    once no retry was left; no answer at all)."""

    messages: int
    failed_messages: int
    bodies: int
    statuses: int
    answers: dict[int, int]
    retries: int
    accepted: int
    refused: int
    unanswered: int


@attrs.frozen
class _Plan:
    bodies: tuple[bytes, ...]
    statuses: tuple[int, ...]  # per body
    messages: int
    failed_messages: int


def build_bodies(options: SimulationOptions) -> list[bytes]:
    """The bodies Meta would POST for these options, in sending order (duplicates included), each as raw bytes."""
    return list(_plan(options).bodies)


async def simulate(options: SimulationOptions, send: Send | None = None) -> SimulationReport:
    """Sign and POST every body to `<url>/api/v1/billing/webhooks/whatsapp`, one at a time in order, retrying as
    Meta does. `send` replaces the HTTP client (tests); by default httpx posts with `timeout_seconds`."""
    plan = _plan(options)
    if send is not None:
        return await _deliver(plan, options, send)
    async with _http_send(options.url.rstrip("/") + WEBHOOK_PATH, options.timeout_seconds) as http_send:
        return await _deliver(plan, options, http_send)


def _plan(options: SimulationOptions) -> _Plan:
    rng = random.Random(options.seed)
    ids = _message_ids(options, rng)
    timeline: list[tuple[datetime, int, int, Json]] = []  # (when, message, its n-th status, the status)
    failed = 0
    for index, message_id in enumerate(ids):
        statuses = _message_statuses(options, rng, index, message_id)
        failed += any(status["status"] == MessageStatus.FAILED for _, status in statuses)
        timeline.extend((at, index, order, status) for order, (at, status) in enumerate(statuses))
    ordered = [status for *_, status in sorted(timeline, key=lambda item: item[:3])]
    if options.reorder:
        rng.shuffle(ordered)
    chunks = [ordered[start : start + options.batch] for start in range(0, len(ordered), options.batch)]
    bodies = [(_body(options, chunk), len(chunk)) for chunk in chunks]
    if options.duplicates:
        bodies = _with_duplicates(bodies, rng)
    return _Plan(tuple(body for body, _ in bodies), tuple(count for _, count in bodies), len(ids), failed)


def _message_ids(options: SimulationOptions, rng: random.Random) -> Sequence[str]:
    if options.message_ids is not None:
        return options.message_ids
    prefix = options.message_prefix
    if prefix is None:
        prefix = f"wamid.sim-{rng.getrandbits(48):012x}-"
    return [f"{prefix}{index}" for index in range(options.messages)]


def _message_statuses(
    options: SimulationOptions, rng: random.Random, index: int, message_id: str
) -> list[tuple[datetime, Json]]:
    """One message's statuses with their times: sent, then failed; or sent, delivered and perhaps read."""
    sent_at = options.started_at + timedelta(seconds=index // 10)  # about ten messages a second, as a campaign
    recipient: Json = {"recipient_id": f"1650555{index % 10_000:04d}"}
    if options.bsuid_rate and rng.random() < options.bsuid_rate:  # no draw without it: a seed replays as before
        recipient = {"recipient_user_id": f"US.{BSUID_BASE + index}"}
    pricing = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": options.category}

    def status(name: MessageStatus, at: datetime, **extra: object) -> tuple[datetime, Json]:
        fields: Json = {"id": message_id, "status": str(name), "timestamp": str(int(at.timestamp()))}
        return at, {**fields, **recipient, **extra}

    sent = status(MessageStatus.SENT, sent_at, pricing=pricing)
    if rng.random() < options.fail_rate:
        return [sent, status(MessageStatus.FAILED, sent_at + _seconds(rng, 1, 5), errors=[_meta_error(rng)])]
    delivered_at = sent_at + _seconds(rng, 1, 5)
    statuses = [sent, status(MessageStatus.DELIVERED, delivered_at, pricing=pricing)]
    if rng.random() < options.read_rate:
        statuses.append(status(MessageStatus.READ, delivered_at + _seconds(rng, 1, 120)))
    return statuses


def _seconds(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(seconds=rng.randint(low, high))


def _meta_error(rng: random.Random) -> Json:
    code, title, details = rng.choice(META_ERRORS)
    return {"code": code, "title": title, "message": title, "error_data": {"details": details}, "href": ERROR_CODES_URL}


def _body(options: SimulationOptions, statuses: list[Json]) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": options.display_phone_number, "phone_number_id": options.phone_number_id},
        "statuses": statuses,
    }
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [{"id": options.waba_id, "changes": [{"value": value, "field": "messages"}]}],
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def _with_duplicates(bodies: list[tuple[bytes, int]], rng: random.Random) -> list[tuple[bytes, int]]:
    """Some bodies again, each inserted at a random place after its first sending."""
    result = list(bodies)
    picked = rng.sample(range(len(bodies)), max(1, round(len(bodies) * DUPLICATE_SHARE))) if bodies else []
    for original in sorted(picked, reverse=True):  # from the back, so earlier positions stay valid
        result.insert(rng.randint(original + 1, len(result)), bodies[original])
    return result


async def _deliver(plan: _Plan, options: SimulationOptions, send: Send) -> SimulationReport:
    answers: Counter[int] = Counter()
    retries = accepted = refused = unanswered = 0
    for body in plan.bodies:
        headers = {"Content-Type": "application/json"}
        if options.secret is not None:
            headers[SIGNATURE_HEADER] = sign(options.secret, body)
        final, attempts = await _send_with_retries(body, headers, options, send, answers)
        retries += attempts - 1
        if final is None:
            unanswered += 1
        elif 200 <= final < 300:
            accepted += 1
        else:
            refused += 1
    return SimulationReport(
        messages=plan.messages,
        failed_messages=plan.failed_messages,
        bodies=len(plan.bodies),
        statuses=sum(plan.statuses),
        answers=dict(sorted(answers.items())),
        retries=retries,
        accepted=accepted,
        refused=refused,
        unanswered=unanswered,
    )


async def _send_with_retries(
    body: bytes, headers: dict[str, str], options: SimulationOptions, send: Send, answers: Counter[int]
) -> tuple[int | None, int]:
    """(the last status code, None when never answered; the number of attempts)."""
    code: int | None = None
    for attempt in range(options.retries + 1):
        if attempt:
            await asyncio.sleep(options.backoff_seconds * 2 ** (attempt - 1))
        try:
            code = await send(body, headers)
        except OSError:
            code = None
            continue
        answers[code] += 1
        if code < 500:
            return code, attempt + 1
    return code, options.retries + 1


@asynccontextmanager
async def _http_send(endpoint: str, timeout_seconds: float) -> AsyncIterator[Send]:
    """httpx behind `Send`."""
    async with httpx.AsyncClient(timeout=timeout_seconds, headers={"User-Agent": "facebookexternalua"}) as client:

        async def send(body: bytes, headers: dict[str, str]) -> int:
            try:
                response = await client.post(endpoint, content=body, headers=headers)
            except httpx.TransportError as error:  # refused, reset, timed out: Meta would try again
                raise ConnectionError(str(error)) from error
            return response.status_code

        yield send
