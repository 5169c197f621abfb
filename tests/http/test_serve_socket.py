"""How `billing serve` listens: each worker on a socket of its own in the port's SO_REUSEPORT group (a burst of
connections is spread over the workers), accepting connections with Nagle's algorithm off on the plain asyncio loop
too (uvicorn's own `bind_socket()` left it on: ~40 ms per answer); `--workers` takes a count or one per core; its
httptools protocol bounds a request's head as h11 does."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from multiprocessing.reduction import ForkingPickler
from typing import Any

import pytest
import uvicorn

from billing.entrypoints import cli
from billing.entrypoints.http.server import MAX_HEAD_BYTES, BoundedHttpToolsProtocol


class Accepted(asyncio.Protocol):
    def __init__(self, transports: asyncio.Queue[tuple[int, asyncio.BaseTransport]], listener: int) -> None:
        self.transports, self.listener = transports, listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transports.put_nowait((self.listener, transport))


def worker_listener(port: cli.WorkersPort) -> socket.socket:
    """What a worker gets: uvicorn's supervisor pickles the sockets it hands to the processes it spawns."""
    listener: socket.socket = ForkingPickler.loads(ForkingPickler.dumps(port))
    return listener


@pytest.fixture
def workers_port() -> Iterator[cli.WorkersPort]:
    port = cli.WorkersPort("127.0.0.1", 0)
    yield port
    port.close()


async def test_each_worker_listens_on_a_socket_of_its_own_that_sends_without_waiting_for_acks(
    workers_port: cli.WorkersPort,
) -> None:
    transports: asyncio.Queue[tuple[int, asyncio.BaseTransport]] = asyncio.Queue()
    listener = worker_listener(workers_port)
    server = await asyncio.get_running_loop().create_server(lambda: Accepted(transports, 0), sock=listener)
    try:
        _, writer = await asyncio.open_connection(*workers_port.getsockname())
        _, transport = await asyncio.wait_for(transports.get(), 5)
        accepted: socket.socket = transport.get_extra_info("socket")

        assert listener.getsockname() == workers_port.getsockname()
        assert listener.proto == accepted.proto == socket.IPPROTO_TCP
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1  # Nagle's algorithm off
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_a_burst_of_connections_is_spread_over_the_workers(workers_port: cli.WorkersPort) -> None:
    transports: asyncio.Queue[tuple[int, asyncio.BaseTransport]] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(lambda n=n: Accepted(transports, n), sock=worker_listener(workers_port))
        for n in range(2)
    ]
    try:
        writers = [(await asyncio.open_connection(*workers_port.getsockname()))[1] for _ in range(32)]
        accepted = [await asyncio.wait_for(transports.get(), 5) for _ in writers]

        by_worker = [sum(1 for listener, _ in accepted if listener == n) for n in range(2)]
        assert min(by_worker) >= 4, by_worker  # a shared socket gave one worker all 8 of a burst, often
        for writer in writers:
            writer.close()
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()


def test_a_port_in_use_is_one_line_naming_it(workers_port: cli.WorkersPort) -> None:
    port = workers_port.getsockname()[1]
    serving = worker_listener(workers_port)  # another `billing serve --workers`, its workers listening
    plain = socket.create_server(("127.0.0.1", 0))  # or anything else
    try:
        for taken in (port, plain.getsockname()[1]):
            with pytest.raises(cli.CommandError, match=f"cannot listen on 127.0.0.1:{taken}"):
                cli.WorkersPort("127.0.0.1", taken)
    finally:
        serving.close()
        plain.close()


@pytest.mark.parametrize(("given", "workers"), [("1", 1), ("3", 3), ("auto", cli.usable_cores())])
def test_workers_is_a_count_or_one_per_core(given: str, workers: int) -> None:
    assert cli.parser().parse_args(["serve", "--workers", given]).workers == workers


def test_workers_refuses_anything_else(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["serve", "--workers", "many"])
    assert "one per core" in capsys.readouterr().err


async def _echo_length(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app answering 200 with the length of the body it read."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    answer = str(size).encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


async def _exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(200), 10)
    writer.close()
    return answer


@pytest.fixture
async def bounded_server() -> AsyncIterator[int]:
    """uvicorn with `billing serve`'s protocol, in this event loop, on a free port."""
    sock = cli.listen_reuse_port("127.0.0.1", 0)
    config = uvicorn.Config(_echo_length, http=BoundedHttpToolsProtocol, ws="none", log_level="critical")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):  # uvicorn says it started through a flag only
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    await task


@pytest.mark.parametrize(
    ("header", "status"),
    [(MAX_HEAD_BYTES - 1000, b"200"), (MAX_HEAD_BYTES + 1000, b"400"), (8 * MAX_HEAD_BYTES, b"400")],
)
async def test_a_request_head_is_bounded_as_h11_bounds_it(bounded_server: int, header: int, status: bytes) -> None:
    answer = await _exchange(bounded_server, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * header + b"\r\n\r\n")

    assert answer.split(b" ")[1] == status, answer
    if status == b"400":
        assert answer.endswith(b"Invalid HTTP request received."), answer


async def test_a_head_that_never_ends_is_refused_without_waiting_for_its_end(bounded_server: int) -> None:
    answer = await _exchange(bounded_server, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (2 * MAX_HEAD_BYTES))

    assert answer.startswith(b"HTTP/1.1 400"), answer


async def test_a_body_is_not_a_head(bounded_server: int) -> None:
    body = b"x" * (16 * MAX_HEAD_BYTES)
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)

    answer = await _exchange(bounded_server, head + body)

    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert answer.endswith(b"\r\n\r\n" + str(len(body)).encode()), answer
