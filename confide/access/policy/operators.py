"""Operators as seen by other principals: profile views, list scopes, changes, assignment."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from confide.access.models import Role
from confide.access.policy.principals import (
    Action,
    Principal,
    allowed_actions,
    authorize,
    ensure_same_workspace,
)
from confide.core.errors import Forbidden, NotFound


class ProfileView(enum.StrEnum):
    FULL = "full"  # every field, e-mail included
    PUBLIC = "public"  # what a teammate sees: name, alias, job title, avatar, role
    PSEUDONYMOUS = "pseudonymous"  # id and role only


@dataclass(frozen=True)
class OperatorFacts:
    """What the policy needs to know about an operator it is asked about."""

    id: uuid.UUID
    workspace_id: uuid.UUID | None
    role: Role
    group_ids: frozenset[uuid.UUID]


@dataclass(frozen=True)
class OperatorScope:
    """Which operators a principal may list: all of the workspace, members of some groups, or
    only itself."""

    all_of_workspace: bool
    group_ids: frozenset[uuid.UUID]
    only_self: bool


def operator_list_scope(principal: Principal) -> OperatorScope:
    authorize(principal, Action.OPERATORS_LIST)
    if principal.role is Role.ADMIN:
        return OperatorScope(True, frozenset(), False)
    return OperatorScope(False, principal.group_ids, False)


def operator_view(principal: Principal, target: OperatorFacts) -> ProfileView:
    """How much of ``target`` the principal may see; raises NotFound if nothing."""
    if principal.operator_id == target.id:
        return ProfileView.FULL
    ensure_same_workspace(principal, target.workspace_id)
    if Action.OPERATORS_LIST not in allowed_actions(principal):
        raise NotFound()
    if principal.role is Role.ADMIN:
        return ProfileView.FULL
    if not principal.group_ids & target.group_ids:
        raise NotFound()
    if principal.role is Role.MANAGER and target.role is Role.AGENT:
        return ProfileView.FULL
    return ProfileView.PUBLIC


def authorize_operator_change(
    principal: Principal,
    target: OperatorFacts | None,
    *,
    new_role: Role | None = None,
    new_group_ids: Iterable[uuid.UUID] | None = None,
    removing: bool = False,
) -> None:
    """May the principal create (``target=None``), edit or remove an operator?

    Managers handle agents only, only in their own groups: they may create an agent in their
    groups, edit an agent who shares a group with them, change memberships of their own groups
    only, and remove an agent only when every group of that agent is theirs.
    """
    authorize(principal, Action.OPERATORS_MANAGE)
    if target is not None:
        ensure_same_workspace(principal, target.workspace_id)
    if principal.role is Role.ADMIN:
        if new_role is Role.SUPPORT:
            raise Forbidden("Support accounts belong to the platform, not to a workspace.")
        return
    # Manager from here on.
    if new_role is not None and new_role is not Role.AGENT:
        raise Forbidden("Managers may only create and manage agents.", field="role")
    if target is not None:
        if not principal.group_ids & target.group_ids:
            raise NotFound()
        if target.role is not Role.AGENT:
            raise Forbidden("Managers may only manage agents.")
        if removing and not target.group_ids <= principal.group_ids:
            raise Forbidden(
                "This agent also belongs to groups you do not manage; remove them from your "
                "groups instead, or ask an admin."
            )
    if new_group_ids is not None:
        requested = frozenset(new_group_ids)
        current = target.group_ids if target is not None else frozenset()
        changed = requested ^ current
        if not changed <= principal.group_ids:
            raise Forbidden(
                "You can only change memberships of groups you manage.", field="group_ids"
            )
        if target is None and not requested & principal.group_ids:
            raise Forbidden("Put the new agent in at least one of your groups.", field="group_ids")


def may_assign_to(
    principal: Principal, assignee: OperatorFacts, group_id: uuid.UUID | None
) -> bool:
    """May the principal hand a conversation to ``assignee``? Admins: anyone of the workspace;
    managers: members of their groups; agents: only themselves (taking a waiting chat) or a
    teammate of the conversation's group (transfer)."""
    if principal.workspace_id != assignee.workspace_id or assignee.role not in (
        Role.ADMIN,
        Role.MANAGER,
        Role.AGENT,
    ):
        return False
    if principal.role is Role.ADMIN:
        return True
    if principal.role is Role.MANAGER:
        return (
            bool(principal.group_ids & assignee.group_ids) or assignee.id == principal.operator_id
        )
    if principal.role is Role.AGENT:
        return assignee.id == principal.operator_id or (
            group_id is not None and group_id in assignee.group_ids
        )
    return False
