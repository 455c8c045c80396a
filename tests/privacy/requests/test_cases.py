"""Cases: the legal month and its extension, the workspace's target, overdue flags and the
admins' daily digest, with simulated time; the status machine; rectification that keeps no
value in the history; requests filed from the widget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from confide.core import clock
from confide.core.config import Settings
from confide.privacy.requests.cases import add_months
from confide.runtime import Runtime
from tests.conftest import World
from tests.mailbox import MailBox, mailbox_fixture, with_smtp  # noqa: F401 (fixture)
from tests.privacy.helpers import every_row_as_text
from tests.privacy.requests.helpers import ADMIN_EMAIL, EMAIL, admin, identified_visitor, run_jobs

CASES = "/api/v1/dsr/cases"
DAY = 86_400


@pytest.fixture
def settings(settings: Settings, mailbox: MailBox) -> Settings:
    return with_smtp(settings, mailbox)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_the_legal_month_counts_calendar_months_and_clamps_to_the_last_day() -> None:
    assert add_months(datetime(2026, 1, 31, 9, tzinfo=UTC), 1) == datetime(
        2026, 2, 28, 9, tzinfo=UTC
    )
    assert add_months(datetime(2024, 1, 31, tzinfo=UTC), 1) == datetime(2024, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2026, 11, 30, tzinfo=UTC), 3) == datetime(2027, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2026, 3, 15, tzinfo=UTC), 1) == datetime(2026, 4, 15, tzinfo=UTC)


@pytest.mark.smtp
async def test_deadlines_extension_and_the_overdue_digest_with_simulated_time(
    world: World, client: httpx.AsyncClient, rt: Runtime, mailbox: MailBox
) -> None:
    headers = await admin(world)
    await identified_visitor(client, headers)
    settings = await client.put("/api/v1/dsr/settings", json={"target_days": 3}, headers=headers)
    assert settings.status_code == 200, settings.text
    opened = await client.post(
        CASES, json={"kind": "access", "channel": "email", "email": EMAIL}, headers=headers
    )
    assert opened.status_code == 201, opened.text
    case = opened.json()
    received = _at(case["received_at"])
    assert _at(case["due_at"]) == add_months(received, 1)
    assert _at(case["target_at"]) == received + timedelta(days=3)
    assert (case["status"], case["subject_known"], case["overdue"]) == ("received", True, False)

    clock.advance(4 * DAY)
    headers = await world.headers(world.ada)  # type: ignore[attr-defined]
    [listed] = (await client.get(CASES, headers=headers)).json()["cases"]
    assert (listed["target_missed"], listed["overdue"]) == (True, False)

    clock.advance(30 * DAY)
    headers = await world.headers(world.ada)  # type: ignore[attr-defined]
    [listed] = (await client.get(CASES, headers=headers)).json()["cases"]
    assert listed["overdue"] is True
    await run_jobs(rt)  # the daily digest is due
    digest = [i for i, to in enumerate(mailbox.recipients) if to == [ADMIN_EMAIL]]
    assert len(digest) == 1
    text = mailbox.body(digest[0])
    assert "1 open, 1 OVERDUE" in text and case["id"] in text and EMAIL not in text

    no_reason = await client.post(
        f"{CASES}/{case['id']}/status", json={"status": "extended"}, headers=headers
    )
    assert no_reason.status_code == 422 and no_reason.json()["error"]["field"] == "reason"
    await client.post(f"{CASES}/{case['id']}/status", json={"status": "verified"}, headers=headers)
    extended = await client.post(
        f"{CASES}/{case['id']}/status",
        json={"status": "extended", "reason": "Many conversations across three systems."},
        headers=headers,
    )
    assert extended.status_code == 200, extended.text
    assert _at(extended.json()["due_at"]) == add_months(received, 3)
    assert extended.json()["overdue"] is False
    again = await client.post(
        f"{CASES}/{case['id']}/status",
        json={"status": "extended", "reason": "Once more."},
        headers=headers,
    )
    assert again.status_code == 409

    shown = (await client.get(f"{CASES}/{case['id']}", headers=headers)).json()
    assert [h["action"] for h in shown["history"]] == ["opened", "verified", "extended"]
    assert shown["history"][2]["reason"] == "Many conversations across three systems."


async def test_open_cases_come_first_by_due_date(world: World, client: httpx.AsyncClient) -> None:
    headers = await admin(world)
    first = (
        await client.post(
            CASES,
            json={"kind": "objection", "processing": "surveys", "email": "a@example.invalid"},
            headers=headers,
        )
    ).json()
    clock.advance(600)  # received later: due later
    second = (
        await client.post(
            CASES,
            json={"kind": "restriction", "email": "b@example.invalid", "verified": True},
            headers=headers,
        )
    ).json()
    done = await client.post(
        f"{CASES}/{first['id']}/reject", json={"reason": "Not verifiable."}, headers=headers
    )
    assert done.status_code == 200 and done.json()["status"] == "rejected"
    listed = (await client.get(CASES, headers=headers)).json()["cases"]
    assert [c["id"] for c in listed] == [second["id"], first["id"]]
    only_open = (await client.get(f"{CASES}?open_only=true", headers=headers)).json()["cases"]
    assert [c["id"] for c in only_open] == [second["id"]]
    receipt = (await client.get(f"{CASES}/{first['id']}/receipt", headers=headers)).json()
    assert receipt["receipt"]["outcome"] == "rejected"
    assert receipt["receipt"]["reason"] == "Not verifiable."


async def test_the_status_machine_refuses_what_it_does_not_allow(
    world: World, client: httpx.AsyncClient
) -> None:
    headers = await admin(world)
    case = (
        await client.post(
            CASES, json={"kind": "erasure", "email": "c@example.invalid"}, headers=headers
        )
    ).json()
    early = await client.post(f"{CASES}/{case['id']}/carry-out", json={}, headers=headers)
    assert early.status_code == 409  # not verified yet
    await client.post(f"{CASES}/{case['id']}/status", json={"status": "verified"}, headers=headers)
    done = await client.post(f"{CASES}/{case['id']}/carry-out", json={}, headers=headers)
    assert done.status_code == 200 and done.json()["status"] == "completed"
    reopened = await client.post(
        f"{CASES}/{case['id']}/status", json={"status": "in_progress"}, headers=headers
    )
    assert reopened.status_code == 409


async def test_only_admins_handle_cases(world: World, client: httpx.AsyncClient) -> None:
    await admin(world)
    from confide.access.models import Role

    agent = await world.headers(await world.operator("ben", Role.AGENT))
    assert (await client.get(CASES, headers=agent)).status_code == 403
    assert (
        await client.post(
            CASES, json={"kind": "access", "email": "x@example.invalid"}, headers=agent
        )
    ).status_code == 403


async def test_rectification_keeps_no_old_or_new_value_in_the_history(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    headers = await admin(world)
    person = await identified_visitor(client, headers, name="Oldname Rectifyson")
    case = (
        await client.post(
            CASES,
            json={"kind": "rectification", "visitor_id": person.visitor_id, "verified": True},
            headers=headers,
        )
    ).json()
    done = await client.post(
        f"{CASES}/{case['id']}/carry-out",
        json={"fields": {"name": "Newname Rectifyson"}},
        headers=headers,
    )
    assert done.status_code == 200, done.text
    detail = await client.get(f"/api/v1/conversations/{person.conversation_id}", headers=headers)
    assert detail.json()["visitor"]["name"] == "Newname Rectifyson"
    shown = (await client.get(f"{CASES}/{case['id']}", headers=headers)).json()
    assert "Rectifyson" not in str(shown)
    receipt = (await client.get(f"{CASES}/{case['id']}/receipt", headers=headers)).json()
    assert receipt["receipt"]["actions"] == ["rectified:name"]
    assert "Rectifyson" not in await every_row_as_text(rt)


async def test_a_widget_visitor_files_a_request_about_themself(
    world: World, client: httpx.AsyncClient
) -> None:
    headers = await admin(world)
    person = await identified_visitor(client, headers)
    filed = await client.post(
        "/api/v1/widget/privacy-requests", json={"kind": "access"}, headers=person.visitor.headers
    )
    assert filed.status_code == 201, filed.text
    [case] = (await client.get(CASES, headers=headers)).json()["cases"]
    assert (case["id"], case["channel"], case["status"], case["visitor_id"]) == (
        filed.json()["case_id"],
        "widget",
        "verified",
        person.visitor_id,
    )
    # Filed again while open (a double click, a second tab): the same case, one deadline.
    again = await client.post(
        "/api/v1/widget/privacy-requests", json={"kind": "access"}, headers=person.visitor.headers
    )
    assert again.status_code == 201 and again.json()["case_id"] == case["id"]
    other = await client.post(
        "/api/v1/widget/privacy-requests", json={"kind": "erasure"}, headers=person.visitor.headers
    )
    assert other.json()["case_id"] != case["id"]  # another kind is another request
    assert len((await client.get(CASES, headers=headers)).json()["cases"]) == 2


async def test_a_legal_hold_blocks_an_erasure_request_with_the_reason_on_the_case(
    world: World, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typing import Any

    from confide.privacy import erasure

    async def held(session: Any, ids: list[Any]) -> set[Any]:
        return set(ids)  # the retention issue's hook: every conversation is held

    monkeypatch.setattr(erasure, "held_conversation_ids", held)
    headers = await admin(world)
    person = await identified_visitor(client, headers)
    case = (
        await client.post(
            CASES,
            json={"kind": "erasure", "visitor_id": person.visitor_id, "verified": True},
            headers=headers,
        )
    ).json()
    refused = await client.post(f"{CASES}/{case['id']}/carry-out", json={}, headers=headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "legal_hold"
    shown = (await client.get(f"{CASES}/{case['id']}", headers=headers)).json()
    assert shown["status"] == "verified"  # still open: the admin answers the person
    blocked = shown["history"][-1]
    assert blocked["action"] == "erasure_blocked" and "legal hold" in blocked["reason"]
    still = await client.get(f"/api/v1/conversations/{person.conversation_id}", headers=headers)
    assert still.status_code == 200
