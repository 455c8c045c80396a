"""Cross-origin access for the widget's endpoints, and for nothing else.

The widget runs on the customer's site and calls ``/api/v1/widget/*`` on Confide with its
visitor token in ``Authorization`` (never cookies), so those answers carry
``Access-Control-Allow-Origin: <that origin>`` (no credentials, never ``*``) when the
workspace's ``allowed_origins`` admit it (an empty list admits any). Every other route stays
same-origin: the console's cookies must never be usable from another site.

The workspace is known from the path (``/widget/{workspace}/...``) or from the visitor token;
a request from an origin the workspace does not admit is refused with 403 before it reaches a
handler, so a forbidden site can neither read answers nor cause writes. A preflight carries no
token: for token-addressed paths it is answered for any origin and the real request is judged.
When the workspace cannot be told (unknown slug, bad token) the origin is allowed so the widget
can read the 401/404 and recover; such answers hold nothing.
"""

from __future__ import annotations

import json
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from confide.access.workspaces import find_workspace_by_slug
from confide.chat import widget_settings
from confide.core.errors import ConfideError, Forbidden
from confide.runtime import Runtime

WIDGET_PREFIX = "/api/v1/widget/"
# Paths whose second segment is a workspace slug rather than a resource of the visitor.
_SLUG_PATH = re.compile(r"^/api/v1/widget/([a-z0-9-]{1,64})/(config|visitors)$")
PREFLIGHT_MAX_AGE_SECONDS = 600
ALLOW_METHODS = b"GET, POST, OPTIONS"
ALLOW_HEADERS = b"authorization, content-type, x-confide-filename"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def is_same_origin(origin: str, host: str | None) -> bool:
    return host is not None and origin.split("://", 1)[-1].lower() == host.lower()


class WidgetCorsMiddleware:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.rt = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _header(scope, b"origin") if scope["type"] == "http" else None
        if (
            origin is None
            or not scope["path"].startswith(WIDGET_PREFIX)
            or is_same_origin(origin, _header(scope, b"host"))
        ):
            await self.app(scope, receive, send)
            return
        preflight = scope["method"] == "OPTIONS"
        workspace_id = await self._workspace_of(scope, with_token=not preflight)
        if workspace_id is not None:
            allowed = await widget_settings.allowed_origins_of(self.rt, workspace_id)
            if not widget_settings.origin_allowed(allowed, origin):
                await _refuse(send)
                return
        cors = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"vary", b"Origin"),
        ]
        if preflight:
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        *cors,
                        (b"access-control-allow-methods", ALLOW_METHODS),
                        (b"access-control-allow-headers", ALLOW_HEADERS),
                        (b"access-control-max-age", str(PREFLIGHT_MAX_AGE_SECONDS).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *cors]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _workspace_of(self, scope: Scope, *, with_token: bool) -> uuid.UUID | None:
        match = _SLUG_PATH.match(scope["path"])
        if match:
            workspace = await find_workspace_by_slug(self.rt, match.group(1))
            return workspace.id if workspace is not None else None
        if not with_token:
            return None
        scheme, _, token = (_header(scope, b"authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            _visitor_id, workspace_id = self.rt.tokens.read_visitor_token(token.strip())
        except ConfideError:
            return None
        return workspace_id


async def _refuse(send: Send) -> None:
    error = Forbidden(
        "This site may not embed the workspace's widget; an admin can add its origin to the "
        "widget's allowed_origins.",
        field="origin",
    )
    await send(
        {
            "type": "http.response.start",
            "status": error.status_code,
            "headers": [(b"content-type", b"application/json"), (b"vary", b"Origin")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(error.to_body()).encode()})
