"""Processing activities: how the record of processing (Art. 30(1)(b) and (f)) groups the tables.

Why apart from the data map: the subject data map (``confide.privacy.subject_map``) speaks of
tables, each with its purpose and legal basis, because erasure and export walk tables. A
controller's record speaks of *activities* ("answering visitors in chat"), in words an
authority reads. Each activity names the tables it is made of; ``tests/privacy/accountability``
fails when a table holding personal data belongs to no activity, or to one whose legal basis
differs from the data map's, so a new table cannot slip out of the record.

The chat itself is the one activity whose basis depends on a setting: a workspace that asks
consent before chatting (``consent_required``) processes the conversation on consent
(Art. 6(1)(a)), not on the contract (Art. 6(1)(b)) the data map assumes by default.
"""

from __future__ import annotations

from dataclasses import dataclass

from confide.privacy.vault import FIELDS_TABLE, TEXTS_TABLE

CHAT = "chat"


@dataclass(frozen=True)
class Activity:
    """One processing activity: ``name`` (what the controller does), ``legal_basis`` (a key of
    ``LEGAL_BASES``), ``data`` (the categories of data, in words) and ``tables``."""

    key: str
    name: str
    legal_basis: str
    data: str
    tables: tuple[str, ...]


ACTIVITIES: tuple[Activity, ...] = (
    Activity(
        CHAT,
        "Answering visitors in live chat and on connected channels",
        "contract",
        "visitor identifiers they give, conversations, message texts, files, attributes the "
        "host's site sends",
        (
            "subjects",
            FIELDS_TABLE,
            "visitors",
            "conversations",
            "messages",
            TEXTS_TABLE,
            "channel_deliveries",
            "conversation_labels",
            "relayed_client_ids",
            "inbound_receipts",
            "attachments",
            "visitor_attribute_values",
        ),
    ),
    Activity(
        "notes",
        "Agents' internal notes and searching stored transcripts",
        "legitimate_interest",
        "notes about a conversation, keyed hashes of its words",
        ("conversation_notes", "search_terms"),
    ),
    Activity(
        "accounts",
        "Operator accounts, sign-in and access control",
        "contract",
        "operators' names, e-mail addresses, credentials, sessions, availability, API keys",
        (
            "operators",
            "group_members",
            "operator_presence",
            "auth_sessions",
            "refresh_tokens",
            "totp_credentials",
            "password_reset_tokens",
            "recovery_codes",
            "saved_replies",
            "api_keys",
            "operator_permissions",
        ),
    ),
    Activity(
        "security",
        "Security of the service",
        "legitimate_interest",
        "connection logs (IP addresses sealed or not kept, per the workspace's setting)",
        ("connection_logs",),
    ),
    Activity(
        "consent",
        "Proof of consent (Art. 7(1))",
        "legal_obligation",
        "consent texts and each visitor's decisions",
        ("consent_requests", "consent_records"),
    ),
    Activity(
        "accountability",
        "Accountability: audit trail, breach register, access grants and legal holds",
        "legal_obligation",
        "who did what to whose data, breaches, support and archive access, holds",
        ("audit_events", "audit_event_subjects", "breaches", "access_grants", "legal_holds"),
    ),
    Activity(
        "requests",
        "Answering data-subject requests (Art. 12 to 22)",
        "legal_obligation",
        "requests, their history, one-time portal links, restrictions and objections",
        ("dsr_cases", "dsr_case_events", "portal_links", "dsr_processing_limits"),
    ),
    Activity(
        "mail",
        "Sending the mails people ask for (answers, transcripts, request links)",
        "legitimate_interest",
        "the recipient's address and the mail, sealed until sent",
        ("mail_outbox",),
    ),
    Activity(
        "statistics",
        "Anonymised statistics for reports",
        "legitimate_interest",
        "counts and durations per day, channel and group; nothing that singles out a visitor",
        ("conversation_statistics",),
    ),
)


def activity_of(table: str) -> Activity | None:
    """The activity ``table`` belongs to, or None (the completeness test keeps that rare)."""
    return next((a for a in ACTIVITIES if table in a.tables), None)


def basis_of(activity: Activity, consent_required: bool) -> str:
    """The legal basis of ``activity`` for a workspace: consent for the chat when the workspace
    asks it before chatting (Art. 6(1)(a)), else the activity's own."""
    return "consent" if activity.key == CHAT and consent_required else activity.legal_basis
