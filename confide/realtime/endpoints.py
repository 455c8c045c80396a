"""The WebSocket endpoints: who may open a widget or console socket, then the session.

The handshake is decided before ``accept()``: refusing by closing first answers the upgrade
with HTTP 403, so nothing of the protocol (``confide.realtime.sockets``) is spoken to a caller
without a valid token, or to a site the workspace does not admit. Console sockets may carry
the cookie session; browsers send cookies on cross-site WebSocket handshakes, so the Origin
must be Confide's own. Widget sockets carry the visitor token; the workspace's
``allowed_origins`` decide which sites may embed the widget.

A credential never travels in the URL: servers, proxies and browsers log URLs, and a visitor
token copied from a log reads the whole conversation. A browser cannot set headers on a
WebSocket, so it offers two subprotocols, ``confide.v1`` and ``confide.token.<token>``
(``Sec-WebSocket-Protocol``, RFC 6455 section 4.1), and the server answers with ``confide.v1``;
other clients may send ``Authorization: Bearer <token>`` instead. A handshake with a credential
in its query string (``?token=``, ``?access_token=``) is refused, so no client keeps doing it.

When the database is unreachable during the handshake the upgrade is answered with HTTP 503,
``Retry-After`` and the JSON error body (ASGI's WebSocket denial response), or, on a server
without that extension, accepted just to send an error frame and close with 1013.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from fastapi.responses import JSONResponse
from starlette.websockets import WebSocket

from confide.access import auth
from confide.access.policy import Principal
from confide.api.cors import is_same_origin
from confide.api.deps import ACCESS_COOKIE, workspace_hint
from confide.chat import widget_settings
from confide.chat.visitors import authenticate_visitor_token
from confide.core import outages
from confide.core.errors import InvalidToken, SocketClosed
from confide.privacy import connections
from confide.realtime import failures
from confide.realtime.socket_access import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
    require_chat_room,
)
from confide.realtime.sockets import SocketSession
from confide.runtime import Runtime

SUBPROTOCOL = "confide.v1"
TOKEN_SUBPROTOCOL_PREFIX = "confide.token."
_URL_CREDENTIALS = ("token", "access_token")


def handshake_token(websocket: WebSocket) -> str | None:
    """The credential of a handshake: a ``confide.token.<token>`` subprotocol, or an
    ``Authorization: Bearer`` header. Raises ``SocketClosed`` if one is in the URL."""
    if any(name in websocket.query_params for name in _URL_CREDENTIALS):
        raise SocketClosed(
            CLOSE_UNAUTHENTICATED,
            "send the token as a Sec-WebSocket-Protocol (confide.token.<token>), not in the URL",
        )
    for offered in websocket.scope.get("subprotocols") or ():
        if offered.startswith(TOKEN_SUBPROTOCOL_PREFIX) and len(offered) > len(
            TOKEN_SUBPROTOCOL_PREFIX
        ):
            return str(offered[len(TOKEN_SUBPROTOCOL_PREFIX) :])
    scheme, _, token = (websocket.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def _console_principal(websocket: WebSocket, rt: Runtime) -> Principal:
    token = handshake_token(websocket)
    if not token:
        token = websocket.cookies.get(ACCESS_COOKIE)
        origin = websocket.headers.get("origin")
        host = websocket.headers.get("host")
        # Cookies ride along with cross-site WebSocket handshakes: check where it comes from.
        if origin is not None and host is not None and origin.split("://", 1)[-1] != host:
            raise SocketClosed(CLOSE_FORBIDDEN, "cross-origin console socket")
    if not token:
        raise SocketClosed(CLOSE_UNAUTHENTICATED, "sign in first")
    try:
        principal = await auth.authenticate_access_token(
            rt, token, workspace_hint(websocket.query_params.get("workspace"))
        )
    except InvalidToken as exc:
        raise SocketClosed(CLOSE_UNAUTHENTICATED, "invalid token") from exc
    return require_chat_room(principal)


async def _widget_principal(websocket: WebSocket, rt: Runtime) -> Principal:
    token = handshake_token(websocket)
    if not token:
        raise SocketClosed(CLOSE_UNAUTHENTICATED, "visitor token missing")
    try:
        principal = await authenticate_visitor_token(rt, token)
    except InvalidToken as exc:
        raise SocketClosed(CLOSE_UNAUTHENTICATED, "invalid visitor token") from exc
    # Browsers send Origin on every WebSocket handshake and let any site open one: the
    # workspace's allowed_origins decide which sites may embed its widget.
    origin = websocket.headers.get("origin")
    if origin is not None and not is_same_origin(origin, websocket.headers.get("host")):
        assert principal.workspace_id is not None
        allowed = await widget_settings.allowed_origins_of(rt, principal.workspace_id)
        if not widget_settings.origin_allowed(allowed, origin):
            raise SocketClosed(CLOSE_FORBIDDEN, "origin not allowed")
    return principal


async def _admit(websocket: WebSocket, rt: Runtime, console: bool) -> Principal:
    principal = await (_console_principal if console else _widget_principal)(websocket, rt)
    assert principal.workspace_id is not None
    await connections.record_connection(
        rt,
        workspace_id=principal.workspace_id,
        kind="console_socket" if console else "widget_socket",
        ip=websocket.client.host if websocket.client else None,
        user_agent=websocket.headers.get("user-agent"),
        visitor_id=principal.visitor_id,
        operator_id=principal.operator_id,
    )
    return principal


async def _refuse_for_outage(websocket: WebSocket, exc: Exception) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        error = outages.unavailable()
        response = JSONResponse(error.to_body(), status_code=503, headers=error.headers)
        await websocket.send_denial_response(response)
        return
    await failures.close_after_failure(websocket, exc)


async def _serve(websocket: WebSocket, console: bool) -> None:
    rt: Runtime = websocket.app.state.runtime
    try:
        principal = await _admit(websocket, rt, console)
    except SocketClosed as closed:
        # Close before accepting: the handshake is refused with an HTTP 403.
        await websocket.close(code=closed.code, reason=closed.reason)
        return
    except Exception as exc:
        if not outages.is_outage(exc):
            raise
        await _refuse_for_outage(websocket, exc)
        return
    await rt.broker.start()
    offered = websocket.scope.get("subprotocols") or ()
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    await SocketSession(rt, websocket, principal).run()


# Plain functions that hand back ``_serve``'s coroutine: no frame of their own held for the
# socket's life (docs/performance.md, idle socket memory).
def console_socket(websocket: WebSocket) -> Coroutine[Any, Any, None]:
    return _serve(websocket, console=True)


def widget_socket(websocket: WebSocket) -> Coroutine[Any, Any, None]:
    return _serve(websocket, console=False)
