"""Redaction before storage: what the policy masks never reaches a table, a socket or a log."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import select

from confide.access.models import Role
from confide.chat.models import Message
from confide.privacy.redaction import RedactionPolicy, redact
from confide.runtime import Runtime
from tests.chat.helpers import agent_token, new_visitor, open_socket, start_chat
from tests.conftest import LiveServer, World
from tests.privacy.helpers import admin_headers, every_row_as_text, set_privacy

CARD = "4111 1111 1111 1111"
NOT_A_CARD = "4111 1111 1111 1112"  # fails the Luhn check
IBAN = "GB82 WEST 1234 5698 7654 32"
PHONE = "020 7946 0958"
EMAIL = "zebra.quill@example.invalid"
ORDER = "ORD-583921"


def test_only_luhn_valid_card_numbers_are_masked() -> None:
    policy = RedactionPolicy()
    assert redact(policy, f"card {CARD} thanks").text == "card [redacted card] thanks"
    assert redact(policy, "card 4111-1111-1111-1111").text == "card [redacted card]"
    kept = redact(policy, f"card {NOT_A_CARD} thanks")
    assert kept.text == f"card {NOT_A_CARD} thanks"
    assert kept.counts == {"iban": 0, "card": 0}


def test_iban_is_masked_without_swallowing_the_next_word() -> None:
    result = redact(RedactionPolicy(), f"pay to {IBAN} please")
    assert result.text == "pay to [redacted iban] please"
    assert result.counts == {"iban": 1, "card": 0}
    # A look-alike whose checksum fails is left alone.
    assert redact(RedactionPolicy(), "ref GB00 WEST 1234 5698 7654 32").counts == {
        "iban": 0,
        "card": 0,
    }


def test_phone_numbers_use_the_default_region() -> None:
    with_region = RedactionPolicy(phones=True, phone_region="GB")
    assert redact(with_region, f"ring {PHONE}").text == "ring [redacted phone]"
    without_region = RedactionPolicy(phones=True)
    assert redact(without_region, f"ring {PHONE}").text == f"ring {PHONE}"
    assert redact(without_region, "ring +44 20 7946 0958").text == "ring [redacted phone]"


async def test_visitor_message_is_stored_and_returned_redacted_with_a_note_of_what_was_masked(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    await set_privacy(
        client,
        admin,
        redact_phones=True,
        redact_emails=True,
        phone_region="GB",
        redaction_patterns=[r"ORD-\d{6}"],
    )
    visitor = await new_visitor(client)
    text = (
        f"Card {CARD}, wrong {NOT_A_CARD}, iban {IBAN}, call {PHONE}, mail {EMAIL}, order {ORDER}"
    )
    chat = await start_chat(client, visitor, text)
    expected = (
        f"Card [redacted card], wrong {NOT_A_CARD}, iban [redacted iban], call [redacted phone], "
        "mail [redacted email], order [redacted custom]"
    )
    assert chat["message"]["body"] == expected
    note = {"email": 1, "iban": 1, "card": 1, "phone": 1, "custom": 1}
    assert chat["message"]["redactions"] == note

    conversation_id = chat["conversation"]["id"]
    listed = await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=admin)
    assert [m["body"] for m in listed.json()["messages"]] == [expected]
    async with rt.db.session() as session:
        stored = await session.scalar(select(Message))
    assert stored is not None and stored.redactions == note


async def test_operator_messages_and_survey_comments_are_redacted_too(
    world: World, client: httpx.AsyncClient
) -> None:
    support = await world.group("Support")
    agent = await world.headers(await world.operator("alice", Role.AGENT, groups=[support]))
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "Hi", group_id=support)
    conversation_id = chat["conversation"]["id"]
    reply = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"client_id": "op-1", "body": f"Our refund account is {IBAN}"},
        headers=agent,
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["message"]["body"] == "Our refund account is [redacted iban]"
    closed = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/close", headers=visitor.headers
    )
    assert closed.status_code == 200
    rated = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/csat",
        json={"score": 4, "comment": f"Charged twice on {CARD}"},
        headers=visitor.headers,
    )
    assert rated.status_code == 200, rated.text
    listed = await client.get(
        f"/api/v1/widget/conversations/{conversation_id}/messages", headers=visitor.headers
    )
    bodies = [(m["kind"], m["body"]) for m in listed.json()["messages"]]
    assert bodies[-1] == ("csat", "Charged twice on [redacted card]")


async def test_the_original_is_in_no_table_and_no_log(
    world: World, client: httpx.AsyncClient, rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = await admin_headers(world)
    await set_privacy(client, admin, redact_emails=True, redaction_patterns=[r"ORD-\d{6}"])
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, f"{CARD} / {IBAN} / {EMAIL} / {ORDER}")
    assert chat["message"]["redactions"]["card"] == 1
    needles = [CARD, CARD.replace(" ", ""), IBAN, IBAN.replace(" ", ""), EMAIL, ORDER]
    rows = await every_row_as_text(rt)
    assert "messages:" in rows  # the scan did read the message rows
    assert [n for n in needles if n in rows] == []
    assert [n for n in needles if n in caplog.text] == []


async def test_the_socket_ack_carries_the_stored_redacted_text(
    world: World, client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    support = await world.group("Support")
    agent_account = await world.operator("alice", Role.AGENT, groups=[support])
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, None, group_id=support)
    conversation_id = chat["conversation"]["id"]
    agent = await open_socket(
        f"{live_server.ws_url}/api/v1/ws/console", token=await agent_token(world, agent_account)
    )
    await agent.send(type="subscribe", conversation_id=conversation_id, since=0)
    await agent.recv_until(lambda f: f["type"] == "subscribed")
    guest = await open_socket(f"{live_server.ws_url}/api/v1/ws/widget", token=visitor.token)
    await guest.send(type="subscribe", conversation_id=conversation_id, since=0)
    await guest.recv_until(lambda f: f["type"] == "subscribed")
    await guest.send(
        type="message", conversation_id=conversation_id, client_id="c-1", body=f"card {CARD}"
    )
    ack = await guest.recv_until(lambda f: f["type"] == "ack")
    assert ack["body"] == "card [redacted card]"
    assert ack["redactions"] == {"iban": 0, "card": 1}
    live = await agent.recv_until(lambda f: f["type"] == "message")
    assert live["body"] == "card [redacted card]"
    await agent.close()
    await guest.close()


@pytest.mark.parametrize(
    ("patterns", "field", "reason"),
    [
        (["ORD-\\d+", "[unclosed"], "redaction_patterns.1", "not a valid regular expression"),
        (["(a+)+$"], "redaction_patterns.0", "exponential"),
        (["(x)\\1"], "redaction_patterns.0", "exponential"),
        (["a*"], "redaction_patterns.0", "matches empty text"),
        (["a" * 201], "redaction_patterns.0", "200 characters"),
    ],
)
async def test_unsafe_or_broken_patterns_are_refused_naming_the_field(
    world: World, client: httpx.AsyncClient, patterns: list[str], field: str, reason: str
) -> None:
    admin = await admin_headers(world)
    response = await client.patch(
        "/api/v1/workspace", json={"redaction_patterns": patterns}, headers=admin
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_failed", field)
    assert reason in error["message"]
    settings = (await client.get("/api/v1/workspace", headers=admin)).json()["settings"]
    assert settings["redaction_patterns"] == []


async def test_redaction_can_be_turned_off_by_an_admin_and_the_change_is_audited(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await admin_headers(world)
    settings = await set_privacy(client, admin, redact_cards=False, redact_ibans=False)
    assert (settings["redact_cards"], settings["redact_ibans"]) == (False, False)
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, f"test card {CARD}")
    assert chat["message"]["body"] == f"test card {CARD}"
    assert chat["message"]["redactions"] is None
    events = await client.get("/api/v1/audit", headers=admin)
    assert any(
        e["action"] == "workspace.settings" and e["details"].get("redact_cards") is False
        for e in events.json()["events"]
    )


async def test_a_workspace_serving_several_regions_masks_each_national_format(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await admin_headers(world)
    saved = await set_privacy(client, admin, redact_phones=True, phone_regions=["gb", "FR"])
    assert saved["phone_regions"] == ["GB", "FR"]
    assert saved["phone_region"] == "GB"
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, f"UK {PHONE}, France 01 23 45 67 89, ref 20240515")
    assert chat["message"]["body"] == "UK [redacted phone], France [redacted phone], ref 20240515"
    assert chat["message"]["redactions"]["phone"] == 2
    # The older one-region field still works and replaces the list.
    assert (await set_privacy(client, admin, phone_region="DE"))["phone_regions"] == ["DE"]
    refused = await client.patch(
        "/api/v1/workspace", json={"phone_regions": ["GB", "XX"]}, headers=admin
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "phone_regions"


def test_text_without_digits_or_at_sign_skips_detection_yet_digits_of_any_script_count() -> None:
    policy = RedactionPolicy(phones=True, emails=True, phone_region="GB")
    plain = redact(policy, "Hello, where is my order? Thanks!")
    assert plain.text == "Hello, where is my order? Thanks!"
    assert plain.counts == {"email": 0, "iban": 0, "card": 0, "phone": 0}
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in PHONE)
    masked = redact(policy, f"call {fullwidth} today")  # no ASCII digit at all
    assert masked.text == "call [redacted phone] today"
    assert redact(policy, f"write to {EMAIL}").text == "write to [redacted email]"
