"""What the API records in the ledger, and the auditors' REST view of it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from confide.access.models import Operator, Role
from confide.audit.models import AuditEvent
from confide.audit.verify import verify_chain
from confide.chat.models import Visitor
from confide.core import clock
from confide.runtime import Runtime
from tests.audit.helpers import chain
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import Account, World, totp_now

AUDIT = "/api/v1/audit"


@pytest.fixture
async def ada(world: World) -> Account:
    return await world.operator("ada", Role.ADMIN)


async def _actions(rt: Runtime, workspace_id: uuid.UUID | None) -> list[str]:
    return [e.action for e in await chain(rt, workspace_id)]


async def _subject_of_operator(rt: Runtime, operator_id: uuid.UUID) -> uuid.UUID:
    async with rt.db.session() as session:
        subject_id = await session.scalar(
            select(Operator.subject_id).where(Operator.id == operator_id)
        )
    assert subject_id is not None
    return subject_id


async def test_admin_reads_the_log_and_the_read_is_itself_recorded(
    world: World, client: httpx.AsyncClient, rt: Runtime, ada: Account
) -> None:
    headers = await world.headers(ada)
    response = await client.get(AUDIT, headers=headers)
    assert response.status_code == 200, response.text
    events = response.json()["events"]
    # The read is appended before the page is read: no record, no data.
    assert [(e["seq"], e["action"], e["actor_id"]) for e in events] == [
        (3, "audit.read", str(ada.id)),
        (2, "auth.login", str(ada.id)),
        (1, "operator.create", None),  # the account, created from the command line
    ]
    assert response.json()["has_more"] is False

    again = (await client.get(AUDIT, headers=headers, params={"limit": 1})).json()
    assert [(e["seq"], e["action"]) for e in again["events"]] == [(4, "audit.read")]
    assert again["has_more"] is True
    older = await client.get(AUDIT, headers=headers, params={"before_seq": 2})
    assert [e["seq"] for e in older.json()["events"]] == [1]


async def test_agent_may_not_read_the_log(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    agent = await world.operator("alice", Role.AGENT)
    headers = await world.headers(agent)
    for path in (AUDIT, f"{AUDIT}/export"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 403, path
    assert "audit.read" not in await _actions(rt, await world.workspace())


async def test_export_is_json_lines_of_the_whole_chain(
    world: World, client: httpx.AsyncClient, rt: Runtime, ada: Account
) -> None:
    headers = await world.headers(ada)
    response = await client.get(f"{AUDIT}/export", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in response.headers["content-disposition"]
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [(e["seq"], e["action"]) for e in lines] == [
        (1, "operator.create"),
        (2, "auth.login"),
        (3, "audit.read"),
    ]
    assert lines[2]["resource"] == "audit:export"
    assert lines[2]["prev_hash"] == lines[1]["hash"]


async def test_login_success_and_failure_are_recorded_without_the_address(
    world: World, client: httpx.AsyncClient, rt: Runtime, ada: Account
) -> None:
    wrong = await client.post(
        "/api/v1/auth/login",
        json={"workspace": "acme", "username": "ada", "password": "not the password"},
    )
    assert wrong.status_code == 401
    unknown = await client.post(
        "/api/v1/auth/login",
        json={"workspace": "nowhere", "username": "ada", "password": "not the password"},
    )
    assert unknown.status_code == 401
    assert (await world.login(ada)).status_code == 200

    events = [e for e in await chain(rt, await world.workspace()) if e.action.startswith("auth.")]
    assert [(e.action, e.actor_kind, e.actor_id) for e in events] == [
        ("auth.login_failed", "anonymous", None),
        ("auth.login", "operator", ada.id),
    ]
    assert events[1].resource is not None and events[1].resource.startswith("session:")
    platform = await chain(rt, None)  # an unknown workspace: the platform's chain
    assert [(e.action, e.actor_kind) for e in platform] == [("auth.login_failed", "anonymous")]
    for event in [*events, *platform]:
        assert event.source.startswith("ip:") and "127.0.0.1" not in event.source
        assert event.details_encrypted is None  # no typed username or password is kept
    assert events[0].source == events[1].source  # same client, same keyed hash


async def test_mfa_login_records_challenge_failure_and_success(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    alice = await world.operator("alice")
    headers = await world.headers(alice)
    secret = (await client.post("/api/v1/me/mfa/enrol", headers=headers)).json()["secret"]
    confirm = await client.post(
        "/api/v1/me/mfa/confirm", headers=headers, json={"code": totp_now(secret)}
    )
    assert confirm.status_code == 200
    clock.advance(30)  # the code just used is spent
    challenge = (await world.login(alice)).json()["challenge"]
    valid = {totp_now(secret, k) for k in range(-3, 4)}
    wrong = next(c for c in (f"{i:06d}" for i in range(100)) if c not in valid)
    failed = await client.post("/api/v1/auth/mfa", json={"challenge": challenge, "code": wrong})
    assert failed.status_code == 401
    passed = await client.post(
        "/api/v1/auth/mfa", json={"challenge": challenge, "code": totp_now(secret)}
    )
    assert passed.status_code == 200, passed.text
    assert await _actions(rt, await world.workspace()) == [
        "operator.create",
        "auth.login",
        "auth.mfa_enrolment_started",
        "auth.mfa_enabled",
        "auth.mfa_challenge",
        "auth.mfa_failed",
        "auth.login",
    ]
    signing_in = [
        e for e in await chain(rt, await world.workspace()) if e.action != "operator.create"
    ]
    assert {e.actor_id for e in signing_in} == {alice.id}


async def test_opening_a_conversation_records_the_visitor_as_subject(
    world: World, client: httpx.AsyncClient, rt: Runtime, ada: Account
) -> None:
    visitor = await new_visitor(client)
    conversation_id = (await start_chat(client, visitor, "my card is 4111"))["conversation"]["id"]
    headers = await world.headers(ada)
    assert (
        await client.get(f"/api/v1/conversations/{conversation_id}", headers=headers)
    ).is_success
    messages = await client.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=headers
    )
    assert messages.is_success
    async with rt.db.session() as session:
        subject_id = await session.scalar(
            select(Visitor.subject_id).where(Visitor.vuid == visitor.vuid)
        )
    reads = [
        e for e in await chain(rt, await world.workspace()) if e.action.startswith("conversation.")
    ]
    assert [(e.action, e.subject_id, e.resource, e.actor_id) for e in reads] == [
        ("conversation.read", subject_id, f"conversation:{conversation_id}", ada.id),
        ("conversation.messages_read", subject_id, f"conversation:{conversation_id}", ada.id),
    ]


async def test_a_read_that_is_refused_is_not_recorded_as_a_read(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    support, sales = await world.group("Support"), await world.group("Sales")
    bob = await world.operator("bob", Role.AGENT, groups=[sales])
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, group_id=support)
    conversation_id = chat["conversation"]["id"]
    response = await client.get(
        f"/api/v1/conversations/{conversation_id}", headers=await world.headers(bob)
    )
    assert response.status_code == 404
    assert "conversation.read" not in await _actions(rt, await world.workspace())


async def test_operator_management_and_profile_reads_name_the_operator(
    world: World, client: httpx.AsyncClient, rt: Runtime, ada: Account
) -> None:
    headers = await world.headers(ada)
    created = await client.post(
        "/api/v1/operators",
        headers=headers,
        json={
            "username": "Carol",
            "password": "a long enough password",
            "role": "agent",
            "name": "Carol C",
            "email": "carol@example.invalid",
        },
    )
    assert created.status_code == 201, created.text
    carol_id = uuid.UUID(created.json()["id"])
    assert (await client.get(f"/api/v1/operators/{carol_id}", headers=headers)).is_success
    patched = await client.patch(
        f"/api/v1/operators/{carol_id}", headers=headers, json={"job_title": "Support"}
    )
    assert patched.is_success
    assert (
        await client.delete(f"/api/v1/operators/{carol_id}", headers=headers)
    ).status_code == 204
    # Reading one's own profile is not another person's data.
    assert (await client.get(f"/api/v1/operators/{ada.id}", headers=headers)).is_success

    carol_subject = await _subject_of_operator(rt, carol_id)
    events = [e for e in await chain(rt, await world.workspace()) if e.subject_id == carol_subject]
    assert [(e.action, e.subject_id) for e in events] == [
        # Every response that carried her full profile is a read of it, the replies to the
        # create and the update included.
        ("operator.create", carol_subject),
        ("operator.read", carol_subject),
        ("operator.read", carol_subject),
        ("operator.update", carol_subject),
        ("operator.read", carol_subject),
        ("operator.remove", carol_subject),
    ]
    page = (await client.get(AUDIT, headers=headers, params={"limit": 10})).json()["events"]
    details = {e["action"]: e["details"] for e in page if e["resource"] == f"operator:{carol_id}"}
    assert details["operator.create"] == {"username": "carol", "role": "agent"}
    assert details["operator.update"] == {"changed": ["job_title"]}


async def test_settings_change_and_api_keys_are_recorded_with_what_changed(
    world: World, client: httpx.AsyncClient, rt: Runtime, ada: Account
) -> None:
    headers = await world.headers(ada)
    patched = await client.patch(
        "/api/v1/workspace",
        headers=headers,
        json={"name": "Acme Inc", "mfa_required_for_admins": False},
    )
    assert patched.is_success
    key = await client.post("/api/v1/api-keys", headers=headers, json={"name": "backend"})
    assert key.status_code == 201
    key_id = key.json()["id"]
    assert (await client.delete(f"/api/v1/api-keys/{key_id}", headers=headers)).status_code == 204

    page = (await client.get(AUDIT, headers=headers)).json()["events"]
    found: dict[str, Any] = {e["action"]: e for e in page}
    assert found["workspace.settings"]["details"] == {
        "name": "Acme Inc",
        "mfa_required_for_admins": False,
    }
    assert found["api_key.create"]["resource"] == f"api_key:{key_id}"
    assert found["api_key.revoke"]["resource"] == f"api_key:{key_id}"
    assert (await verify_chain(rt, await world.workspace())).ok


async def test_identify_by_api_key_is_recorded_with_field_names_only(
    world: World, client: httpx.AsyncClient, rt: Runtime, ada: Account
) -> None:
    headers = await world.headers(ada)
    key = (await client.post("/api/v1/api-keys", headers=headers, json={"name": "b"})).json()
    visitor = await new_visitor(client)
    response = await client.post(
        "/api/v1/visitors/identify",
        headers={"Authorization": f"Bearer {key['key']}"},
        json={"vuid": visitor.vuid, "email": "grace@example.invalid", "name": "Grace"},
    )
    assert response.status_code == 200, response.text
    event = (await chain(rt, await world.workspace()))[-1]
    assert (event.action, event.actor_kind, str(event.actor_id)) == (
        "visitor.identify",
        "api_key",
        key["id"],
    )
    assert event.details_encrypted is not None
    assert "grace@example.invalid" not in event.details_encrypted
    page = (await client.get(AUDIT, headers=headers, params={"limit": 2})).json()["events"]
    assert [e["action"] for e in page] == ["audit.read", "visitor.identify"]
    assert page[1]["details"] == {"fields": ["email", "name"]}
    async with rt.db.session() as session:
        stored = (await session.scalars(select(AuditEvent.details_encrypted))).all()
    assert not any("Grace" in (text or "") for text in stored)
