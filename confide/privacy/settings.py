"""A workspace's privacy settings: what is redacted, what is kept, what needs consent.

Why one table and one module: every privacy decision the message path, the sockets and the
jobs take reads the same row, and every change is validated here (and audited by the caller,
``PATCH /api/v1/workspace``). A workspace that never changed a setting has no row and gets
:data:`DEFAULTS`: privacy by default (GDPR Art. 25) means cards and IBANs are masked,
addresses truncated and connection logs kept a week without anyone asking.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.chat.models import Channel
from confide.core.clock import utcnow
from confide.core.errors import ValidationFailed
from confide.privacy import consent_wording
from confide.privacy.models import ConsentRequest, WorkspacePrivacySettings
from confide.privacy.redaction import check_custom_pattern
from confide.privacy.retention.policy import (
    DEFAULT_ARCHIVE_DAYS,
    DEFAULT_CONNECTION_LOG_RETENTION_DAYS,
    DEFAULT_RETENTION_DAYS,
    MAX_ARCHIVE_DAYS,
    MAX_RETENTION_DAYS,
    ChannelPolicy,
    check_channel_days,
    check_delete_after_months,
    policies_of,
)

if TYPE_CHECKING:
    from confide.runtime import Runtime

IP_HANDLING = ("none", "truncated", "full")
MAX_CONNECTION_LOG_RETENTION_DAYS = 365  # seed 001: connection logs are kept at most a year
MAX_REDACTION_PATTERNS = 20
MAX_PHONE_REGIONS = 20
# Retention of conversations per channel (active, then archive; or the simple
# delete_after_months): interpreted by confide.privacy.retention.policy, acted on by its job.
_CHANNEL_DAYS = {"retention_days": (1, MAX_RETENTION_DAYS), "archive_days": (0, MAX_ARCHIVE_DAYS)}

DEFAULTS: dict[str, Any] = {
    "redact_cards": True,
    "redact_ibans": True,
    "redact_phones": False,
    "redact_emails": False,
    "phone_region": None,
    "phone_regions": [],
    "redaction_patterns": [],
    "ip_handling": "truncated",
    "store_transcripts": True,
    "connection_log_retention_days": DEFAULT_CONNECTION_LOG_RETENTION_DAYS,
    "consent_required": False,
    "retention_days": dict(DEFAULT_RETENTION_DAYS),
    "archive_days": dict(DEFAULT_ARCHIVE_DAYS),
    "delete_after_months": 0,
    "mirroring_enabled": True,
}
SETTING_NAMES = tuple(DEFAULTS)


async def load(session: AsyncSession, workspace_id: uuid.UUID) -> WorkspacePrivacySettings:
    """The workspace's settings; a transient row with the defaults if it has none."""
    row = await session.get(WorkspacePrivacySettings, workspace_id)
    if row is None:
        row = _default_row(workspace_id)
    return row


def _default_row(workspace_id: uuid.UUID) -> WorkspacePrivacySettings:
    values = {k: (v.copy() if isinstance(v, list | dict) else v) for k, v in DEFAULTS.items()}
    return WorkspacePrivacySettings(workspace_id=workspace_id, **values)


def render(row: WorkspacePrivacySettings) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in SETTING_NAMES}
    # A channel added after the row was written keeps the default.
    for name in _CHANNEL_DAYS:
        values[name] = {**DEFAULTS[name], **(getattr(row, name) or {})}
    values["delete_after_months"] = row.delete_after_months or 0
    values["phone_regions"] = _regions_of(row)
    return values


def _regions_of(row: WorkspacePrivacySettings) -> list[str]:
    # A row written before phone_regions existed (or built in memory) may only have the one.
    return list(row.phone_regions or ([row.phone_region] if row.phone_region else []))


async def read(rt: Runtime, workspace_id: uuid.UUID) -> dict[str, Any]:
    async with rt.db.session() as session:
        return render(await load(session, workspace_id))


def _check(name: str, value: Any) -> Any:
    if name == "ip_handling" and value not in IP_HANDLING:
        raise ValidationFailed("ip_handling is 'none', 'truncated' or 'full'.", field=name)
    if name == "connection_log_retention_days" and not (
        isinstance(value, int) and 1 <= value <= MAX_CONNECTION_LOG_RETENTION_DAYS
    ):
        raise ValidationFailed(
            f"Keep connection logs 1-{MAX_CONNECTION_LOG_RETENTION_DAYS} days.", field=name
        )
    if name == "phone_region" and value is not None:
        value = _check_region(value, name)
    if name == "phone_regions":
        if not isinstance(value, list) or len(value) > MAX_PHONE_REGIONS:
            raise ValidationFailed(
                f"Send at most {MAX_PHONE_REGIONS} two-letter region codes as a list.", field=name
            )
        value = list(dict.fromkeys(_check_region(region, name) for region in value))
    if name == "redaction_patterns":
        if not isinstance(value, list) or len(value) > MAX_REDACTION_PATTERNS:
            raise ValidationFailed(
                f"Send at most {MAX_REDACTION_PATTERNS} patterns as a list.", field=name
            )
        for index, pattern in enumerate(value):
            check_custom_pattern(pattern, field=f"{name}.{index}")
        value = list(value)
    if name in _CHANNEL_DAYS:
        value = check_channel_days(name, value, *_CHANNEL_DAYS[name])
    if name == "delete_after_months":
        value = check_delete_after_months(value)
    return value


def _check_region(value: Any, field: str) -> str:
    region = str(value).strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationFailed(
            f"'{region[:8]}' is not a region; use two-letter codes such as 'GB' or 'FR' "
            "(ISO 3166-1).",
            field=field,
        )
    return region


async def apply(session: AsyncSession, workspace_id: uuid.UUID, changes: Mapping[str, Any]) -> None:
    """Validate and store changed settings inside the caller's transaction."""
    unknown = set(changes) - set(SETTING_NAMES)
    if unknown:
        raise ValidationFailed("Unknown privacy setting.", field=sorted(unknown)[0])
    # null means "unchanged", except for phone_region, where it means "no default region".
    checked = {
        name: _check(name, value)
        for name, value in changes.items()
        if value is not None or name == "phone_region"
    }
    row = await session.get(WorkspacePrivacySettings, workspace_id, with_for_update=True)
    if row is None:
        row = _default_row(workspace_id)
        session.add(row)
    web_retention_before = web_chat_retention(row)
    for name, value in checked.items():
        if name in _CHANNEL_DAYS:
            # A partial update: channels not sent keep their current value.
            value = {**render(row)[name], **value}
        setattr(row, name, value)
    # phone_region is the older one-region form of phone_regions: keep the two in step.
    if "phone_regions" in checked:
        row.phone_region = checked["phone_regions"][0] if checked["phone_regions"] else None
    elif "phone_region" in checked:
        row.phone_regions = [checked["phone_region"]] if checked["phone_region"] else []
    if checked.get("consent_required") and not await _has_active_request(
        session, workspace_id, "chat"
    ):
        raise ValidationFailed(
            "Publish the consent text for chat first (Settings → Consent requests), then "
            "turn on asking for consent.",
            field="consent_required",
        )
    retention_field = _changed_web_retention_field(checked, row, web_retention_before)
    if "store_transcripts" in checked or retention_field:
        await _check_active_chat_text(
            session,
            workspace_id,
            row,
            transcripts="store_transcripts" in checked,
            retention_field=retention_field,
        )
    row.updated_at = utcnow()
    await session.flush()


def web_chat_retention(row: WorkspacePrivacySettings) -> ChannelPolicy:
    """The web channel's retention policy: the periods a chat consent text may name."""
    return policies_of(render(row))[Channel.WEB.value]


def _changed_web_retention_field(
    checked: Mapping[str, Any], row: WorkspacePrivacySettings, before: ChannelPolicy
) -> str | None:
    """The field to name when this change moves the web channel's retention, else None."""
    if web_chat_retention(row) == before:
        return None  # another channel, or the same periods again: the text stays as true
    if "delete_after_months" in checked:
        return "delete_after_months"
    web = Channel.WEB.value
    changed = (f"{name}.{web}" for name in _CHANNEL_DAYS if web in checked.get(name, {}))
    return next(changed, f"retention_days.{web}")


async def _check_active_chat_text(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    row: WorkspacePrivacySettings,
    *,
    transcripts: bool,
    retention_field: str | None,
) -> None:
    """Refuse a change that would make the published chat consent text untrue.

    ``transcripts``: ``store_transcripts`` changed. ``retention_field``: the web channel's
    retention changed (the field named when refused), so the periods the texts name are
    compared with the new policy. A text that names the new periods cannot be published
    before the change (it would be untrue until then): the way through is a text that names
    no period, then the change, then the text with the new periods."""
    texts = (
        await session.scalars(
            select(ConsentRequest.text).where(
                ConsentRequest.workspace_id == workspace_id,
                ConsentRequest.purpose == "chat",
                ConsentRequest.superseded_at.is_(None),
            )
        )
    ).all()  # the default text and every language's
    try:
        for text in texts if transcripts else []:
            consent_wording.check_chat_text(text, store_transcripts=row.store_transcripts)
    except ValidationFailed as exc:
        raise ValidationFailed(
            f"The published chat consent text would no longer be true: {exc}"
            " Publish the new text and the setting together: PUT /api/v1/consent/requests/chat"
            ' with "store_transcripts".',
            field="store_transcripts",
        ) from exc
    if not retention_field or not row.store_transcripts:
        return
    retention = web_chat_retention(row)
    for text in texts:
        unkept = consent_wording.unkept_period(text, retention)
        if unkept:
            raise ValidationFailed(
                f"The published chat consent text says '{unkept}', but web chats would be kept "
                f"{consent_wording.describe_kept(retention)}. First publish a chat consent "
                "text that names no period (Settings → Consent requests, or PUT "
                "/api/v1/consent/requests/chat), then change the retention, then publish a "
                "text that names the new periods.",
                field=retention_field,
            )


async def _has_active_request(session: AsyncSession, workspace_id: uuid.UUID, purpose: str) -> bool:
    found = await session.scalar(
        select(ConsentRequest.id).where(
            ConsentRequest.workspace_id == workspace_id,
            ConsentRequest.purpose == purpose,
            ConsentRequest.superseded_at.is_(None),
        )
    )
    return found is not None
