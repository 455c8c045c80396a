"""Actions and queries on groups (teams of operators; each has its own waiting queue)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from confide.access import policy
from confide.access.models import Group, GroupMember, Role
from confide.access.policy import Action, Principal
from confide.access.principal_cache import principals_changed
from confide.audit.ledger import Actor, append
from confide.core.db import UnitOfWork
from confide.core.errors import Conflict, NotFound, ValidationFailed

if TYPE_CHECKING:
    from confide.runtime import Runtime

MAX_GROUP_NAME = 100


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_GROUP_NAME:
        raise ValidationFailed("Give the group a name of 1-100 characters.", field="name")
    return name


async def do_create_group(
    rt: Runtime, actor: Principal | None, workspace_id: uuid.UUID, name: str
) -> Group:
    if actor is not None:
        policy.ensure_same_workspace(actor, workspace_id)
        policy.authorize(actor, Action.GROUPS_MANAGE)
    name = _check_name(name)
    try:
        async with rt.db.transaction() as session:
            group = Group(workspace_id=workspace_id, name=name)
            session.add(group)
            await session.flush()
            await _record(session, rt, actor, "group.create", group)
    except IntegrityError as exc:
        raise Conflict("A group with this name already exists.", field="name") from exc
    return group


async def _record(
    tx: UnitOfWork, rt: Runtime, actor: Principal | None, action: str, group: Group
) -> None:
    """Audit a change to ``group`` in its own unit (a group's name is about no one)."""
    await append(
        tx,
        rt,
        actor if actor is not None else Actor("system", None, group.workspace_id),
        action,
        resource=f"group:{group.id}",
        details={"name": group.name},
    )


async def _load(rt_session: Any, actor: Principal, group_id: uuid.UUID) -> Group:
    group: Group | None = await rt_session.get(Group, group_id)
    if group is None:
        raise NotFound()
    policy.ensure_same_workspace(actor, group.workspace_id)
    return group


async def do_rename_group(rt: Runtime, actor: Principal, group_id: uuid.UUID, name: str) -> Group:
    policy.authorize(actor, Action.GROUPS_MANAGE)
    name = _check_name(name)
    try:
        async with rt.db.transaction() as session:
            group = await _load(session, actor, group_id)
            group.name = name
            await session.flush()
            await _record(session, rt, actor, "group.rename", group)
    except IntegrityError as exc:
        raise Conflict("A group with this name already exists.", field="name") from exc
    return group


async def do_delete_group(rt: Runtime, actor: Principal, group_id: uuid.UUID) -> None:
    policy.authorize(actor, Action.GROUPS_MANAGE)
    async with rt.db.transaction() as session:
        group = await _load(session, actor, group_id)
        await _record(session, rt, actor, "group.delete", group)
        await session.delete(group)
        # Its members' principals named it: every node reloads them.
        session.on_commit(principals_changed, rt, None)


async def list_groups(rt: Runtime, actor: Principal) -> list[dict[str, Any]]:
    """Admins see every group; everyone else the groups they belong to."""
    policy.authorize(actor, Action.GROUPS_LIST)
    async with rt.db.session() as session:
        query = (
            select(Group, func.count(GroupMember.operator_id))
            .outerjoin(GroupMember, GroupMember.group_id == Group.id)
            .where(Group.workspace_id == actor.workspace_id)
            .group_by(Group.id)
            .order_by(Group.name)
        )
        if actor.role is not Role.ADMIN:
            query = query.where(Group.id.in_(actor.group_ids))
        rows = (await session.execute(query)).all()
    return [
        {"id": str(group.id), "name": group.name, "member_count": count} for group, count in rows
    ]
