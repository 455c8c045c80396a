"""Telling a workspace's admins about grants: e-mail after commit, and the list they read.

Why: support access and archive openings are break-glass acts (brief §3, §5); the admins who
are accountable for the workspace's data must learn of each one without having to look, and
be able to see afterwards everything read under it. The list joins each grant to the audit
records its holder made in the workspace's chain while it lived (action, resource, time: no
details), so "what did support read?" is answered from the ledger itself.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from confide.access.grant_models import AccessGrant
from confide.access.models import Operator, OperatorStatus, Role
from confide.audit.models import AuditEvent
from confide.core.clock import utcnow
from confide.core.errors import MailFailed, MailUnavailable
from confide.core.mail import Mail, mail_enabled, send_mail

if TYPE_CHECKING:
    from confide.runtime import Runtime

log = logging.getLogger("confide.access.grants")
READS_LISTED_PER_GRANT = 50


def grant_status(row: AccessGrant, now: datetime | None = None) -> str:
    """``live``, ``revoked`` or ``expired``."""
    if row.revoked_at is not None:
        return "revoked"
    return "live" if row.expires_at > (now or utcnow()) else "expired"


def grant_dict(row: AccessGrant, grantee: str | None = None) -> dict[str, Any]:
    """The wire shape of one grant (no personal data: ids, scope, times, reason)."""
    return {
        "id": str(row.id),
        "kind": row.kind,
        "grantee_id": str(row.grantee_id),
        "grantee": grantee,
        "scope": row.scope,
        "conversation_id": str(row.conversation_id) if row.conversation_id else None,
        "reason": row.reason,
        "reference": row.reference,
        "granted_by": str(row.granted_by) if row.granted_by else None,
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "status": grant_status(row),
    }


async def list_workspace_grants(
    rt: Runtime, workspace_id: uuid.UUID, *, limit: int = 100
) -> list[dict[str, Any]]:
    """The workspace's grants, newest first, each with the reads its holder made under it
    (``reads``: at most ``READS_LISTED_PER_GRANT`` audit records, newest first)."""
    async with rt.db.session() as session:
        # ix_access_grants_workspace
        rows = list(
            (
                await session.scalars(
                    select(AccessGrant)
                    .where(AccessGrant.workspace_id == workspace_id)
                    .order_by(AccessGrant.created_at.desc())
                    .limit(limit)
                )
            ).all()
        )
        names = dict(
            (
                await session.execute(
                    select(Operator.id, Operator.username).where(
                        Operator.id.in_({r.grantee_id for r in rows})
                    )
                )
            ).all()
        )
        listed = []
        for row in rows:
            ended = row.revoked_at or min(row.expires_at, utcnow())
            events = (
                await session.execute(
                    select(AuditEvent.at, AuditEvent.action, AuditEvent.resource)
                    .where(
                        AuditEvent.workspace_id == workspace_id,
                        AuditEvent.actor_id == row.grantee_id,
                        AuditEvent.at >= row.created_at,
                        AuditEvent.at <= ended,
                    )
                    .order_by(AuditEvent.at.desc())
                    .limit(READS_LISTED_PER_GRANT)
                )
            ).all()
            item = grant_dict(row, names.get(row.grantee_id))
            item["reads"] = [
                {"at": at.isoformat(), "action": action, "resource": resource}
                for at, action, resource in events
            ]
            listed.append(item)
    return listed


async def mail_admins(rt: Runtime, workspace_id: uuid.UUID, subject: str, text: str) -> int:
    """E-mail every active admin of the workspace who has an address (run after commit; does
    nothing without SMTP). Returns how many mails went out; a failure is logged by type."""
    if not mail_enabled(rt.settings):
        return 0
    async with rt.db.session() as session:
        subject_ids = list(
            (
                await session.scalars(
                    select(Operator.subject_id).where(
                        Operator.workspace_id == workspace_id,
                        Operator.role == Role.ADMIN,
                        Operator.status == OperatorStatus.ACTIVE,
                    )
                )
            ).all()
        )
        # The system addressing its own admins: not a read by someone (privacy.access).
        fields = await rt.vault.read_fields(session, subject_ids, ["email"])
    sent = 0
    for values in fields.values():
        address = values.get("email")
        if not address:
            continue
        try:
            await send_mail(rt.settings, Mail(to=address, subject=subject, text=text))
            sent += 1
        except (MailFailed, MailUnavailable) as exc:
            log.warning("grant notice not mailed: %s", type(exc).__name__)
    return sent
