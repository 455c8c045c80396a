"""The widget settings page: appearance, pre-chat form, CSAT, allowed origins and the snippet.

One form, one call of the API's handler (``PATCH /api/v1/workspace/widget``), like the other
settings pages. Engagement rules are lists of conditions edited through the API; the page shows
how many are set and leaves them unchanged. The widget's wording is a second form, one language
at a time (``?lang=de``): every string with the shipped text as its default; what differs from
it is stored as the workspace's own wording (``strings``), through the same API call.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from confide.access.policy import Action
from confide.api.routes import widget_settings as widget_api
from confide.api.schemas import WidgetSettingsUpdate
from confide.chat import widget_strings
from confide.web.console import forms
from confide.web.console.admin_people import settings_page
from confide.web.console.session import Visit, page_visit, post_visit, redirect, runtime

router = APIRouter(include_in_schema=False)
_TEXTS = ("title", "greeting", "launcher_label", "accent_color", "position")
_SWITCHES = ("prechat_enabled", "prechat_ask_name", "prechat_ask_email", "csat_enabled")


async def _page(
    request: Request,
    visit: Visit,
    outcome: forms.Outcome[Any] | None = None,
    typed: dict[str, Any] | None = None,
) -> Response:
    current = await widget_api.read_widget_settings(
        request=request, principal=visit.principal, rt=runtime(request)
    )
    custom: dict[str, dict[str, str]] = current["strings"]
    language = widget_strings.normalise_language(
        str((typed or {}).get("_language") or request.query_params.get("lang") or "en")
    )
    if not widget_strings.LANGUAGE_CODE.match(language):
        language = "en"
    defaults = widget_strings.strings_for(language, {})
    typed_strings = (typed or {}).get("_strings") or {}
    context = {
        "empty_rule_rows": EMPTY_RULE_ROWS,
        "values": {**current, **(typed or {})},
        "snippet": current["snippet"],
        "errors": outcome.errors if outcome else {},
        "language": language,
        "languages": sorted(set(widget_strings.SHIPPED_LANGUAGES) | set(custom) | {language}),
        "shipped": widget_strings.SHIPPED_LANGUAGES,
        "wording": [
            (key, defaults[key], typed_strings.get(key, custom.get(language, {}).get(key, "")))
            for key in sorted(defaults)
        ],
        "direction": widget_strings.text_direction(language),
    }
    status = outcome.status_code if outcome else 200
    return await settings_page(request, visit, "widget", context, status)


_RULE_FIELDS = ("message", "after_seconds", "min_page_views", "path_prefix", "languages")
EMPTY_RULE_ROWS = 2


def _column(form: dict[str, Any], name: str) -> list[str]:
    value = form.get(name, [])
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _rules(form: dict[str, Any]) -> list[dict[str, Any]]:
    """Engagement rules from the table of rows; a row without a message is dropped (that is
    how a rule is deleted). Numbers and languages are passed on as typed: the API validates."""
    columns = {name: _column(form, f"rule_{name}") for name in _RULE_FIELDS}
    rules = []
    for index, message in enumerate(columns["message"]):
        if not message.strip():
            continue
        cell = {
            n: (columns[n][index] if index < len(columns[n]) else "").strip() for n in _RULE_FIELDS
        }
        rule: dict[str, Any] = {"message": cell["message"]}
        for name in ("after_seconds", "min_page_views", "path_prefix"):
            if cell[name]:
                rule[name] = cell[name]
        if cell["languages"]:
            rule["languages"] = [x.strip() for x in cell["languages"].split(",") if x.strip()]
        rules.append(rule)
    return rules


@router.get("/console/settings/widget")
async def widget_page(request: Request) -> Response:
    visit = await page_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(visit, Response):
        return visit
    return await _page(request, visit)


@router.post("/console/settings/widget")
async def save_widget(request: Request) -> Response:
    checked = await post_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    changes: dict[str, Any] = {name: forms.text(form, name) for name in _TEXTS}
    changes.update({name: forms.checked(form, name) for name in _SWITCHES})
    changes["allowed_origins"] = forms.lines(form, "allowed_origins")
    changes["engagement_rules"] = _rules(form)
    changes["theme"] = forms.optional(form, "theme")  # not sent: unchanged
    outcome = await forms.attempt(
        lambda: widget_api.update_widget_settings(
            body=WidgetSettingsUpdate.model_validate(changes),
            request=request,
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        return await _page(request, visit, outcome, changes)
    return redirect("/console/settings/widget?saved=1", visit)


@router.post("/console/settings/widget/strings")
async def save_widget_strings(request: Request) -> Response:
    """Store one language's wording: each box left empty or equal to the shipped text falls
    back to the shipped text."""
    checked = await post_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    language = widget_strings.normalise_language(forms.text(form, "language"))
    defaults = widget_strings.strings_for(language, {})
    typed = {key: forms.text(form, f"s-{key}").strip() for key in defaults}
    mine = {k: v for k, v in typed.items() if v and v != defaults[k]}
    current = await widget_api.read_widget_settings(
        request=request, principal=visit.principal, rt=runtime(request)
    )
    strings = {lang: table for lang, table in current["strings"].items() if lang != language}
    if mine:
        strings[language] = mine
    outcome = await forms.attempt(
        lambda: widget_api.update_widget_settings(
            body=WidgetSettingsUpdate.model_validate({"strings": strings}),
            request=request,
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        # Errors name "strings.<language>.<key>"; the boxes are named by key.
        return await _page(request, visit, outcome, {"_language": language, "_strings": typed})
    return redirect(f"/console/settings/widget?lang={language}&saved=1#wording-title", visit)
