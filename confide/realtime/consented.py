"""Frames that reveal more of the visitor, each behind its consent (``confide.privacy.consent``).

Why apart from ``sockets``: these rules change with the consent policy, the socket loop with the
delivery contract. Every check reads the database, so a withdrawal takes effect on the very next
frame on every node. A visitor's typing preview is also redacted like a message.
"""

from __future__ import annotations

import uuid
from typing import Any

from confide.access.policy import Principal
from confide.chat import conversations
from confide.core.errors import ConsentRequired, ValidationFailed
from confide.privacy import consent, redaction
from confide.privacy import settings as privacy_settings
from confide.realtime.fanout.channels import conversation_channel
from confide.runtime import Runtime

PREVIEW_MAX_CHARS = 1000
MIRROR_URL_MAX_CHARS = 2000
MIRROR_TITLE_MAX_CHARS = 300
COBROWSE_ACTION_MAX_CHARS = 32


class ConsentedFrames:
    """Handlers mixed into ``SocketSession``: typing preview, page mirroring, co-browsing."""

    rt: Runtime
    principal: Principal

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
            privacy = await privacy_settings.load(session, self.principal.workspace_id)
        return redaction.redact(redaction.RedactionPolicy.of(privacy), text).text

    async def _require_visitor_grant(self, conversation_id: uuid.UUID, purpose: str) -> None:
        """Raise ``ConsentRequired`` unless the conversation's visitor grants ``purpose``."""
        async with self.rt.db.session() as session:
            conversation = await conversations.load_for(session, self.principal, conversation_id)
            if not await consent.has_grant(
                session, conversation.workspace_id, conversation.visitor_id, purpose
            ):
                raise ConsentRequired(field=purpose)

    async def do_mirror(self, frame: dict[str, Any]) -> None:
        if self.is_console:
            raise ValidationFailed("Only the widget mirrors its page.", field="type")
        conversation_id = await self._subscribed(frame)
        url, title = frame.get("url"), frame.get("title", "")
        if not isinstance(url, str) or not url or len(url) > MIRROR_URL_MAX_CHARS:
            raise ValidationFailed("url must be a string of at most 2000 characters.", field="url")
        if not isinstance(title, str) or len(title) > MIRROR_TITLE_MAX_CHARS:
            raise ValidationFailed(
                "title must be a string of at most 300 characters.", field="title"
            )
        await self._require_visitor_grant(conversation_id, "mirroring")
        await self.rt.broker.publish(
            conversation_channel(conversation_id),
            {
                "type": "mirror",
                "conversation_id": str(conversation_id),
                "author": self._author(),
                "url": url,
                "title": title,
            },
        )

    async def do_cobrowse(self, frame: dict[str, Any]) -> None:
        conversation_id = await self._subscribed(frame)
        action, data = frame.get("action"), frame.get("data", {})
        if not isinstance(action, str) or not 0 < len(action) <= COBROWSE_ACTION_MAX_CHARS:
            raise ValidationFailed("action must be a short string.", field="action")
        if not isinstance(data, dict):
            raise ValidationFailed("data must be an object.", field="data")
        await self._require_visitor_grant(conversation_id, "cobrowsing")
        await self.rt.broker.publish(
            conversation_channel(conversation_id),
            {
                "type": "cobrowse",
                "conversation_id": str(conversation_id),
                "author": self._author(),
                "action": action,
                "data": data,
            },
        )

    async def do_cobrowse_end(self, frame: dict[str, Any]) -> None:
        conversation_id = await self._subscribed(frame)
        await self.rt.broker.publish(
            conversation_channel(conversation_id),
            {
                "type": "cobrowse_end",
                "conversation_id": str(conversation_id),
                "author": self._author(),
            },
        )
