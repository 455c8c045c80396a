"""Bulk delete by filter: the conversations an admin names by date range, channel, group,
visitor or label go through the same end of life as retention (statistics row kept, rows and
keys destroyed by the erasure engine, a visitor left with nothing erased, legal holds skipped
and reported), in bounded batches of one transaction each. A dry run counts and changes
nothing. Each batch appends ``conversations.bulk_delete`` to the workspace's chain.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from confide.access.policy import Action, Principal, authorize, ensure_same_workspace
from confide.audit.ledger import Actor, append
from confide.chat.models import Channel, Conversation, ConversationLabel
from confide.core.errors import ValidationFailed
from confide.privacy.key_cache import KeyPurge
from confide.privacy.retention.batches import next_batch
from confide.privacy.retention.end_of_life import (
    destroy_conversations,
    freed_visitors,
    held_of,
    held_rule,
)

if TYPE_CHECKING:
    from confide.runtime import Runtime

BULK_BATCH_SIZE = 200


@dataclass(frozen=True)
class BulkFilter:
    """Which conversations: all given conditions hold (``since``/``until`` on the start)."""

    since: datetime | None = None
    until: datetime | None = None
    channel: Channel | None = None
    group_id: uuid.UUID | None = None
    visitor_id: uuid.UUID | None = None
    label_id: uuid.UUID | None = None

    def where(self, workspace_id: uuid.UUID) -> list[Any]:
        if self.since and self.until and self.since > self.until:
            raise ValidationFailed("'since' is after 'until'.", field="since")
        rule: list[Any] = [Conversation.workspace_id == workspace_id]
        if self.since is not None:
            rule.append(Conversation.created_at >= self.since)
        if self.until is not None:
            rule.append(Conversation.created_at < self.until)
        if self.channel is not None:
            rule.append(Conversation.channel == self.channel)
        if self.group_id is not None:
            rule.append(Conversation.group_id == self.group_id)
        if self.visitor_id is not None:
            rule.append(Conversation.visitor_id == self.visitor_id)
        if self.label_id is not None:
            rule.append(
                select(ConversationLabel.conversation_id)
                .where(
                    ConversationLabel.conversation_id == Conversation.id,
                    ConversationLabel.label_id == self.label_id,
                )
                .exists()
            )
        return rule


@dataclass
class BulkDeleteReport:
    matched: int = 0
    destroyed: int = 0
    held: int = 0
    visitors_erased: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def do_bulk_delete(
    rt: Runtime,
    actor: Principal | None,
    workspace_id: uuid.UUID,
    where: BulkFilter,
    *,
    dry_run: bool = False,
    batch_size: int = BULK_BATCH_SIZE,
) -> BulkDeleteReport:
    """Destroy (or, with ``dry_run``, count) the workspace's conversations matching ``where``.
    ``actor``: an admin of the workspace (``None``: the command line). Raises ``Forbidden``
    (403) for anyone else, ``ValidationFailed`` (422) for an empty or inverted filter."""
    if actor is not None:
        authorize(actor, Action.SUBJECTS_ERASE)
        ensure_same_workspace(actor, workspace_id)
    if where == BulkFilter():
        raise ValidationFailed(
            "Give at least one condition (dates, channel, group, visitor or label).",
            field="filter",
        )
    rule = where.where(workspace_id)
    report = BulkDeleteReport(dry_run=dry_run)
    if dry_run:
        async with rt.db.session() as session:
            held = await held_rule(session, workspace_id)
            report.matched = await session.scalar(select(func.count()).where(*rule)) or 0
            report.held = await session.scalar(select(func.count()).where(*rule, held)) or 0
            counted = await freed_visitors(session, workspace_id, and_(*rule) & ~held)
            report.visitors_erased = sum(counted.values())
        await _record(rt, actor, workspace_id, report)
        return report
    after: uuid.UUID | None = None
    purge = KeyPurge(rt)
    try:
        while True:
            async with rt.db.transaction() as tx:
                ids = await next_batch(tx, *rule, after=after, limit=batch_size)
                if not ids:
                    break
                after = ids[-1]
                held = await held_of(tx, ids)
                todo = [cid for cid in ids if cid not in held]
                done = await destroy_conversations(
                    rt, tx, workspace_id, todo, kind="bulk_delete", purge=purge
                )
                freed = done.visitors_erased
                await append(
                    tx,
                    rt,
                    actor if actor is not None else Actor("system", None, workspace_id),
                    "conversations.bulk_delete",
                    subjects=freed,
                    resource=f"workspace:{workspace_id}",
                    details={
                        "dry_run": False,
                        "conversations": len(todo),
                        "held": len(held),
                        "visitors_erased": len(freed),
                    },
                )
                report.matched += len(ids)
                report.destroyed += len(todo)
                report.held += len(held)
                report.visitors_erased += len(freed)
    finally:
        await purge.flush()
    if report.matched == 0:  # nothing matched: the request is still on record
        await _record(rt, actor, workspace_id, report)
    return report


async def _record(
    rt: Runtime, actor: Principal | None, workspace_id: uuid.UUID, report: BulkDeleteReport
) -> None:
    async with rt.db.transaction() as tx:
        await append(
            tx,
            rt,
            actor if actor is not None else Actor("system", None, workspace_id),
            "conversations.bulk_delete",
            resource=f"workspace:{workspace_id}",
            details={
                "dry_run": report.dry_run,
                "conversations": report.destroyed if not report.dry_run else report.matched,
                "held": report.held,
                "visitors_erased": report.visitors_erased,
            },
        )
