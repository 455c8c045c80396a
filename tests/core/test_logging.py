"""Server logs carry no credential, client address or exception text, whatever the server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from starlette.websockets import WebSocket

from confide.api.app import create_app
from confide.core.logging import ServerLogScrubber
from confide.runtime import Runtime
from tests.chat.helpers import new_visitor, open_socket
from tests.conftest import LiveServer, World

PRIVATE = "alice@example.com wrote: my card is 4111 1111 1111 1111"


@pytest.fixture
async def exploding_server(rt: Runtime) -> AsyncIterator[str]:
    """A real uvicorn serving Confide plus an HTTP route and a socket that raise."""
    import uvicorn

    app = create_app(runtime=rt)

    async def explode() -> None:
        raise ValueError(PRIVATE)

    async def explode_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        raise KeyError(PRIVATE)

    app.add_api_route("/test-explode", explode, methods=["GET"])
    app.add_api_websocket_route("/test-explode-ws", explode_socket)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await task


async def test_an_unhandled_exception_is_logged_by_type_only(
    exploding_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(base_url=f"http://{exploding_server}") as client:
        response = await client.get("/test-explode")
    assert response.status_code == 500
    async with websockets.connect(f"ws://{exploding_server}/test-explode-ws") as socket:
        with pytest.raises(websockets.ConnectionClosed):
            await socket.recv()
    logged = caplog.text
    assert "unhandled ValueError" in logged
    assert "unhandled KeyError" in logged
    assert "alice" not in logged and "4111" not in logged
    assert "Traceback" not in logged
    assert [r.name for r in caplog.records if r.exc_info] == []


def test_the_scrubber_rewrites_uvicorn_lines() -> None:
    scrub = ServerLogScrubber()
    line = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("203.0.113.9:51515", "/api/v1/ws/widget?token=eyJhbGciOi.secret.sig"),
        None,
    )
    assert scrub.filter(line)
    assert line.getMessage() == '- - "WebSocket /api/v1/ws/widget" [accepted]'
    try:
        raise ValueError(PRIVATE)
    except ValueError:
        import sys

        failure = logging.LogRecord(
            "uvicorn.error",
            logging.ERROR,
            __file__,
            1,
            "Exception in ASGI application\n",
            (),
            sys.exc_info(),
        )
    assert scrub.filter(failure)
    assert failure.exc_info is None
    assert "ValueError" in failure.getMessage() and "alice" not in failure.getMessage()


async def test_a_socket_credential_in_the_url_is_refused_and_not_logged(
    world: World,
    client: httpx.AsyncClient,
    live_server: LiveServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    await world.workspace()
    visitor = await new_visitor(client)
    for url in (
        f"{live_server.ws_url}/api/v1/ws/widget?token={visitor.token}",
        f"{live_server.ws_url}/api/v1/ws/console?access_token={visitor.token}",
    ):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(url)
        assert refused.value.response.status_code == 403
    # The same token as a subprotocol works, and the server names the protocol it speaks.
    socket = await open_socket(f"{live_server.ws_url}/api/v1/ws/widget", token=visitor.token)
    assert socket.connection.subprotocol == "confide.v1"
    await socket.close()
    bearer = await open_socket(
        f"{live_server.ws_url}/api/v1/ws/widget",
        additional_headers={"Authorization": f"Bearer {visitor.token}"},
    )
    await bearer.close()
    assert "WebSocket /api/v1/ws/widget" in caplog.text  # the handshakes were logged...
    assert visitor.token not in caplog.text  # ...without the token
