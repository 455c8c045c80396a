"""Recognising an outage of the database or Redis, so it is answered as one.

Why: a lost database or Redis connection surfaces as a dozen exception types from four
libraries (SQLAlchemy, asyncpg, redis-py, the socket layer). Left alone they reach the generic
handler and become HTTP 500 or a socket that dies without a close code. ``is_outage`` names
them in one place; the API maps them to ``ServiceUnavailable`` (503 + ``Retry-After``), the
socket protocol to an error frame or a close with 1013 (RFC 6455 §7.4.1, "try again later").

A bug (``KeyError``, a constraint violation) is never an outage: it still ends as 500/1011, so
it is seen and fixed rather than retried forever.
"""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
import redis.exceptions
import sqlalchemy.exc

from confide.core.errors import ServiceUnavailable

RETRY_AFTER_SECONDS = 5

_REDIS_OUTAGES = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
_ASYNCPG_OUTAGES = (
    asyncpg.exceptions.PostgresConnectionError,  # connection lost or refused mid-protocol
    asyncpg.exceptions.CannotConnectNowError,  # starting up, shutting down, in recovery
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.InterfaceError,  # "connection is closed"
    # Class 53 (too many connections, out of memory, disk full): the server is up but cannot
    # take this work now; a client should come back later, as for any outage.
    asyncpg.exceptions.InsufficientResourcesError,
)
_SQLALCHEMY_OUTAGES = (
    sqlalchemy.exc.OperationalError,  # connect refused, server gone, SQLite busy
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection came free in time
)


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says a backing service is unreachable.

    Walks ``__cause__``/``__context__`` and exception groups: SQLAlchemy wraps driver errors,
    anyio task groups wrap everything.
    """
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ServiceUnavailable):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, _REDIS_OUTAGES + _ASYNCPG_OUTAGES + _SQLALCHEMY_OUTAGES):
            return True
        if isinstance(current, (ConnectionError, TimeoutError)):  # OSError kinds
            return True
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)
    return False


def unavailable() -> ServiceUnavailable:
    """The error to report for an outage, with the retry hint every client gets."""
    return ServiceUnavailable(retry_after_seconds=RETRY_AFTER_SECONDS)
