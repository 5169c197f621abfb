"""Meta's status webhook over HTTP (contract v2 §11): the subscription challenge, the signature over the raw bytes,
the 1 MiB bound, malformed bodies, what each status does to a message's hold (one charge per message, in any
order, however often Meta delivers), unknown numbers, the events list, and a database outage (503, so Meta
delivers again). No request here carries a JWT to the webhook: Meta has none."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import pytest
from api_support import (
    BASE,
    CLINIC,
    CLINIC_MANAGER,
    CLINIC_USER,
    OPERATOR,
    OTHER_CLINIC,
    OTHER_CLINIC_USER,
    ROOT_VIEWER,
    SECRET,
    Api,
    assert_problem,
    field_errors,
)
from httpx import Response
from litestar.testing import AsyncTestClient

from billing.config import ConfigError, JwtSettings, Settings, WhatsAppSettings
from billing.container import in_memory_container, postgres_container
from billing.domain.whatsapp import sign
from billing.entrypoints.http.app import create_app
from billing.entrypoints.http.controllers.whatsapp import MAX_WEBHOOK_BODY_BYTES

APP_SECRET = "0c5a1f0e9b7d4c3a8e2f6b1d9a7c5e3f"
VERIFY_TOKEN = "meta-verify-token-7f3a"
WEBHOOK = BASE + "/webhooks/whatsapp"
PHONE = "106540352242922"
OTHER_PHONE = "106540352242999"
UNKNOWN_PHONE = "109999999999999"
TO = "14155552671"  # a US number: North America on the card below
W1 = "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI/QTNDQ+A1QjNENEQ2RTY3RTcA=="  # base64: `/`, `+` and `=`
W2 = "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"
CARD: dict[str, Any] = {
    "name": "Webhook test card",
    "currency": "USD",
    "effective_from": "2025-01-01T00:00:00Z",
    "markets": {"US": "North America", "*": "Other"},
    "rates": [
        {"market": "North America", "category": "utility", "unit_price": "0.004"},
        {"market": "North America", "category": "marketing", "unit_price": "0.025"},
        {"market": "Other", "category": "utility", "unit_price": "0.01"},
    ],
}


@pytest.fixture
def settings() -> Settings:
    """The app of every test here has the webhook configured (tests/http/conftest.py builds it from this)."""
    return Settings(
        jwt=JwtSettings(secret=SECRET), whatsapp=WhatsAppSettings(app_secret=APP_SECRET, verify_token=VERIFY_TOKEN)
    )


@pytest.fixture
async def ready(api: Api) -> Api:
    """A default card in force, 10.00 in clinic-a's wallet, and PHONE mapped to clinic-a."""
    response = await api.post("/rate-cards", OPERATOR, CARD)
    assert response.status_code == 201, response.text
    await api.fund("10.00")
    response = await api.post("/whatsapp-numbers", OPERATOR, {"phone_number_id": PHONE, "tenant_id": CLINIC})
    assert response.status_code == 201, response.text
    return api


# Meta's bodies -------------------------------------------------------------------------------------------------


def status(message_id: str, name: str, *, seconds: int = 0, pricing: bool = True, **extra: Any) -> dict[str, Any]:
    """One status as Meta writes it; `pricing` on sent, delivered and read (Meta sends it on one of the last two)."""
    fields: dict[str, Any] = {
        "id": message_id,
        "status": name,
        "timestamp": str(int(time.time()) + seconds),
        "recipient_id": TO,
    }
    if pricing and name != "failed":
        fields["pricing"] = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
    if name == "failed":
        fields["errors"] = [{"code": 131026, "title": "Message undeliverable"}]
    return {**fields, **extra}


def body(*statuses: dict[str, Any], phone: str = PHONE) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone},
        "statuses": list(statuses),
    }
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


async def deliver(api: Api, raw: bytes, signature: str | None = "sign", **headers: str) -> Response:
    """POST `raw` as Meta does: signed with the app secret (`signature="sign"`), or with the header given."""
    sent = {"Content-Type": "application/json", **headers}
    if signature == "sign":
        sent["X-Hub-Signature-256"] = sign(APP_SECRET, raw)
    elif signature is not None:
        sent["X-Hub-Signature-256"] = signature
    return await api.client.post(WEBHOOK, content=raw, headers=sent)


async def delivered_ok(api: Api, raw: bytes) -> dict[str, int]:
    response = await deliver(api, raw)
    assert response.status_code == 200, response.text
    receipt: dict[str, int] = response.json()
    return receipt


# What a test reads back ----------------------------------------------------------------------------------------


async def hold(api: Api, message_id: str, category: str = "utility") -> dict[str, Any]:
    response = await api.post(
        f"/wallets/{CLINIC}/holds", OPERATOR, {"message_id": message_id, "category": category, "recipient": "+" + TO}
    )
    assert response.status_code == 201, response.text
    held: dict[str, Any] = response.json()
    return held


async def hold_of(api: Api, message_id: str) -> dict[str, Any]:
    response = await api.get(f"/wallets/{CLINIC}/holds", OPERATOR, params={"message_id": message_id})
    assert response.status_code == 200, response.text
    (found,) = response.json()["items"]
    return dict(found)


async def charges(api: Api, message_id: str | None = None) -> list[dict[str, Any]]:
    response = await api.get(f"/wallets/{CLINIC}/transactions", OPERATOR, params={"page_size": 100})
    assert response.status_code == 200, response.text
    rows = [row for row in response.json()["items"] if row["kind"] == "charge"]
    return [row for row in rows if message_id is None or row["reference_id"] == message_id]


async def events(api: Api, **query: str) -> list[dict[str, Any]]:
    response = await api.get("/webhooks/whatsapp/events", OPERATOR, params={"page_size": 100, **query})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def outcomes(found: list[dict[str, Any]]) -> set[tuple[str | None, str | None, str, str | None]]:
    return {(e["message_id"], e["status"], e["outcome"], e["reason"]) for e in found}


# GET: Meta's subscription challenge ----------------------------------------------------------------------------


def challenge_query(**changes: str | None) -> dict[str, str]:
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444", **changes}
    return {name: value for name, value in query.items() if value is not None}


async def test_the_challenge_is_echoed_as_text_when_the_verify_token_matches(api: Api) -> None:
    response = await api.client.get(WEBHOOK, params=challenge_query())

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "1158201444"


@pytest.mark.parametrize(
    "changes",
    [
        {"hub.verify_token": "not-the-token"},
        {"hub.verify_token": VERIFY_TOKEN + "x"},
        {"hub.verify_token": ""},
        {"hub.verify_token": None},
        {"hub.mode": "unsubscribe"},
        {"hub.mode": None},
    ],
    ids=["wrong token", "longer token", "empty token", "no token", "another mode", "no mode"],
)
async def test_the_challenge_is_refused_without_the_verify_token_and_subscribe(
    api: Api, changes: dict[str, str | None]
) -> None:
    response = await api.client.get(WEBHOOK, params=challenge_query(**changes))

    problem = assert_problem(response, 403, "forbidden")
    assert "1158201444" not in response.text
    assert VERIFY_TOKEN not in problem["detail"]


@pytest.mark.parametrize(
    "token", ["%ED%A0%80", "%FF%FE", "%00", "x" * 5000], ids=["surrogate", "not UTF-8", "NUL", "long"]
)
async def test_an_odd_verify_token_is_a_403_never_a_server_error(api: Api, token: str) -> None:
    response = await api.client.get(f"{WEBHOOK}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1")

    assert_problem(response, 403, "forbidden")


async def test_the_challenge_must_be_there_and_one_line(api: Api) -> None:
    missing = await api.client.get(WEBHOOK, params=challenge_query(**{"hub.challenge": None}))
    two_lines = await api.client.get(WEBHOOK, params=challenge_query(**{"hub.challenge": "1\r\nX-Injected: 1"}))

    assert list(field_errors(missing)) == ["hub.challenge"]
    assert list(field_errors(two_lines)) == ["hub.challenge"]


async def test_the_webhook_needs_no_token_and_a_token_does_not_stand_for_the_signature(api: Api) -> None:
    """Meta sends no JWT; a bearer token (even an operator's) neither helps nor hurts."""
    challenge = await api.client.get(WEBHOOK, params=challenge_query(), headers=CLINIC_USER)
    unsigned = await api.client.post(WEBHOOK, content=body(), headers=OPERATOR)

    assert (challenge.status_code, challenge.text) == (200, "1158201444")
    assert_problem(unsigned, 401, "unauthorized")


def _client(settings: Settings) -> AsyncTestClient[Any]:
    """An app on its own settings (the `api` fixture's has the webhook configured)."""
    return AsyncTestClient(create_app(in_memory_container(settings), deliver_email=False))


async def test_without_the_settings_both_routes_are_unavailable() -> None:
    async with _client(Settings(jwt=JwtSettings(secret=SECRET))) as client:
        challenge = await client.get(WEBHOOK, params=challenge_query())
        raw = body(status(W1, "delivered"))
        statuses = await client.post(WEBHOOK, content=raw, headers={"X-Hub-Signature-256": sign(APP_SECRET, raw)})

        assert "BILLING_WHATSAPP_VERIFY_TOKEN" in assert_problem(challenge, 503, "unavailable")["detail"]
        assert "BILLING_WHATSAPP_APP_SECRET" in assert_problem(statuses, 503, "unavailable")["detail"]
        assert APP_SECRET not in statuses.text


async def test_each_route_needs_only_its_own_setting() -> None:
    only_token = Settings(jwt=JwtSettings(secret=SECRET), whatsapp=WhatsAppSettings(verify_token=VERIFY_TOKEN))
    async with _client(only_token) as client:
        assert (await client.get(WEBHOOK, params=challenge_query())).status_code == 200
        assert_problem(await client.post(WEBHOOK, content=body()), 503, "unavailable")


# POST: the signature, the size, the body -----------------------------------------------------------------------

# A body as a sender may write it: spaces, an upper-case \u escape and escaped slashes, none of which a JSON
# encoder gives back once it has been decoded.
RAW = (
    b'{ "object" : "whatsapp_business_account", "entry" : [ { "id" : "102290129340398", "changes" : [ { "field" :'
    b' "messages", "value" : { "metadata" : { "phone_number_id" : "' + PHONE.encode() + b'" }, "statuses" : [ {'
    b' "id" : "' + W2.encode() + b'", "status" : "delivered", "timestamp" : "' + str(int(time.time())).encode() + b'",'
    b' "recipient_id" : "' + TO.encode() + b'", "pricing" : { "billable" : true, "category" : "utilit\\u0079",'
    b' "type" : "regular", "pricing_model" : "PMP" }, "conversation" : { "origin" : { "type" :'
    b' "https:\\/\\/example" } } } ] } } ] } ] }'
)


def _reserialised() -> list[bytes]:
    decoded = json.loads(RAW)
    return [json.dumps(decoded).encode(), json.dumps(decoded, separators=(",", ":")).encode()]


async def test_a_body_signed_over_its_raw_bytes_is_applied(ready: Api) -> None:
    """The control for the refusals below: the hand-written body is Meta's, and settles its hold."""
    await hold(ready, W2)
    assert all(raw != RAW for raw in _reserialised())

    assert await delivered_ok(ready, RAW) == {"received": 1, "applied": 1, "ignored": 0, "unmatched": 0}
    assert (await hold_of(ready, W2))["status"] == "settled"


def _bad_signatures() -> dict[str, str | None]:
    good = sign(APP_SECRET, RAW)
    return {
        "missing": None,
        "empty": "",
        "another secret": sign(APP_SECRET + "x", RAW),
        "over the body re-serialised": sign(APP_SECRET, _reserialised()[0]),
        "over the body compacted": sign(APP_SECRET, _reserialised()[1]),
        "without its prefix": good.removeprefix("sha256="),
        "another algorithm's prefix": good.replace("sha256=", "sha1="),
        "truncated": good[:-2],
        "not hex": good[:-1] + "g",
    }


@pytest.mark.parametrize("signature", _bad_signatures().values(), ids=_bad_signatures().keys())
async def test_a_missing_or_wrong_signature_is_a_401_and_applies_nothing(ready: Api, signature: str | None) -> None:
    await hold(ready, W2)

    response = await deliver(ready, RAW, signature)

    problem = assert_problem(response, 401, "unauthorized")
    assert APP_SECRET not in problem["detail"]
    assert (await hold_of(ready, W2))["status"] == "held"
    assert await charges(ready) == []
    assert await events(ready) == []


async def test_two_signature_headers_are_a_401_even_when_one_is_right(ready: Api) -> None:
    await hold(ready, W2)
    headers = [("X-Hub-Signature-256", sign(APP_SECRET, RAW)), ("X-Hub-Signature-256", sign("other", RAW))]

    response = await ready.client.post(WEBHOOK, content=RAW, headers=headers)

    assert_problem(response, 401, "unauthorized")
    assert (await hold_of(ready, W2))["status"] == "held"


def _padded(size: int) -> bytes:
    """A valid body of exactly `size` bytes: Meta's JSON followed by spaces."""
    raw = body(status(W1, "delivered"))
    return raw + b" " * (size - len(raw))


async def test_a_body_of_one_mib_is_read(ready: Api) -> None:
    """The control for the 413 below: the limit is 1 MiB, not less (the API's other routes take 64 KiB)."""
    await hold(ready, W1)

    receipt = await delivered_ok(ready, _padded(MAX_WEBHOOK_BODY_BYTES))

    assert receipt["applied"] == 1


async def test_a_body_past_one_mib_is_a_413_and_applies_nothing(ready: Api) -> None:
    await hold(ready, W1)

    response = await deliver(ready, _padded(MAX_WEBHOOK_BODY_BYTES + 1))

    assert_problem(response, 413, "payload_too_large")
    assert (await hold_of(ready, W1))["status"] == "held"
    assert await events(ready) == []


async def test_a_streamed_body_past_one_mib_is_refused_without_reading_the_rest(ready: Api) -> None:
    """No Content-Length (chunked): the server stops reading at the first chunk past the limit."""
    chunk = b" " * 65_536
    read: list[int] = []

    async def receive() -> dict[str, Any]:
        read.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": True}  # an endless body

    status_code = await _asgi_post(ready, [("x-hub-signature-256", sign(APP_SECRET, b""))], receive)

    assert status_code == 413
    assert sum(read) <= MAX_WEBHOOK_BODY_BYTES + len(chunk)


async def _asgi_post(api: Api, headers: list[tuple[str, str]], receive: Any) -> int:
    """A POST handed to the app as an ASGI server would, with the caller's `receive`: the answer's status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": WEBHOOK,
        "raw_path": WEBHOOK.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(name.encode(), value.encode()) for name, value in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await anyio.to_thread.run_sync(api.client.blocking_portal.call, api.client.app, scope, receive, send)
    (start,) = [message for message in sent if message["type"] == "http.response.start"]
    status_code: int = start["status"]
    return status_code


MALFORMED = {
    "empty": b"",
    "not JSON": b"<xml/>",
    "truncated": b'{"object": "whatsapp_business_account", "entry": [',
    "trailing bytes": body() + b"}",
    "NaN": b'{"object": "whatsapp_business_account", "entry": [], "x": NaN}',
    "a lone surrogate": b'{"object": "whatsapp_business_account", "entry": [], "x": "\\ud800"}',
    "not UTF-8": b'{"object": "whatsapp_business_account", "entry": [], "x": "\xff"}',
    "an integer of 10,000 digits": b'{"object": "whatsapp_business_account", "entry": [], "x": 1' + b"0" * 9999 + b"}",
    "deep nesting": b'{"object": "whatsapp_business_account", "entry": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "a list": b"[]",
    "another object": b'{"object": "page", "entry": []}',
    "entry not a list": b'{"object": "whatsapp_business_account", "entry": {}}',
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_signed_body_that_is_not_metas_json_is_a_400_and_applies_nothing(ready: Api, raw: bytes) -> None:
    await hold(ready, W1)

    response = await deliver(ready, raw)

    errors = field_errors(response)
    assert set(errors) <= {"body", "object", "entry"}, errors
    assert (await hold_of(ready, W1))["status"] == "held"
    assert await events(ready) == []


ODD_STATUSES = {
    "a number for a status": {"status": 7},
    "a timestamp as a float": {"timestamp": 1.5},
    "a negative timestamp": {"timestamp": "-1"},
    "a timestamp past 9999": {"timestamp": "999999999999"},
    "pricing as a list": {"pricing": []},
    "billable as a string": {"pricing": {"billable": "yes", "category": "utility"}},
    "a category with a NUL": {"pricing": {"billable": True, "category": "util\x00ity"}},
    "an id of 10,000 characters": {"id": "w" * 10_000},
    "an id with a line break": {"id": "wamid.1\nX"},
    "an unknown status": {"status": "played"},
}


@pytest.mark.parametrize("changes", ODD_STATUSES.values(), ids=ODD_STATUSES.keys())
async def test_an_unreadable_status_is_recorded_as_ignored_and_never_a_server_error(
    ready: Api, changes: dict[str, Any]
) -> None:
    await hold(ready, W1)

    receipt = await delivered_ok(ready, body({**status(W1, "delivered"), **changes}, status(W2, "sent")))

    assert receipt == {"received": 2, "applied": 0, "ignored": 2, "unmatched": 0}
    assert (await hold_of(ready, W1))["status"] == "held"


# What each status does to a message ----------------------------------------------------------------------------


async def test_delivered_settles_the_hold_with_one_charge(ready: Api) -> None:
    placed = await hold(ready, W1)

    receipt = await delivered_ok(ready, body(status(W1, "sent"), status(W1, "delivered")))

    assert receipt == {"received": 2, "applied": 1, "ignored": 1, "unmatched": 0}
    settled = await hold_of(ready, W1)
    assert (settled["status"], settled["charged"]) == ("settled", "0.004")
    (charge,) = await charges(ready, W1)
    assert charge["amount"] == "-0.004"
    assert charge["price"]["hold_id"] == placed["id"]
    assert outcomes(await events(ready)) == {(W1, "sent", "ignored", "sent"), (W1, "delivered", "applied", None)}


async def test_an_unpriceable_status_never_refuses_its_body(ready: Api) -> None:
    """A US message delivered as authentication_international (no such rate on the card there) beside good ones:
    the body is answered 200, the held ones all settle (that one at its hold's price) and say why."""
    for message_id in (W1, W2, "wamid.3"):
        await hold(ready, message_id)

    def priced_as(message_id: str, category: str) -> dict[str, Any]:
        delivered = status(message_id, "delivered")
        return {**delivered, "pricing": {**delivered["pricing"], "category": category}}

    receipt = await delivered_ok(
        ready,
        body(
            status(W1, "delivered"),
            priced_as(W2, "authentication_international"),
            priced_as("wamid.3", "future_kind"),
            priced_as("wamid.4", "authentication_international"),
        ),
    )

    assert receipt == {"received": 4, "applied": 3, "ignored": 0, "unmatched": 1}
    assert [(await hold_of(ready, m))["charged"] for m in (W1, W2, "wamid.3")] == ["0.004"] * 3
    assert outcomes(await events(ready)) == {
        (W1, "delivered", "applied", None),
        (W2, "delivered", "applied", "meta_category_not_priced"),
        ("wamid.3", "delivered", "applied", "unknown_category"),
        ("wamid.4", "delivered", "unmatched", "meta_category_not_priced"),
    }


async def test_the_same_body_delivered_twice_charges_once(ready: Api) -> None:
    await hold(ready, W1)
    raw = body(status(W1, "sent"), status(W1, "delivered"), status(W1, "read", seconds=5, pricing=False))

    first = await delivered_ok(ready, raw)
    again = await delivered_ok(ready, raw)

    assert first == {"received": 3, "applied": 1, "ignored": 2, "unmatched": 0}
    assert again == {"received": 3, "applied": 0, "ignored": 0, "unmatched": 0}  # each status recorded once
    assert len(await charges(ready, W1)) == 1
    assert len(await events(ready)) == 3


async def test_read_before_delivered_charges_once(ready: Api) -> None:
    await hold(ready, W1)

    await delivered_ok(ready, body(status(W1, "read", seconds=5)))
    await delivered_ok(ready, body(status(W1, "delivered")))

    assert (await hold_of(ready, W1))["status"] == "settled"
    assert len(await charges(ready, W1)) == 1
    assert outcomes(await events(ready)) == {
        (W1, "read", "applied", None),
        (W1, "delivered", "ignored", "already_settled"),
    }


async def test_read_alone_settles(ready: Api) -> None:
    await hold(ready, W1)

    await delivered_ok(ready, body(status(W1, "read", pricing=False)))

    settled = await hold_of(ready, W1)
    assert (settled["status"], settled["charged"]) == ("settled", "0.004")
    assert len(await charges(ready, W1)) == 1


async def test_failed_then_delivered_charges_once_at_the_held_price(ready: Api) -> None:
    await hold(ready, W1)

    await delivered_ok(ready, body(status(W1, "failed")))
    voided = await hold_of(ready, W1)
    await delivered_ok(ready, body(status(W1, "delivered", seconds=5)))
    await delivered_ok(ready, body(status(W1, "read", seconds=9)))

    assert (voided["status"], voided["charged"]) == ("voided", None)
    charged = await hold_of(ready, W1)
    assert (charged["status"], charged["charged"]) == ("voided", "0.004")  # keeps its status, gains the charge
    (charge,) = await charges(ready, W1)
    assert charged["transaction_id"] == charge["id"]
    assert outcomes(await events(ready)) == {
        (W1, "failed", "applied", None),
        (W1, "delivered", "applied", None),
        (W1, "read", "ignored", "already_settled"),
    }


async def test_delivered_then_failed_stays_settled_and_charged_once(ready: Api) -> None:
    await hold(ready, W1)

    await delivered_ok(ready, body(status(W1, "delivered")))
    await delivered_ok(ready, body(status(W1, "failed", seconds=5)))

    assert (await hold_of(ready, W1))["status"] == "settled"
    assert len(await charges(ready, W1)) == 1
    assert (W1, "failed", "ignored", "already_settled") in outcomes(await events(ready))


async def test_delivered_and_failed_in_one_body_charge_once_in_either_order(ready: Api) -> None:
    await hold(ready, W1)
    await hold(ready, W2)

    await delivered_ok(ready, body(status(W1, "delivered"), status(W1, "failed"), status(W2, "failed")))
    await delivered_ok(ready, body(status(W2, "delivered")))

    assert [len(await charges(ready, w)) for w in (W1, W2)] == [1, 1]


async def test_failed_voids_the_hold_and_releases_its_money(ready: Api) -> None:
    await hold(ready, W1)

    await delivered_ok(ready, body(status(W1, "sent"), status(W1, "failed")))

    assert (await hold_of(ready, W1))["status"] == "voided"
    assert (await ready.get(f"/wallets/{CLINIC}", OPERATOR)).json()["held"] == "0.00"
    assert await charges(ready) == []


async def test_delivered_without_a_hold_is_charged_by_the_card_in_force(ready: Api) -> None:
    receipt = await delivered_ok(ready, body(status(W1, "delivered")))

    assert receipt["applied"] == 1
    (charge,) = await charges(ready, W1)
    assert (charge["amount"], charge["price"]["hold_id"], charge["price"]["market"]) == (
        "-0.004",
        None,
        "North America",
    )


async def test_a_status_of_an_unknown_number_is_unmatched_and_listed(ready: Api) -> None:
    await hold(ready, W1)

    receipt = await delivered_ok(ready, body(status(W1, "delivered"), phone=UNKNOWN_PHONE))

    assert receipt == {"received": 1, "applied": 0, "ignored": 0, "unmatched": 1}
    assert (await hold_of(ready, W1))["status"] == "held"
    (event,) = await events(ready, outcome="unmatched")
    assert event["phone_number_id"] == UNKNOWN_PHONE
    assert (event["tenant_id"], event["message_id"], event["reason"]) == (None, W1, "unknown_number")
    assert set(event) >= {"message_id", "status", "tenant_id", "phone_number_id", "outcome", "reason", "received_at"}


async def test_an_unmapped_number_is_unknown_from_then_on(ready: Api) -> None:
    await hold(ready, W1)
    response = await ready.client.delete(f"{BASE}/whatsapp-numbers/{PHONE}", headers=OPERATOR)
    assert response.status_code == 204, response.text

    await delivered_ok(ready, body(status(W1, "delivered")))

    assert (await hold_of(ready, W1))["status"] == "held"
    assert outcomes(await events(ready)) == {(W1, "delivered", "unmatched", "unknown_number")}


async def test_statuses_of_two_tenants_in_one_body_go_to_each_tenant(ready: Api) -> None:
    await ready.fund("10.00", headers=OTHER_CLINIC_USER)
    mapping = {"phone_number_id": OTHER_PHONE, "tenant_id": OTHER_CLINIC}
    response = await ready.post("/whatsapp-numbers", OPERATOR, mapping)
    assert response.status_code == 201, response.text
    await hold(ready, W1)
    value = {"metadata": {"phone_number_id": OTHER_PHONE}, "statuses": [status(W2, "delivered")]}
    envelope = json.loads(body(status(W1, "delivered")))
    envelope["entry"][0]["changes"].append({"field": "messages", "value": value})

    receipt = await delivered_ok(ready, json.dumps(envelope).encode())

    assert receipt == {"received": 2, "applied": 2, "ignored": 0, "unmatched": 0}
    assert {e["tenant_id"] for e in await events(ready)} == {CLINIC, OTHER_CLINIC}
    assert len(await events(ready, tenant_id=OTHER_CLINIC)) == 1


# GET /webhooks/whatsapp/events ---------------------------------------------------------------------------------


async def test_events_are_filtered_by_outcome_and_tenant(ready: Api) -> None:
    await hold(ready, W1)
    await delivered_ok(ready, body(status(W1, "sent"), status(W1, "delivered")))
    await delivered_ok(ready, body(status(W2, "delivered"), phone=UNKNOWN_PHONE))

    applied = await events(ready, outcome="applied")
    ignored = await events(ready, outcome="ignored")
    unmatched = await events(ready, outcome="unmatched")
    of_clinic = await events(ready, tenant_id=CLINIC)

    assert outcomes(applied) == {(W1, "delivered", "applied", None)}
    assert outcomes(ignored) == {(W1, "sent", "ignored", "sent")}
    assert outcomes(unmatched) == {(W2, "delivered", "unmatched", "unknown_number")}
    assert {e["message_id"] for e in of_clinic} == {W1}
    received = [e["received_at"] for e in await events(ready)]
    assert received == sorted(received, reverse=True)  # newest first


async def test_events_are_paged(ready: Api) -> None:
    await delivered_ok(ready, body(*(status(f"wamid.{n}", "sent") for n in range(5))))

    response = await ready.get("/webhooks/whatsapp/events", OPERATOR, params={"page": 2, "page_size": 2})

    page = response.json()
    assert (page["page"], page["page_size"], page["total"], len(page["items"])) == (2, 2, 5, 2)


@pytest.mark.parametrize(
    ("query", "field"),
    [({"outcome": "settled"}, "outcome"), ({"tenant_id": "no spaces"}, "tenant_id"), ({"page_size": "0"}, "page_size")],
)
async def test_a_bad_events_filter_is_a_400_naming_it(api: Api, query: dict[str, str], field: str) -> None:
    response = await api.get("/webhooks/whatsapp/events", OPERATOR, params=query)

    assert list(field_errors(response)) == [field]


async def test_only_the_root_tenant_reads_the_events(api: Api) -> None:
    assert (await api.get("/webhooks/whatsapp/events", ROOT_VIEWER)).status_code == 200
    assert_problem(await api.get("/webhooks/whatsapp/events", CLINIC_MANAGER), 403, "forbidden")
    assert_problem(await api.get("/webhooks/whatsapp/events", {}), 401, "unauthorized")


# A database outage: 503, so Meta delivers the body again -------------------------------------------------------


async def test_an_unreachable_database_is_a_503_so_meta_delivers_again() -> None:
    settings = Settings(
        database_url="postgresql://nobody@127.0.0.1:1/nowhere",
        jwt=JwtSettings(secret=SECRET),
        whatsapp=WhatsAppSettings(app_secret=APP_SECRET, verify_token=VERIFY_TOKEN),
    )
    async with AsyncTestClient(create_app(postgres_container(settings), deliver_email=False)) as client:
        raw = body(status(W1, "delivered"))
        response = await client.post(WEBHOOK, content=raw, headers={"X-Hub-Signature-256": sign(APP_SECRET, raw)})

    assert_problem(response, 503, "unavailable")


# The two settings ----------------------------------------------------------------------------------------------


def test_the_settings_are_read_from_the_environment_and_never_shown() -> None:
    environ = {"BILLING_WHATSAPP_APP_SECRET": APP_SECRET, "BILLING_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN}

    read = Settings.from_env(environ)

    assert (read.whatsapp.app_secret, read.whatsapp.verify_token) == (APP_SECRET, VERIFY_TOKEN)
    assert APP_SECRET not in repr(read)
    assert VERIFY_TOKEN not in repr(read)
    assert Settings.from_env({}).whatsapp == WhatsAppSettings(None, None)
    assert Settings.from_env({"BILLING_WHATSAPP_APP_SECRET": "  "}).whatsapp.app_secret is None  # empty is unset


def test_a_secret_with_a_control_character_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"BILLING_WHATSAPP_APP_SECRET": "abc\x00def", "BILLING_WHATSAPP_VERIFY_TOKEN": "t\x1bk"})

    message = str(refused.value)
    assert "BILLING_WHATSAPP_APP_SECRET" in message
    assert "BILLING_WHATSAPP_VERIFY_TOKEN" in message
    assert "abc" not in message
    assert "t\x1bk" not in message
