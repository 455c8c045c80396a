"""Widget settings (admins), the public widget config, retention days, the visitor's context."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from confide.access.models import Role
from confide.chat.models import Conversation
from confide.runtime import Runtime
from tests.chat.helpers import new_visitor
from tests.conftest import World
from tests.privacy.helpers import admin_headers, publish, set_privacy

WIDGET = "/api/v1/workspace/widget"


async def _patch(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.patch(WIDGET, json=body, headers=headers)


async def test_defaults_then_changes_are_stored_audited_and_come_with_the_snippet(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await admin_headers(world)
    first = (await client.get(WIDGET, headers=admin)).json()
    assert first["accent_color"] == "#2f5bea" and first["position"] == "right"
    assert first["allowed_origins"] == [] and first["csat_enabled"] is True
    assert first["snippet"] == (
        '<script src="https://testserver/widget.js" data-workspace="acme" async></script>'
    )
    rules = [{"after_seconds": 30, "min_page_views": 2, "path_prefix": "/pricing",
              "languages": ["en", "fr"], "message": "Questions about plans?"}]  # fmt: skip
    changed = await _patch(
        client,
        admin,
        accent_color="#0B6E4F",
        position="left",
        title="Talk to Acme",
        prechat_enabled=True,
        prechat_ask_email=True,
        engagement_rules=rules,
        allowed_origins=["https://shop.example.com", "http://localhost:8080"],
    )
    assert changed.status_code == 200, changed.text
    again = (await client.get(WIDGET, headers=admin)).json()
    assert again["accent_color"] == "#0b6e4f" and again["position"] == "left"
    assert again["title"] == "Talk to Acme" and again["greeting"] == first["greeting"]
    assert again["engagement_rules"] == rules
    assert again["allowed_origins"] == ["http://localhost:8080", "https://shop.example.com"]

    events = (await client.get("/api/v1/audit", headers=admin)).json()["events"]
    widget_events = [e for e in events if e["action"] == "workspace.widget"]
    assert len(widget_events) == 1
    assert widget_events[0]["details"]["position"] == "left"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"accent_color": "blue"}, "accent_color"),
        ({"accent_color": "#12345"}, "accent_color"),
        ({"position": "top"}, "position"),
        ({"title": "x" * 61}, "title"),
        ({"greeting": "x" * 301}, "greeting"),
        ({"launcher_label": ""}, "launcher_label"),
        ({"allowed_origins": ["https://shop.example.com/path"]}, "allowed_origins.0"),
        ({"allowed_origins": ["ftp://shop.example.com"]}, "allowed_origins.0"),
        ({"allowed_origins": ["https://a.example", "shop.example.com"]}, "allowed_origins.1"),
        ({"engagement_rules": [{"after_seconds": 5}]}, "engagement_rules.0.message"),
        (
            {"engagement_rules": [{"message": "hi", "after_seconds": -1}]},
            "engagement_rules.0.after_seconds",
        ),
        (
            {"engagement_rules": [{"message": "hi", "path_prefix": "pricing"}]},
            "engagement_rules.0.path_prefix",
        ),
        (
            {"engagement_rules": [{"message": "hi", "languages": ["english!"]}]},
            "engagement_rules.0.languages.0",
        ),
        ({"engagement_rules": [{"message": "hi"}] * 11}, "engagement_rules"),
        ({"colour": "#000000"}, "colour"),
    ],
)
async def test_bad_widget_settings_are_refused_naming_the_field_and_change_nothing(
    world: World, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    admin = await admin_headers(world)
    before = (await client.get(WIDGET, headers=admin)).json()
    response = await client.patch(WIDGET, json={"title": "Changed", **body}, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert (await client.get(WIDGET, headers=admin)).json() == before


async def test_only_admins_read_or_change_widget_settings(
    world: World, client: httpx.AsyncClient
) -> None:
    await admin_headers(world)
    agent = await world.headers(await world.operator("alex", Role.AGENT))
    manager = await world.headers(await world.operator("meg", Role.MANAGER))
    for headers in (agent, manager):
        assert (await client.get(WIDGET, headers=headers)).status_code == 403
        refused = await _patch(client, headers, title="Mine now")
        assert refused.status_code == 403
    assert (await client.get(WIDGET)).status_code == 401
    visitor = await new_visitor(client)
    assert (await client.get(WIDGET, headers=visitor.headers)).status_code == 401


async def test_public_config_holds_appearance_consent_texts_and_transcript_facts(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await admin_headers(world)
    await _patch(client, admin, greeting="Hello from Acme", csat_enabled=False)
    config = (await client.get("/api/v1/widget/acme/config")).json()
    assert config["appearance"]["greeting"] == "Hello from Acme"
    assert config["csat_enabled"] is False
    assert config["consent"] == {"required": False, "requests": {}}
    assert config["transcripts_stored"] is True
    assert "allowed_origins" not in str(config)

    chat = await publish(client, admin, "chat", "We keep this chat for a year. OK?")
    # Transcripts go off together with a text that says so (one that promises storage would be
    # refused).
    response = await client.put(
        "/api/v1/consent/requests/chat",
        json={
            "version": "2",
            "text": "This chat is relayed live and not kept. OK?",
            "store_transcripts": False,
        },
        headers=admin,
    )
    assert response.status_code == 200, response.text
    await set_privacy(client, admin, consent_required=True)
    config = (await client.get("/api/v1/widget/acme/config")).json()
    assert config["consent"]["required"] is True
    current = config["consent"]["requests"]["chat"]
    assert current["version"] == "2" and current["text"].endswith("not kept. OK?")
    assert current["text_hash"] != chat["text_hash"]
    assert config["transcripts_stored"] is False


async def test_config_of_an_unknown_workspace_is_a_404_naming_the_workspace(
    client: httpx.AsyncClient,
) -> None:
    for slug in ("nobody", "Not_A_Slug"):
        response = await client.get(f"/api/v1/widget/{slug}/config")
        assert response.status_code == 404
        assert response.json()["error"]["field"] == "workspace"


async def test_retention_days_are_read_and_partially_updated_per_channel(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await admin_headers(world)
    settings = (await client.get("/api/v1/workspace", headers=admin)).json()["settings"]
    assert settings["retention_days"] == {
        "web": 1095, "social": 1095, "call": 365, "sms": 365, "video": 365
    }  # fmt: skip
    changed = await set_privacy(client, admin, retention_days={"sms": 30, "call": 90})
    assert changed["retention_days"] == {
        "web": 1095, "social": 1095, "call": 90, "sms": 30, "video": 365
    }  # fmt: skip
    changed = await set_privacy(client, admin, retention_days={"web": 1095})
    assert changed["retention_days"]["web"] == 1095 and changed["retention_days"]["sms"] == 30


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"fax": 30}, "retention_days.fax"),
        ({"web": 0}, "retention_days.web"),
        ({"web": 3651}, "retention_days.web"),
        ({"web": "forever"}, "retention_days.web"),
        ([30], "retention_days"),
    ],
)
async def test_bad_retention_days_are_refused_naming_the_channel(
    world: World, client: httpx.AsyncClient, value: Any, field: str
) -> None:
    admin = await admin_headers(world)
    response = await client.patch(
        "/api/v1/workspace", json={"retention_days": value}, headers=admin
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    settings = (await client.get("/api/v1/workspace", headers=admin)).json()["settings"]
    assert settings["retention_days"] == {
        "web": 1095, "social": 1095, "call": 365, "sms": 365, "video": 365
    }  # fmt: skip


async def test_the_visitor_context_is_stored_only_with_a_started_conversation(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    await world.workspace()
    visitor = await new_visitor(client)
    context = {"page_views": 3, "seconds_on_site": 42, "language": "fr-FR",
               "path": "/pricing", "rule": 0}  # fmt: skip
    response = await client.post(
        "/api/v1/widget/conversations",
        json={"message": {"client_id": "c1", "body": "Hi"}, "context": context},
        headers=visitor.headers,
    )
    assert response.status_code == 201, response.text
    async with rt.db.session() as session:
        stored = (await session.scalars(select(Conversation.visitor_context))).all()
    assert len(stored) == 1 and set(stored[0]) == {"sealed"}  # under the conversation's key
    assert "pricing" not in str(stored) and "fr-FR" not in str(stored)
    admin = await admin_headers(world)
    conversation_id = response.json()["conversation"]["id"]
    detail = await client.get(f"/api/v1/conversations/{conversation_id}", headers=admin)
    assert detail.json()["visitor_context"] == context  # shown to the agent, read audited
    mine = await client.get(
        f"/api/v1/widget/conversations/{conversation_id}", headers=visitor.headers
    )
    assert "visitor_context" not in mine.json()
    bad = await client.post(
        "/api/v1/widget/conversations",
        json={"context": {"path": "https://elsewhere.example/x"}},
        headers=visitor.headers,
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "context.path"
    extra = await client.post(
        "/api/v1/widget/conversations",
        json={"context": {"email": "someone@example.org"}},
        headers=visitor.headers,
    )
    assert extra.status_code == 422 and extra.json()["error"]["field"] == "context.email"


async def test_the_visitor_context_keeps_the_path_without_query_or_fragment(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    await world.workspace()
    visitor = await new_visitor(client)
    context = {"path": "/account/verify?email=leak.quokka@example.invalid#token=abc"}
    response = await client.post(
        "/api/v1/widget/conversations",
        json={"message": {"client_id": "c1", "body": "Hi"}, "context": context},
        headers=visitor.headers,
    )
    assert response.status_code == 201, response.text
    admin = await admin_headers(world)
    conversation_id = response.json()["conversation"]["id"]
    detail = await client.get(f"/api/v1/conversations/{conversation_id}", headers=admin)
    assert detail.json()["visitor_context"] == {"path": "/account/verify"}
    async with rt.db.session() as session:
        stored = (await session.scalars(select(Conversation.visitor_context))).one()
    assert "quokka" not in str(stored) and "verify" not in str(stored)
