"""Classification of the jobs, audit ledger, privacy settings, widget settings, connection
logs and consent ledger tables."""

from __future__ import annotations

from confide.privacy.datamap import (
    OPERATIONAL,
    Table,
    personal,
)

RECORD_TABLES: dict[str, Table] = {}

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

RECORD_TABLES.update(
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

RECORD_TABLES.update(
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
                "at": personal("When the act happened.", erasure=_AUDIT_KEPT),
                "actor_kind": OPERATIONAL,
                "actor_id": personal(
                    "Who acted: an operator, API key or visitor id.", erasure=_AUDIT_KEPT
                ),
                "action": OPERATIONAL,
                "subject_id": personal("Whose data the act concerned.", erasure=_AUDIT_KEPT),
                "subject_ids": personal(
                    "Whose data a read of several people returned (a list).", erasure=_AUDIT_KEPT
                ),
                "resource": personal(
                    "What was acted on (type and id, e.g. a conversation).", erasure=_AUDIT_KEPT
                ),
                "source": personal(
                    "Where from: keyed hash of the client address (truncated) and the node name.",
                    export=False,
                    erasure=_AUDIT_KEPT,
                ),
                "details_encrypted": personal(
                    "Personal details of the act, encrypted under the subject's data key.",
                    erasure="unreadable: the subject's key is destroyed; the ciphertext stays",
                ),
                "prev_hash": OPERATIONAL,
                "hash": OPERATIONAL,
            },
        ),
        "audit_event_subjects": Table(
            about="Index of the subjects named by audit events that concern several people "
            "(list reads): who read this person's data.",
            retention=AUDIT_RETENTION,
            protection="Derived from the hashed subject_ids of the event; holds ids only.",
            readers="Admins of the workspace (through the audit ledger).",
            columns={
                "subject_id": personal("Whose data was read.", erasure=_AUDIT_KEPT),
                "event_id": OPERATIONAL,
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

RECORD_TABLES.update(
    {
        "workspace_privacy_settings": Table(
            about="A workspace's privacy policy: redaction, IP handling, transcript storage, "
            "connection-log retention, whether chat needs consent, and the retention of "
            "conversations per channel (retention_days active, archive_days restricted "
            "archive, or delete_after_months), acted on by the daily retention job, and whether "
            "visitors may be offered page mirroring and co-browsing (mirroring_enabled).",
            retention="Until the workspace is closed.",
            protection="Changed only by admins, through PATCH /api/v1/workspace (audited).",
            readers="Admins of the workspace. The redaction switches and patterns and "
            "mirroring_enabled are also served with the widget's public config: the browser "
            "redacts the typing preview and the mirrored page before they leave it.",
            columns={
                c: OPERATIONAL
                for c in (
                    "workspace_id",
                    "redact_cards",
                    "redact_ibans",
                    "redact_phones",
                    "redact_emails",
                    "phone_region",
                    "phone_regions",
                    "redaction_patterns",
                    "ip_handling",
                    "store_transcripts",
                    "connection_log_retention_days",
                    "consent_required",
                    "retention_days",
                    "archive_days",
                    "delete_after_months",
                    "mirroring_enabled",
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
            retention="connection_log_retention_days of the workspace (default 365, at most 365), "
            "then deleted by the daily purge_connection_logs job (or `confide "
            "purge-connection-logs`).",
            protection="The address only as the workspace's ip_handling allows (none, /24 or /48 "
            "network, or full), encrypted (AES-256-GCM) under the person's data key; never "
            "written to log lines. User agent cut to 200 characters.",
            readers="The platform operator, for investigations (no API lists it).",
            columns={
                "id": OPERATIONAL,
                "workspace_id": OPERATIONAL,
                "visitor_id": personal("Which visitor connected."),
                "operator_id": personal("Which operator connected."),
                "kind": OPERATIONAL,
                "ip": personal(
                    "Where from (an online identifier, kept per ip_handling, encrypted), to "
                    "investigate abuse.",
                    erasure="unreadable: the person's key is destroyed",
                ),
                "user_agent": personal(
                    "Browser family, major version and platform only (e.g. 'Firefox 133 "
                    "(Windows)'), to investigate abuse; never the full user-agent string."
                ),
                "created_at": personal("When the connection was made."),
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
                "created_by": personal("Which admin published the text."),
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
                "visitor_id": personal("Whose decision."),
                "request_id": personal("The exact text version the visitor answered."),
                "purpose": personal("What the decision is about."),
                "version": personal("The version of the text shown."),
                "text_hash": personal("SHA-256 of the text shown."),
                "decision": personal("Granted, refused or withdrawn."),
                "conversation_id": personal("The conversation it was asked in, if any."),
                "decided_at": personal("When the visitor decided."),
            },
        ),
    }
)
