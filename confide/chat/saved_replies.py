"""Saved replies: canned answers an operator inserts in the composer with ``/shortcut``.

Workspace-wide replies are managed by admins (``WORKSPACE_SETTINGS``) and offered to every
operator who chats; personal replies belong to one operator and are offered to them only. When
a personal and a workspace-wide reply share a shortcut, the personal one wins in the composer.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import or_, select

from confide.access import policy
from confide.access.policy import Action, Principal
from confide.audit import ledger
from confide.chat.models import SavedReply
from confide.core.clock import utcnow
from confide.core.errors import Conflict, NotFound, ValidationFailed
from confide.runtime import Runtime

SHORTCUT_PATTERN = re.compile(r"^[a-z0-9_-]{1,32}$")
MAX_REPLIES_PER_OWNER = 500


def _render(reply: SavedReply) -> dict[str, Any]:
    return {
        "id": str(reply.id),
        "shortcut": reply.shortcut,
        "body": reply.body,
        "scope": "personal" if reply.owner_operator_id else "workspace",
        "updated_at": reply.updated_at.isoformat(),
    }


def _visible(principal: Principal) -> Any:
    return (SavedReply.workspace_id == principal.workspace_id) & or_(
        SavedReply.owner_operator_id.is_(None),
        SavedReply.owner_operator_id == principal.operator_id,
    )


async def list_saved_replies(rt: Runtime, principal: Principal) -> list[dict[str, Any]]:
    """The workspace's replies and the caller's own, personal first, then by shortcut."""
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    async with rt.db.session() as session:
        # ix_saved_replies_workspace_id
        rows = (await session.scalars(select(SavedReply).where(_visible(principal)))).all()
    ordered = sorted(rows, key=lambda r: (r.owner_operator_id is None, r.shortcut))
    return [_render(r) for r in ordered]


def _check(rt: Runtime, shortcut: str, body: str) -> tuple[str, str]:
    shortcut = shortcut.strip().lstrip("/").lower()
    if not SHORTCUT_PATTERN.match(shortcut):
        raise ValidationFailed(
            "Use 1-32 lowercase letters, digits, hyphens or underscores for the shortcut.",
            field="shortcut",
        )
    body = body.strip()
    if not body:
        raise ValidationFailed("Write the text of the reply.", field="body")
    if len(body) > rt.settings.message_max_chars:
        raise ValidationFailed(
            f"A reply is a message: at most {rt.settings.message_max_chars} characters.",
            field="body",
        )
    return shortcut, body


async def do_create_saved_reply(
    rt: Runtime, principal: Principal, *, shortcut: str, body: str, workspace_wide: bool
) -> dict[str, Any]:
    """Create a reply. ``workspace_wide`` needs ``WORKSPACE_SETTINGS`` (admins).

    Raises :class:`ValidationFailed` (``shortcut``, ``body``), :class:`Conflict` if the
    shortcut is taken in that scope, :class:`Forbidden`."""
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    if workspace_wide:
        policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    shortcut, body = _check(rt, shortcut, body)
    owner = None if workspace_wide else principal.operator_id
    async with rt.db.transaction() as session:
        same_scope = select(SavedReply).where(
            SavedReply.workspace_id == principal.workspace_id,
            SavedReply.owner_operator_id.is_(None)
            if owner is None
            else SavedReply.owner_operator_id == owner,
        )
        existing = (await session.scalars(same_scope)).all()
        if any(r.shortcut == shortcut for r in existing):
            raise Conflict(
                f"The shortcut /{shortcut} is already used; pick another.", field="shortcut"
            )
        if len(existing) >= MAX_REPLIES_PER_OWNER:
            raise Conflict(f"At most {MAX_REPLIES_PER_OWNER} saved replies per owner.")
        assert principal.workspace_id is not None
        now = utcnow()
        reply = SavedReply(
            workspace_id=principal.workspace_id,
            owner_operator_id=owner,
            shortcut=shortcut,
            body=body,
            created_at=now,
            updated_at=now,
        )
        session.add(reply)
        await session.flush()
        await ledger.append(
            session,
            rt,
            principal,
            "saved_reply.create",
            resource=f"saved_reply:{reply.id}",
            details={"shortcut": reply.shortcut, "personal": reply.owner_operator_id is not None},
        )
        return _render(reply)


async def do_delete_saved_reply(rt: Runtime, principal: Principal, reply_id: uuid.UUID) -> None:
    """Delete one's own personal reply, or (admins) a workspace-wide one."""
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    async with rt.db.transaction() as session:
        reply = await session.get(SavedReply, reply_id)
        if reply is None or reply.workspace_id != principal.workspace_id:
            raise NotFound()
        if reply.owner_operator_id is None:
            policy.authorize(principal, Action.WORKSPACE_SETTINGS)
        elif reply.owner_operator_id != principal.operator_id:
            raise NotFound()  # another operator's personal reply: not even its existence
        await ledger.append(
            session,
            rt,
            principal,
            "saved_reply.delete",
            resource=f"saved_reply:{reply.id}",
            details={"shortcut": reply.shortcut},
        )
        await session.delete(reply)
