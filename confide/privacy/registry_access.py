"""Classification of the access tables: workspaces, people (subjects and their vault
fields), operators, groups, sessions, second factors and API keys."""

from __future__ import annotations

from confide.privacy.datamap import (
    OPERATIONAL,
    OPERATOR_READERS,
    Table,
    credential,
    identifier,
    personal,
)

ACCESS_TABLES: dict[str, Table] = {
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
            "id": personal("Pseudonymous key of the person.", erasure="kept as an erased stub"),
            "workspace_id": OPERATIONAL,
            "kind": OPERATIONAL,
            "created_at": personal("When Confide first stored data about the person."),
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
            "subject_id": personal("Whose field this is."),
            "name": OPERATIONAL,
            "value": identifier("The identifier itself, to show it to those allowed to see it."),
            "blind_index": identifier(
                "Keyed hash of the normalised e-mail/phone, to find a person without plaintext.",
                export=False,
            ),
            "updated_at": personal("When the field last changed."),
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
            "subject_id": personal("Link to the operator's identifiers in the vault."),
            "username": personal("Login handle chosen by the workspace."),
            "role": personal("What the operator may do."),
            "status": personal("Active or removed."),
            "password_hash": credential("Verifies the password (argon2id)."),
            "password_changed_at": personal("Security record."),
            "failed_login_count": personal("Brute-force protection."),
            "first_failed_login_at": personal("Brute-force protection window."),
            "locked_until": personal("Brute-force protection."),
            "last_login_at": personal("Security record shown to admins."),
            "created_at": personal("Account history."),
            "removed_at": personal("Account history."),
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
            "operator_id": personal("Membership of the operator."),
            "added_at": personal("Membership history."),
        },
    ),
    "auth_sessions": Table(
        about="Signed-in devices of an operator (one refresh-token family each).",
        retention="Until revoked or expired (refresh_token_ttl_seconds after last use).",
        protection="Revocable at once; no IP address or user agent is stored.",
        readers="The operator; admins (as a count).",
        columns={
            "id": OPERATIONAL,
            "operator_id": personal("Whose session."),
            "transport": OPERATIONAL,
            "created_at": personal("Sign-in time."),
            "last_refreshed_at": personal("Last activity."),
            "expires_at": OPERATIONAL,
            "revoked_at": personal("Sign-out time."),
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
            "token_hash": credential("Recognises the presented token."),
            "created_at": OPERATIONAL,
            "used_at": OPERATIONAL,
        },
    ),
    "password_reset_tokens": Table(
        about="Single-use password reset links mailed to an operator.",
        retention="Spent or replaced when used, when a newer link is sent, or after 30 minutes; "
        "deleted with the operator.",
        protection="Only a keyed hash (HMAC-SHA256 under the instance secret) is stored; the "
        "link itself exists only in the mail.",
        readers="Nobody (compared, never shown).",
        columns={
            "id": OPERATIONAL,
            "operator_id": OPERATIONAL,
            "token_hash": credential("Recognises the link presented."),
            "created_at": OPERATIONAL,
            "expires_at": OPERATIONAL,
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
            "operator_id": personal("Whose authenticator."),
            "secret": credential("Computes the expected one-time code."),
            "confirmed_at": personal("When MFA was turned on."),
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
            "operator_id": personal("Whose code."),
            "code_hash": credential("Recognises the code."),
            "created_at": OPERATIONAL,
            "used_at": personal("When a code was used."),
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
            "secret_hash": credential("Recognises the key."),
            "created_by": personal("Which admin created the key."),
            "created_at": OPERATIONAL,
            "last_used_at": OPERATIONAL,
            "revoked_at": OPERATIONAL,
        },
    ),
}
