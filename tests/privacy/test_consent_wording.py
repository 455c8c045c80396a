"""The chat consent text names only periods the web channel's retention keeps a chat: the
active period, the archive period, or both together (``confide.privacy.consent_wording``)."""

from __future__ import annotations

import httpx
import pytest

from confide.access.models import Role
from confide.cli.demo import CONSENT_TEXTS
from confide.privacy import consent_wording
from confide.privacy.retention.policy import policies_of
from tests.conftest import World
from tests.privacy.helpers import admin_headers, publish, set_privacy
from tests.web.helpers import post_form, sign_in

DEMO_CHAT_TEXT = CONSENT_TEXTS["chat"]  # 3 years, then 5 more years: the default policy
# The finding of the user trial: a month, no archive, while the text still promised 3 + 5 years.
ONE_MONTH = {"retention_days": {"web": 30}, "archive_days": {"web": 0}, "delete_after_months": 1}


async def _put_chat(
    client: httpx.AsyncClient, admin: dict[str, str], version: str, text: str, **extra: str
) -> httpx.Response:
    return await client.put(
        "/api/v1/consent/requests/chat",
        json={"version": version, "text": text, **extra},
        headers=admin,
    )


async def test_a_chat_text_naming_a_period_the_retention_does_not_keep_is_refused(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await admin_headers(world)
    # The second period is the wrong one: every period is read, not only the first.
    for text, words in (
        ("We keep this chat for 90 days.", "90 days"),
        ("We keep this chat for 3 years, then 2 more years in an archive.", "2 more years"),
        ("Wir speichern diesen Chat 3 Jahre und danach 10 Jahre im Archiv.", "10 Jahre"),
    ):
        refused = await _put_chat(client, admin, "1", text)
        assert refused.status_code == 422, text
        error = refused.json()["error"]
        assert error["field"] == "text"
        assert words in error["message"]
        # The configured periods, in words, so the admin knows what to write.
        assert "1095 days (3 years) active" in error["message"]
        assert "1825 days (5 years) in the restricted archive" in error["message"]
    listed = (await client.get("/api/v1/consent/requests", headers=admin)).json()["requests"]
    assert listed == []


@pytest.mark.parametrize(
    ("language", "text"),
    [
        (None, DEMO_CHAT_TEXT),
        (None, "We keep this chat for 8 years in all: 3 years active, 5 years archived."),
        ("de", "Wir speichern diesen Chat 3 Jahre, danach 5 weitere Jahre im Archiv."),
        ("de", "Wir bewahren diesen Chat 36 Monate auf."),
        ("fr", "Nous conservons ce chat 3 ans."),
        (None, "We keep this chat to answer you. OK?"),  # names no period: unaffected
    ],
)
async def test_a_chat_text_naming_the_configured_periods_is_accepted(
    world: World, client: httpx.AsyncClient, language: str | None, text: str
) -> None:
    admin = await admin_headers(world)
    extra = {"language": language} if language else {}
    published = await _put_chat(client, admin, "1", text, **extra)
    assert published.status_code == 200, published.text


async def test_retention_cannot_make_the_active_chat_text_untrue(
    world: World, client: httpx.AsyncClient
) -> None:
    """The finding: a month of retention while the text promised 3 years and 5 more."""
    admin = await admin_headers(world)
    await publish(client, admin, "chat", DEMO_CHAT_TEXT)
    refused = await client.patch("/api/v1/workspace", json=ONE_MONTH, headers=admin)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["field"] == "delete_after_months"
    assert "3 years" in error["message"] and "1 month, with no archive" in error["message"]
    settings = (await client.get("/api/v1/workspace", headers=admin)).json()["settings"]
    assert settings["retention_days"]["web"] == 1095 and settings["delete_after_months"] == 0
    days_only = await client.patch(
        "/api/v1/workspace", json={"archive_days": {"web": 0}}, headers=admin
    )
    assert days_only.status_code == 422
    assert days_only.json()["error"]["field"] == "archive_days.web"
    # Another channel's retention does not touch what the chat text says.
    await set_privacy(client, admin, retention_days={"sms": 30}, archive_days={"call": 0})

    # A text saying 30 days is untrue until the change; a text naming no period bridges it.
    assert (await _put_chat(client, admin, "2", "We keep this chat 30 days.")).status_code == 422
    await publish(client, admin, "chat", "We keep this chat to answer you. OK?", version="2")
    changed = await set_privacy(client, admin, **ONE_MONTH)
    assert changed["delete_after_months"] == 1
    await publish(client, admin, "chat", "We keep this chat for 30 days, then delete it.", "3")
    assert (await _put_chat(client, admin, "4", DEMO_CHAT_TEXT)).status_code == 422
    config = (await client.get("/api/v1/widget/acme/config")).json()
    assert config["consent"]["requests"]["chat"]["text"].startswith("We keep this chat for 30")
    # The simple form off again: 30 days, no archive, so "30 days" stays true; 3 years does not.
    await set_privacy(client, admin, delete_after_months=0)
    back = await client.patch(
        "/api/v1/workspace", json={"retention_days": {"web": 1095}}, headers=admin
    )
    assert back.status_code == 422 and back.json()["error"]["field"] == "retention_days.web"


async def test_the_console_retention_page_shows_the_refusal_next_to_the_web_box(
    world: World,
) -> None:
    admin = await world.operator("root", Role.ADMIN)
    await sign_in(world, admin)
    consent = "/console/settings/consent"
    published = await post_form(
        world.client, consent, f"{consent}/chat", {"version": "1", "text": DEMO_CHAT_TEXT}
    )
    assert published.status_code == 303
    path = "/console/settings/retention"
    refused = await post_form(world.client, path, path, {"retention_days.web": "30"})
    assert refused.status_code == 422
    assert 'id="err-retention_days.web"' in refused.text and "3 years" in refused.text
    months = await post_form(world.client, path, path, {"delete_after_months": "12"})
    assert months.status_code == 422 and 'id="err-delete_after_months"' in months.text


def test_kept_periods_in_words_and_days() -> None:
    default = policies_of({})["web"]
    assert consent_wording.describe_kept(default) == (
        "1095 days (3 years) active, then 1825 days (5 years) in the restricted archive "
        "(2920 days (8 years) in all)"
    )
    one_month = policies_of({"delete_after_months": 1})["web"]
    assert consent_wording.describe_kept(one_month) == "1 month, with no archive"
    assert consent_wording.unkept_period("Kept 4 weeks, or 1 Monat.", one_month) is None
    assert consent_wording.unkept_period("Kept 30 days, not 45 days.", one_month) == "45 days"
    assert consent_wording.unkept_period("No period at all.", one_month) is None
