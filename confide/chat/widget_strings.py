"""The widget's words in each language, and which language a visitor gets.

Why on the server: the widget downloads only the language it shows (with its config), so a
new language costs the script nothing, and an admin's wording reaches every visitor without
a new script. Shipped languages live in ``confide/web/i18n/<code>.json`` (English is complete
and is the fallback for any key another table lacks). A workspace's admins may override any
string of any language, or add a language of their own (Arabic, say), in
``workspace_widget_settings.strings``: ``{"de": {"endChat": "Beenden"}, "ar": {...}}``.

Language choice (:func:`pick_language`): the code the widget asks for (the snippet's
``data-lang``, else the page's ``lang``, else the browser's), matched exactly, then by its
primary subtag (``fr-CA`` -> ``fr``), else English. Right-to-left scripts get ``dir: rtl``.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from confide.core.errors import ValidationFailed

I18N_DIR = Path(__file__).resolve().parents[1] / "web" / "i18n"
SHIPPED_LANGUAGES = ("en", "de", "fr", "es", "nl", "it")
DEFAULT_LANGUAGE = "en"
# Primary subtags written right to left (Arabic, Hebrew, Persian, Urdu, Pashto, Sindhi,
# Kurdish (Sorani), Yiddish, Dhivehi, Uyghur).
RTL_LANGUAGES = frozenset({"ar", "he", "fa", "ur", "ps", "sd", "ckb", "yi", "dv", "ug"})
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
MAX_STRING_CHARS = 500
MAX_LANGUAGES = 40


@cache
def shipped(language: str) -> dict[str, str]:
    """The shipped table of ``language`` (one of :data:`SHIPPED_LANGUAGES`); {} otherwise."""
    if language not in SHIPPED_LANGUAGES:
        return {}
    table: dict[str, str] = json.loads((I18N_DIR / f"{language}.json").read_text("utf-8"))
    return table


def string_keys() -> frozenset[str]:
    """Every key the widget uses (the English table has them all)."""
    return frozenset(shipped(DEFAULT_LANGUAGE))


def normalise_language(code: str) -> str:
    """``"pt_BR "`` -> ``"pt-br"``: lower case, hyphens (BCP 47 tags compare case-blind)."""
    return code.strip().lower().replace("_", "-")


def pick_language(requested: str | None, custom: dict[str, dict[str, str]]) -> str:
    """The best language for ``requested`` among the shipped ones and the workspace's own."""
    available = set(SHIPPED_LANGUAGES) | set(custom)
    code = normalise_language(requested or "")
    if code in available:
        return code
    primary = code.split("-")[0]
    return primary if primary in available else DEFAULT_LANGUAGE


def strings_for(language: str, custom: dict[str, dict[str, str]]) -> dict[str, str]:
    """English, overlaid with the shipped table of ``language``, overlaid with the admins'
    wording for it."""
    table = dict(shipped(DEFAULT_LANGUAGE))
    table.update(shipped(language))
    table.update(custom.get(language, {}))
    return table


def text_direction(language: str) -> str:
    """``"rtl"`` for right-to-left scripts (by primary subtag), else ``"ltr"``."""
    return "rtl" if language.split("-")[0] in RTL_LANGUAGES else "ltr"


def check_custom_strings(value: Any) -> dict[str, dict[str, str]]:
    """Validate an admin's overrides: ``{language: {key: text}}``.

    Raises ValidationFailed naming the field (``strings.de.endChat``) for an unknown key, a
    malformed language code, an empty or too long text. Empty tables are dropped.
    """
    if not isinstance(value, dict):
        raise ValidationFailed("strings is an object of languages.", field="strings")
    if len(value) > MAX_LANGUAGES:
        raise ValidationFailed(f"At most {MAX_LANGUAGES} languages.", field="strings")
    keys = string_keys()
    checked: dict[str, dict[str, str]] = {}
    for raw_language, table in value.items():
        language = normalise_language(str(raw_language))
        field = f"strings.{raw_language}"
        if not LANGUAGE_CODE.match(language):
            raise ValidationFailed("A language is a code like 'de' or 'pt-br'.", field=field)
        if not isinstance(table, dict):
            raise ValidationFailed("Each language maps string names to texts.", field=field)
        clean: dict[str, str] = {}
        for key, text in table.items():
            if key not in keys:
                raise ValidationFailed("Unknown string name.", field=f"{field}.{key}")
            if not isinstance(text, str) or not text.strip():
                raise ValidationFailed("A text must not be empty.", field=f"{field}.{key}")
            if len(text) > MAX_STRING_CHARS:
                raise ValidationFailed(
                    f"At most {MAX_STRING_CHARS} characters.", field=f"{field}.{key}"
                )
            if text.count("{0}") != shipped(DEFAULT_LANGUAGE)[key].count("{0}"):
                raise ValidationFailed(
                    "Keep the {0} placeholder exactly as in the English text.",
                    field=f"{field}.{key}",
                )
            clean[key] = text.strip()
        if clean:
            checked[language] = clean
    return checked
