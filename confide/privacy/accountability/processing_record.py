"""The record of processing activities (GDPR Art. 30) and the DPA annex, from live state.

Why generated: a record written by hand drifts from what the software does the day a setting
changes. Here every entry is read from what the deployment actually does: the workspace's
privacy settings (transcripts, IP handling, redaction, retention), its controller details, its
channels and API keys, the subprocessor list, the deployment's settings (region, processor,
SMTP relay, key store), and the processing activities (``activities``: the tables of the
subject data map grouped as a controller describes them, each with its legal basis). Turn
transcripts off and the record says so; add a subprocessor and it is a recipient (and a
transfer, outside the EEA).

Both halves of Art. 30 are produced: (1) the controller's record, kept by the workspace, and
(2) the processor's record, kept by whoever runs this deployment for that controller. An entry
whose source is not filled in (no controller details yet, no processor configured) is listed
in ``missing``, and the console says what to set; nothing is invented.

Shapes: :func:`build_record` returns ``{"workspace", "generated_at", "sections": [{"key",
"heading", "items": [{"label", "value"}]}], "missing": [...]}``; :func:`build_annex` the same
shape for the DPA annex. ``render`` turns either into Markdown, HTML or PDF.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access import policy
from confide.access.models import ApiKey, Operator, OperatorStatus, Workspace
from confide.access.policy import Action, Principal
from confide.chat.models import ChannelEndpoint
from confide.core.clock import utcnow
from confide.core.config import Settings
from confide.core.residency import in_eea
from confide.privacy import settings as privacy_settings
from confide.privacy.accountability.activities import ACTIVITIES, CHAT, basis_of
from confide.privacy.accountability.measures import (
    backup_schedule,
    controller_measures,
    processor_measures,
    retention_days_by_channel,
)
from confide.privacy.accountability.models import ControllerProfile, Subprocessor
from confide.privacy.accountability.subprocessors import visible_subprocessors
from confide.privacy.models import ConsentRequest
from confide.privacy.registry import REGISTRY

if TYPE_CHECKING:
    from confide.runtime import Runtime

LEGAL_BASES = {
    "contract": "Art. 6(1)(b) contract",
    "legal_obligation": "Art. 6(1)(c) legal obligation",
    "legitimate_interest": "Art. 6(1)(f) legitimate interest",
    "consent": "Art. 6(1)(a) consent",
}
HEADINGS = {
    "1a": "Art. 30(1)(a) Controller, representative and data protection officer",
    "1b": "Art. 30(1)(b) Purposes of the processing",
    "1c": "Art. 30(1)(c) Categories of data subjects and of personal data",
    "1d": "Art. 30(1)(d) Categories of recipients",
    "1e": "Art. 30(1)(e) Transfers to third countries and safeguards",
    "1f": "Art. 30(1)(f) Time limits for erasure",
    "1g": "Art. 30(1)(g) Technical and organisational security measures",
    "2a": "Art. 30(2)(a) Processor and controller",
    "2b": "Art. 30(2)(b) Categories of processing carried out on behalf of the controller",
    "2c": "Art. 30(2)(c) Transfers to third countries by the processor",
    "2d": "Art. 30(2)(d) Technical and organisational security measures of the processor",
}
MISSING_PROFILE = "Not recorded yet: set it under Settings → Accountability."


def _item(label: str, value: str) -> dict[str, str]:
    return {"label": label, "value": value}


def _section(key: str, items: list[dict[str, str]]) -> dict[str, Any]:
    return {"key": key, "heading": HEADINGS[key], "items": items}


def _describe_sub(row: Subprocessor) -> str:
    safeguard = "inside the EEA" if in_eea(row.country) else _safeguard_text(row)
    host = f", receives data at {row.host}" if row.host else ""
    return f"{row.service} ({row.country}, {safeguard}{host})"


def _safeguard_text(row: Subprocessor) -> str:
    if row.safeguard == "adequacy":
        return "adequacy decision (Art. 45)"
    when = row.safeguard_date.isoformat() if row.safeguard_date else "undated"
    return f"standard contractual clauses of {when} (Art. 46(2)(c))"


async def gather(rt: Runtime, session: AsyncSession, workspace_id: uuid.UUID) -> dict[str, Any]:
    """Everything the record is made of, read in one session (no personal data)."""
    workspace = await session.get(Workspace, workspace_id)
    assert workspace is not None
    roles = dict(
        (
            await session.execute(
                select(Operator.role, func.count())
                .where(
                    Operator.workspace_id == workspace_id,
                    Operator.status == OperatorStatus.ACTIVE,
                )
                .group_by(Operator.role)
            )
        ).all()
    )
    api_keys = await session.scalar(
        select(func.count()).where(ApiKey.workspace_id == workspace_id, ApiKey.revoked_at.is_(None))
    )
    endpoints = list(
        (
            await session.scalars(
                select(ChannelEndpoint).where(ChannelEndpoint.workspace_id == workspace_id)
            )
        ).all()
    )
    purposes = set(
        (
            await session.scalars(
                select(ConsentRequest.purpose).where(
                    ConsentRequest.workspace_id == workspace_id,
                    ConsentRequest.superseded_at.is_(None),
                )
            )
        ).all()
    )
    return {
        "workspace": workspace,
        "privacy": privacy_settings.render(await privacy_settings.load(session, workspace_id)),
        "profile": await session.get(ControllerProfile, workspace_id),
        "roles": {role.value: count for role, count in roles.items()},
        "api_keys": api_keys or 0,
        "endpoints": [e for e in endpoints if e.enabled],
        "consent_purposes": sorted(purposes),
        "subprocessors": await visible_subprocessors(session, workspace_id),
    }


def _controller(facts: dict[str, Any], missing: list[str]) -> list[dict[str, str]]:
    profile: ControllerProfile | None = facts["profile"]
    if profile is None:
        missing.append("controller_name")
        return [_item("Controller", MISSING_PROFILE)]
    return [
        _item("Controller", f"{profile.controller_name} (workspace {facts['workspace'].name})"),
        _item("Contact", profile.controller_contact),
        _item("Joint controllers", "None: the workspace decides the purposes and means alone."),
        _item(
            "Representative in the Union (Art. 27)",
            profile.representative or "None designated in the controller details.",
        ),
        _item(
            "Data protection officer (Art. 37)",
            profile.dpo_contact or "None designated in the controller details.",
        ),
        _item(
            "Supervisory authority",
            profile.authority_name or "Not named in the controller details.",
        ),
    ]


def _purposes(facts: dict[str, Any], settings: Settings) -> list[dict[str, str]]:
    """One item per processing activity (``activities``), with the basis this workspace uses."""
    privacy = facts["privacy"]
    items = []
    for activity in ACTIVITIES:
        if activity.key == "mail" and not settings.smtp_host:
            continue  # no SMTP relay: no mail leaves, the outbox stays empty
        data = activity.data
        if not privacy["store_transcripts"]:
            if activity.key == "notes":
                data = "notes about a conversation (transcripts are off: nothing to search)"
            elif activity.key == CHAT:
                data = data.replace("message texts", "message texts (relayed, not stored)")
        basis = LEGAL_BASES[basis_of(activity, privacy["consent_required"])]
        if activity.key == CHAT and privacy["consent_required"]:
            basis += " of the visitor, asked before chatting"
        items.append(_item(activity.name, f"{basis}. Data: {data}."))
    if facts["consent_purposes"]:
        asked = ", ".join(facts["consent_purposes"])
        required = "required before chatting" if privacy["consent_required"] else "offered"
        items.append(_item(f"Consent asked for: {asked}", f"Art. 6(1)(a), {required}"))
    return items


def _categories(facts: dict[str, Any]) -> list[dict[str, str]]:
    privacy, roles = facts["privacy"], facts["roles"]
    staff = ", ".join(f"{count} {role}" for role, count in sorted(roles.items())) or "none yet"
    texts = (
        "stored encrypted (transcripts on)"
        if privacy["store_transcripts"]
        else "not stored: relayed in memory to the agent only (transcripts off)"
    )
    items = [
        _item("Data subjects: website visitors", "People who open the chat widget."),
        _item("Data subjects: operators", f"The workspace's staff ({staff})."),
        _item(
            "Visitors' data",
            "Identifiers they give (name, e-mail, phone, attributes from the host's site), "
            f"conversation metadata, message texts {texts}, consent records, "
            f"connection logs (IP addresses: {privacy['ip_handling']}).",
        ),
        _item(
            "Operators' data",
            "Name, e-mail, username, password hash, MFA secrets, sessions, availability, audit "
            "records of their acts.",
        ),
    ]
    if facts["endpoints"]:
        channels = ", ".join(sorted(e.channel.value for e in facts["endpoints"]))
        items.append(
            _item(
                "Data subjects: contacts on social/SMS channels",
                f"Thread ids and phone numbers (sealed), through {channels}.",
            )
        )
    return items


def _recipients(facts: dict[str, Any], settings: Settings) -> list[dict[str, str]]:
    roles = facts["roles"]
    items = [
        _item(
            "Operators of the workspace",
            ", ".join(f"{role}: {count}" for role, count in sorted(roles.items())) or "none",
        ),
        _item(
            "The host's backend (API keys)",
            f"{facts['api_keys']} active API key(s): identify visitors, record conversations, "
            "read consent proofs.",
        ),
    ]
    for row in facts["subprocessors"]:
        items.append(_item(f"Subprocessor: {row.name}", _describe_sub(row)))
    for endpoint in facts["endpoints"]:
        if endpoint.outbound_url:
            country = endpoint.outbound_country or settings.deployment_region or "region unset"
            host = endpoint.outbound_url.split("/")[2]
            items.append(_item(f"Outbound {endpoint.channel.value} bridge", f"{host} ({country})"))
    if settings.smtp_host:
        where = settings.smtp_country or settings.deployment_region or "region unset"
        items.append(
            _item("SMTP relay", f"{settings.smtp_host} ({where}; sends the mails people ask for)")
        )
    return items


def _transfers(
    facts: dict[str, Any], settings: Settings, missing: list[str]
) -> list[dict[str, str]]:
    items = []
    region = settings.deployment_region
    if region is None:
        missing.append("deployment_region")
        items.append(_item("Where the data is stored", "Not declared (CONFIDE_DEPLOYMENT_REGION)."))
    else:
        where = "inside the EEA" if in_eea(region) else "outside the EEA"
        items.append(_item("Where the data is stored", f"{region} ({where})"))
    outside = [r for r in facts["subprocessors"] if not in_eea(r.country)]
    for row in outside:
        items.append(_item(f"{row.name} ({row.country})", _safeguard_text(row)))
    for endpoint in facts["endpoints"]:
        if (
            endpoint.outbound_url
            and endpoint.outbound_country
            and not in_eea(endpoint.outbound_country)
        ):
            items.append(
                _item(
                    f"Outbound {endpoint.channel.value} bridge ({endpoint.outbound_country})",
                    "Covered by the subprocessor entry for its host (checked when configured).",
                )
            )
    relay = settings.smtp_country
    if settings.smtp_host and relay and not in_eea(relay):
        kind, _, signed = (settings.smtp_safeguard or "").partition(":")
        safeguard = (
            "adequacy decision (Art. 45)"
            if kind == "adequacy"
            else f"standard contractual clauses of {signed} (Art. 46(2)(c))"
        )
        items.append(_item(f"SMTP relay {settings.smtp_host} ({relay})", safeguard))
    if len(items) == 1:
        items.append(_item("Transfers outside the EEA", "None: every recipient is in the EEA."))
    return items


def _conversation_limit(active_days: int, archive_days: int) -> str:
    """The whole life of a conversation: active, restricted archive, then end of life."""
    end = "then destroyed (anonymised statistics kept)"
    if not archive_days:
        return f"{active_days} days, {end}"
    return (
        f"{active_days} days, then {archive_days} days in the restricted archive (archive "
        f"custodians only, with a filed reason), {end}"
    )


def _retention(facts: dict[str, Any]) -> list[dict[str, str]]:
    privacy = facts["privacy"]
    days = retention_days_by_channel(privacy)
    archive = {str(c): int(d) for c, d in (privacy.get("archive_days") or {}).items()}
    items = [
        _item(f"Conversations on {channel}", _conversation_limit(d, archive.get(channel, 0)))
        for channel, d in days.items()
    ]
    items.append(
        _item("Connection logs", f"{privacy['connection_log_retention_days']} days, then deleted")
    )
    if not privacy["store_transcripts"]:
        items.append(_item("Message texts", "Not stored (transcripts off)."))
    items += [
        _item("Operator accounts", "Until the operator is removed and erased."),
        _item(
            "Audit records",
            "Kept as the controller's evidence (Art. 5(2)); erasure destroys the subject's key, "
            "so their details become unreadable.",
        ),
        _item("Erasure on request (Art. 17)", "Deletes rows and destroys the subject's keys."),
    ]
    # Per activity: the registry's retention rule of each of its tables, said once each.
    for activity in ACTIVITIES:
        rules = dict.fromkeys(
            REGISTRY[table].retention
            for table in activity.tables
            if table in REGISTRY
            and any(c.category != "operational" for c in REGISTRY[table].columns.values())
        )
        if rules:
            items.append(_item(activity.name, " ".join(rules)))
    return items


async def build_record(rt: Runtime, principal: Principal) -> dict[str, Any]:
    """The Art. 30 record of the principal's workspace (shape in the module docstring)."""
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    return await record_of_workspace(rt, principal.workspace_id)


async def record_of_workspace(rt: Runtime, workspace_id: uuid.UUID) -> dict[str, Any]:
    """The record of any workspace, for the deployment's operator (command line)."""
    async with rt.db.session() as session:
        facts = await gather(rt, session, workspace_id)
    return compose_record(rt.settings, facts)


def compose_record(settings: Settings, facts: dict[str, Any]) -> dict[str, Any]:
    """The record from gathered ``facts`` (pure: the tests and the annex reuse it)."""
    missing: list[str] = []
    workspace: Workspace = facts["workspace"]
    processor = settings.processor_name
    if not processor or not settings.processor_contact:
        missing.append("processor_name" if not processor else "processor_contact")
    profile: ControllerProfile | None = facts["profile"]
    controller = profile.controller_name if profile else MISSING_PROFILE
    sections = [
        _section("1a", _controller(facts, missing)),
        _section("1b", _purposes(facts, settings)),
        _section("1c", _categories(facts)),
        _section("1d", _recipients(facts, settings)),
        _section("1e", _transfers(facts, settings, missing)),
        _section("1f", _retention(facts)),
        _section("1g", controller_measures(facts, settings)),
        _section(
            "2a",
            [
                _item("Processor", processor or "Not configured (CONFIDE_PROCESSOR_NAME)."),
                _item("Processor contact", settings.processor_contact or "Not configured."),
                _item("On behalf of the controller", controller),
            ],
        ),
        _section(
            "2b",
            [
                _item("Hosting the live chat", "Storing and relaying conversations, routing."),
                _item("Accounts and access control", "Operator sign-in, MFA, sessions, audit."),
                _item("Backups", backup_schedule(settings)),
                *(
                    [_item("Mail delivery", f"Through {settings.smtp_host}")]
                    if settings.smtp_host
                    else []
                ),
            ],
        ),
        _section("2c", [i for i in _transfers(facts, settings, []) if i]),
        _section("2d", processor_measures(settings)),
    ]
    return {
        "title": "Record of processing activities",
        "workspace": {"id": str(workspace.id), "name": workspace.name, "slug": workspace.slug},
        "generated_at": utcnow().isoformat(),
        "sections": sections,
        "missing": sorted(set(missing)),
    }
