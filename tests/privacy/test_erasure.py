"""Erasure through the public API: walking the subject data map afterwards finds nothing of
the person except what the map says is kept, their keys are destroyed and tombstoned, and
their tokens stop working at once."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from confide.chat.statistics import record_statistics
from confide.core.errors import KeyErased
from confide.models import metadata
from confide.privacy import erasure
from confide.privacy.subject_map import SUBJECT_MAP, Owner
from confide.runtime import Runtime
from tests.access.custody_helpers import touch_custody_tables
from tests.chat.helpers import new_visitor, start_chat
from tests.chat.test_channels import hook, signed
from tests.conftest import World
from tests.privacy.helpers import admin_headers, decide, publish, set_privacy

EMAIL = "erase.me.quokka@example.invalid"
PHONE = "+44 20 7946 0123"
SMS_PHONE = "+33 6 12 34 99 88"
CONSENT = "We use this chat to answer you."


async def _owners(rt: Runtime, visitor_id: uuid.UUID) -> dict[Owner, list[Any]]:
    """The ids a visitor leads to, resolved here independently of the erasure code."""
    async with rt.db.session() as session:
        visitors = metadata.tables["visitors"]
        subject_id = await session.scalar(
            select(visitors.c.subject_id).where(visitors.c.id == visitor_id)
        )
        conversations = list(
            (
                await session.execute(
                    select(metadata.tables["conversations"].c.id).where(
                        metadata.tables["conversations"].c.visitor_id == visitor_id
                    )
                )
            ).scalars()
        )
        messages = list(
            (
                await session.execute(
                    select(metadata.tables["messages"].c.id).where(
                        metadata.tables["messages"].c.conversation_id.in_(conversations)
                    )
                )
            ).scalars()
        )
    return {
        "visitor": [visitor_id],
        "subject": [subject_id] if subject_id else [],
        "conversation": conversations,
        "message": messages,
    }


async def _walk(rt: Runtime, owners: dict[Owner, list[Any]]) -> dict[str, list[str]]:
    """Rows each reach of the map finds for these owners: ``{table: [on_erase, ...]}``."""
    found: dict[str, list[str]] = {}
    async with rt.db.session() as session:
        for name, entry in SUBJECT_MAP.items():
            table = metadata.tables[name]
            for reach in entry.reach:
                ids = owners.get(reach.owner)
                if not ids:
                    continue
                query = select(table).where(table.c[reach.column].in_(ids))
                for row in (await session.execute(query)).mappings().all():
                    if reach.on_erase == "null_columns" and all(
                        row[c] is None for c in reach.null_columns
                    ):
                        continue
                    found.setdefault(name, []).append(reach.on_erase)
    return found


async def _touch_every_visitor_table(
    world: World, client: httpx.AsyncClient, admin: dict[str, str]
) -> tuple[Any, str, str, str]:
    """A widget visitor and an SMS visitor who, between them, reach every visitor table."""
    key = (await client.post("/api/v1/api-keys", json={"name": "b"}, headers=admin)).json()["key"]
    await publish(client, admin, "chat", CONSENT)
    visitor = await new_visitor(client)  # visitors, connection_logs
    assert (await decide(client, visitor, "chat", CONSENT)).status_code in (200, 201)
    chat = await start_chat(client, visitor, "My parcel number is secret-4471")
    conversation_id = chat["conversation"]["id"]
    identified = await client.post(  # subjects, personal_fields, audit
        "/api/v1/visitors/identify",
        json={"vuid": visitor.vuid, "email": EMAIL, "phone": PHONE, "name": "Erin Erasable"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert identified.status_code == 200, identified.text
    read = await client.get(f"/api/v1/conversations/{conversation_id}", headers=admin)
    assert read.json()["visitor"]["email"] == EMAIL
    noted = await client.post(  # conversation_notes
        f"/api/v1/conversations/{conversation_id}/notes", json={"body": "VIP"}, headers=admin
    )
    assert noted.status_code == 201, noted.text
    label = (await client.post("/api/v1/labels", json={"name": "Parcel"}, headers=admin)).json()
    labelled = await client.put(  # conversation_labels
        f"/api/v1/conversations/{conversation_id}/labels",
        json={"label_ids": [label["id"]]},
        headers=admin,
    )
    assert labelled.status_code == 200, labelled.text
    attached = await client.post(  # attachments (and their blobs)
        f"/api/v1/widget/conversations/{conversation_id}/attachments",
        content=b"Parcel secret-4471\n",
        headers={**visitor.headers, "X-Confide-Filename": "parcel.txt"},
    )
    assert attached.status_code == 201, attached.text
    declared = await client.post(
        "/api/v1/visitor-attributes",
        json={"name": "shoe_size", "purpose": "Size advice", "retention_days": 90},
        headers=admin,
    )
    assert declared.status_code == 201, declared.text
    valued = await client.put(  # visitor_attribute_values
        f"/api/v1/visitors/{chat['conversation']['visitor_id']}/attributes/shoe_size",
        json={"value": "EU 42"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert valued.status_code == 200, valued.text
    await set_privacy(client, admin, store_transcripts=False)
    relayed = await client.post(  # relayed_client_ids
        f"/api/v1/widget/conversations/{conversation_id}/messages",
        json={"client_id": uuid.uuid4().hex, "body": "Relayed only"},
        headers=visitor.headers,
    )
    assert relayed.status_code == 201, relayed.text
    await set_privacy(client, admin, store_transcripts=True)

    configured = await client.put(
        "/api/v1/channels/sms", json={"outbound_url": None, "enabled": True}, headers=admin
    )
    secret = configured.json()["signing_secret"]
    body = json.dumps(
        {
            "thread_id": SMS_PHONE.replace(" ", ""),
            "message_id": "sms-1",
            "text": "Hello by SMS",
            "sender": {"name": "Sam Texter", "phone": SMS_PHONE},
        }
    ).encode()
    received = await hook(client, body, signed(secret, body))  # inbound_receipts
    assert received.status_code == 200, received.text
    sms_conversation = received.json()["conversation_id"]
    reply = await client.post(  # channel_deliveries
        f"/api/v1/conversations/{sms_conversation}/messages",
        json={"client_id": uuid.uuid4().hex, "body": "We are on it"},
        headers=admin,
    )
    assert reply.status_code == 201, reply.text
    detail = await client.get(f"/api/v1/conversations/{sms_conversation}", headers=admin)
    await touch_custody_tables(  # access_grants, legal_holds
        world, client, admin, sms_conversation, detail.json()["visitor_id"]
    )
    listed = await client.get("/api/v1/conversations", headers=admin)  # audit_event_subjects
    assert len(listed.json()["conversations"]) == 2
    objection = await client.post(  # dsr_cases
        "/api/v1/dsr/cases",
        json={
            "kind": "objection",
            "processing": "surveys",
            "visitor_id": chat["conversation"]["visitor_id"],
            "verified": True,
        },
        headers=admin,
    )
    assert objection.status_code == 201, objection.text
    carried = await client.post(  # dsr_processing_limits
        f"/api/v1/dsr/cases/{objection.json()['id']}/carry-out", json={}, headers=admin
    )
    assert carried.status_code == 200, carried.text
    async with world.rt.db.transaction() as tx:  # conversation_statistics (the retention job's)
        ids = [uuid.UUID(chat["conversation"]["id"]), uuid.UUID(sms_conversation)]
        assert await record_statistics(tx, ids) == 2
    return visitor, key, chat["conversation"]["visitor_id"], detail.json()["visitor_id"]


async def test_erased_visitors_leave_nothing_but_what_the_map_keeps(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    visitor, key, web_id, sms_id = await _touch_every_visitor_table(world, client, admin)
    owners = {vid: await _owners(rt, uuid.UUID(vid)) for vid in (web_id, sms_id)}
    before = {vid: await _walk(rt, o) for vid, o in owners.items()}
    reachable = {
        name
        for name, entry in SUBJECT_MAP.items()
        for reach in entry.reach
        if reach.owner in ("visitor", "subject", "conversation", "message")
    }
    assert set(before[web_id]) | set(before[sms_id]) == reachable

    erased = await client.post(f"/api/v1/visitors/{web_id}/erase", headers=admin)
    assert erased.status_code == 200, erased.text
    assert erased.json()["conversations"] == 1
    by_phone = await client.post("/api/v1/subjects/erase", json={"phone": SMS_PHONE}, headers=admin)
    assert by_phone.status_code == 200, by_phone.text
    assert by_phone.json()["erased"] == [{"kind": "visitor", "conversations": 1}]

    for vid, o in owners.items():
        left = await _walk(rt, o)
        assert {t: set(kinds) for t, kinds in left.items()} == {
            t: {"keep_pseudonymised"} for t in left
        }, vid
        # dsr_cases: the record that the person's request was answered (random subject id only).
        assert set(left) <= {"subjects", "audit_events", "audit_event_subjects", "dsr_cases"}
        for key_id in [*o["subject"], *o["conversation"]]:
            assert await rt.keyring.store.data_key(str(key_id)) is None
            assert await rt.keyring.store.is_destroyed(str(key_id))

    # The token is dead at once; reads and writes answer 401, nothing is stored.
    assert (
        await client.get("/api/v1/widget/conversations", headers=visitor.headers)
    ).status_code == 401
    sent = await client.post(
        "/api/v1/widget/conversations",
        json={"message": {"client_id": "x", "body": "Still here?"}},
        headers=visitor.headers,
    )
    assert sent.status_code == 401
    # Erased again or looked up again: 404, never 500.
    assert (await client.post(f"/api/v1/visitors/{web_id}/erase", headers=admin)).status_code == 404
    again = await client.post("/api/v1/subjects/erase", json={"email": EMAIL}, headers=admin)
    assert again.status_code == 404
    # A malformed address is the caller's mistake (422 naming the field), not "nobody found".
    for body, field in (({"email": "not-an-email"}, "email"), ({"phone": "12"}, "phone")):
        wrong = await client.post("/api/v1/subjects/erase", json=body, headers=admin)
        assert wrong.status_code == 422 and wrong.json()["error"]["field"] == field, wrong.text
    identify = await client.post(
        "/api/v1/visitors/identify",
        json={"vuid": visitor.vuid, "email": EMAIL},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert identify.status_code in (404, 410), identify.text
    audit = (await client.get("/api/v1/audit?limit=500", headers=admin)).json()
    assert len([e for e in audit["events"] if e["action"] == "subject.erase"]) == 2


async def test_a_destroyed_key_id_is_never_created_again(rt: Runtime, world: World) -> None:
    workspace_id = await world.workspace()
    key_id = uuid.uuid4()
    sealed = await rt.keyring.encrypt(workspace_id, key_id, "before", "t:1")
    assert await rt.keyring.destroy_many([str(key_id)]) == 1
    with pytest.raises(KeyErased):
        await rt.keyring.encrypt(workspace_id, key_id, "after", "t:1")
    assert await rt.keyring.store.data_key(str(key_id)) is None
    assert sealed.startswith("ck1:")


async def test_conversations_go_in_bounded_batches_and_an_interrupted_erasure_resumes(
    world: World, client: httpx.AsyncClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await admin_headers(world)
    visitor = await new_visitor(client)
    for n in range(3):  # one open chat at a time: each ends before the next
        chat = await start_chat(client, visitor, f"Chat number {n}")
        cid = chat["conversation"]["id"]
        await client.post(f"/api/v1/widget/conversations/{cid}/close", headers=visitor.headers)
    visitor_id = uuid.UUID(chat["conversation"]["visitor_id"])
    original = erasure.apply_reaches
    calls = 0

    async def failing_second_batch(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("node lost mid-erasure")
        await original(*args)

    monkeypatch.setattr(erasure, "apply_reaches", failing_second_batch)
    with pytest.raises(RuntimeError):
        await erasure.do_erase_subject(rt, None, "visitor", visitor_id, batch_size=1)
    owners = await _owners(rt, visitor_id)
    assert len(owners["conversation"]) == 2  # the first batch committed, the second rolled back
    # Revoked from the first unit on, although conversations remain.
    assert (
        await client.get("/api/v1/widget/conversations", headers=visitor.headers)
    ).status_code == 401
    monkeypatch.setattr(erasure, "apply_reaches", original)
    report = await erasure.do_erase_subject(rt, None, "visitor", visitor_id, batch_size=1)
    assert (report.conversations, report.batches) == (2, 3)
    assert await _walk(rt, await _owners(rt, visitor_id)) == {}
    assert admin  # the workspace's admin exists; erasure from the command line needs none


async def test_legal_hold_blocks_erasure_and_changes_nothing(
    world: World, client: httpx.AsyncClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await admin_headers(world)
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "Keep me for the court")
    visitor_id = chat["conversation"]["visitor_id"]

    async def held(session: Any, ids: list[uuid.UUID]) -> set[uuid.UUID]:
        return set(ids)

    monkeypatch.setattr(erasure, "held_conversation_ids", held)
    refused = await client.post(f"/api/v1/visitors/{visitor_id}/erase", headers=admin)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "legal_hold"
    assert (
        await client.get("/api/v1/widget/conversations", headers=visitor.headers)
    ).status_code == 200


async def test_erased_operator_becomes_a_stub_and_cannot_sign_in(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    from confide.access.models import Role

    admin = await admin_headers(world)
    agent = await world.operator("olga", Role.AGENT, name="Olga Erasable", email=EMAIL)
    assert (await world.login(agent)).status_code == 200
    agent_headers = await world.headers(agent)
    presence = await client.put(
        "/api/v1/me/presence", json={"availability": "available"}, headers=agent_headers
    )
    assert presence.status_code in (200, 204), presence.text
    forbidden = await client.post(f"/api/v1/operators/{agent.id}/erase", headers=agent_headers)
    assert forbidden.status_code == 403
    erased = await client.post(f"/api/v1/operators/{agent.id}/erase", headers=admin)
    assert erased.status_code == 200, erased.text
    assert (await world.login(agent)).status_code == 401
    assert (await client.get("/api/v1/me", headers=agent_headers)).status_code == 401
    owners: dict[Owner, list[Any]] = {"operator": [agent.id]}
    left = await _walk(rt, owners)
    assert left == {"operators": ["keep_pseudonymised"]}
    async with rt.db.session() as session:
        operators = metadata.tables["operators"]
        username = await session.scalar(
            select(operators.c.username).where(operators.c.id == agent.id)
        )
    assert username.startswith("erased.")
    found = await client.post("/api/v1/subjects/erase", json={"email": EMAIL}, headers=admin)
    assert found.status_code == 404


async def test_the_last_admin_of_a_workspace_cannot_be_erased(world: World, rt: Runtime) -> None:
    from confide.access.models import Role
    from confide.core.errors import Conflict

    only = await world.operator("solo", Role.ADMIN)
    with pytest.raises(Conflict):
        await erasure.do_erase_subject(rt, None, "operator", only.id)
    assert (await world.login(only)).status_code == 200  # nothing was changed
