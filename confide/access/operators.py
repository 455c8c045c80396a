"""Actions on operators (a workspace's staff) and platform support accounts.

Each ``do_*`` action owns its unit of work, asks the policy module inside it, against facts
read in that same unit, so a check can never be raced by a concurrent change, and appends its
audit record there. ``actor`` is the principal making the change, or ``None`` for the trusted
command line. Reads of operators' profiles live in ``confide.access.operator_views``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access import policy
from confide.access.lockout import check_not_locked, record_failure
from confide.access.models import (
    AuthSession,
    Group,
    GroupMember,
    Operator,
    OperatorStatus,
    RecoveryCode,
    Role,
    Workspace,
)
from confide.access.passwords import password_problem
from confide.access.policy import OperatorFacts, Principal
from confide.access.principal_cache import principals_changed
from confide.audit.ledger import Actor, append
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork
from confide.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from confide.realtime.fanout.channels import PRINCIPAL_CHANGED, operator_channel

if TYPE_CHECKING:
    from confide.runtime import Runtime

USERNAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
PUBLIC_PROFILE_FIELDS = ("name", "alias", "job_title", "avatar_url")
PROFILE_FIELDS = (*PUBLIC_PROFILE_FIELDS, "email")


async def notify_principal_changed(rt: Runtime, operator_id: uuid.UUID) -> None:
    """Tell the operator's open sockets (on every node) to re-check their rights now.
    Called after commit by every action that changes a role, groups or sessions; drops the
    operator's cached principals on every node first (``confide.access.principal_cache``)."""
    await principals_changed(rt, operator_id)
    await rt.broker.publish(operator_channel(operator_id), PRINCIPAL_CHANGED)


async def _record(
    tx: UnitOfWork,
    rt: Runtime,
    actor: Principal | None,
    action: str,
    operator: Operator,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Audit a change to ``operator`` in its own unit; the command line (``actor`` ``None``)
    is recorded as the system, in the operator's workspace chain."""
    await append(
        tx,
        rt,
        actor if actor is not None else Actor("system", None, operator.workspace_id),
        action,
        subject_id=operator.subject_id,
        resource=f"operator:{operator.id}",
        details=details,
    )


def check_username(username: str) -> str:
    if not USERNAME_PATTERN.match(username):
        raise ValidationFailed(
            "Use 1-64 lowercase letters, digits, dots, hyphens or underscores for the username.",
            field="username",
        )
    return username


def check_password(password: str, field: str = "password") -> None:
    problem = password_problem(password)
    if problem:
        raise ValidationFailed(problem, field=field)


async def _group_ids_of(session: AsyncSession, operator_id: uuid.UUID) -> frozenset[uuid.UUID]:
    # ix_group_members_operator_id
    rows = await session.scalars(
        select(GroupMember.group_id).where(GroupMember.operator_id == operator_id)
    )
    return frozenset(rows.all())


async def _facts(session: AsyncSession, operator: Operator) -> OperatorFacts:
    return OperatorFacts(
        id=operator.id,
        workspace_id=operator.workspace_id,
        role=operator.role,
        group_ids=await _group_ids_of(session, operator.id),
    )


async def _load_active(session: AsyncSession, operator_id: uuid.UUID) -> Operator:
    operator = await session.get(Operator, operator_id)
    if operator is None or operator.status is not OperatorStatus.ACTIVE:
        raise NotFound()
    return operator


async def _check_groups_exist(
    session: AsyncSession, workspace_id: uuid.UUID, group_ids: frozenset[uuid.UUID]
) -> None:
    if not group_ids:
        return
    found = await session.scalar(
        select(func.count())
        .select_from(Group)
        .where(Group.workspace_id == workspace_id, Group.id.in_(group_ids))
    )
    if found != len(group_ids):
        raise ValidationFailed(
            "One of the groups does not exist in this workspace.", field="group_ids"
        )


async def _set_groups(
    session: AsyncSession,
    operator_id: uuid.UUID,
    current: frozenset[uuid.UUID],
    wanted: frozenset[uuid.UUID],
) -> None:
    for group_id in wanted - current:
        session.add(GroupMember(group_id=group_id, operator_id=operator_id))
    for group_id in current - wanted:
        member = await session.get(GroupMember, (group_id, operator_id))
        if member is not None:
            await session.delete(member)


async def _active_admin_count(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Operator)
            .where(
                Operator.workspace_id == workspace_id,
                Operator.role == Role.ADMIN,
                Operator.status == OperatorStatus.ACTIVE,
            )
        )
        or 0
    )


async def revoke_sessions(
    session: AsyncSession,
    operator_id: uuid.UUID,
    reason: str,
    *,
    except_session_id: uuid.UUID | None = None,
) -> None:
    query = update(AuthSession).where(
        AuthSession.operator_id == operator_id, AuthSession.revoked_at.is_(None)
    )
    if except_session_id is not None:
        query = query.where(AuthSession.id != except_session_id)
    await session.execute(query.values(revoked_at=utcnow(), revoked_reason=reason))


async def do_create_operator(
    rt: Runtime,
    actor: Principal | None,
    *,
    workspace_id: uuid.UUID | None,
    username: str,
    password: str,
    role: Role,
    profile: Mapping[str, str | None] | None = None,
    group_ids: Iterable[uuid.UUID] = (),
) -> uuid.UUID:
    check_username(username)
    check_password(password)
    groups = frozenset(group_ids)
    if role is Role.SUPPORT and (workspace_id is not None or groups):
        raise ValidationFailed(
            "Support accounts belong to no workspace and no group.", field="role"
        )
    if role is not Role.SUPPORT and workspace_id is None:
        raise ValidationFailed("Workspace operators need a workspace.", field="workspace")
    if actor is not None:
        policy.ensure_same_workspace(actor, workspace_id)
        policy.authorize_operator_change(actor, None, new_role=role, new_group_ids=groups)
    password_hash = rt.passwords.hash(password)
    try:
        async with rt.db.transaction() as session:
            if workspace_id is not None:
                if await session.get(Workspace, workspace_id) is None:
                    raise NotFound("The workspace does not exist.")
                await _check_groups_exist(session, workspace_id, groups)
            elif await session.scalar(
                select(Operator.id).where(
                    Operator.workspace_id.is_(None), Operator.username == username
                )
            ):
                # NULL never equals NULL in a unique constraint: support names are checked here.
                raise Conflict("That username is already taken.", field="username")
            subject_id = await rt.vault.create_subject(
                session, workspace_id=workspace_id, kind="operator"
            )
            operator = Operator(
                workspace_id=workspace_id,
                subject_id=subject_id,
                username=username,
                role=role,
                password_hash=password_hash,
            )
            session.add(operator)
            await session.flush()
            await rt.vault.write_fields(session, subject_id, _clean_profile(profile or {}))
            await _set_groups(session, operator.id, frozenset(), groups)
            details = {"username": username, "role": role.value}
            await _record(session, rt, actor, "operator.create", operator, details)
    except IntegrityError as exc:
        raise Conflict("That username is already taken.", field="username") from exc
    return operator.id


def _clean_profile(profile: Mapping[str, str | None]) -> dict[str, str | None]:
    unknown = set(profile) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationFailed("This profile field does not exist.", field=sorted(unknown)[0])
    return {k: (v.strip() or None) if isinstance(v, str) else None for k, v in profile.items()}


async def do_update_operator(
    rt: Runtime,
    actor: Principal | None,
    operator_id: uuid.UUID,
    *,
    profile: Mapping[str, str | None] | None = None,
    role: Role | None = None,
    group_ids: Iterable[uuid.UUID] | None = None,
) -> None:
    groups = frozenset(group_ids) if group_ids is not None else None
    async with rt.db.transaction() as session:
        operator = await _load_active(session, operator_id)
        facts = await _facts(session, operator)
        editing_self_profile_only = (
            actor is not None
            and actor.operator_id == operator_id
            and role is None
            and groups is None
        )
        if actor is not None and not editing_self_profile_only:
            policy.authorize_operator_change(actor, facts, new_role=role, new_group_ids=groups)
        if role is not None and role is not operator.role:
            if operator.role is Role.SUPPORT or role is Role.SUPPORT:
                raise ValidationFailed("Support accounts cannot change role.", field="role")
            if operator.role is Role.ADMIN and operator.workspace_id is not None:
                if await _active_admin_count(session, operator.workspace_id) <= 1:
                    raise Conflict("A workspace keeps at least one admin.", field="role")
            operator.role = role
        if groups is not None:
            if operator.workspace_id is None:
                raise ValidationFailed("Support accounts have no groups.", field="group_ids")
            await _check_groups_exist(session, operator.workspace_id, groups)
            await _set_groups(session, operator.id, facts.group_ids, groups)
        if profile:
            await rt.vault.write_fields(session, operator.subject_id, _clean_profile(profile))
        changed = sorted(
            [*(profile or {})]
            + (["role"] if role is not None else [])
            + (["group_ids"] if groups is not None else [])
        )
        details: dict[str, Any] = {"changed": changed}
        if role is not None:
            details["role"] = role.value
        await _record(session, rt, actor, "operator.update", operator, details)
    if role is not None or groups is not None:
        await notify_principal_changed(rt, operator_id)
    elif profile:  # the public card visitors see (confide.chat.agent_cards), on every node
        await principals_changed(rt, operator_id)


async def do_remove_operator(rt: Runtime, actor: Principal | None, operator_id: uuid.UUID) -> None:
    """Deactivate an operator: sign-in stops and every session ends at once. Their profile
    stays so past conversations still show who answered; erasing it is a data-subject request."""
    async with rt.db.transaction() as session:
        operator = await _load_active(session, operator_id)
        facts = await _facts(session, operator)
        if actor is not None:
            if actor.operator_id == operator_id:
                raise Forbidden("You cannot remove your own account; ask another admin.")
            policy.authorize_operator_change(actor, facts, removing=True)
        if operator.role is Role.ADMIN and operator.workspace_id is not None:
            if await _active_admin_count(session, operator.workspace_id) <= 1:
                raise Conflict("A workspace keeps at least one admin.")
        now = utcnow()
        operator.status = OperatorStatus.REMOVED
        operator.removed_at = now
        # Free the username for reuse; the id stays the stable reference.
        operator.username = f"removed.{operator.id.hex[:16]}"
        await _set_groups(session, operator.id, facts.group_ids, frozenset())
        await revoke_sessions(session, operator.id, "operator_removed")
        await _record(session, rt, actor, "operator.remove", operator)
    await notify_principal_changed(rt, operator_id)


async def do_unlock_operator(rt: Runtime, actor: Principal | None, operator_id: uuid.UUID) -> None:
    async with rt.db.transaction() as session:
        operator = await _load_active(session, operator_id)
        if actor is not None:
            policy.authorize_operator_change(actor, await _facts(session, operator))
        operator.locked_until = None
        operator.failed_login_count = 0
        operator.first_failed_login_at = None
        await _record(session, rt, actor, "operator.unlock", operator)


async def do_set_password(
    rt: Runtime,
    operator_id: uuid.UUID,
    new_password: str,
    *,
    current_password: str | None,
    keep_session_id: uuid.UUID | None = None,
    actor: Principal | None = None,
) -> None:
    """Change a password. Without ``current_password`` only the command line may call this
    (``actor`` ``None``: recorded as the system, in the operator's workspace chain).
    Every other session of the operator is revoked; the change is audited in its unit."""
    check_password(new_password, field="new_password")
    new_hash = rt.passwords.hash(new_password)
    async with rt.db.transaction() as session:
        operator = await _load_active(session, operator_id)
        if current_password is not None:
            check_not_locked(operator)
            wrong = not rt.passwords.verify(operator.password_hash, current_password)
        else:
            wrong = False
        if not wrong:
            operator.password_hash = new_hash
            operator.password_changed_at = utcnow()
            operator.locked_until = None
            operator.failed_login_count = 0
            await revoke_sessions(
                session, operator.id, "password_changed", except_session_id=keep_session_id
            )
            action = "auth.password_changed" if actor else "operator.password_reset"
            await _record(session, rt, actor, action, operator)
    if wrong:
        # A wrong current password counts towards lockout: a stolen access token must not
        # become a way to guess the password.
        locked = await record_failure(rt, operator_id)
        raise locked or ValidationFailed(
            "The current password is not correct.", field="current_password"
        )
    await notify_principal_changed(rt, operator_id)


async def find_operator_by_username(
    session: AsyncSession, workspace_id: uuid.UUID | None, username: str
) -> Operator | None:
    # uq_operators_workspace_username / ix_operators_support_username
    query = select(Operator).where(Operator.username == username)
    if workspace_id is None:
        query = query.where(Operator.workspace_id.is_(None), Operator.role == Role.SUPPORT)
    else:
        query = query.where(Operator.workspace_id == workspace_id)
    result: Operator | None = await session.scalar(query)
    return result


async def count_unused_recovery_codes(session: AsyncSession, operator_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.operator_id == operator_id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )
