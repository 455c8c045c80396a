"""A workspace's widget settings, the public configuration the widget loads, and its origins.

Why here and not in the privacy settings: these decide how the chat looks and where it may be
embedded, not what is kept. A workspace that never changed them has no row and gets
:data:`DEFAULTS`. The widget reads :func:`public_config` without credentials, so it holds only
what the host page shows anyway (texts, colours, rules) plus the facts a visitor is entitled to
before saying anything: whether consent is asked, with the exact texts, and whether the
transcript is kept.

``allowed_origins`` limits which sites may embed the widget (empty: any). The CORS middleware
(``confide.api.cors``) and the widget socket ask :func:`origin_allowed`; Confide's own pages
(the demo host page) are same-origin and always allowed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.policy import Principal
from confide.access.workspaces import find_workspace_by_slug
from confide.audit.ledger import append
from confide.chat import hours, widget_strings
from confide.chat.models import WidgetSettings
from confide.core.clock import utcnow
from confide.core.errors import NotFound, ValidationFailed
from confide.core.mail import mail_enabled
from confide.privacy import consent_requests
from confide.privacy import settings as privacy_settings

if TYPE_CHECKING:
    from confide.runtime import Runtime

DEFAULTS: dict[str, Any] = {
    "accent_color": "#2f5bea",
    "position": "right",
    "title": "Chat with us",
    "greeting": "Hi! How can we help you today?",
    "launcher_label": "Chat",
    "prechat_enabled": False,
    "prechat_ask_name": True,
    "prechat_ask_email": False,
    "csat_enabled": True,
    "engagement_rules": [],
    "allowed_origins": [],
    "theme": "auto",
    "strings": {},
}
SETTING_NAMES = tuple(DEFAULTS)
POSITIONS = ("right", "left")
THEMES = ("auto", "light", "dark")


def _default_row(workspace_id: uuid.UUID) -> WidgetSettings:
    values = {k: (type(v)(v) if isinstance(v, list | dict) else v) for k, v in DEFAULTS.items()}
    return WidgetSettings(workspace_id=workspace_id, **values)


async def load(session: AsyncSession, workspace_id: uuid.UUID) -> WidgetSettings:
    """The workspace's widget settings; a transient row with the defaults if it has none."""
    row = await session.get(WidgetSettings, workspace_id)
    return row if row is not None else _default_row(workspace_id)


def render(row: WidgetSettings) -> dict[str, Any]:
    return {name: getattr(row, name) for name in SETTING_NAMES}


async def read(rt: Runtime, workspace_id: uuid.UUID) -> dict[str, Any]:
    async with rt.db.session() as session:
        return render(await load(session, workspace_id))


def _check(name: str, value: Any) -> Any:
    # The REST schema (confide.api.schemas.WidgetSettingsUpdate) already checked types and
    # lengths; these are the rules any caller (console forms included) must meet.
    if name == "position" and value not in POSITIONS:
        raise ValidationFailed("position is 'right' or 'left'.", field=name)
    if name == "accent_color":
        value = str(value).lower()
    if name == "allowed_origins":
        value = sorted({str(origin).lower().rstrip("/") for origin in value})
    if name in ("title", "launcher_label") and not str(value).strip():
        raise ValidationFailed(f"{name} must not be empty.", field=name)
    if name == "theme" and value not in THEMES:
        raise ValidationFailed("theme is 'auto', 'light' or 'dark'.", field=name)
    if name == "strings":
        value = widget_strings.check_custom_strings(value)
    if name == "engagement_rules":
        value = [{k: v for k, v in dict(rule).items() if v is not None} for rule in value]
    return value


async def do_update_widget_settings(
    rt: Runtime, actor: Principal, workspace_id: uuid.UUID, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Validate and store the changed settings in one unit of work, with its audit record;
    returns them all. Raises :class:`ValidationFailed` naming the first bad setting."""
    unknown = set(changes) - set(SETTING_NAMES)
    if unknown:
        raise ValidationFailed("Unknown widget setting.", field=sorted(unknown)[0])
    checked = {name: _check(name, value) for name, value in changes.items() if value is not None}
    async with rt.db.transaction() as session:
        row = await session.get(WidgetSettings, workspace_id, with_for_update=True)
        if row is None:
            row = _default_row(workspace_id)
            session.add(row)
        for name, value in checked.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        await session.flush()
        await append(
            session,
            rt,
            actor,
            "workspace.widget",
            resource=f"workspace:{workspace_id}",
            details=json.loads(json.dumps(dict(changes), default=str)),
        )
        return render(row)


def snippet(base_url: str, workspace_slug: str) -> str:
    """The tag the host site pastes into its pages."""
    return (
        f'<script src="{base_url.rstrip("/")}/widget.js" '
        f'data-workspace="{workspace_slug}" async></script>'
    )


def origin_allowed(allowed_origins: list[str], origin: str) -> bool:
    return not allowed_origins or origin.lower().rstrip("/") in allowed_origins


async def allowed_origins_of(rt: Runtime, workspace_id: uuid.UUID) -> list[str]:
    async with rt.db.session() as session:
        row = await session.get(WidgetSettings, workspace_id)
    return list(row.allowed_origins) if row is not None else []


async def public_config(
    rt: Runtime, workspace_slug: str, language: str | None = None
) -> dict[str, Any]:
    """Everything the widget needs before the visitor says anything (no credentials): with its
    words in the language closest to ``language`` and whether anyone can answer now."""
    workspace = await find_workspace_by_slug(rt, workspace_slug)
    if workspace is None:
        raise NotFound(
            "No workspace with that id; check the widget's data-workspace.", field="workspace"
        )
    async with rt.db.session() as session:
        widget = render(await load(session, workspace.id))
        privacy = await privacy_settings.load(session, workspace.id)
        available = await hours.availability(session, workspace.id)
    requests = [
        r
        for r in await consent_requests.list_requests(rt, workspace.id)
        if r["superseded_at"] is None
    ]
    chosen_language = widget_strings.pick_language(language, widget["strings"])
    shown = consent_requests.for_language(
        requests, widget_strings.normalise_language(language or "en")
    )
    return {
        "workspace": {"slug": workspace.slug, "name": workspace.name},
        "appearance": {
            name: widget[name]
            for name in ("accent_color", "position", "title", "greeting", "launcher_label", "theme")
        },
        "language": chosen_language,
        "dir": widget_strings.text_direction(chosen_language),
        "strings": widget_strings.strings_for(chosen_language, widget["strings"]),
        "availability": available,
        "prechat": {
            "enabled": widget["prechat_enabled"],
            "ask_name": widget["prechat_ask_name"],
            "ask_email": widget["prechat_ask_email"],
        },
        "csat_enabled": widget["csat_enabled"],
        "engagement_rules": widget["engagement_rules"],
        "consent": {
            "required": privacy.consent_required,
            "requests": {
                purpose: {k: r[k] for k in ("version", "text", "text_hash")}
                for purpose, r in shown.items()
            },
        },
        "transcripts_stored": privacy.store_transcripts,
        "mirroring_enabled": privacy.mirroring_enabled,
        # The typing preview and mirrored text are redacted in the browser before they leave
        # it (and again by the server): the widget needs the policy, custom patterns included.
        "redaction": {
            "cards": privacy.redact_cards,
            "ibans": privacy.redact_ibans,
            "phones": privacy.redact_phones,
            "emails": privacy.redact_emails,
            "patterns": list(privacy.redaction_patterns or []),
        },
        # Answers by e-mail need a mail server, stored texts (sent later) and an 'email' text.
        "email_replies": bool(
            mail_enabled(rt.settings)
            and privacy.store_transcripts
            and any(r["purpose"] == "email" for r in requests)
        ),
        "transcript_email": bool(mail_enabled(rt.settings) and privacy.store_transcripts),
        "message_max_chars": rt.settings.message_max_chars,
    }
