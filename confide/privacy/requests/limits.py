"""Processing limits in force for a subject: a restriction (GDPR Art. 18) stops everything but
storage, an objection (Art. 21) one named processing. Modules that process ask here before
they do (chat marks a restricted person's new conversations ``restricted``; engagement rules,
enrichment and surveys ask :func:`objects_to`). Written by ``confide.privacy.requests.acts``."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.privacy.requests.models import ProcessingLimit

PROCESSING = ("engagement_rules", "enrichment", "surveys")


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


async def is_restricted(session: AsyncSession, subject_id: uuid.UUID) -> bool:
    """Whether the subject's processing is restricted (Art. 18) right now."""
    return await objects_to(session, subject_id, "all")
