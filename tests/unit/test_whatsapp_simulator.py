"""`billing whatsapp simulate` (contract v2 §11, Meta's side): the bodies are reproducible from a seed, each one is
Meta's envelope that the webhook parser reads whole, each message gets the statuses Meta would send, duplicates and
reordering do what they say, every body is signed, and sending retries 5xx and lost connections as Meta does."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import attrs
import pytest

from billing.domain.errors import ValidationError
from billing.domain.recipients import looks_like_bsuid
from billing.domain.whatsapp import (
    SIGNATURE_HEADER,
    MessageStatus,
    StatusNotice,
    parse_status_notifications,
    signature_matches,
)
from billing.entrypoints.whatsapp_simulator import (
    WEBHOOK_PATH,
    SimulationOptions,
    build_bodies,
    simulate,
)

SECRET = "0c5a1f0e9b7d4c3a8e2f6b1d9a7c5e3f"
PHONE = "106540352242922"
OPTIONS = SimulationOptions(
    phone_number_id=PHONE,
    messages=40,
    fail_rate=0.25,
    read_rate=0.5,
    batch=7,
    seed=11,
    secret=SECRET,
    started_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
    backoff_seconds=0,
)
Sent = list[tuple[bytes, dict[str, str]]]


def _statuses(bodies: list[bytes]) -> list[StatusNotice]:
    return [notice for body in bodies for notice in parse_status_notifications(json.loads(body)).statuses]


def _by_message(bodies: list[bytes]) -> dict[str, list[StatusNotice]]:
    messages: dict[str, list[StatusNotice]] = defaultdict(list)
    for notice in _statuses(bodies):
        messages[notice.message_id].append(notice)
    return messages


def _answering(*codes: int, then: int = 200) -> tuple[Callable[[bytes, dict[str, str]], Awaitable[int]], Sent]:
    """A fake Meta endpoint: answers `codes` in turn, then `then` to everything; records what it was sent."""
    sent: Sent = []
    queue = list(codes)

    async def send(body: bytes, headers: dict[str, str]) -> int:
        sent.append((body, headers))
        return queue.pop(0) if queue else then

    return send, sent


# --- the bodies ---------------------------------------------------------------------------------------------------


def test_the_same_options_build_the_same_bytes_and_another_seed_other_ones() -> None:
    assert build_bodies(OPTIONS) == build_bodies(attrs.evolve(OPTIONS))
    assert build_bodies(OPTIONS) != build_bodies(attrs.evolve(OPTIONS, seed=12))


def test_every_body_is_metas_envelope_and_the_parser_reads_it_whole() -> None:
    for body in build_bodies(OPTIONS):
        payload = json.loads(body)
        parsed = parse_status_notifications(payload)
        (entry,) = payload["entry"]
        (change,) = entry["changes"]

        assert parsed.ignored == ()
        assert 1 <= len(parsed.statuses) <= OPTIONS.batch
        assert {notice.phone_number_id for notice in parsed.statuses} == {PHONE}
        assert (entry["id"], change["field"], change["value"]["messaging_product"]) == (
            OPTIONS.waba_id,
            "messages",
            "whatsapp",
        )
        assert change["value"]["metadata"] == {
            "display_phone_number": OPTIONS.display_phone_number,
            "phone_number_id": PHONE,
        }


def test_statuses_fill_bodies_of_batch_statuses_and_the_last_takes_the_rest() -> None:
    sizes = [len(json.loads(body)["entry"][0]["changes"][0]["value"]["statuses"]) for body in build_bodies(OPTIONS)]

    assert set(sizes[:-1]) == {OPTIONS.batch}
    assert 1 <= sizes[-1] <= OPTIONS.batch


def test_each_message_is_sent_then_delivered_and_maybe_read_or_sent_then_failed() -> None:
    messages = _by_message(build_bodies(OPTIONS))
    kinds = Counter(tuple(notice.status for notice in statuses) for statuses in messages.values())

    assert len(messages) == OPTIONS.messages
    assert set(kinds) == {
        (MessageStatus.SENT, MessageStatus.FAILED),
        (MessageStatus.SENT, MessageStatus.DELIVERED),
        (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ),
    }  # in this order in the stream: no failed message has a delivered
    assert all(a.timestamp < b.timestamp for statuses in messages.values() for a, b in pairwise(statuses))


def test_pricing_rides_on_sent_and_delivered_and_errors_on_failed_as_meta_sends_them() -> None:
    for notice in _statuses(build_bodies(attrs.evolve(OPTIONS, category="marketing"))):
        priced = notice.status in (MessageStatus.SENT, MessageStatus.DELIVERED)
        pricing = (notice.category, notice.pricing_type, notice.billable, notice.pricing_model)

        assert pricing == (("marketing", "regular", True, "PMP") if priced else (None, None, None, None))
        assert (notice.error_summary is not None) == (notice.status is MessageStatus.FAILED)


@pytest.mark.parametrize(("fail_rate", "failed"), [(0.0, 0), (1.0, 40)])
def test_the_fail_rate_decides_how_many_messages_fail(fail_rate: float, failed: int) -> None:
    messages = _by_message(build_bodies(attrs.evolve(OPTIONS, fail_rate=fail_rate)))

    assert sum(statuses[-1].status is MessageStatus.FAILED for statuses in messages.values()) == failed


def test_the_bsuid_rate_sends_that_share_to_phone_less_users_by_their_bsuid() -> None:
    """Contract v3 §16: a user whose number Meta hides is named by `recipient_user_id` alone; without the option
    the run is byte for byte what it was (no random draw is added)."""
    everyone = _statuses(build_bodies(attrs.evolve(OPTIONS, bsuid_rate=1.0)))
    no_one = _statuses(build_bodies(attrs.evolve(OPTIONS, bsuid_rate=0.0)))

    assert all(n.recipient_id is None and n.recipient_user_id is not None for n in everyone)
    assert all(looks_like_bsuid(n.recipient_user_id or "") for n in everyone)
    assert all(n.recipient_user_id is None and n.recipient_id is not None for n in no_one)
    assert build_bodies(attrs.evolve(OPTIONS, bsuid_rate=0.0)) == build_bodies(OPTIONS)
    with pytest.raises(ValidationError):
        attrs.evolve(OPTIONS, bsuid_rate=1.5)


def test_message_ids_come_from_the_prefix_a_given_list_or_a_seeded_random_prefix() -> None:
    prefixed = _by_message(build_bodies(attrs.evolve(OPTIONS, messages=3, message_prefix="wamid.test-")))
    given = _by_message(build_bodies(attrs.evolve(OPTIONS, message_ids=("wamid.A==", "wamid.B/+"))))
    default = list(_by_message(build_bodies(OPTIONS)))

    assert sorted(prefixed) == ["wamid.test-0", "wamid.test-1", "wamid.test-2"]
    assert sorted(given) == ["wamid.A==", "wamid.B/+"]
    assert all(message_id.startswith("wamid.sim-") for message_id in default)
    assert default[0].rsplit("-", 1)[0] != next(iter(_by_message(build_bodies(attrs.evolve(OPTIONS, seed=99)))))


def test_duplicates_send_some_bodies_again_byte_for_byte_after_the_first_time() -> None:
    plain = build_bodies(OPTIONS)
    with_duplicates = build_bodies(attrs.evolve(OPTIONS, duplicates=True))
    first_times = list(dict.fromkeys(with_duplicates))

    assert len(with_duplicates) > len(plain)
    assert first_times == plain
    assert set(Counter(with_duplicates).values()) == {1, 2}


def test_reorder_shuffles_the_same_statuses_across_bodies() -> None:
    plain = [json.dumps(status, sort_keys=True) for status in _raw_statuses(build_bodies(OPTIONS))]
    reordered = [
        json.dumps(status, sort_keys=True)
        for status in _raw_statuses(build_bodies(attrs.evolve(OPTIONS, reorder=True)))
    ]
    out_of_order = [
        statuses
        for statuses in _by_message(build_bodies(attrs.evolve(OPTIONS, reorder=True))).values()
        if [n.timestamp for n in statuses] != sorted(n.timestamp for n in statuses)
    ]

    assert sorted(reordered) == sorted(plain)
    assert reordered != plain
    assert out_of_order  # e.g. a read before its delivered


def _raw_statuses(bodies: list[bytes]) -> list[dict[str, Any]]:
    return [status for body in bodies for status in json.loads(body)["entry"][0]["changes"][0]["value"]["statuses"]]


@pytest.mark.parametrize(
    "changes",
    [
        {"fail_rate": 1.5},
        {"read_rate": -0.1},
        {"batch": 0},
        {"messages": 0},
        {"retries": -1},
        {"backoff_seconds": -1.0},
        {"message_ids": ("wamid.ok", "bad\nid")},
        {"message_prefix": "w" * 200},
        {"message_prefix": "wamid.\x00"},
        {"messages": 100_001},
        {"started_at": datetime(2026, 11, 20, 9, 30)},  # naive on purpose
    ],
)
def test_options_out_of_bounds_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        attrs.evolve(OPTIONS, **changes)


# --- sending ------------------------------------------------------------------------------------------------------


async def test_every_body_is_sent_signed_over_its_exact_bytes() -> None:
    send, sent = _answering()

    report = await simulate(OPTIONS, send)

    assert [body for body, _ in sent] == build_bodies(OPTIONS)
    assert all(signature_matches(SECRET, body, headers[SIGNATURE_HEADER]) for body, headers in sent)
    assert all(headers["Content-Type"] == "application/json" for _, headers in sent)
    assert (report.bodies, report.accepted, report.retries) == (len(sent), len(sent), 0)


async def test_without_a_secret_no_signature_is_sent() -> None:
    send, sent = _answering(then=401)

    report = await simulate(attrs.evolve(OPTIONS, secret=None), send)

    assert all(SIGNATURE_HEADER not in headers for _, headers in sent)
    assert (report.refused, report.retries, report.answers) == (len(sent), 0, {401: len(sent)})


async def test_a_body_answered_503_twice_is_sent_again_until_200_and_the_retries_are_reported() -> None:
    send, sent = _answering(503, 503)
    bodies = build_bodies(OPTIONS)

    report = await simulate(OPTIONS, send)

    assert [body for body, _ in sent[:3]] == [bodies[0]] * 3
    assert report.retries == 2
    assert report.answers == {200: len(bodies), 503: 2}
    assert (report.bodies, report.accepted, report.refused, report.unanswered) == (len(bodies), len(bodies), 0, 0)


async def test_retries_are_bounded_a_body_still_5xx_is_refused_and_a_lost_connection_unanswered() -> None:
    always_500, sent = _answering(then=500)
    options = attrs.evolve(OPTIONS, retries=2)
    bodies = len(build_bodies(options))

    refused = await simulate(options, always_500)

    async def unreachable(body: bytes, headers: dict[str, str]) -> int:
        raise ConnectionRefusedError("no server")

    lost = await simulate(options, unreachable)

    assert len(sent) == 3 * bodies
    assert (refused.refused, refused.retries, refused.answers) == (bodies, 2 * bodies, {500: 3 * bodies})
    assert (lost.unanswered, lost.retries, lost.answers) == (bodies, 2 * bodies, {})


async def test_a_4xx_answer_is_final() -> None:
    send, sent = _answering(400)

    report = await simulate(OPTIONS, send)

    assert len(sent) == report.bodies
    assert (report.retries, report.refused, report.answers[400]) == (0, 1, 1)


async def test_the_report_counts_messages_failures_and_statuses() -> None:
    send, _ = _answering()
    options = attrs.evolve(OPTIONS, duplicates=True)
    bodies = build_bodies(options)
    messages = _by_message(list(dict.fromkeys(bodies)))

    report = await simulate(options, send)

    assert report.messages == OPTIONS.messages
    assert report.failed_messages == sum(s[-1].status is MessageStatus.FAILED for s in messages.values())
    assert report.failed_messages > 0
    assert report.statuses == len(_statuses(bodies))


# --- over HTTP (httpx against a local socket) ---------------------------------------------------------------------


@asynccontextmanager
async def _http_endpoint(codes: list[int]) -> AsyncIterator[tuple[str, list[tuple[bytes, bytes]]]]:
    """A bare HTTP/1.1 server on 127.0.0.1 answering `codes` in turn (then 200); records (head, body) of each POST."""
    received: list[tuple[bytes, bytes]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # one keep-alive connection carries every POST
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                received.append((head, await reader.readexactly(length)))
                code = codes.pop(0) if codes else 200
                writer.write(f"HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass  # the client closed the connection
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/", received


async def test_the_default_sender_posts_each_signed_body_to_the_webhook_route() -> None:
    options = attrs.evolve(OPTIONS, messages=5, batch=4)
    async with _http_endpoint([503]) as (url, received):
        report = await simulate(attrs.evolve(options, url=url))

    heads = [head.decode() for head, _ in received]
    assert [body for _, body in received] == [build_bodies(options)[0], *build_bodies(options)]
    assert all(head.startswith(f"POST {WEBHOOK_PATH} HTTP/1.1") for head in heads)
    assert all(signature_matches(SECRET, body, _header(head.decode(), SIGNATURE_HEADER)) for head, body in received)
    assert (report.retries, report.answers) == (1, {200: report.bodies, 503: 1})


async def test_the_default_sender_reports_a_server_that_does_not_answer() -> None:
    async with _http_endpoint([]) as (url, _):
        pass  # closed: nothing listens on that port any more

    report = await simulate(attrs.evolve(OPTIONS, messages=2, url=url, retries=1))

    assert (report.unanswered, report.retries, report.answers) == (report.bodies, report.bodies, {})


def _header(head: str, name: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.lower().startswith(name.lower()))
