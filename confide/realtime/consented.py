"""Frames that reveal more of the visitor, each behind its consent (``confide.privacy.consent``).

Why apart from ``sockets``: these rules change with the consent policy, the socket loop with the
delivery contract. Every check reads the database, so a withdrawal takes effect on the very next
frame on every node. A visitor's typing preview is also redacted like a message; mirrored pages
are rebuilt and redacted by ``confide.realtime.mirroring`` and relayed, never stored.

Co-browsing: an agent asks (``cobrowse`` action ``request``, needs no grant: it only makes the
widget show its own consent prompt); the visitor's decision goes to the consent ledger (POST
/api/v1/widget/consent, audited as ``cobrowse.start`` / ``cobrowse.refuse`` /
``cobrowse.stop``); while the ``cobrowsing`` grant stands the agent may ``highlight`` a mirrored
node, ``scroll`` and ``navigate`` to an address on the visitor's own site (checked again when
the event reaches the visitor's socket, against the Origin its page opened it with).
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.websockets import WebSocket

from confide.access.policy import Principal
from confide.chat import conversations
from confide.core.errors import (
    ConsentRequired,
    MirroringDisabled,
    TooManyRequests,
    ValidationFailed,
)
from confide.privacy import consent, redaction
from confide.realtime import mirroring
from confide.realtime.fanout.channels import conversation_channel
from confide.runtime import Runtime

PREVIEW_MAX_CHARS = 1000
# What an agent may do while co-browsing, and the data each action carries.
COBROWSE_ACTIONS = ("request", "highlight", "scroll", "navigate")


class ConsentedFrames:
    """Handlers mixed into ``SocketSession``: typing preview, page mirroring, co-browsing."""

    rt: Runtime
    principal: Principal
    ws: WebSocket

    @property
    def is_console(self) -> bool:
        raise NotImplementedError

    def _author(self) -> dict[str, Any]:
        raise NotImplementedError

    async def _subscribed(self, frame: dict[str, Any]) -> uuid.UUID:
        raise NotImplementedError

    async def _preview(self, text: str) -> str | None:
        """The typed text as agents may see it: None without ``preview`` consent, else redacted
        by the workspace's policy (a card number being typed is not shown either)."""
        assert self.principal.workspace_id and self.principal.visitor_id
        async with self.rt.db.session() as session:
            if not await consent.has_grant(
                session, self.principal.workspace_id, self.principal.visitor_id, "preview"
            ):
                return None
            privacy = await self.rt.privacy_cache.load(session, self.principal.workspace_id)
        return redaction.redact(redaction.RedactionPolicy.of(privacy), text).text

    async def _require_visitor_grant(
        self, conversation_id: uuid.UUID, purpose: str | None
    ) -> redaction.RedactionPolicy:
        """Raise ``MirroringDisabled`` when the workspace turned sharing off, ``ConsentRequired``
        unless the conversation's visitor grants ``purpose`` (None: no grant needed). Returns
        the workspace's redaction policy, read in the same session."""
        async with self.rt.db.session() as session:
            conversation = await conversations.load_for(session, self.principal, conversation_id)
            # The per-process cache is dropped on every node when an admin changes a setting.
            privacy = await self.rt.privacy_cache.load(session, conversation.workspace_id)
            if not privacy.mirroring_enabled:
                raise MirroringDisabled(field="mirroring_enabled")
            if purpose is not None and not await consent.has_grant(
                session, conversation.workspace_id, conversation.visitor_id, purpose
            ):
                raise ConsentRequired(field=purpose)
        return redaction.RedactionPolicy.of(privacy)

    async def _publish(self, conversation_id: uuid.UUID, frame_type: str, **body: Any) -> None:
        await self.rt.broker.publish(
            conversation_channel(conversation_id),
            {
                "type": frame_type,
                "conversation_id": str(conversation_id),
                "author": self._author(),
                **body,
            },
        )

    async def do_mirror(self, frame: dict[str, Any]) -> None:
        if self.is_console:
            raise ValidationFailed("Only the widget mirrors its page.", field="type")
        conversation_id = await self._subscribed(frame)
        wait = await self.rt.limiter.hit(
            f"mirror:{self.principal.visitor_id}", mirroring.MIRROR_FRAMES_PER_MINUTE, 60
        )
        if wait:
            raise TooManyRequests(f"Too many mirror frames; wait {wait} seconds.", field="frame")
        # Consent and the workspace setting are read for every frame: a withdrawal stops the
        # very next one. Then the frame is rebuilt and redacted; nothing of it is stored.
        policy = await self._require_visitor_grant(conversation_id, "mirroring")
        await self._publish(conversation_id, "mirror", **mirroring.clean_frame(policy, frame))

    async def do_mirror_resync(self, frame: dict[str, Any]) -> None:
        """An agent who opens the conversation mid-way asks the widget for a whole snapshot
        (diffs alone mean nothing without one); only while mirroring is granted."""
        if not self.is_console:
            raise ValidationFailed("Only an agent asks for a fresh copy.", field="type")
        conversation_id = await self._subscribed(frame)
        await self._require_visitor_grant(conversation_id, "mirroring")
        await self._publish(conversation_id, "mirror_resync")

    async def do_cobrowse(self, frame: dict[str, Any]) -> None:
        if not self.is_console:
            raise ValidationFailed("Only an agent guides co-browsing.", field="type")
        conversation_id = await self._subscribed(frame)
        action, data = frame.get("action"), frame.get("data", {})
        if action not in COBROWSE_ACTIONS:
            raise ValidationFailed(
                "action is 'request', 'highlight', 'scroll' or 'navigate'.", field="action"
            )
        if not isinstance(data, dict):
            raise ValidationFailed("data must be an object.", field="data")
        # Asking needs no grant (the widget then asks the visitor); acting needs it.
        await self._require_visitor_grant(
            conversation_id, None if action == "request" else "cobrowsing"
        )
        checked = _action_data(action, data)
        await self._publish(conversation_id, "cobrowse", action=action, data=checked)

    async def do_cobrowse_end(self, frame: dict[str, Any]) -> None:
        conversation_id = await self._subscribed(frame)
        await self._publish(conversation_id, "cobrowse_end")

    def _relay_allowed(self, event: dict[str, Any]) -> bool:
        """Whether a relayed event may reach this socket: a navigation reaches a widget only
        to an address on the origin its page opened the socket from (RFC 6454)."""
        if event.get("type") != "cobrowse" or event.get("action") != "navigate":
            return True
        origin = self.ws.headers.get("origin")
        return mirroring.same_origin(event.get("data", {}).get("url"), origin)


def _action_data(action: str, data: dict[str, Any]) -> dict[str, Any]:
    if action == "request":
        return {}
    if action == "highlight":
        node = data.get("node")
        if not isinstance(node, int) or isinstance(node, bool) or not 0 < node < 2**31:
            raise ValidationFailed("data.node must be a mirrored node's id.", field="data.node")
        return {"node": node}
    if action == "scroll":
        return {k: _coordinate(data.get(k, 0), f"data.{k}") for k in ("x", "y")}
    url = data.get("url")
    if not isinstance(url, str) or len(url) > 2000 or not url.startswith(("http://", "https://")):
        raise ValidationFailed("data.url must be an http(s) address.", field="data.url")
    return {"url": url}


def _coordinate(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationFailed(f"{field} must be an integer (pixels).", field=field)
    if not 0 <= value <= mirroring.MAX_COORDINATE:
        raise ValidationFailed(f"{field} is out of range.", field=field)
    return value
