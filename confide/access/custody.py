"""Archive custodians (brief §3, issue 13): who may open an archived conversation, and the
opening itself.

Archived conversations are out of operational reach for every role (``conversation_rule``).
An admin appoints custodians among the workspace's operators (``operator_permissions``,
audited as ``archive_custodian.appoint`` / ``.dismiss``). A custodian opens one archived
conversation only by filing a reason, ``incident-restore`` or ``legal-requisition`` with the
requisition's reference, for a limited time (1 hour to 7 days): the opening is an
``archive_custodian`` grant (``access_grants``), audited as ``archive.open`` naming the
visitor, mailed to the admins, and listed with every read made under it. Reads then go through
the ordinary read paths, which record themselves; when the grant expires or is revoked the
conversation is closed to the custodian again, on open sockets too.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from confide.access.grant_models import ARCHIVE_CUSTODIAN, AccessGrant, OperatorPermission
from confide.access.grant_notices import grant_dict, mail_admins
from confide.access.grant_store import CUSTODIAN_REASONS
from confide.access.grants import GrantKind
from confide.access.models import Operator, OperatorStatus, Role
from confide.access.operators import notify_principal_changed
from confide.access.support_access import check_hours, require_admin
from confide.audit.ledger import append
from confide.chat.models import Conversation, ConversationLifecycle, Visitor
from confide.core.clock import utcnow
from confide.core.errors import Forbidden, NotFound, ValidationFailed

if TYPE_CHECKING:
    from confide.access.policy import Principal
    from confide.runtime import Runtime

DEFAULT_OPENING_HOURS = 24
MAX_REFERENCE_CHARS = 200


async def do_set_archive_custodian(
    rt: Runtime, admin: Principal, operator_id: uuid.UUID, *, appointed: bool
) -> dict[str, Any]:
    """Appoint (``appointed=True``) or dismiss an operator of the admin's workspace as archive
    custodian. Idempotent. Raises ``Forbidden`` (403) for a non-admin, ``NotFound`` (404) for
    an operator of another workspace (or a support account)."""
    workspace_id = require_admin(admin)
    async with rt.db.transaction() as tx:
        operator = await tx.get(Operator, operator_id)
        if (
            operator is None
            or operator.workspace_id != workspace_id
            or operator.role is Role.SUPPORT
            or operator.status is not OperatorStatus.ACTIVE
        ):
            raise NotFound("No such operator in this workspace.")
        held = await tx.get(OperatorPermission, (operator_id, ARCHIVE_CUSTODIAN))
        if appointed and held is None:
            tx.add(
                OperatorPermission(
                    operator_id=operator_id,
                    permission=ARCHIVE_CUSTODIAN,
                    granted_by=admin.operator_id,
                    granted_at=utcnow(),
                )
            )
            await append(
                tx, rt, admin, "archive_custodian.appoint", resource=f"operator:{operator_id}"
            )
        elif not appointed and held is not None:
            await tx.execute(
                delete(OperatorPermission).where(
                    OperatorPermission.operator_id == operator_id,
                    OperatorPermission.permission == ARCHIVE_CUSTODIAN,
                )
            )
            await append(
                tx, rt, admin, "archive_custodian.dismiss", resource=f"operator:{operator_id}"
            )
    return {"operator_id": str(operator_id), "archive_custodian": appointed}


async def is_archive_custodian(rt: Runtime, operator_id: uuid.UUID | None) -> bool:
    """Whether the operator holds the archive-custodian permission."""
    if operator_id is None:
        return False
    async with rt.db.session() as session:
        found = await session.get(OperatorPermission, (operator_id, ARCHIVE_CUSTODIAN))
    return found is not None


async def list_archive_custodians(rt: Runtime, admin: Principal) -> list[dict[str, str]]:
    """The workspace's custodians (id and username), for its admins."""
    workspace_id = require_admin(admin)
    async with rt.db.session() as session:
        rows = (
            await session.execute(
                select(Operator.id, Operator.username)
                .join(OperatorPermission, OperatorPermission.operator_id == Operator.id)
                .where(
                    Operator.workspace_id == workspace_id,
                    OperatorPermission.permission == ARCHIVE_CUSTODIAN,
                )
                .order_by(Operator.username)
            )
        ).all()
    return [{"id": str(op_id), "username": username} for op_id, username in rows]


async def do_open_archived_conversation(
    rt: Runtime,
    custodian: Principal,
    conversation_id: uuid.UUID,
    *,
    reason: str,
    reference: str | None = None,
    hours: int = DEFAULT_OPENING_HOURS,
) -> dict[str, Any]:
    """Open an archived conversation of the custodian's workspace for ``hours`` (1-168) on
    ``reason`` (``incident-restore``, or ``legal-requisition`` with ``reference``). Returns the
    grant. Raises ``Forbidden`` (403) unless the caller is an archive custodian,
    ``ValidationFailed`` (422) naming ``reason``, ``reference`` or ``hours``, ``NotFound``
    (404) when no archived conversation of the workspace has that id."""
    if custodian.kind != "operator" or custodian.workspace_id is None:
        raise Forbidden()
    if reason not in CUSTODIAN_REASONS:
        raise ValidationFailed(
            "File a reason: 'incident-restore' or 'legal-requisition'.", field="reason"
        )
    reference = (reference or "").strip() or None
    if reason == "legal-requisition" and reference is None:
        raise ValidationFailed("Give the legal requisition's reference.", field="reference")
    if reference is not None and len(reference) > MAX_REFERENCE_CHARS:
        raise ValidationFailed(
            f"The reference has at most {MAX_REFERENCE_CHARS} characters.", field="reference"
        )
    check_hours(hours)
    async with rt.db.transaction() as tx:
        permitted = await tx.get(OperatorPermission, (custodian.operator_id, ARCHIVE_CUSTODIAN))
        if permitted is None:
            raise Forbidden(
                "Only an archive custodian may open archived conversations; an admin appoints "
                "custodians."
            )
        conversation = await tx.get(Conversation, conversation_id)
        if (
            conversation is None
            or conversation.workspace_id != custodian.workspace_id
            or conversation.lifecycle is not ConversationLifecycle.ARCHIVED
        ):
            raise NotFound("No archived conversation of this workspace has that id.")
        now = utcnow()
        assert custodian.operator_id is not None
        row = AccessGrant(
            workspace_id=custodian.workspace_id,
            kind=GrantKind.ARCHIVE_CUSTODIAN.value,
            grantee_id=custodian.operator_id,
            conversation_id=conversation_id,
            reason=reason,
            reference=reference,
            granted_by=custodian.operator_id,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
        tx.add(row)
        await tx.flush()
        subject_id = await tx.scalar(
            select(Visitor.subject_id).where(Visitor.id == conversation.visitor_id)
        )
        await append(
            tx,
            rt,
            custodian,
            "archive.open",
            subject_id=subject_id,
            resource=f"conversation:{conversation_id}",
            details={"grant_id": str(row.id), "reason": reason, "reference": reference},
        )
        result = grant_dict(row)
        tx.on_commit(notify_principal_changed, rt, custodian.operator_id)
        tx.on_commit(
            mail_admins,
            rt,
            custodian.workspace_id,
            "Confide: an archived conversation was opened",
            f"An archive custodian opened archived conversation {conversation_id} "
            f"until {row.expires_at:%Y-%m-%d %H:%M} UTC. Reason: {reason}"
            + (f" (reference {reference})" if reference else "")
            + ".\n\nEvery read under it is listed on the console's Access page.\n",
        )
    return result


async def custodian_candidates(rt: Runtime, admin: Principal) -> list[dict[str, Any]]:
    """The workspace's active operators (id, username) and whether each is a custodian, for
    the admins' Access page."""
    workspace_id = require_admin(admin)
    async with rt.db.session() as session:
        rows = (
            await session.execute(
                select(Operator.id, Operator.username, OperatorPermission.permission)
                .outerjoin(
                    OperatorPermission,
                    (OperatorPermission.operator_id == Operator.id)
                    & (OperatorPermission.permission == ARCHIVE_CUSTODIAN),
                )
                .where(
                    Operator.workspace_id == workspace_id,
                    Operator.status == OperatorStatus.ACTIVE,
                )
                .order_by(Operator.username)
            )
        ).all()
    return [
        {"id": str(op_id), "username": name, "custodian": permission is not None}
        for op_id, name, permission in rows
    ]
