"""The subject data map: for every table, whose data its rows are and what erasure does.

Why: erasure, export, retention and the record of processing (GDPR Art. 15, 17, 20, 30) must
all agree on where a person's data lives. The registry (``confide.privacy.registry``) says what
each *column* is; this map says how each *table* is reached from a data subject and what each
act does to the rows reached. ``confide.privacy.erasure`` walks it, ``docs/privacy.md`` renders
it, and ``tests/privacy/test_subject_map.py`` fails when a table is not mapped, a reach column
does not exist, or a row kept after erasure has no stated reason.

Owners (how a subject leads to rows):
- ``visitor``: the visitor row's id; ``subject``: the vault subject (visitor or operator);
  ``conversation``: the visitor's conversations; ``message``: their messages;
  ``operator``: the operator row's id; ``auth_session``: the operator's sessions.
- ``workspace`` / ``none``: the table is not about a person (settings, chains, queues).

What erasure does to the rows a reach finds (``on_erase``):
- ``delete_row``: the rows are deleted.
- ``shred_key``: the rows are deleted *and* the owner's data key is destroyed after commit, so
  every copy elsewhere (backups, dumps, WAL) stays unreadable.
- ``null_columns``: the named columns are set to NULL; the row stays (it is someone else's).
- ``keep_pseudonymised``: the rows stay, naming only a random id whose key is destroyed;
  ``keep_reason`` says why (audit chain, a stub other people's records point at).
"""

from __future__ import annotations

from confide.privacy.datamap import (
    AUDIT_KEEP_REASON,
    STUB_OPERATOR_REASON,
    SUBJECT_OWNERS,
    Export,
    LegalBasis,
    OnErase,
    Owner,
    PersonKind,
    Reach,
    SubjectRef,
    TableMap,
    not_personal,
)
from confide.privacy.subject_map_lifecycle import LIFECYCLE_TABLES

__all__ = [
    "SUBJECT_MAP",
    "SUBJECT_OWNERS",
    "Export",
    "LegalBasis",
    "OnErase",
    "Owner",
    "PersonKind",
    "Reach",
    "SubjectRef",
    "TableMap",
    "reaches_of",
    "unmapped_tables",
]

SUBJECT_MAP: dict[str, TableMap] = {
    "workspaces": not_personal("The tenant."),
    "groups": not_personal("Routing groups of a workspace."),
    "channel_endpoints": not_personal("Social/SMS endpoints of a workspace."),
    "workspace_widget_settings": not_personal("Widget appearance."),
    "workspace_privacy_settings": not_personal("Privacy settings of a workspace."),
    "spent_mfa_challenges": not_personal("Single-use MFA challenge ids until they expire."),
    "labels": not_personal("A workspace's labels for conversations."),
    "group_hours": not_personal("When a group answers chats (the widget's away notice)."),
    "audit_heads": not_personal("Head of each audit chain."),
    "audit_checkpoints": not_personal("Signed checkpoints of each audit chain."),
    "jobs": not_personal("Background work queue; payloads name ids, never personal data."),
    "job_schedules": not_personal("When periodic jobs next run."),
    "subjects": TableMap(
        "The vault's subject: the random id every personal record is keyed by.",
        "contract",
        "account",
        "exclude",
        (Reach("subject", "id", "keep_pseudonymised"),),
        keep_reason="A stub with `erased_at`, so the subject's id answers 410 Gone and audit "
        "records resolve; it holds nothing about the person.",
    ),
    "personal_fields": TableMap(
        "Identifiers of a person (name, e-mail, phone, attributes, profile).",
        "contract",
        "account",
        "include",
        (Reach("subject", "subject_id", "shred_key"),),
    ),
    "visitors": TableMap(
        "A visitor known by a random VUID.",
        "contract",
        "conversation",
        "include",
        (Reach("visitor", "id", "delete_row"),),
    ),
    "conversations": TableMap(
        "Routing and timing facts of one conversation.",
        "contract",
        "conversation",
        "include",
        (
            Reach("visitor", "visitor_id", "delete_row"),
            Reach("operator", "assignee_id", "keep_pseudonymised"),
        ),
        keep_reason="A visitor's conversation stays theirs when its operator is erased; it "
        "names the operator stub.",
    ),
    "messages": TableMap(
        "Envelope of each message (order, author, time).",
        "contract",
        "conversation",
        "include",
        (
            Reach("conversation", "conversation_id", "delete_row"),
            Reach("operator", "author_operator_id", "keep_pseudonymised"),
        ),
        keep_reason="Messages an erased operator wrote belong to the visitor's conversation; "
        "they name the operator stub.",
    ),
    "message_texts": TableMap(
        "Sealed message words.",
        "contract",
        "conversation",
        "include",
        (Reach("conversation", "conversation_id", "shred_key"),),
    ),
    "channel_deliveries": TableMap(
        "Outbound delivery attempts of a message.",
        "contract",
        "conversation",
        "exclude",
        (Reach("message", "message_id", "delete_row"),),
    ),
    "conversation_notes": TableMap(
        "Operators' internal notes about the visitor's conversation (sealed).",
        "legitimate_interest",
        "conversation",
        "include",
        (
            Reach("conversation", "conversation_id", "shred_key"),
            Reach("operator", "author_operator_id", "null_columns", ("author_operator_id",)),
        ),
    ),
    "conversation_labels": TableMap(
        "Which labels a conversation carries.",
        "contract",
        "conversation",
        "exclude",
        (Reach("conversation", "conversation_id", "delete_row"),),
    ),
    "search_terms": TableMap(
        "Keyed word hashes of a conversation's stored messages (searching transcripts).",
        "legitimate_interest",
        "conversation",
        "exclude",
        (Reach("conversation", "conversation_id", "delete_row"),),
    ),
    "relayed_client_ids": TableMap(
        "Exactly-once record of relayed messages.",
        "contract",
        "conversation",
        "exclude",
        (Reach("conversation", "conversation_id", "delete_row"),),
    ),
    "inbound_receipts": TableMap(
        "Exactly-once record of inbound channel messages.",
        "contract",
        "conversation",
        "exclude",
        (Reach("conversation", "conversation_id", "delete_row"),),
    ),
    "connection_logs": TableMap(
        "Security log of connections (IP sealed under the person's key).",
        "legitimate_interest",
        "connection_log",
        "include",
        (
            Reach("visitor", "visitor_id", "delete_row"),
            Reach("operator", "operator_id", "delete_row"),
        ),
    ),
    "consent_records": TableMap(
        "Proof of a visitor's consent decisions (Art. 7(1)).",
        "legal_obligation",
        "conversation",
        "include",
        (Reach("visitor", "visitor_id", "delete_row"),),
    ),
    "consent_requests": TableMap(
        "Consent texts a workspace asked for.",
        "legal_obligation",
        "none",
        "exclude",
        (Reach("operator", "created_by", "null_columns", ("created_by",)),),
    ),
    "api_keys": TableMap(
        "API keys of a workspace.",
        "contract",
        "none",
        "exclude",
        (Reach("operator", "created_by", "null_columns", ("created_by",)),),
    ),
    "operators": TableMap(
        "Operator accounts.",
        "contract",
        "account",
        "include",
        (Reach("operator", "id", "keep_pseudonymised"),),
        keep_reason=STUB_OPERATOR_REASON,
    ),
    "group_members": TableMap(
        "Which groups an operator works in.",
        "contract",
        "account",
        "include",
        (Reach("operator", "operator_id", "delete_row"),),
    ),
    "operator_presence": TableMap(
        "An operator's availability and capacity.",
        "contract",
        "account",
        "exclude",
        (Reach("operator", "operator_id", "delete_row"),),
    ),
    "auth_sessions": TableMap(
        "Sign-in sessions of an operator.",
        "contract",
        "account",
        "exclude",
        (Reach("operator", "operator_id", "delete_row"),),
    ),
    "refresh_tokens": TableMap(
        "Refresh-token hashes of a session.",
        "contract",
        "account",
        "exclude",
        (Reach("auth_session", "session_id", "delete_row"),),
    ),
    "totp_credentials": TableMap(
        "An operator's second factor.",
        "contract",
        "account",
        "exclude",
        (Reach("operator", "operator_id", "delete_row"),),
    ),
    "password_reset_tokens": TableMap(
        "Single-use password reset links (keyed hash only).",
        "contract",
        "account",
        "exclude",
        (Reach("operator", "operator_id", "delete_row"),),
    ),
    "saved_replies": TableMap(
        "An operator's personal canned answers (workspace-wide ones have no owner).",
        "contract",
        "account",
        "include",
        (Reach("operator", "owner_operator_id", "delete_row"),),
    ),
    "recovery_codes": TableMap(
        "Hashes of an operator's recovery codes.",
        "contract",
        "account",
        "exclude",
        (Reach("operator", "operator_id", "delete_row"),),
    ),
    "audit_events": TableMap(
        "Hash-chained record of who did what to whose data.",
        "legal_obligation",
        "audit",
        "as_pseudonym",
        (Reach("subject", "subject_id", "keep_pseudonymised"),),
        keep_reason=AUDIT_KEEP_REASON,
    ),
    "audit_event_subjects": TableMap(
        "Index of audit events by the subjects they name.",
        "legal_obligation",
        "audit",
        "as_pseudonym",
        (Reach("subject", "subject_id", "keep_pseudonymised"),),
        keep_reason=AUDIT_KEEP_REASON,
    ),
    # Data-subject requests (issue 14): the case stays as the record that it was answered.
    # Tables of the lifecycle work (attachments, requests, accountability, custody, retention).
    **LIFECYCLE_TABLES,
}


def unmapped_tables(table_names: list[str]) -> list[str]:
    """Tables of the schema that the subject map does not cover."""
    return [name for name in table_names if name not in SUBJECT_MAP]


def reaches_of(owner: Owner) -> list[tuple[str, Reach]]:
    """``(table, reach)`` for every table a subject of ``owner`` reaches, in map order."""
    return [
        (table, reach)
        for table, entry in SUBJECT_MAP.items()
        for reach in entry.reach
        if reach.owner == owner
    ]
