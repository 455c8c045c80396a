"""The baseline of the socket benchmarks: a bare ASGI WebSocket relay with no Confide logic.

``/visitor`` sockets send ``{"type": "message", "client_id": ..., "body": ...}``; each frame
is stored with one INSERT of a row the size of Confide's message and text rows together, in
its own transaction, through the same driver and pool Confide uses (SQLAlchemy + aiosqlite or
asyncpg; on SQLite WAL, ``BEGIN IMMEDIATE`` and one write lock per process, like
``confide.core.db``), then acknowledged to the sender and relayed to every ``/console``
socket. A console frame ``{"type": "broadcast"}`` is sent to every visitor socket (the
baseline of the broadcast measurement). Nothing else: no authentication, policy, sequence
numbers, redaction, encryption or broker.

Run: ``python -m benchmarks.relay --port 8100 --database-url sqlite+aiosqlite:///relay.db``.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from confide.core.db import Database

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_CREATE = (
    "CREATE TABLE IF NOT EXISTS relay_messages (id VARCHAR(36) PRIMARY KEY, "
    "client_id VARCHAR(64) NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, "
    "created_at FLOAT NOT NULL)"
)
_INSERT = text(
    "INSERT INTO relay_messages (id, client_id, seq, body, created_at) "
    "VALUES (:id, :client_id, :seq, :body, :created_at)"
)


class Relay:
    def __init__(self, database_url: str) -> None:
        # Confide's Database sets the same pragmas and BEGIN IMMEDIATE on SQLite.
        self.db = Database(database_url)
        self.consoles: set[Send] = set()
        self.visitors: set[Send] = set()
        self.seq = 0

    def _writing(self) -> AbstractAsyncContextManager[Any]:
        lock = self.db._write_lock
        return lock if lock is not None else nullcontext()

    async def _store(self, client_id: str, body: str) -> int:
        self.seq += 1
        async with self._writing(), self.db.engine.connect() as conn:
            conn = await _immediate(conn, self.db.is_sqlite)
            async with conn.begin():
                await conn.execute(
                    _INSERT,
                    {
                        "id": str(uuid.uuid4()),
                        "client_id": client_id,
                        "seq": self.seq,
                        "body": body,
                        "created_at": time.time(),
                    },
                )
        return self.seq

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            await self._socket(scope["path"], receive, send)
        else:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                async with self.db.engine.begin() as conn:
                    await conn.execute(text(_CREATE))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.db.dispose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _socket(self, path: str, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        sockets = self.consoles if path.endswith("/console") else self.visitors
        sockets.add(send)
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                frame = json.loads(message.get("text") or "{}")
                if sockets is self.consoles:
                    if frame.get("type") == "broadcast":
                        await self._send_all(self.visitors, frame)
                    continue
                client_id, body = str(frame["client_id"]), str(frame["body"])
                seq = await self._store(client_id, body)
                await _send_json(send, {"type": "ack", "client_id": client_id, "seq": seq})
                event = {"type": "message", "client_id": client_id, "seq": seq, "body": body}
                await self._send_all(self.consoles, event)
        finally:
            sockets.discard(send)

    async def _send_all(self, sockets: set[Send], frame: dict[str, Any]) -> None:
        payload = json.dumps(frame, separators=(",", ":"))
        for target in list(sockets):
            await target({"type": "websocket.send", "text": payload})


async def _immediate(conn: AsyncConnection, is_sqlite: bool) -> AsyncConnection:
    if is_sqlite:
        return await conn.execution_options(confide_begin="BEGIN IMMEDIATE")
    return conn


async def _send_json(send: Send, frame: dict[str, Any]) -> None:
    await send({"type": "websocket.send", "text": json.dumps(frame, separators=(",", ":"))})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    uvicorn.run(
        Relay(args.database_url),
        host="127.0.0.1",
        port=args.port,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
