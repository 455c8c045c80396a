"""How a WebSocket ends when it cannot go on: an error frame, then a close code, never silence.

A client that sees a socket drop without a close frame (1006) cannot tell a crash from a
network blip. So: an outage of the database or Redis (``confide.core.outages``) sends
``{"type": "error", "code": "service_unavailable"}`` and closes with 1013 "try again later";
anything else sends ``internal_error`` and closes with 1011 (RFC 6455 §7.4.1; 1013 is in the
IANA WebSocket close code registry). Clients reconnect and resume from their last sequence.
"""

from __future__ import annotations

import contextlib
import json
import logging

from starlette.websockets import WebSocket, WebSocketState

from confide.core import outages
from confide.core.errors import ConfideError

CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013
log = logging.getLogger("confide.realtime")


async def close_after_failure(ws: WebSocket, exc: BaseException) -> None:
    """Tell the client why, then close with 1013 (outage) or 1011 (anything else).

    Logs the exception type only (messages can carry personal data). Never raises: the peer
    may be gone already.
    """
    outage = outages.is_outage(exc)
    if outage:
        log.warning("socket closed by an outage: %s", type(exc).__name__)
    else:
        log.error("socket failed: %s", type(exc).__name__)
    error = outages.unavailable() if outage else ConfideError()
    code = CLOSE_TRY_AGAIN_LATER if outage else CLOSE_INTERNAL_ERROR
    with contextlib.suppress(Exception):
        if ws.client_state is WebSocketState.CONNECTING:
            await ws.accept()  # the server cannot answer 503: speak just enough to say why
        if ws.client_state is not WebSocketState.CONNECTED:
            return
        frame = {"type": "error", **error.to_body()["error"], "client_id": None}
        await ws.send_text(json.dumps(frame, separators=(",", ":")))
        await ws.close(code=code, reason=error.code)
