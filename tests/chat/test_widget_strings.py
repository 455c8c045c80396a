"""The widget's words: every shipped language complete, the closest language chosen, the
admins' wording validated and served with the config."""

from __future__ import annotations

import re

import httpx
import pytest

from confide.access.models import Role
from confide.chat import widget_strings
from confide.core.errors import ValidationFailed
from tests.conftest import World


def test_every_shipped_language_has_every_string_with_its_placeholders() -> None:
    english = widget_strings.shipped("en")
    for language in widget_strings.SHIPPED_LANGUAGES:
        table = widget_strings.shipped(language)
        assert set(table) == set(english), language
        for key, text in table.items():
            assert text.strip(), (language, key)
            assert text.count("{0}") == english[key].count("{0}"), (language, key)


def test_every_string_the_widget_uses_is_shipped() -> None:
    source = (widget_strings.I18N_DIR.parent / "static" / "widget.js").read_text("utf-8")
    used = set(re.findall(r"\bt\(\"([A-Za-z0-9]+)\"", source))
    assert used and used <= widget_strings.string_keys()


@pytest.mark.parametrize(
    ("asked", "custom", "chosen"),
    [
        ("de", {}, "de"),
        ("fr-CA", {}, "fr"),
        ("pt-BR", {}, "en"),
        ("ar", {"ar": {"send": "أرسل"}}, "ar"),
        ("ar-EG", {"ar": {"send": "أرسل"}}, "ar"),
        ("", {}, "en"),
    ],
)
def test_the_closest_language_is_chosen(asked: str, custom: dict, chosen: str) -> None:  # type: ignore[type-arg]
    assert widget_strings.pick_language(asked, custom) == chosen


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"de": {"nope": "x"}}, "strings.de.nope"),
        ({"not a code": {}}, "strings.not a code"),
        ({"de": {"endChat": "  "}}, "strings.de.endChat"),
        ({"de": {"typing": "tippt"}}, "strings.de.typing"),  # the {0} placeholder is lost
        ({"de": {"endChat": "x" * 501}}, "strings.de.endChat"),
    ],
)
def test_bad_wording_names_the_field(value: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationFailed) as caught:
        widget_strings.check_custom_strings(value)
    assert caught.value.field == field


async def test_the_config_carries_the_words_of_one_language(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await world.headers(await world.operator("ada", Role.ADMIN))
    changed = await client.patch(
        "/api/v1/workspace/widget",
        json={"strings": {"DE": {"endChat": "Gespräch beenden"}, "he": {"send": "שלח"}}},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["strings"] == {
        "de": {"endChat": "Gespräch beenden"},
        "he": {"send": "שלח"},
    }
    german = (await client.get("/api/v1/widget/acme/config?lang=de-AT")).json()
    assert (german["language"], german["dir"]) == ("de", "ltr")
    assert german["strings"]["endChat"] == "Gespräch beenden"
    assert german["strings"]["write"] == "Nachricht schreiben"
    hebrew = (await client.get("/api/v1/widget/acme/config?lang=he")).json()
    assert (hebrew["language"], hebrew["dir"]) == ("he", "rtl")
    assert hebrew["strings"]["send"] == "שלח" and hebrew["strings"]["write"] == "Write a message"
    bad = await client.patch(
        "/api/v1/workspace/widget", json={"strings": {"de": {"bogus": "x"}}}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "strings.de.bogus"
    too_long = await client.get("/api/v1/widget/acme/config?lang=" + "x" * 40)
    assert too_long.status_code == 422 and too_long.json()["error"]["field"] == "lang"
