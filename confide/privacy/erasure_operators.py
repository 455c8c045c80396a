"""Erasure of an operator: the rules that differ from a visitor's.

An operator's row is pointed at by other people's records (conversations they answered, API
keys they created, consent requests they sent), so erasure keeps it as a stub instead of
deleting it (the subject map's ``keep_reason`` for ``operators``), and a workspace never loses
its last admin to an erasure.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.models import Operator, OperatorStatus, Role
from confide.core.clock import utcnow
from confide.core.errors import Conflict

# Not a hash of anything (no Argon2 prefix): no password ever verifies against it.
ERASED_PASSWORD_HASH = "!erased"


async def keep_an_admin(session: AsyncSession, operator_id: uuid.UUID) -> None:
    """Refuse (409) to erase the last active admin of a workspace: it would be left with
    nobody to manage it."""
    operator = await session.get(Operator, operator_id)
    if operator is None or operator.workspace_id is None:
        return
    if operator.role is not Role.ADMIN or operator.status is not OperatorStatus.ACTIVE:
        return
    admins = await session.scalar(
        select(func.count())
        .select_from(Operator)
        .where(
            Operator.workspace_id == operator.workspace_id,
            Operator.role == Role.ADMIN,
            Operator.status == OperatorStatus.ACTIVE,
        )
    )
    if (admins or 0) <= 1:
        raise Conflict("A workspace keeps at least one admin; appoint another admin first.")


async def pseudonymise_operator(session: AsyncSession, operator_id: uuid.UUID) -> None:
    """The operator row becomes a stub (see the map's ``keep_reason``): no username, no
    password, no login facts; status removed."""
    now = utcnow()
    await session.execute(
        update(Operator)
        .where(Operator.id == operator_id)
        .values(
            username=f"erased.{operator_id.hex[:16]}",
            status=OperatorStatus.REMOVED,
            password_hash=ERASED_PASSWORD_HASH,
            password_changed_at=now,
            failed_login_count=0,
            first_failed_login_at=None,
            locked_until=None,
            last_login_at=None,
            removed_at=func.coalesce(Operator.removed_at, now),
        )
    )
