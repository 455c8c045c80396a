"""The personal-data registry: every column of every table, classified.

Why: GDPR accountability (Art. 5(2), Art. 30) means knowing, for each piece of data, whether it
is personal, why it is kept, for how long, how it is protected, who can read it and what erasure
does to it. Keeping that knowledge next to the schema, and failing a test when a new column is
not classified (``tests/privacy/test_registry.py``), is what keeps it true. ``docs/privacy.md``
and the record of processing are generated from here.

Categories:
- ``identifier``: directly identifies a person (name, e-mail, ...). Lives only in the vault.
- ``personal``: about a person, without naming them (login handle, timestamps of their acts).
- ``credential``: secrets that prove identity; never exported, destroyed with the account.
- ``operational``: not about a person (ids, settings, counters of a workspace).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Category = Literal["identifier", "personal", "credential", "operational"]


@dataclass(frozen=True)
class Column:
    category: Category
    purpose: str = ""
    export: bool = False  # part of a data-subject access export
    erasure: str = ""  # what erasing the subject does to this value


@dataclass(frozen=True)
class Table:
    about: str  # whose data the rows are, and why the table exists
    retention: str
    protection: str
    readers: str
    columns: dict[str, Column] = field(default_factory=dict)


OPERATIONAL = Column("operational")


def _personal(purpose: str, *, export: bool = True, erasure: str = "deleted") -> Column:
    return Column("personal", purpose, export, erasure)


def _identifier(purpose: str, *, export: bool = True, erasure: str = "deleted") -> Column:
    return Column("identifier", purpose, export, erasure)


def _credential(purpose: str) -> Column:
    return Column("credential", purpose, False, "deleted")


OPERATOR_READERS = (
    "The operator; admins of the workspace; managers for agents of their groups; teammates "
    "see name, alias, job title and avatar only; analysts and support see none."
)

REGISTRY: dict[str, Table] = {
    "workspaces": Table(
        about="A customer of the platform: the data controller.",
        retention="Until the workspace is closed.",
        protection="Database access control.",
        readers="Operators of the workspace.",
        columns={
            "id": OPERATIONAL,
            "slug": OPERATIONAL,
            "name": OPERATIONAL,
            "mfa_required_for_admins": OPERATIONAL,
            "created_at": OPERATIONAL,
        },
    ),
    "subjects": Table(
        about="One row per person whose data Confide holds (operators now; visitors later). "
        "Links operational rows to the vault without naming anyone.",
        retention="While the person's data is kept; after erasure a stub with erased_at remains "
        "so that references resolve to 'erased'.",
        protection="Holds no identifier.",
        readers="Internal only.",
        columns={
            "id": _personal("Pseudonymous key of the person.", erasure="kept as an erased stub"),
            "workspace_id": OPERATIONAL,
            "kind": OPERATIONAL,
            "created_at": _personal("When Confide first stored data about the person."),
            "erased_at": OPERATIONAL,
        },
    ),
    "personal_fields": Table(
        about="The vault: direct identifiers of subjects, one row per field "
        "(operators: name, alias, e-mail, job title, avatar URL).",
        retention="Until erasure of the subject (operators: until their data is erased after "
        "removal, on request of the controller).",
        protection="Read and written only through confide.privacy.vault; values encrypted "
        "(AES-256-GCM) under the subject's data key with the row and field as associated data; "
        "looked up by a keyed blind index (HMAC-SHA256, per-workspace key), never by plaintext. "
        "Destroying the subject's key makes every copy unreadable, backups included.",
        readers=OPERATOR_READERS,
        columns={
            "subject_id": _personal("Whose field this is."),
            "name": OPERATIONAL,
            "value": _identifier("The identifier itself, to show it to those allowed to see it."),
            "blind_index": _identifier(
                "Keyed hash of the normalised e-mail/phone, to find a person without plaintext.",
                export=False,
            ),
            "updated_at": _personal("When the field last changed."),
        },
    ),
    "operators": Table(
        about="Staff of a workspace (and platform support accounts): login and role.",
        retention="While the account exists; removal deactivates it and frees the username.",
        protection="Password as argon2id hash; lockout counters; no identifier in this table.",
        readers=OPERATOR_READERS,
        columns={
            "id": OPERATIONAL,
            "workspace_id": OPERATIONAL,
            "subject_id": _personal("Link to the operator's identifiers in the vault."),
            "username": _personal("Login handle chosen by the workspace."),
            "role": _personal("What the operator may do."),
            "status": _personal("Active or removed."),
            "password_hash": _credential("Verifies the password (argon2id)."),
            "password_changed_at": _personal("Security record."),
            "failed_login_count": _personal("Brute-force protection."),
            "first_failed_login_at": _personal("Brute-force protection window."),
            "locked_until": _personal("Brute-force protection."),
            "last_login_at": _personal("Security record shown to admins."),
            "created_at": _personal("Account history."),
            "removed_at": _personal("Account history."),
        },
    ),
    "groups": Table(
        about="Teams of operators; each has its own waiting queue.",
        retention="Until deleted by an admin.",
        protection="Database access control.",
        readers="Admins; members see their own groups.",
        columns={c: OPERATIONAL for c in ("id", "workspace_id", "name", "created_at")},
    ),
    "group_members": Table(
        about="Which operator belongs to which group (decides what they may see).",
        retention="Until the membership or the operator is removed.",
        protection="Database access control.",
        readers="Admins; managers and agents for their groups.",
        columns={
            "group_id": OPERATIONAL,
            "operator_id": _personal("Membership of the operator."),
            "added_at": _personal("Membership history."),
        },
    ),
    "auth_sessions": Table(
        about="Signed-in devices of an operator (one refresh-token family each).",
        retention="Until revoked or expired (refresh_token_ttl_seconds after last use).",
        protection="Revocable at once; no IP address or user agent is stored.",
        readers="The operator; admins (as a count).",
        columns={
            "id": OPERATIONAL,
            "operator_id": _personal("Whose session."),
            "transport": OPERATIONAL,
            "created_at": _personal("Sign-in time."),
            "last_refreshed_at": _personal("Last activity."),
            "expires_at": OPERATIONAL,
            "revoked_at": _personal("Sign-out time."),
            "revoked_reason": OPERATIONAL,
        },
    ),
    "refresh_tokens": Table(
        about="Rotating refresh tokens of a session, to detect reuse of a stolen one.",
        retention="With their session.",
        protection="Only a keyed hash (HMAC-SHA256 under the instance secret) is stored.",
        readers="Nobody (compared, never shown).",
        columns={
            "id": OPERATIONAL,
            "session_id": OPERATIONAL,
            "token_hash": _credential("Recognises the presented token."),
            "created_at": OPERATIONAL,
            "used_at": OPERATIONAL,
        },
    ),
    "totp_credentials": Table(
        about="An operator's authenticator-app secret (two-factor authentication).",
        retention="Until MFA is turned off or the account is removed.",
        protection="Encrypted (AES-256-GCM) under the operator's data key; never shown after "
        "enrolment.",
        readers="Nobody (compared, never shown).",
        columns={
            "operator_id": _personal("Whose authenticator."),
            "secret": _credential("Computes the expected one-time code."),
            "confirmed_at": _personal("When MFA was turned on."),
            "last_used_step": OPERATIONAL,
            "created_at": OPERATIONAL,
        },
    ),
    "recovery_codes": Table(
        about="One-time recovery codes for a lost authenticator.",
        retention="Until used, regenerated, or MFA is turned off.",
        protection="Only keyed hashes are stored.",
        readers="Nobody (compared, never shown after creation).",
        columns={
            "id": OPERATIONAL,
            "operator_id": _personal("Whose code."),
            "code_hash": _credential("Recognises the code."),
            "created_at": OPERATIONAL,
            "used_at": _personal("When a code was used."),
        },
    ),
    "api_keys": Table(
        about="Keys for the host site's backend to call Confide.",
        retention="Until revoked (kept afterwards as a record, without the secret).",
        protection="The secret is shown once; only a keyed hash is stored.",
        readers="Admins of the workspace.",
        columns={
            "id": OPERATIONAL,
            "workspace_id": OPERATIONAL,
            "name": OPERATIONAL,
            "prefix": OPERATIONAL,
            "secret_hash": _credential("Recognises the key."),
            "created_by": _personal("Which admin created the key."),
            "created_at": OPERATIONAL,
            "last_used_at": OPERATIONAL,
            "revoked_at": OPERATIONAL,
        },
    ),
}

CONVERSATION_READERS = (
    "The visitor (their own conversations); admins; managers for their groups; agents for "
    "conversations assigned to them or waiting in their groups. Analysts and support never."
)

REGISTRY.update(
    {
        "visitors": Table(
            about="People chatting through the widget or a channel, known by a random VUID.",
            retention="With their conversations (retention policies follow in the retention "
            "issue).",
            protection="The VUID is random, issued by the server; identity is in the vault.",
            readers=CONVERSATION_READERS,
            columns={
                "id": OPERATIONAL,
                "workspace_id": OPERATIONAL,
                "vuid": _personal("Recognises a returning browser (first-party storage)."),
                "subject_id": _personal("Link to the visitor's identifiers in the vault."),
                "created_at": _personal("First visit with a chat."),
                "last_seen_at": _personal("Last activity."),
            },
        ),
        "conversations": Table(
            about="One conversation on a channel: routing and timing facts, no text.",
            retention="Active retention per channel, then archive, then anonymised statistics "
            "(retention issue).",
            protection="No identifier; access decided by the policy module for every read.",
            readers=CONVERSATION_READERS,
            columns={
                "id": OPERATIONAL,
                "workspace_id": OPERATIONAL,
                "visitor_id": _personal("Whose conversation."),
                "channel": OPERATIONAL,
                "status": OPERATIONAL,
                "group_id": OPERATIONAL,
                "assignee_id": _personal("Which operator handles it."),
                "external_thread_index": _personal(
                    "Keyed hash of the social/SMS thread id (may be a handle or phone number), "
                    "to match later messages of the thread; never the id itself."
                ),
                "external_thread_sealed": _personal(
                    "The thread id, encrypted under the conversation's data key, to address "
                    "replies; unreadable once that key is destroyed."
                ),
                "call_metadata": _personal("Call/video facts (duration, direction); never media."),
                "last_seq": OPERATIONAL,
                "created_at": _personal("When the visitor started it."),
                "first_response_at": _personal("Response time statistics."),
                "assigned_at": OPERATIONAL,
                "closed_at": _personal("Handling time statistics."),
                "csat_score": _personal("Satisfaction rating given by the visitor."),
                "visitor_context": _personal(
                    "What the widget knew when the chat started (page views, seconds on site, "
                    "language, path), kept in the browser until then: routing and engagement."
                ),
            },
        ),
        "messages": Table(
            about="Envelope of each message: order, author, time. The words are in the vault.",
            retention="With the conversation.",
            protection="No text here; per-conversation sequence and client id for delivery.",
            readers=CONVERSATION_READERS,
            columns={
                "id": OPERATIONAL,
                "conversation_id": OPERATIONAL,
                "seq": OPERATIONAL,
                "client_id": OPERATIONAL,
                "author_kind": OPERATIONAL,
                "author_operator_id": _personal("Which operator wrote it."),
                "kind": OPERATIONAL,
                "created_at": _personal("When it was written."),
                "redactions": OPERATIONAL,
            },
        ),
        "message_texts": Table(
            about="The vault's message bodies and survey comments.",
            retention="With the conversation.",
            protection="Read and written only through confide.privacy.vault; encrypted "
            "(AES-256-GCM) under the conversation's data key, bound to the message id.",
            readers=CONVERSATION_READERS,
            columns={
                "message_id": OPERATIONAL,
                "conversation_id": OPERATIONAL,
                "body": _identifier("What was said, shown to the participants."),
                "created_at": OPERATIONAL,
            },
        ),
        "operator_presence": Table(
            about="Whether an operator takes chats now, and their cap.",
            retention="While the operator exists.",
            protection="Database access control.",
            readers="Operators of the workspace.",
            columns={
                "operator_id": _personal("Whose presence."),
                "availability": _personal("Available or away."),
                "max_concurrent_chats": OPERATIONAL,
                "last_assigned_at": _personal("Round-robin fairness."),
                "updated_at": _personal("Last presence change."),
            },
        ),
        "channel_endpoints": Table(
            about="A workspace's bridge for social/SMS: webhook signing secret, outbound URL.",
            retention="Until removed by an admin.",
            protection="The secret signs both directions (HMAC-SHA256); shown once, on creation "
            "and rotation. The row holds only a random nonce: the secret is derived from it under "
            "the instance secret, so a copy of the database alone cannot sign.",
            readers="Admins of the workspace.",
            columns={
                "id": OPERATIONAL,
                "workspace_id": OPERATIONAL,
                "channel": OPERATIONAL,
                "signing_secret": _credential(
                    "Nonce from which the webhook signing secret is derived."
                ),
                "outbound_url": OPERATIONAL,
                "enabled": OPERATIONAL,
                "created_at": OPERATIONAL,
            },
        ),
    }
)

REGISTRY.update(
    {
        "channel_deliveries": Table(
            about="Each operator reply to a social/SMS thread and whether the channel's endpoint "
            "received it; failures stay visible to admins.",
            retention="With the message it delivers.",
            protection="No text, thread id or phone number: the body is read from the vault at "
            "each attempt and sent only to the endpoint the admin configured, signed.",
            readers="Admins of the workspace.",
            columns={
                "id": OPERATIONAL,
                "workspace_id": OPERATIONAL,
                "message_id": OPERATIONAL,
                "channel": OPERATIONAL,
                "status": OPERATIONAL,
                "attempts": OPERATIONAL,
                "last_status_code": OPERATIONAL,
                "last_error": OPERATIONAL,
                "next_attempt_at": OPERATIONAL,
                "created_at": _personal("When the reply was sent out."),
            },
        ),
    }
)

_JOB_COLUMNS = (
    "id",
    "kind",
    "status",
    "dedupe_key",
    "payload",
    "cursor",
    "items_done",
    "batches_done",
    "attempts",
    "max_attempts",
    "run_after",
    "locked_by",
    "lease_expires_at",
    "heartbeat_at",
    "last_error_class",
    "last_error",
    "created_at",
    "started_at",
    "finished_at",
)

REGISTRY.update(
    {
        "jobs": Table(
            about="Background jobs (purging connection logs, retrying channel replies, ...): "
            "which kind, its state, lease, attempts and progress. No personal data: a payload "
            "holds ids only (checked when the job is queued: keys the kind declares, short "
            "scalar values), the cursor ids and timestamps, a failure the exception's class "
            "and a message Confide wrote, never the exception's own text.",
            retention="job_history_days after the job finished (default 30), then deleted by "
            "the prune_finished_jobs job.",
            protection="Holds no personal data by construction (see above).",
            readers="The platform operator (`confide jobs list`).",
            columns={c: OPERATIONAL for c in _JOB_COLUMNS},
        ),
        "job_schedules": Table(
            about="When each recurring job kind is next due.",
            retention="While the kind exists.",
            protection="Holds no personal data.",
            readers="Workers.",
            columns={c: OPERATIONAL for c in ("kind", "next_run_at", "last_enqueued_at")},
        ),
    }
)


AUDIT_RETENTION = (
    "Append-only: Confide never edits or deletes a record (accountability, GDPR Art. 5(2); "
    "kept under Art. 17(3)(b) and (e)). Erasing a subject destroys their data key, which makes "
    "the personal details unreadable while the chain still verifies."
)
_AUDIT_KEPT = "kept (pseudonymous), so the chain still verifies"

REGISTRY.update(
    {
        "audit_events": Table(
            about="The audit ledger: every read of personal data, setting change, sign-in, key "
            "operation and support access, hash-chained per workspace.",
            retention=AUDIT_RETENTION,
            protection="SHA-256 hash chain over every field (tampering is reported by "
            "`confide audit verify`); personal details AES-256-GCM under the subject's data key, "
            "bound to the event id; the client address only as a truncated keyed hash.",
            readers="Admins of the workspace (reading it is itself recorded).",
            columns={
                "id": OPERATIONAL,
                "workspace_id": OPERATIONAL,
                "seq": OPERATIONAL,
                "at": _personal("When the act happened.", erasure=_AUDIT_KEPT),
                "actor_kind": OPERATIONAL,
                "actor_id": _personal(
                    "Who acted: an operator, API key or visitor id.", erasure=_AUDIT_KEPT
                ),
                "action": OPERATIONAL,
                "subject_id": _personal("Whose data the act concerned.", erasure=_AUDIT_KEPT),
                "resource": _personal(
                    "What was acted on (type and id, e.g. a conversation).", erasure=_AUDIT_KEPT
                ),
                "source": _personal(
                    "Where from: keyed hash of the client address (truncated) and the node name.",
                    export=False,
                    erasure=_AUDIT_KEPT,
                ),
                "details_encrypted": _personal(
                    "Personal details of the act, encrypted under the subject's data key.",
                    erasure="unreadable: the subject's key is destroyed; the ciphertext stays",
                ),
                "prev_hash": OPERATIONAL,
                "hash": OPERATIONAL,
            },
        ),
        "audit_heads": Table(
            about="The last sequence number and hash of each audit chain, locked to append.",
            retention="While the chain exists.",
            protection="Database access control; checked against the chain by verification.",
            readers="Internal only.",
            columns={c: OPERATIONAL for c in ("chain_id", "seq", "hash")},
        ),
        "audit_checkpoints": Table(
            about="Audit chain heads signed with the workspace's Ed25519 key, to export and "
            "keep elsewhere.",
            retention=AUDIT_RETENTION,
            protection="Signed; the private key lives only in the key store, sealed by the "
            "keyring.",
            readers="Admins and the platform operator (`confide audit export-checkpoints`).",
            columns={
                c: OPERATIONAL
                for c in ("id", "workspace_id", "seq", "head_hash", "signature", "public_key", "at")
            },
        ),
    }
)

CONSENT_RETENTION = (
    "Append-only while the visitor exists: the proof of consent (GDPR Art. 7(1)) outlives a "
    "withdrawal; deleted with the visitor."
)

REGISTRY.update(
    {
        "workspace_privacy_settings": Table(
            about="A workspace's privacy policy: redaction, IP handling, transcript storage, "
            "connection-log retention, whether chat needs consent, and the active retention of "
            "conversations per channel (retention_days: stored and validated now; the "
            "retention job of a later release acts on it).",
            retention="Until the workspace is closed.",
            protection="Changed only by admins, through PATCH /api/v1/workspace (audited).",
            readers="Admins of the workspace.",
            columns={
                c: OPERATIONAL
                for c in (
                    "workspace_id",
                    "redact_cards",
                    "redact_ibans",
                    "redact_phones",
                    "redact_emails",
                    "phone_region",
                    "redaction_patterns",
                    "ip_handling",
                    "store_transcripts",
                    "connection_log_retention_days",
                    "consent_required",
                    "retention_days",
                    "updated_at",
                )
            },
        ),
        "workspace_widget_settings": Table(
            about="How a workspace's chat widget looks and behaves: colours, texts, pre-chat "
            "form, satisfaction survey, engagement rules, origins allowed to embed it.",
            retention="Until the workspace is closed.",
            protection="Changed only by admins, through PATCH /api/v1/workspace/widget "
            "(audited); served publicly to the widget (GET /api/v1/widget/{workspace}/config).",
            readers="Anyone: the widget shows it on the host site.",
            columns={
                c: OPERATIONAL
                for c in (
                    "workspace_id",
                    "accent_color",
                    "position",
                    "title",
                    "greeting",
                    "launcher_label",
                    "prechat_enabled",
                    "prechat_ask_name",
                    "prechat_ask_email",
                    "csat_enabled",
                    "engagement_rules",
                    "allowed_origins",
                    "theme",
                    "strings",
                    "updated_at",
                )
            },
        ),
        "group_hours": Table(
            about="When a group answers chats: time zone, weekly hours, holidays, promised "
            "reply time (the widget's away notice).",
            retention="Until the group is removed.",
            protection="Changed only by admins through PUT /api/v1/groups/{id}/hours (audited).",
            readers="Anyone: the widget shows the next opening time.",
            columns={
                c: OPERATIONAL
                for c in (
                    "group_id",
                    "workspace_id",
                    "time_zone",
                    "weekly",
                    "holidays",
                    "expected_reply_minutes",
                    "updated_at",
                )
            },
        ),
        "connection_logs": Table(
            about="Security log of connections: a visitor created, a widget or console socket "
            "opened (legitimate interest: abuse and incident investigation).",
            retention="connection_log_retention_days of the workspace (default 7, at most 365), "
            "then deleted by the daily purge_connection_logs job (or `confide "
            "purge-connection-logs`).",
            protection="The address only as the workspace's ip_handling allows (none, /24 or /48 "
            "network, or full), encrypted (AES-256-GCM) under the person's data key; never "
            "written to log lines. User agent cut to 200 characters.",
            readers="The platform operator, for investigations (no API lists it).",
            columns={
                "id": OPERATIONAL,
                "workspace_id": OPERATIONAL,
                "visitor_id": _personal("Which visitor connected."),
                "operator_id": _personal("Which operator connected."),
                "kind": OPERATIONAL,
                "ip": _personal(
                    "Where from (an online identifier, kept per ip_handling, encrypted), to "
                    "investigate abuse.",
                    erasure="unreadable: the person's key is destroyed",
                ),
                "user_agent": _personal(
                    "Browser family, major version and platform only (e.g. 'Firefox 133 "
                    "(Windows)'), to investigate abuse; never the full user-agent string."
                ),
                "created_at": _personal("When the connection was made."),
            },
        ),
        "consent_requests": Table(
            about="Every version of the consent texts a workspace shows (chat, preview, "
            "mirroring, co-browsing), with the SHA-256 of each exact text.",
            retention="Never edited or deleted while a decision refers to it.",
            protection="Versions are immutable: a new text is a new version.",
            readers="Admins; visitors see the active versions.",
            columns={
                "id": OPERATIONAL,
                "workspace_id": OPERATIONAL,
                "purpose": OPERATIONAL,
                "version": OPERATIONAL,
                "text": OPERATIONAL,
                "text_hash": OPERATIONAL,
                "created_by": _personal("Which admin published the text."),
                "created_at": OPERATIONAL,
                "superseded_at": OPERATIONAL,
                "language": OPERATIONAL,
            },
        ),
        "consent_records": Table(
            about="The consent ledger: each decision of a visitor (granted, refused, withdrawn) "
            "on an exact text version.",
            retention=CONSENT_RETENTION,
            protection="Appended, never updated; exported as a proof signed with the "
            "workspace's Ed25519 key.",
            readers="The visitor (their own proof); admins and the host's backend (API key), "
            "each read audited.",
            columns={
                "id": OPERATIONAL,
                "workspace_id": OPERATIONAL,
                "visitor_id": _personal("Whose decision."),
                "request_id": _personal("The exact text version the visitor answered."),
                "purpose": _personal("What the decision is about."),
                "version": _personal("The version of the text shown."),
                "text_hash": _personal("SHA-256 of the text shown."),
                "decision": _personal("Granted, refused or withdrawn."),
                "conversation_id": _personal("The conversation it was asked in, if any."),
                "decided_at": _personal("When the visitor decided."),
            },
        ),
    }
)


def unclassified_columns(tables: dict[str, list[str]]) -> list[str]:
    """``table.column`` names present in the schema but missing from the registry."""
    missing = []
    for table, columns in tables.items():
        entry = REGISTRY.get(table)
        for column in columns:
            if entry is None or column not in entry.columns:
                missing.append(f"{table}.{column}")
    return missing


def stale_entries(tables: dict[str, list[str]]) -> list[str]:
    """Registry entries that no longer exist in the schema."""
    stale = []
    for table, entry in REGISTRY.items():
        for column in entry.columns:
            if column not in tables.get(table, []):
                stale.append(f"{table}.{column}")
    return stale
