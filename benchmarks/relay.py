"""The baseline of the socket benchmarks: a bare ASGI WebSocket relay with no Confide logic.

``/visitor`` sockets send ``{"type": "message", "client_id": ..., "body": ...}``; each frame
is stored with one INSERT of a row the size of Confide's message and text rows together, in
its own transaction, through the same driver and pool Confide uses (SQLAlchemy + aiosqlite or
asyncpg; on SQLite WAL, ``BEGIN IMMEDIATE`` and one write lock per process, like
``confide.core.db``), then acknowledged to the sender and relayed to every ``/console``
socket. A console frame ``{"type": "broadcast"}`` is sent to every visitor socket (the
baseline of the broadcast measurement). Nothing else: no authentication, policy, sequence
numbers, redaction, encryption or broker.

With ``--group-commit`` (SQLite only) it is the *limit* baseline instead: the frames that
arrive in one turn of the event loop are stored in one transaction (``BEGIN IMMEDIATE``, one
``executemany``, ``COMMIT``) through the standard ``sqlite3`` module on the loop thread, and
each is acknowledged and relayed after that COMMIT: about as fast as a durable relay can go
on this machine.

Run: ``python -m benchmarks.relay --port 8100 --database-url sqlite+aiosqlite:///relay.db``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
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
    def __init__(self, database_url: str, *, group_commit: bool = False) -> None:
        # Confide's Database sets the same pragmas and BEGIN IMMEDIATE on SQLite.
        self.db = Database(database_url, group_commit_max_units=1)
        self.consoles: set[Send] = set()
        self.visitors: set[Send] = set()
        self.seq = 0
        self.group_commit = group_commit
        self._batch: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._sqlite: sqlite3.Connection | None = None
        if group_commit:
            path = database_url.split("///", 1)[1]
            self._sqlite = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
                self._sqlite.execute(f"PRAGMA {pragma}")

    async def _store_grouped(self, client_id: str, body: str) -> int:
        """Join this loop turn's batch; return once the batch has committed."""
        self.seq += 1
        row = {
            "id": str(uuid.uuid4()),
            "client_id": client_id,
            "seq": self.seq,
            "body": body,
            "created_at": time.time(),
        }
        loop = asyncio.get_running_loop()
        if not self._batch:
            loop.call_soon(self._commit_batch)
        done: asyncio.Future[None] = loop.create_future()
        self._batch.append((row, done))
        await done
        return int(row["seq"])

    def _commit_batch(self) -> None:
        batch, self._batch = self._batch, []
        assert self._sqlite is not None
        self._sqlite.execute("BEGIN IMMEDIATE")
        self._sqlite.executemany(str(_INSERT), [row for row, _ in batch])
        self._sqlite.execute("COMMIT")
        for _, done in batch:
            done.set_result(None)

    def _writing(self) -> AbstractAsyncContextManager[Any]:
        lock = self.db._write_lock
        return lock if lock is not None else nullcontext()

    async def _store(self, client_id: str, body: str) -> int:
        if self.group_commit:
            return await self._store_grouped(client_id, body)
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
    parser.add_argument("--group-commit", action="store_true")
    args = parser.parse_args()
    uvicorn.run(
        Relay(args.database_url, group_commit=args.group_commit),
        host="127.0.0.1",
        port=args.port,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
