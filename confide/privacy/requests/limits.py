"""Processing limits in force for a subject: a restriction (GDPR Art. 18) stops everything but
storage, an objection (Art. 21) one named processing. Modules that process ask here before
they do. What each processing means and who stops it:

- ``engagement_rules``: proactive greetings and the page-view and time-on-site counts they
  need. The widget learns the person's objections (``GET /widget/consent``) and neither counts
  nor greets; a new conversation drops those counts (:data:`ENGAGEMENT_CONTEXT`).
- ``surveys``: the satisfaction survey after a chat. The widget does not ask, and a rating is
  refused (``confide.chat.messages.do_rate``).
- ``enrichment``: attributes the company adds about the person (``confide.chat.attributes``):
  setting one is refused, and carrying out the objection deletes those already held (GDPR
  Art. 17(1)(c): erasure once the person objects and no overriding ground is given).

A restriction (``all``) stops all three and hides the person's conversations
(``conversations.restricted``). Written by ``confide.privacy.requests.acts``."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.chat.models import Visitor
from confide.privacy.requests.models import ProcessingLimit

if TYPE_CHECKING:
    from confide.runtime import Runtime

PROCESSING = ("engagement_rules", "enrichment", "surveys")
# What engagement rules gather in the browser and the widget sends with a new conversation
# (``VisitorContext``): dropped for a person who objected to engagement rules.
ENGAGEMENT_CONTEXT = frozenset({"page_views", "seconds_on_site", "rule"})


async def objects_to(session: AsyncSession, subject_id: uuid.UUID, processing: str) -> bool:
    """Whether the subject objected to ``processing`` (one of :data:`PROCESSING`) or
    restricted all processing, and has not lifted it."""
    # ix_dsr_processing_limits_subject_id
    found = await session.scalar(
        select(ProcessingLimit.id)
        .where(
            ProcessingLimit.subject_id == subject_id,
            ProcessingLimit.lifted_at.is_(None),
            ProcessingLimit.processing.in_((processing, "all")),
        )
        .limit(1)
    )
    return found is not None


async def objections_of(session: AsyncSession, subject_id: uuid.UUID) -> list[str]:
    """The processings of :data:`PROCESSING` the subject has stopped and not lifted, sorted:
    each one objected to (Art. 21), or all of them under a restriction (Art. 18)."""
    # ix_dsr_processing_limits_subject_id
    rows = await session.scalars(
        select(ProcessingLimit.processing).where(
            ProcessingLimit.subject_id == subject_id, ProcessingLimit.lifted_at.is_(None)
        )
    )
    stopped = set(rows.all())
    return list(PROCESSING) if "all" in stopped else sorted(stopped & set(PROCESSING))


async def visitor_objections(rt: Runtime, visitor_id: uuid.UUID) -> list[str]:
    """:func:`objections_of` the visitor's subject, for the widget (``GET /widget/consent``):
    what it must neither gather nor show. An unknown visitor has none."""
    async with rt.db.session() as session:
        subject_id = await session.scalar(
            select(Visitor.subject_id).where(Visitor.id == visitor_id)
        )
        return [] if subject_id is None else await objections_of(session, subject_id)


async def is_restricted(session: AsyncSession, subject_id: uuid.UUID) -> bool:
    """Whether the subject's processing is restricted (Art. 18) right now."""
    return await objects_to(session, subject_id, "all")
