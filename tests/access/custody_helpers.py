"""Helpers for the grant and hold tests: a team with a support account, conversations in a
data state, and the audit records of a workspace by action."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select, update

from confide.access.models import Role
from confide.audit.models import AuditEvent
from confide.chat.models import Conversation
from confide.runtime import Runtime
from tests.conftest import Account, World

HOUR_SECONDS = 3600


async def make_team(world: World) -> dict[str, Any]:
    support_group = await world.group("Support")
    return {
        "group": support_group,
        "ada": await world.operator("ada", Role.ADMIN, email="ada.admin@example.test"),
        "alice": await world.operator("alice", Role.AGENT, groups=[support_group]),
        "sam": await world.operator("sam", Role.SUPPORT, slug=None),
    }


async def token_of(world: World, account: Account) -> str:
    response = await world.login(account)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def set_state(rt: Runtime, conversation_id: str, **state: object) -> None:
    """Put a conversation in a data state directly (the retention job does it for real)."""
    async with rt.db.transaction() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == uuid.UUID(conversation_id))
            .values(**state)
        )


async def actions(rt: Runtime, workspace_id: uuid.UUID) -> list[tuple[str, uuid.UUID | None, str]]:
    """``(action, actor_id, resource)`` of the workspace's chain, in order."""
    async with rt.db.session() as session:
        rows = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.resource)
                .where(AuditEvent.workspace_id == workspace_id)
                .order_by(AuditEvent.seq)
            )
        ).all()
    return [(a, who, r or "") for a, who, r in rows]


async def grant(client: httpx.AsyncClient, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("support_username", "sam")
    body.setdefault("hours", 2)
    body.setdefault("reason", "Ticket 4711: widget does not load")
    response = await client.post("/api/v1/access-grants/support", json=body, headers=admin)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def drive_custody_routes(
    world: World,
    drive: Any,
    call: Any,
    admin: dict[str, str],
    admin_account: Account,
    conversation_id: str,
) -> None:
    """Drive every write route of support access, archive custodians and legal holds through
    ``drive`` (tests/audit/test_coverage.py), each appending its action."""
    await world.operator("sam", Role.SUPPORT, slug=None)
    made = await drive(
        "POST",
        "/api/v1/access-grants/support",
        call(
            "POST",
            "/access-grants/support",
            admin,
            json={"support_username": "sam", "scope": "settings", "hours": 1, "reason": "help"},
        ),
    )
    await drive(
        "POST",
        "/api/v1/access-grants/{grant_id}/revoke",
        call("POST", f"/access-grants/{made.json()['id']}/revoke", admin),
    )
    await drive(
        "PUT",
        "/api/v1/operators/{operator_id}/archive-custodian",
        call(
            "PUT",
            f"/operators/{admin_account.id}/archive-custodian",
            admin,
            json={"archive_custodian": True},
        ),
    )
    await set_state(world.rt, conversation_id, lifecycle="archived")
    await drive(
        "POST",
        "/api/v1/archive/conversations/{conversation_id}/open",
        call(
            "POST",
            f"/archive/conversations/{conversation_id}/open",
            admin,
            json={"reason": "incident-restore", "hours": 1},
        ),
    )
    await set_state(world.rt, conversation_id, lifecycle="active")
    hold = await drive(
        "POST",
        "/api/v1/legal-holds",
        call(
            "POST",
            "/legal-holds",
            admin,
            json={"target": "conversation", "conversation_id": conversation_id, "reason": "x"},
        ),
    )
    await drive(
        "POST",
        "/api/v1/legal-holds/{hold_id}/lift",
        call("POST", f"/legal-holds/{hold.json()['id']}/lift", admin, json={"reason": "done"}),
    )


async def touch_custody_tables(
    world: World,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    conversation_id: str,
    visitor_id: str,
) -> None:
    """Give a conversation a support grant and its visitor a (lifted) legal hold, so the
    erasure test finds rows of ``access_grants`` and ``legal_holds`` to erase."""
    await world.operator("sam", Role.SUPPORT, slug=None)
    await grant(client, admin, scope="conversation", conversation_id=conversation_id)
    placed = await client.post(
        "/api/v1/legal-holds",
        json={"target": "subject", "visitor_id": visitor_id, "reason": "Case 1"},
        headers=admin,
    )
    assert placed.status_code == 201, placed.text
    lifted = await client.post(
        f"/api/v1/legal-holds/{placed.json()['id']}/lift", json={"reason": "done"}, headers=admin
    )
    assert lifted.status_code == 200, lifted.text
