"""Chat test helpers: a visitor with a token, WebSocket clients that read JSON frames."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import websockets
from websockets.typing import Subprotocol

from tests.conftest import World


@dataclass
class VisitorClient:
    vuid: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def new_visitor(client: httpx.AsyncClient, workspace: str = "acme") -> VisitorClient:
    response = await client.post(f"/api/v1/widget/{workspace}/visitors")
    assert response.status_code == 201, response.text
    return VisitorClient(**response.json())


async def start_chat(
    client: httpx.AsyncClient,
    visitor: VisitorClient,
    text: str | None = "Hello there",
    group_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if text is not None:
        body["message"] = {"client_id": uuid.uuid4().hex, "body": text}
    if group_id is not None:
        body["group_id"] = str(group_id)
    response = await client.post("/api/v1/widget/conversations", json=body, headers=visitor.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


class Socket:
    """A WebSocket client that reads JSON frames, with timeouts so a test never hangs."""

    def __init__(self, connection: websockets.ClientConnection) -> None:
        self.connection = connection

    async def send(self, **frame: Any) -> None:
        await self.connection.send(json.dumps(frame))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), timeout)
        data: dict[str, Any] = json.loads(raw)
        return data

    async def recv_until(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        """Skip frames until one matches (the skipped ones are kept in ``skipped``)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError("no matching frame")
            frame = await self.recv(remaining)
            if predicate(frame):
                return frame

    async def nothing_for(self, seconds: float = 0.3) -> list[dict[str, Any]]:
        frames = []
        try:
            while True:
                frames.append(await self.recv(seconds))
        except TimeoutError:
            return frames

    async def close(self) -> None:
        await self.connection.close()


def token_subprotocols(token: str) -> list[Subprotocol]:
    """How a client hands Confide its token on a socket: as a subprotocol, never in the URL."""
    return [Subprotocol("confide.v1"), Subprotocol(f"confide.token.{token}")]


async def open_socket(url: str, token: str | None = None, **kwargs: Any) -> Socket:
    if token is not None:
        kwargs["subprotocols"] = token_subprotocols(token)
    connection = await websockets.connect(url, open_timeout=5, **kwargs)
    socket = Socket(connection)
    ready = await socket.recv()
    assert ready["type"] == "ready", ready
    return socket


async def agent_token(world: World, account: Any) -> str:
    response = await world.login(account)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token
