"""Values sealed under a conversation's data key that live outside the vault's tables: a
provider's thread id, operators' internal notes, the visitor context a chat started with.

Why a module of their own: unlike the rest of the vault they touch none of its tables (each is
kept in a column of ``conversations`` or ``conversation_notes``) and need only the
conversation's key, so erasing that key makes every copy unreadable, backups included.
``confide.privacy.vault.Vault`` mixes these methods in: callers still ask ``rt.vault``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from confide.core.errors import KeyUnavailable
from confide.core.secrets import InstanceSecret
from confide.crypto.keyring import Keyring


def _context_aad(conversation_id: uuid.UUID) -> str:
    return f"conversations:{conversation_id}:visitor_context"


def _thread_aad(conversation_id: uuid.UUID) -> str:
    return f"conversations:{conversation_id}:external_thread"


class ConversationSeals:
    """Methods of ``Vault`` for values sealed under a conversation's key."""

    _secret: InstanceSecret
    _keyring: Keyring

    # -- external threads ---------------------------------------------------------------
    # A provider's thread id is personal data (for SMS it is the visitor's phone number). It
    # is found again through a keyed hash (lookup and uniqueness per workspace and channel) and
    # kept, for replies, sealed under the conversation's data key: erasing the conversation's
    # key makes the copy unreadable, and the hash alone does not give the number back.

    def thread_index(self, workspace_id: uuid.UUID, channel: str, thread_id: str) -> str:
        return self._secret.keyed_hash(f"thread-index:{workspace_id}:{channel}", thread_id)

    async def seal_thread(
        self, workspace_id: uuid.UUID, conversation_id: uuid.UUID, thread_id: str
    ) -> str:
        return await self._keyring.encrypt(
            workspace_id, conversation_id, thread_id, _thread_aad(conversation_id)
        )

    async def open_thread(
        self, workspace_id: uuid.UUID, conversation_id: uuid.UUID, sealed: str
    ) -> str | None:
        """The thread id, or ``None`` once the conversation's key was destroyed."""
        try:
            return await self._keyring.decrypt(
                workspace_id, conversation_id, sealed, _thread_aad(conversation_id)
            )
        except KeyUnavailable:
            return None

    # -- internal notes -----------------------------------------------------------------
    # Operators' notes about a conversation are personal data about its visitor: sealed under
    # the conversation's data key like its messages, bound to the note's id.

    async def seal_note(
        self, workspace_id: uuid.UUID, conversation_id: uuid.UUID, note_id: uuid.UUID, body: str
    ) -> str:
        return await self._keyring.encrypt(workspace_id, conversation_id, body, f"note:{note_id}")

    async def open_note(
        self, workspace_id: uuid.UUID, conversation_id: uuid.UUID, note_id: uuid.UUID, sealed: str
    ) -> str | None:
        """The note's text, or ``None`` once the conversation's key was destroyed."""
        try:
            return await self._keyring.decrypt(
                workspace_id, conversation_id, sealed, f"note:{note_id}"
            )
        except KeyUnavailable:
            return None

    # -- visitor context -----------------------------------------------------------------
    # What the widget knew when the chat started (path, language, page views) says where a
    # person was and when: sealed under the conversation's key, so it goes with the
    # conversation's erasure and every copy becomes unreadable.

    async def seal_context(
        self, workspace_id: uuid.UUID, conversation_id: uuid.UUID, context: Mapping[str, Any]
    ) -> dict[str, object]:
        """``{"sealed": token}``: the context as canonical JSON, encrypted."""
        plaintext = json.dumps(dict(context), sort_keys=True, separators=(",", ":"))
        token = await self._keyring.encrypt(
            workspace_id, conversation_id, plaintext, _context_aad(conversation_id)
        )
        return {"sealed": token}

    async def open_context(
        self, workspace_id: uuid.UUID, conversation_id: uuid.UUID, stored: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        """The context, or ``None`` when there is none or its key was destroyed."""
        token = (stored or {}).get("sealed")
        if not isinstance(token, str):
            return None
        try:
            plaintext = await self._keyring.decrypt(
                workspace_id, conversation_id, token, _context_aad(conversation_id)
            )
        except KeyUnavailable:
            return None
        opened: dict[str, Any] = json.loads(plaintext)
        return opened
