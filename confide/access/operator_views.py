"""Operators as a principal may see them: the profile view the policy allows, read through
the vault and recorded in the audit ledger in the same unit of work before it is returned.

A list names every operator whose profile it returned (pseudonymous entries name no one); a
single read of someone else's full profile names them. Reading one's own profile is not a
read by someone else and is not recorded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access import policy
from confide.access.models import GroupMember, Operator, OperatorStatus, TotpCredential
from confide.access.operators import PUBLIC_PROFILE_FIELDS, _facts, _load_active
from confide.access.policy import OperatorFacts, Principal, ProfileView
from confide.audit.ledger import append
from confide.core.clock import utcnow
from confide.core.errors import NotFound

if TYPE_CHECKING:
    from confide.runtime import Runtime


@dataclass(frozen=True)
class OperatorView:
    """An operator as a principal may see it; absent fields are ``None`` or omitted."""

    data: dict[str, Any]


async def _render(
    rt: Runtime,
    session: AsyncSession,
    operators: list[Operator],
    views: dict[uuid.UUID, ProfileView],
    groups: dict[uuid.UUID, frozenset[uuid.UUID]],
    mfa_ids: set[uuid.UUID] | None = None,
) -> list[OperatorView]:
    """``mfa_ids``: the operators with confirmed MFA, when the caller read them already."""
    profiles = await rt.vault.read_fields(
        session, [o.subject_id for o in operators if views[o.id] is not ProfileView.PSEUDONYMOUS]
    )
    if mfa_ids is None:
        mfa_ids = set(
            (
                await session.scalars(
                    select(TotpCredential.operator_id).where(
                        TotpCredential.operator_id.in_([o.id for o in operators]),
                        TotpCredential.confirmed_at.is_not(None),
                    )
                )
            ).all()
        )
    rendered = []
    for operator in operators:
        view = views[operator.id]
        data: dict[str, Any] = {"id": str(operator.id), "role": operator.role.value}
        if view is not ProfileView.PSEUDONYMOUS:
            profile = profiles.get(operator.subject_id, {})
            data["group_ids"] = sorted(str(g) for g in groups[operator.id])
            for name in PUBLIC_PROFILE_FIELDS:
                data[name] = profile.get(name)
        if view is ProfileView.FULL:
            data.update(
                username=operator.username,
                email=profiles.get(operator.subject_id, {}).get("email"),
                status=operator.status.value,
                mfa_enabled=operator.id in mfa_ids,
                locked=bool(operator.locked_until and operator.locked_until > utcnow()),
                last_login_at=_iso(operator.last_login_at),
                created_at=_iso(operator.created_at),
            )
        rendered.append(OperatorView(data))
    return rendered


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def get_operator_view(rt: Runtime, actor: Principal, operator_id: uuid.UUID) -> OperatorView:
    """One operator as ``actor`` may see them; raises :class:`NotFound` if not visible.
    Someone else's full profile (with e-mail) is recorded as ``operator.read``; one's own
    is read in a read session (nothing to record, so no write transaction)."""
    if operator_id == actor.operator_id:
        async with rt.db.session() as session:
            # The operator and whether their MFA is on, in one query.
            query = (
                select(Operator, TotpCredential.confirmed_at)
                .outerjoin(TotpCredential, TotpCredential.operator_id == Operator.id)
                .where(Operator.id == operator_id, Operator.status == OperatorStatus.ACTIVE)
            )
            found = (await session.execute(query)).first()
            if found is None:
                raise NotFound()
            operator, mfa_confirmed_at = found
            mfa_ids = {operator.id} if mfa_confirmed_at is not None else set()
            # The principal's groups were read with its session (and are dropped from the
            # principal cache whenever they change).
            facts = OperatorFacts(
                operator.id, operator.workspace_id, operator.role, actor.group_ids
            )
            view = policy.operator_view(actor, facts)
            groups = {operator.id: facts.group_ids}
            views = {operator.id: view}
            return (await _render(rt, session, [operator], views, groups, mfa_ids))[0]
    async with rt.db.transaction() as tx:
        operator = await _load_active(tx, operator_id)
        facts = await _facts(tx, operator)
        view = policy.operator_view(actor, facts)
        rendered = (
            await _render(rt, tx, [operator], {operator.id: view}, {operator.id: facts.group_ids})
        )[0]
        if operator_id != actor.operator_id and "email" in rendered.data:
            await append(
                tx,
                rt,
                actor,
                "operator.read",
                subject_id=operator.subject_id,
                resource=f"operator:{operator.id}",
            )
        return rendered


async def list_operator_views(rt: Runtime, actor: Principal) -> list[OperatorView]:
    """The operators ``actor`` may see, each in the view the policy allows; one
    ``operator.list`` record names every operator whose profile was returned."""
    scope = policy.operator_list_scope(actor)
    async with rt.db.transaction() as session:
        query = (
            select(Operator)
            .where(
                Operator.workspace_id == actor.workspace_id,
                Operator.status == OperatorStatus.ACTIVE,
            )
            .order_by(Operator.username)
        )
        if not scope.all_of_workspace:
            members = select(GroupMember.operator_id).where(
                GroupMember.group_id.in_(scope.group_ids)
            )
            query = query.where(Operator.id.in_(members) | (Operator.id == actor.operator_id))
        operators = list((await session.scalars(query)).all())
        memberships: dict[uuid.UUID, set[uuid.UUID]] = {o.id: set() for o in operators}
        if operators:
            for member in (
                await session.scalars(
                    select(GroupMember).where(GroupMember.operator_id.in_(list(memberships)))
                )
            ).all():
                memberships[member.operator_id].add(member.group_id)
        groups = {k: frozenset(v) for k, v in memberships.items()}
        views = {
            o.id: policy.operator_view(
                actor, OperatorFacts(o.id, o.workspace_id, o.role, groups[o.id])
            )
            for o in operators
        }
        rendered = await _render(rt, session, operators, views, groups)
        await append(
            session,
            rt,
            actor,
            "operator.list",
            subjects=[
                o.subject_id for o in operators if views[o.id] is not ProfileView.PSEUDONYMOUS
            ],
            resource="operators",
            details={"count": len(rendered)},
        )
        return rendered
