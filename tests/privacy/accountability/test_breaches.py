"""The breach register: deadlines on a simulated clock, notifications over real SMTP on
loopback (aiosmtpd), and the people an actor's reads exposed, from the audit ledger."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from confide.access.models import Role
from confide.audit.models import AuditEvent
from confide.core import clock
from confide.core.config import Settings
from confide.privacy.accountability import breach_notices, breaches
from confide.privacy.accountability.breaches import BreachFacts
from confide.privacy.accountability.models import Breach, BreachNotification
from confide.runtime import Runtime
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World
from tests.mailbox import MailBox, mailbox_fixture, with_smtp  # noqa: F401 (fixture)

pytestmark = pytest.mark.smtp
HOUR = 3600


@pytest.fixture
def settings(settings: Settings, mailbox: MailBox) -> Settings:
    return with_smtp(settings, mailbox)


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    yield
    clock.reset()


def breach_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Agent laptop stolen",
        "nature": "A laptop with a signed-in console session was stolen from a car.",
        "detected_at": clock.utcnow().isoformat(),
        "data_categories": ["visitor names", "message texts"],
        "subject_categories": ["website visitors"],
        "approx_subjects": 40,
        "approx_records": 120,
        "consequences": "Visitors' questions could be read by the thief.",
        "measures": "Sessions revoked, password reset, device wiped remotely.",
        "high_risk": True,
    }
    body.update(changes)
    return body


def deadline(breach: dict[str, Any], audience: str) -> dict[str, Any]:
    found: dict[str, Any] = next(d for d in breach["deadlines"] if d["audience"] == audience)
    return found


async def test_workspace_breach_shows_the_72_hour_deadline_and_notifies_the_authority(
    world: World,
    client: httpx.AsyncClient,
    rt: Runtime,
    mailbox: MailBox,
) -> None:
    box = mailbox
    ada = await world.operator("ada", Role.ADMIN)
    admin = await world.headers(ada)
    created = await client.post("/api/v1/breaches", json=breach_body(), headers=admin)
    assert created.status_code == 201, created.text
    breach = created.json()
    authority = deadline(breach, "authority")
    due = clock.utcnow() + timedelta(hours=72)
    assert abs((authority["due_at"] and _parse(authority["due_at"]) - due).total_seconds()) < 5
    assert authority["state"] == "open" and deadline(breach, "subjects")["state"] == "open"

    # Without the authority's address there is nobody to mail: the error names the field.
    refused = await client.post(
        f"/api/v1/breaches/{breach['id']}/notifications",
        json={"audience": "authority"},
        headers=admin,
    )
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "authority_email"

    clock.advance(73 * HOUR)  # past the deadline, nothing sent yet
    admin = await world.headers(ada)  # the access token expired meanwhile
    late = (await client.get(f"/api/v1/breaches/{breach['id']}", headers=admin)).json()
    assert deadline(late, "authority")["state"] == "overdue"

    profile = {
        "controller_name": "Acme Ltd",
        "controller_contact": "privacy@acme.example",
        "authority_name": "Example Data Protection Authority",
        "authority_email": "breaches@dpa.example",
    }
    assert (
        await client.put("/api/v1/controller-profile", json=profile, headers=admin)
    ).status_code == 200
    notified = await client.post(
        f"/api/v1/breaches/{breach['id']}/notifications",
        json={"audience": "authority"},
        headers=admin,
    )
    assert notified.status_code == 200, notified.text
    [mail] = await box.wait_for(1)
    assert box.recipients == [["breaches@dpa.example"]]
    assert mail["Subject"] == "Personal data breach notification: Agent laptop stolen"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Approximate number of data subjects: 40" in text and breach["id"] in text
    [note] = notified.json()["notifications"]
    assert (note["audience"], note["status"], note["recipients"]) == ("authority", "sent", 1)
    assert deadline(notified.json(), "authority")["state"] == "late"  # sent after 72 hours

    told = await client.post(
        f"/api/v1/breaches/{breach['id']}/notifications",
        json={"audience": "subjects", "reference": "E-mailed 40 visitors on 2 Dec"},
        headers=admin,
    )
    assert deadline(told.json(), "subjects")["state"] == "met"
    async with rt.db.session() as session:
        actions = set(
            (
                await session.scalars(
                    select(AuditEvent.action).where(AuditEvent.action.like("breach.%"))
                )
            ).all()
        )
    assert actions == {"breach.record", "breach.notify", "breach.notification_sent"}


async def test_notified_in_time_meets_the_deadline(
    world: World,
    client: httpx.AsyncClient,
    mailbox: MailBox,
) -> None:
    ada = await world.operator("ada", Role.ADMIN)
    admin = await world.headers(ada)
    breach = (
        await client.post("/api/v1/breaches", json=breach_body(high_risk=False), headers=admin)
    ).json()
    assert [d["audience"] for d in breach["deadlines"]] == ["authority"]
    clock.advance(30 * HOUR)
    admin = await world.headers(ada)
    notified = await client.post(
        f"/api/v1/breaches/{breach['id']}/notifications",
        json={"audience": "authority", "reference": "DPA portal case 2026-1182"},
        headers=admin,
    )
    authority = deadline(notified.json(), "authority")
    assert authority["state"] == "met"
    assert 42 * HOUR - 60 <= authority["remaining_seconds"] <= 42 * HOUR
    assert mailbox.messages == []  # recorded, not mailed


async def test_platform_breach_mails_the_admins_of_affected_workspaces_within_24_hours(
    world: World,
    client: httpx.AsyncClient,
    rt: Runtime,
    mailbox: MailBox,
) -> None:
    box = mailbox
    ada = await world.operator("ada", Role.ADMIN, email="ada@acme.example")
    await world.operator("alan", Role.ADMIN, email="alan@acme.example")
    await world.operator("amy", Role.AGENT, email="amy@acme.example")  # not an admin
    await world.operator("bob", Role.ADMIN, slug="bolt", email="bob@bolt.example")
    acme, bolt = world.workspaces["acme"], world.workspaces["bolt"]
    await world.workspace("calm")
    facts = BreachFacts(
        title="Backup bucket exposed",
        nature="A database backup was readable without authentication for six hours.",
        detected_at=clock.utcnow() - timedelta(hours=2),
        data_categories=["conversation metadata"],
        subject_categories=["website visitors", "operators"],
        approx_subjects=900,
        approx_records=15000,
        consequences="Encrypted at rest: texts unreadable without the key store.",
        measures="Bucket closed, access logs reviewed.",
    )
    breach = await breaches.do_record_breach(rt, None, facts, affected_workspace_ids=[acme, bolt])
    admins = deadline(breach, "admins")
    assert admins["state"] == "open" and 24 * HOUR - 60 <= admins["remaining_seconds"] <= 24 * HOUR

    clock.advance(5 * HOUR)
    await breach_notices.do_notify_breach(rt, None, uuid.UUID(breach["id"]), "admins")
    await box.wait_for(2)
    assert sorted(r for rs in box.recipients for r in rs) == [
        "ada@acme.example",
        "alan@acme.example",
        "bob@bolt.example",
    ]
    [listed] = await breaches.list_breaches(rt, None)
    assert deadline(listed, "admins")["state"] == "met"
    sent = {n["workspace_id"]: (n["status"], n["recipients"]) for n in listed["notifications"]}
    assert sent == {str(acme): ("sent", 2), str(bolt): ("sent", 1)}

    # Each affected workspace sees the platform breach in its register; others do not.
    seen = (await client.get("/api/v1/breaches", headers=await world.headers(ada))).json()[
        "breaches"
    ]
    assert [b["id"] for b in seen] == [breach["id"]] and seen[0]["scope"] == "platform"
    # ... as its own controller's breach: told 5 h after the platform knew, its 72 hours to
    # notify its authority start then; it sees its own notifications, never bolt's.
    mine = seen[0]
    assert mine["affected_workspace_ids"] == [str(acme)]
    assert {n["workspace_id"] for n in mine["notifications"]} == {str(acme)}
    authority = deadline(mine, "authority")
    assert authority["state"] == "open"
    assert 72 * HOUR - 60 <= authority["remaining_seconds"] <= 72 * HOUR
    recorded = await client.post(
        f"/api/v1/breaches/{breach['id']}/notifications",
        json={"audience": "authority", "reference": "Authority portal case 12"},
        headers=await world.headers(ada),
    )
    assert recorded.status_code == 200, recorded.text
    assert deadline(recorded.json(), "authority")["state"] == "met"
    bob = await world.headers(await world.operator("bea", Role.ADMIN, slug="bolt"))
    theirs = (await client.get(f"/api/v1/breaches/{breach['id']}", headers=bob)).json()
    assert deadline(theirs, "authority")["state"] == "open"  # acme's notice is not bolt's
    assert all(n["audience"] == "admins" for n in theirs["notifications"])
    carl = await world.headers(await world.operator("carl", Role.ADMIN, slug="calm"))
    assert (await client.get("/api/v1/breaches", headers=carl)).json()["breaches"] == []
    assert (await client.get(f"/api/v1/breaches/{breach['id']}", headers=carl)).status_code == 404
    async with rt.db.session() as session:
        reads = await session.scalar(
            select(func.count()).where(AuditEvent.action == "breach.notification_sent")
        )
    assert reads == 2  # one per workspace: the admins' addresses were read from the vault
    async with rt.db.session() as session:  # counts are kept, never the addresses
        rows = (await session.execute(select(BreachNotification))).scalars().all()
    stored = " ".join(str(getattr(r, c.key)) for r in rows for c in BreachNotification.__table__.c)
    assert "@" not in stored


async def test_the_people_an_agent_read_are_listed_for_the_controller(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await world.headers(await world.operator("ada", Role.ADMIN))
    # A second admin's session was stolen: whose data did it read?
    mallory = await world.operator("mallory", Role.ADMIN)
    stolen = await world.headers(mallory)
    agent = await world.headers(await world.operator("alice", Role.AGENT))
    since = clock.utcnow() - timedelta(seconds=1)
    read_ids = []
    for text in ("Where is my parcel?", "My card was charged twice"):
        visitor = await new_visitor(client)
        read_ids.append((await start_chat(client, visitor, text))["conversation"]["id"])
    listed = await client.get("/api/v1/conversations", headers=stolen)  # names both visitors
    assert listed.status_code == 200, listed.text
    got = await client.get(f"/api/v1/conversations/{read_ids[0]}", headers=stolen)
    assert got.status_code == 200, got.text
    untouched = await new_visitor(client)
    await start_chat(client, untouched, "Nobody reads this one")
    until = clock.utcnow() + timedelta(seconds=1)
    breach = (await client.post("/api/v1/breaches", json=breach_body(), headers=admin)).json()
    window = {"actor_id": str(mallory.id), "since": since.isoformat(), "until": until.isoformat()}
    exposed = await client.post(
        f"/api/v1/breaches/{breach['id']}/exposed-subjects",
        json=window,
        headers=admin,
    )
    assert exposed.status_code == 200, exposed.text
    subjects = exposed.json()["subjects"]
    async with rt.db.session() as session:
        expected = await _subjects_of_conversations(session, read_ids)
    assert {s["subject_id"] for s in subjects} == expected and len(expected) == 2
    assert all(s["kind"] == "visitor" for s in subjects)
    actions = {tuple(s["actions"]) for s in subjects}
    assert actions == {("conversation.list", "conversation.read"), ("conversation.list",)}

    before = await client.post(
        f"/api/v1/breaches/{breach['id']}/exposed-subjects",
        json={
            "actor_id": str(mallory.id),
            "since": (since - timedelta(hours=2)).isoformat(),
            "until": (since - timedelta(hours=1)).isoformat(),
        },
        headers=admin,
    )
    assert before.json()["subjects"] == []
    agent_asks = await client.post(
        f"/api/v1/breaches/{breach['id']}/exposed-subjects",
        json=window,
        headers=agent,
    )
    assert agent_asks.status_code == 403
    async with rt.db.session() as session:
        recorded = await session.scalar(
            select(func.count()).where(AuditEvent.action == "breach.exposure_read")
        )
    assert recorded == 2


async def _subjects_of_conversations(session: Any, conversation_ids: list[str]) -> set[str]:
    from confide.chat.models import Conversation, Visitor

    rows = await session.scalars(
        select(Visitor.subject_id)
        .join(Conversation, Conversation.visitor_id == Visitor.id)
        .where(Conversation.id.in_([uuid.UUID(c) for c in conversation_ids]))
    )
    return {str(s) for s in rows.all()}


async def test_a_breach_needs_its_facts(world: World, client: httpx.AsyncClient) -> None:
    admin = await world.headers(await world.operator("ada", Role.ADMIN))
    missing = await client.post(
        "/api/v1/breaches", json=breach_body(data_categories=[]), headers=admin
    )
    assert missing.status_code == 422
    future = (clock.utcnow() + timedelta(days=1)).isoformat()
    body = breach_body(detected_at=future)
    ahead = await client.post("/api/v1/breaches", json=body, headers=admin)
    assert ahead.status_code == 422 and ahead.json()["error"]["field"] == "detected_at"


def _parse(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value)


def test_a_platform_breach_is_notified_only_once_every_affected_workspace_is() -> None:
    aware = clock.utcnow()
    first, second = uuid.uuid4(), uuid.uuid4()
    breach = Breach(
        workspace_id=None, aware_at=aware, affected_workspace_ids=[str(first), str(second)]
    )

    def told(workspace: uuid.UUID, hours: int) -> BreachNotification:
        return BreachNotification(
            audience="admins",
            workspace_id=workspace,
            status="sent",
            sent_at=aware + timedelta(hours=hours),
        )

    [half] = breaches.deadlines(breach, [told(first, 2)])
    assert (half["state"], half["met_at"]) == ("open", None)
    [late] = breaches.deadlines(breach, [told(first, 2), told(second, 30)])
    assert late["state"] == "late" and late["met_at"] == (aware + timedelta(hours=30)).isoformat()


async def test_the_exposed_people_are_told_by_mail_in_plain_language(
    world: World, client: httpx.AsyncClient, rt: Runtime, mailbox: MailBox
) -> None:
    from tests.privacy.requests.helpers import run_jobs

    ada = await world.operator("ada", Role.ADMIN)
    admin = await world.headers(ada)
    key = (await client.post("/api/v1/api-keys", json={"name": "b"}, headers=admin)).json()
    mallory = await world.operator("mallory", Role.ADMIN)
    stolen = await world.headers(mallory)
    since = clock.utcnow() - timedelta(seconds=1)
    with_address = await new_visitor(client)
    identified = await client.post(
        "/api/v1/visitors/identify",
        json={"vuid": with_address.vuid, "email": "vera.visitor@example.test"},
        headers={"Authorization": f"Bearer {key['key']}"},
    )
    assert identified.status_code in (200, 201), identified.text
    await start_chat(client, with_address, "Where is my parcel?")
    await start_chat(client, await new_visitor(client), "No address given")
    assert (await client.get("/api/v1/conversations", headers=stolen)).status_code == 200
    until = clock.utcnow() + timedelta(seconds=1)
    breach = (await client.post("/api/v1/breaches", json=breach_body(), headers=admin)).json()
    window = {"actor_id": str(mallory.id), "since": since.isoformat(), "until": until.isoformat()}
    exposed = await client.post(
        f"/api/v1/breaches/{breach['id']}/exposed-subjects", json=window, headers=admin
    )
    ids = [s["subject_id"] for s in exposed.json()["subjects"]]
    assert len(ids) == 2

    no_one = await client.post(
        f"/api/v1/breaches/{breach['id']}/notifications",
        json={"audience": "subjects"},
        headers=admin,
    )
    assert no_one.status_code == 422 and no_one.json()["error"]["field"] == "subject_ids"
    told = await client.post(
        f"/api/v1/breaches/{breach['id']}/notifications",
        json={"audience": "subjects", "subject_ids": ids},
        headers=admin,
    )
    assert told.status_code == 200, told.text
    [note] = told.json()["notifications"]
    # One of the two has an address: one mail, queued in the outbox with the notification.
    assert (note["audience"], note["status"], note["recipients"]) == ("subjects", "queued", 1)
    assert deadline(told.json(), "subjects")["state"] == "met"
    await run_jobs(rt)
    assert mailbox.recipients == [["vera.visitor@example.test"]]
    body = mailbox.body(0)
    assert "What happened: A laptop with a signed-in console session" in body
    assert "What we have done and propose to do: Sessions revoked" in body
    assert "vera" not in body.lower()  # nothing about the recipient in the notice
    async with rt.db.session() as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "breach.notify"))
    assert event is not None  # the read of their addresses is recorded, naming who was told
