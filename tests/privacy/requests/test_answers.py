"""The answer to an access request reaches someone (issue 14 follow-up): a widget visitor with
no e-mail fetches their export from the widget through a short-lived, recorded link; a person
erased before the request was carried out gets a signed receipt saying no personal data is
held any more, and no missing download is offered."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select

from confide.audit.models import AuditEvent
from confide.core.config import Settings
from confide.runtime import Runtime
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World
from tests.mailbox import MailBox, mailbox_fixture, with_smtp  # noqa: F401 (fixture)
from tests.privacy.requests.helpers import EMAIL, admin, identified_visitor, run_jobs
from tests.web.helpers import sign_in

CASES = "/api/v1/dsr/cases"
WIDGET = "/api/v1/widget/privacy-requests"
NOTHING_HELD = "none: no personal data about this person is held any more"


async def _downloads(rt: Runtime) -> int:
    async with rt.db.session() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "subject.export_download")
            )
            or 0
        )


async def test_a_widget_visitor_without_email_fetches_their_export_from_the_widget(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    headers = await admin(world)
    visitor = await new_visitor(client)
    await start_chat(client, visitor, "Hello, a question about my order")
    filed = await client.post(WIDGET, json={"kind": "access"}, headers=visitor.headers)
    assert filed.status_code == 201, filed.text
    case_id = filed.json()["case_id"]
    pending = (await client.get(f"{WIDGET}/{case_id}", headers=visitor.headers)).json()
    assert pending["answer"] == "pending" and "download_url" not in pending
    done = await client.post(f"{CASES}/{case_id}/carry-out", json={}, headers=headers)
    assert done.status_code == 200 and done.json()["has_export"] is True
    status = await client.get(f"{WIDGET}/{case_id}", headers=visitor.headers)
    assert status.status_code == 200, status.text
    answer = status.json()
    assert answer["status"] == "completed" and answer["answer"] == "export"
    assert answer["receipt"]["receipt"]["actions"] == ["exported"]
    before = await _downloads(rt)
    download = await client.get(answer["download_url"])
    assert download.status_code == 200 and download.content[:2] == b"PK"
    assert await _downloads(rt) == before + 1
    # Another visitor cannot see the case, nor fetch its link.
    stranger = await new_visitor(client)
    other = await client.get(f"{WIDGET}/{case_id}", headers=stranger.headers)
    assert other.status_code == 404
    assert "download_url" not in other.text
    # The admin's page-less API agrees: the receipt was not mailed to anyone's address.
    shown = (await client.get(f"{CASES}/{case_id}", headers=headers)).json()
    [completed] = [h for h in shown["history"] if h["action"] == "completed"]
    assert completed["details"]["receipt_mailed_to_requester"] is False


async def test_an_access_request_after_erasure_completes_saying_nothing_is_held(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    headers = await admin(world)
    person = await identified_visitor(client, headers)
    access = (
        await client.post(WIDGET, json={"kind": "access"}, headers=person.visitor.headers)
    ).json()["case_id"]
    erasure = (
        await client.post(
            CASES,
            json={"kind": "erasure", "visitor_id": person.visitor_id, "verified": True},
            headers=headers,
        )
    ).json()["id"]
    erased = await client.post(f"{CASES}/{erasure}/carry-out", json={}, headers=headers)
    assert erased.status_code == 200, erased.text
    done = await client.post(f"{CASES}/{access}/carry-out", json={}, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed" and done.json()["has_export"] is False
    receipt = (await client.get(f"{CASES}/{access}/receipt", headers=headers)).json()
    assert receipt["receipt"]["actions"] == [NOTHING_HELD]
    assert receipt["receipt"]["counts"] == {}
    missing = await client.get(f"{CASES}/{access}/download", headers=headers)
    assert missing.status_code == 404
    message = missing.json()["error"]["message"] if "error" in missing.json() else missing.text
    assert "no personal data about this person is held any more" in message.lower()
    assert "carry out" not in message.lower()


async def test_download_of_an_open_request_says_to_carry_it_out(
    world: World, client: httpx.AsyncClient
) -> None:
    headers = await admin(world)
    person = await identified_visitor(client, headers)
    case = (
        await client.post(
            CASES,
            json={"kind": "access", "visitor_id": person.visitor_id, "verified": True},
            headers=headers,
        )
    ).json()
    early = await client.get(f"{CASES}/{case['id']}/download", headers=headers)
    assert early.status_code == 404 and "carry it out first" in early.text
    assert (
        await client.get(f"{WIDGET}/{uuid.uuid4()}", headers=person.visitor.headers)
    ).status_code == 404


@pytest.mark.smtp
async def test_a_requester_with_an_address_is_mailed_the_receipt_and_no_handover_is_asked(
    world: World, client: httpx.AsyncClient, rt: Runtime, settings: Settings, mailbox: MailBox
) -> None:
    rt.settings = with_smtp(settings, mailbox)
    headers = await admin(world)
    person = await identified_visitor(client, headers)
    case = (
        await client.post(
            CASES, json={"kind": "access", "email": EMAIL, "verified": True}, headers=headers
        )
    ).json()
    done = await client.post(f"{CASES}/{case['id']}/carry-out", json={}, headers=headers)
    assert done.status_code == 200 and done.json()["has_export"] is True, done.text
    shown = (await client.get(f"{CASES}/{case['id']}", headers=headers)).json()
    [completed] = [h for h in shown["history"] if h["action"] == "completed"]
    assert completed["details"]["receipt_mailed_to_requester"] is True
    await run_jobs(rt)
    mails = await mailbox.wait_for(2)  # the requester and the admin
    assert EMAIL in {m["To"] for m in mails}
    await sign_in(world, world.ada)  # type: ignore[attr-defined]
    page = await client.get(f"/console/requests/{case['id']}")
    assert "Download the export" in page.text and "hand it over" not in page.text
    assert person.visitor_id  # the person the address found
