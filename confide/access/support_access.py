"""Support access (break-glass, brief §5): a workspace's admin lets a platform support account
in, for one scope, for a few hours, for a stated reason; and takes it back.

Each act owns its unit of work and records itself there (``support_access.grant``,
``support_access.revoke``, ``support_access.expire``); every read the support account makes
under the grant is recorded by the read itself (``confide.privacy.access``) in the workspace's
chain. After commit the holder's open sockets are told to reload their rights
(``principal_changed``) and the admins are mailed (``confide.access.grant_notices``).

Expiry needs nobody: an expired grant is no grant (``confide.access.grants``), and sockets wake
when it lapses. :func:`do_record_grant_expiries` (job ``record_grant_expiries``, every minute)
only writes the expiry into the ledger and mails the admins, once per grant.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.grant_models import AccessGrant
from confide.access.grant_notices import grant_dict, grant_status, mail_admins
from confide.access.grants import GrantKind, SupportScope
from confide.access.models import OperatorStatus, Role
from confide.access.operators import find_operator_by_username, notify_principal_changed
from confide.access.policy import Action, Principal, authorize
from confide.audit.ledger import Actor, append
from confide.chat.models import Conversation, ConversationLifecycle
from confide.core.clock import utcnow
from confide.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from confide.jobs.kinds import Batch, BatchResult, JobKind, register

if TYPE_CHECKING:
    from confide.runtime import Runtime

MAX_GRANT_HOURS = 7 * 24
MAX_REASON_CHARS = 500
RECORD_GRANT_EXPIRIES = "record_grant_expiries"


def require_admin(principal: Principal) -> uuid.UUID:
    """The admin's workspace; raises ``Forbidden`` for anyone else (support included, whatever
    it was granted: support never grants or lists access)."""
    authorize(principal, Action.AUDIT_READ)
    if principal.kind != "operator" or principal.role is not Role.ADMIN:
        raise Forbidden()
    assert principal.workspace_id is not None
    return principal.workspace_id


def check_hours(hours: int) -> int:
    if not 1 <= hours <= MAX_GRANT_HOURS:
        raise ValidationFailed(
            f"Give a duration from 1 to {MAX_GRANT_HOURS} hours (7 days).", field="hours"
        )
    return hours


def check_reason(reason: str, field: str = "reason") -> str:
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_CHARS:
        raise ValidationFailed(
            f"Say why, in 1 to {MAX_REASON_CHARS} characters (no visitor's data).", field=field
        )
    return reason


async def do_grant_support_access(
    rt: Runtime,
    admin: Principal,
    *,
    support_username: str,
    scope: str,
    hours: int,
    reason: str,
    conversation_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Let the support account ``support_username`` into the admin's workspace with ``scope``
    (``settings``, ``conversation`` with ``conversation_id``, or ``conversations_read``) for
    ``hours`` (1-168). Returns the grant. Raises ``Forbidden`` (403) for a non-admin and
    ``ValidationFailed`` (422) naming the field for an unknown account, a bad scope, duration,
    reason or conversation."""
    workspace_id = require_admin(admin)
    try:
        chosen = SupportScope(scope)
    except ValueError as exc:
        allowed = ", ".join(s.value for s in SupportScope)
        raise ValidationFailed(f"Choose a scope: {allowed}.", field="scope") from exc
    check_hours(hours)
    reason = check_reason(reason)
    if (chosen is SupportScope.CONVERSATION) != (conversation_id is not None):
        raise ValidationFailed(
            "Name a conversation for the scope 'conversation', and only for it.",
            field="conversation_id",
        )
    async with rt.db.transaction() as tx:
        support = await find_operator_by_username(tx, None, support_username.strip())
        if support is None or support.status is not OperatorStatus.ACTIVE:
            raise ValidationFailed("There is no such support account.", field="support_username")
        if conversation_id is not None:
            if not await _active_conversation(tx, workspace_id, conversation_id):
                raise ValidationFailed(
                    "No active conversation of this workspace has that id.",
                    field="conversation_id",
                )
        now = utcnow()
        row = AccessGrant(
            workspace_id=workspace_id,
            kind=GrantKind.SUPPORT.value,
            grantee_id=support.id,
            scope=chosen.value,
            conversation_id=conversation_id,
            reason=reason,
            granted_by=admin.operator_id,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
        tx.add(row)
        await tx.flush()
        await append(
            tx,
            rt,
            admin,
            "support_access.grant",
            resource=f"grant:{row.id}",
            details={
                "support": support.username,
                "scope": chosen.value,
                "conversation_id": str(conversation_id) if conversation_id else None,
                "hours": hours,
                "reason": reason,
            },
        )
        result = grant_dict(row, support.username)
        tx.on_commit(notify_principal_changed, rt, support.id)
        tx.on_commit(
            mail_admins,
            rt,
            workspace_id,
            "Confide: support access granted",
            f"Support account {support.username} may now access your workspace "
            f"(scope: {chosen.value}) until {row.expires_at:%Y-%m-%d %H:%M} UTC.\n"
            f"Reason: {reason}\n\nRevoke it at any time on the console's Access page.\n",
        )
    return result


async def _active_conversation(
    tx: AsyncSession, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> bool:
    found = await tx.scalar(
        select(Conversation.id).where(
            Conversation.id == conversation_id,
            Conversation.workspace_id == workspace_id,
            Conversation.lifecycle == ConversationLifecycle.ACTIVE,
        )
    )
    return found is not None


async def do_revoke_grant(rt: Runtime, admin: Principal, grant_id: uuid.UUID) -> dict[str, Any]:
    """End a live grant of the admin's workspace now (support access, or a custodian's
    opening). Its holder's open sockets lose what it opened at once. Revoking a revoked grant
    changes nothing. Raises ``NotFound`` (404) for another workspace's grant, ``Conflict``
    (409) for one that already expired."""
    workspace_id = require_admin(admin)
    async with rt.db.transaction() as tx:
        row = await tx.get(AccessGrant, grant_id, with_for_update=True)
        if row is None or row.workspace_id != workspace_id:
            raise NotFound("No such grant in this workspace.")
        status = grant_status(row)
        if status == "expired":
            raise Conflict("This grant has already expired; there is nothing to revoke.")
        if status == "revoked":
            return grant_dict(row)
        row.revoked_at = utcnow()
        row.revoked_by = admin.operator_id
        action = "support_access.revoke" if row.kind == GrantKind.SUPPORT.value else "archive.close"
        await append(tx, rt, admin, action, resource=f"grant:{row.id}")
        result = grant_dict(row)
        tx.on_commit(notify_principal_changed, rt, row.grantee_id)
        tx.on_commit(
            mail_admins,
            rt,
            workspace_id,
            "Confide: access revoked",
            f"Grant {row.id} ({row.kind}) was revoked; it no longer opens anything.\n",
        )
    return result


async def do_record_grant_expiries(rt: Runtime, *, limit: int = 100) -> int:
    """Record in the ledger (``support_access.expire`` / ``archive.expire``, in the grant's
    workspace chain) and mail the admins, once, for each grant that expired unrevoked; tell
    its holder's sockets. Returns how many were recorded (at most ``limit``). Idempotent."""
    now = utcnow()
    async with rt.db.transaction() as tx:
        # ix_access_grants_grantee does not help here; the table holds few rows per workspace.
        rows = list(
            (
                await tx.scalars(
                    select(AccessGrant)
                    .where(
                        AccessGrant.expires_at <= now,
                        AccessGrant.revoked_at.is_(None),
                        AccessGrant.expiry_recorded_at.is_(None),
                    )
                    .order_by(AccessGrant.expires_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
        )
        for row in rows:
            row.expiry_recorded_at = now
            action = (
                "support_access.expire" if row.kind == GrantKind.SUPPORT.value else "archive.expire"
            )
            system = Actor("system", None, row.workspace_id)
            await append(tx, rt, system, action, resource=f"grant:{row.id}")
            tx.on_commit(notify_principal_changed, rt, row.grantee_id)
            tx.on_commit(
                mail_admins,
                rt,
                row.workspace_id,
                "Confide: access expired",
                f"Grant {row.id} ({row.kind}) expired at {row.expires_at:%Y-%m-%d %H:%M} UTC; "
                "it no longer opens anything.\n",
            )
    return len(rows)


async def _run_record_grant_expiries(batch: Batch) -> BatchResult:
    recorded = await do_record_grant_expiries(batch.rt, limit=batch.size)
    return BatchResult(items=recorded, cursor=None, done=recorded < batch.size)


RECORD_GRANT_EXPIRIES_KIND = register(
    JobKind(
        name=RECORD_GRANT_EXPIRIES,
        description="Record expired support and custodian grants in the audit ledger.",
        run_batch=_run_record_grant_expiries,
        every_seconds=60,
        batch_size=100,
        in_transaction=False,
    )
)
