"""ASGI middleware: the client address for the audit ledger, request body limit, and security
headers on every response."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from confide.core.client import set_client_address
from confide.core.errors import BodyTooLarge, PayloadTooLarge

# No inline script, no third-party origin: every asset is served by Confide itself.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]


class ClientAddressMiddleware:
    """Name the client of every HTTP request and WebSocket for the audit ledger
    (``confide.core.client``); the server has already applied ``trusted_proxies``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            set_client_address(client[0] if client else "unknown")
        await self.app(scope, receive, send)


class SocketRoutes:
    """The app's WebSockets, served before any layer of the application.

    Why: a socket lives for hours, and every layer it passes through stays suspended on its
    stack for as long: the HTTP-only middleware (security headers, body limit, widget CORS,
    the request log), FastAPI's own outer layers (server errors, exception telemetry, the
    app-wide body limit), its exception middleware and dependency exit stacks, the router.
    Measured on idle widget sockets, those frames and their closures held about 9 KiB per
    socket as middleware, and FastAPI's outer layers more once this ran as the outermost
    middleware (docs/performance.md, ``connections_memory``). The endpoints need none of it:
    they authenticate, check the origin and close with their own codes
    (``confide.realtime.endpoints``). :meth:`serve` names the client for the audit ledger, as
    :class:`ClientAddressMiddleware` does, and gives the endpoint to await, if it takes the
    scope; the application calls it first thing (``confide.api.app.ConfideApp``).

    ``routes``: path -> endpoint taking a Starlette ``WebSocket``; ``app_ref``: the application
    whose ``state`` the endpoints read (``websocket.app``).
    """

    def __init__(
        self,
        routes: Mapping[str, Callable[[WebSocket], Awaitable[None]]],
        app_ref: object,
    ) -> None:
        self.routes = dict(routes)
        self.app_ref = app_ref

    def serve(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None] | None:
        """The socket's endpoint, ready to await, if ``scope`` is one of the sockets; else
        ``None``. Not a coroutine itself: one frame fewer held for each socket's life."""
        endpoint = self.routes.get(scope["path"]) if scope["type"] == "websocket" else None
        if endpoint is None:
            return None
        client = scope.get("client")
        set_client_address(client[0] if client else "unknown")
        scope["app"] = self.app_ref
        return endpoint(WebSocket(scope, receive, send))


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                if scope["path"].startswith("/api/") and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413 before they reach a handler or fill memory.

    Paths matching ``upload_paths`` (the attachment uploads, which stream their body and apply
    the workspace's own limit) may send up to ``upload_max_bytes`` instead. The widget's CORS
    middleware sits outside this one, so a widget route's 413 carries its CORS headers."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        upload_paths: re.Pattern[str] | None = None,
        upload_max_bytes: int = 0,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_paths = upload_paths
        self.upload_max_bytes = upload_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.max_bytes
        if self.upload_paths is not None and self.upload_paths.match(scope["path"]):
            max_bytes = max(max_bytes, self.upload_max_bytes)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await _send_413(send, max_bytes)
                    return
        received = 0
        overflow = False

        async def limited_receive() -> Message:
            nonlocal received, overflow
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    overflow = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            # Once the body overflowed, whatever the app answers is replaced by one 413.
            if not overflow:
                await send(message)

        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if overflow:
            await _send_413(send, max_bytes)


def _size_text(size_bytes: int) -> str:
    if size_bytes >= 1024 * 1024:
        return f"{size_bytes / (1024 * 1024):.0f} MB"
    return f"{size_bytes / 1024:.0f} KB" if size_bytes >= 1024 else f"{size_bytes} bytes"


async def _send_413(send: Send, max_bytes: int) -> None:
    # The limit is named: "send less" alone left a visitor guessing how much less.
    refused = PayloadTooLarge(
        f"The request body is too large: the limit here is {_size_text(max_bytes)}."
    )
    body = json.dumps(refused.to_body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
