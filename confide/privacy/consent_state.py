"""Where a visitor stands on each consent purpose, as operators see it, and what their "no" to
``chat`` stops on the operators' side.

Why apart from ``confide.privacy.consent``: that module keeps the ledger and the visitor's own
checks (``require``: nothing of theirs is stored without a current grant). This one reads the
same ledger for the other side of a conversation. When the workspace requires consent and the
visitor's latest ``chat`` decision withdraws or refuses it (GDPR Art. 7(3)), nothing new is
stored in their conversations by anyone: an operator's reply or file is refused with
``consent_withdrawn`` (409), as the visitor's own send is refused, until they consent again.
A visitor who never decided (a chat from before consent was required, another channel) or whose
grant was of a replaced text is not stopped here: they said no to nothing, and their own next
message asks them again.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.core.errors import ConsentWithdrawn
from confide.privacy.consent import has_grant
from confide.privacy.consent_requests import PURPOSES
from confide.privacy.models import ConsentRecord

if TYPE_CHECKING:
    from confide.runtime import Runtime

# What the console's badge says of a purpose: a grant of the active text, an express no, or
# nothing that counts (never asked, or a grant of a text replaced since).
STATES = ("granted", "withdrawn", "refused", "not granted")


async def latest_decision(
    session: AsyncSession, workspace_id: uuid.UUID, visitor_id: uuid.UUID, purpose: str
) -> str | None:
    """The visitor's latest decision on ``purpose`` in this workspace, whatever its version."""
    # ix_consent_records_current
    row = (
        await session.execute(
            select(ConsentRecord.decision, ConsentRecord.workspace_id)
            .where(ConsentRecord.visitor_id == visitor_id, ConsentRecord.purpose == purpose)
            .order_by(ConsentRecord.decided_at.desc())
            .limit(1)
        )
    ).first()
    return row.decision if row is not None and row.workspace_id == workspace_id else None


async def refuse_if_withdrawn(
    session: AsyncSession, workspace_id: uuid.UUID, visitor_id: uuid.UUID
) -> None:
    """Raise :class:`ConsentWithdrawn` when the visitor's latest ``chat`` decision is a no.
    The caller checks ``consent_required`` first (the visitor's path does the same)."""
    if await latest_decision(session, workspace_id, visitor_id, "chat") in ("withdrawn", "refused"):
        raise ConsentWithdrawn(field="chat")


async def visitor_states(
    rt: Runtime, workspace_id: uuid.UUID, visitor_id: uuid.UUID
) -> dict[str, str]:
    """Each purpose's state (one of :data:`STATES`) for the console's visitor pane."""
    states: dict[str, str] = {}
    async with rt.db.session() as session:
        for purpose in PURPOSES:
            if await has_grant(session, workspace_id, visitor_id, purpose):
                states[purpose] = "granted"
                continue
            latest = await latest_decision(session, workspace_id, visitor_id, purpose)
            states[purpose] = latest if latest in ("withdrawn", "refused") else "not granted"
    return states
