"""Day-one console faults, checked over HTTP: plain validation sentences, the favicon, the
reply box limit, the Unlock button only for locked accounts, the operators' status column."""

from __future__ import annotations

import html

from confide.access.models import Role
from tests.conftest import World
from tests.web.helpers import post_form, sign_in

WIDGET = "/console/settings/widget"
WIDGET_FORM = {
    "title": "Talk to Acme",
    "launcher_label": "Help",
    "accent_color": "#123456",
    "position": "right",
    "greeting": "Hello!",
}


async def test_an_origin_with_a_trailing_slash_is_refused_in_a_plain_sentence_naming_the_line(
    world: World,
) -> None:
    admin = await world.operator("root", Role.ADMIN)
    await sign_in(world, admin)
    origins = "https://shop.example.com\nhttps://blog.example.com/"
    bad = await post_form(world.client, WIDGET, WIDGET, {**WIDGET_FORM, "allowed_origins": origins})
    assert bad.status_code == 422
    text = html.unescape(bad.text)
    assert "Line 2: Write an origin as a scheme and a host" in text
    assert "no trailing slash" in text
    assert "should match pattern" not in text and "^https?" not in text
    stored = (await world.client.get("/api/v1/workspace/widget")).json()
    assert stored["allowed_origins"] == []
    # The API says the same, naming the field.
    api = await world.client.patch(
        "/api/v1/workspace/widget",
        json={"allowed_origins": ["https://blog.example.com/"]},
        headers={"X-CSRF-Token": world.client.cookies.get("confide_csrf", "")},
    )
    assert api.status_code == 422
    error = api.json()["error"]
    assert error["field"] == "allowed_origins.0"
    assert "no trailing slash" in error["message"] and "pattern" not in error["message"]


async def test_asking_for_consent_before_publishing_a_text_names_the_console_page(
    world: World,
) -> None:
    admin = await world.operator("root", Role.ADMIN)
    await sign_in(world, admin)
    form = {
        "ip_handling": "truncated",
        "connection_log_retention_days": "7",
        "store_transcripts": "1",
        "consent_required": "1",
        "redaction_patterns": "",
    }
    path = "/console/settings/privacy"
    refused = await post_form(world.client, path, path, form)
    assert refused.status_code == 422
    text = html.unescape(refused.text)
    assert "Settings → Consent requests" in text
    assert "/api/v1" not in text.split("<main", 1)[1]


async def test_an_empty_breach_form_counts_the_fields_to_correct_in_plain_words(
    world: World,
) -> None:
    admin = await world.operator("root", Role.ADMIN)
    await sign_in(world, admin)
    path = "/console/settings/breaches"
    bad = await post_form(world.client, path, path, {"title": "", "detected_at": ""})
    assert bad.status_code == 422
    text = html.unescape(bad.text)
    marked = text.count('aria-invalid="true"')
    assert marked > 1
    assert f"Nothing was saved: correct the {marked} fields marked below." in text
    assert "Give at least one entry." in text and "1 entries" not in text
    listed = (await world.client.get("/api/v1/breaches")).json()
    assert listed["breaches"] == []


async def test_each_settings_page_names_its_section_in_the_tab_title(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    await sign_in(world, admin)
    for path, title in (("retention", "Retention"), ("breaches", "Breaches"), ("widget", "Widget")):
        page = await world.client.get(f"/console/settings/{path}")
        assert page.status_code == 200
        assert f"<title>{title} · Settings · Confide</title>" in html.unescape(page.text)


async def test_without_outgoing_mail_the_breach_page_offers_no_e_mail_to_the_authority(
    world: World,
) -> None:
    from tests.privacy.accountability.test_breaches import breach_body

    admin = await world.operator("root", Role.ADMIN)
    created = await world.client.post(
        "/api/v1/breaches", json=breach_body(), headers=await world.headers(admin)
    )
    assert created.status_code == 201, created.text
    await sign_in(world, admin)
    page = html.unescape((await world.client.get("/console/settings/breaches")).text)
    assert "Agent laptop stolen" in page
    assert "E-mail the supervisory authority" not in page
    assert "needs outgoing mail (CONFIDE_SMTP_HOST" in page.replace("<code>", "").replace(
        "</code>", ""
    )
    assert "Notified by other means" in page
