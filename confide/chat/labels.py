"""Labels: a workspace's vocabulary for conversations, set by the operators who work them and
used to filter the inbox.

Admins define and delete labels (``WORKSPACE_SETTINGS``); any operator who may work a
conversation (``load_for``) sets its labels. Labels are ids and short names, not personal data.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, select

from confide.access import policy
from confide.access.policy import Action, Principal
from confide.audit import ledger
from confide.chat import events
from confide.chat.conversations import load_for
from confide.chat.models import ConversationLabel, Label
from confide.core.clock import utcnow
from confide.core.errors import Conflict, NotFound, ValidationFailed
from confide.runtime import Runtime

MAX_LABELS = 200
MAX_NAME_CHARS = 40


def _render(label: Label) -> dict[str, str]:
    return {"id": str(label.id), "name": label.name}


async def list_labels(rt: Runtime, principal: Principal) -> list[dict[str, str]]:
    """The workspace's labels, by name."""
    policy.authorize(principal, Action.WORKSPACE_READ)
    async with rt.db.session() as session:
        # uq_labels_workspace_name
        rows = (
            await session.scalars(
                select(Label)
                .where(Label.workspace_id == principal.workspace_id)
                .order_by(Label.name)
            )
        ).all()
    return [_render(r) for r in rows]


async def do_create_label(rt: Runtime, principal: Principal, name: str) -> dict[str, str]:
    """Raises ValidationFailed (``name``: empty, too long), Conflict (taken, or too many)."""
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME_CHARS:
        raise ValidationFailed(f"Name the label in 1-{MAX_NAME_CHARS} characters.", field="name")
    assert principal.workspace_id is not None
    async with rt.db.transaction() as session:
        existing = (
            await session.scalars(select(Label).where(Label.workspace_id == principal.workspace_id))
        ).all()
        if any(label.name.casefold() == name.casefold() for label in existing):
            raise Conflict(f"There is already a label named {name!r}.", field="name")
        if len(existing) >= MAX_LABELS:
            raise Conflict(f"A workspace has at most {MAX_LABELS} labels.", field="name")
        label = Label(workspace_id=principal.workspace_id, name=name, created_at=utcnow())
        session.add(label)
        await session.flush()
        await ledger.append(
            session,
            rt,
            principal,
            "label.create",
            resource=f"label:{label.id}",
            details={"name": name},
        )
        return _render(label)


async def do_delete_label(rt: Runtime, principal: Principal, label_id: uuid.UUID) -> None:
    """Delete a label; conversations lose it (cascade)."""
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    async with rt.db.transaction() as session:
        label = await session.get(Label, label_id)
        if label is None or label.workspace_id != principal.workspace_id:
            raise NotFound()
        await ledger.append(
            session,
            rt,
            principal,
            "label.delete",
            resource=f"label:{label.id}",
            details={"name": label.name},
        )
        await session.delete(label)


async def do_set_labels(
    rt: Runtime, principal: Principal, conversation_id: uuid.UUID, label_ids: Collection[uuid.UUID]
) -> list[dict[str, str]]:
    """Replace the conversation's labels with ``label_ids`` (labels of its workspace).

    Raises NotFound (the conversation is not the caller's to work), ValidationFailed
    (``label_ids``: a label of no such id in the workspace)."""
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    wanted = set(label_ids)
    async with rt.db.transaction() as session:
        conversation = await load_for(session, principal, conversation_id, lock=True)
        labels = (
            await session.scalars(
                select(Label).where(
                    Label.workspace_id == conversation.workspace_id, Label.id.in_(wanted)
                )
            )
        ).all()
        if len(labels) != len(wanted):
            raise ValidationFailed("Choose labels of this workspace.", field="label_ids")
        await session.execute(
            delete(ConversationLabel).where(ConversationLabel.conversation_id == conversation.id)
        )
        for label in labels:
            session.add(ConversationLabel(conversation_id=conversation.id, label_id=label.id))
        await session.flush()
        await ledger.append(
            session,
            rt,
            principal,
            "conversation.label",
            resource=f"conversation:{conversation.id}",
            details={"labels": sorted(label.name for label in labels)},
        )
        events.conversation_changed(session, rt.broker, conversation, "labelled")
    return sorted((_render(label) for label in labels), key=lambda item: item["name"])


async def labels_of(
    rt: Runtime, conversation_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, str]]]:
    """``{conversation_id: [label, ...]}`` for conversations the caller has already listed."""
    ids = list(conversation_ids)
    found: dict[uuid.UUID, list[dict[str, str]]] = {cid: [] for cid in ids}
    if not ids:
        return found
    async with rt.db.session() as session:
        rows = await session.execute(
            select(ConversationLabel.conversation_id, Label)
            .join(Label, Label.id == ConversationLabel.label_id)
            .where(ConversationLabel.conversation_id.in_(ids))
            .order_by(Label.name)
        )
        for conversation_id, label in rows.all():
            found[conversation_id].append(_render(label))
    return found


def label_filter(label_id: uuid.UUID) -> Any:
    """A WHERE clause for conversations carrying ``label_id`` (ix_conversation_labels_label_id)."""
    from confide.chat.models import Conversation

    return Conversation.id.in_(
        select(ConversationLabel.conversation_id).where(ConversationLabel.label_id == label_id)
    )
