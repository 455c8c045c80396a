"""Technical and organisational measures (GDPR Art. 32) as they are actually configured, and
the retention of conversations per channel, for the record of processing.

Each measure is read from a setting, so the record says what is enabled, not what could be.
:func:`retention_days_by_channel` reads the active period of the retention policy
(``confide.privacy.retention``) and :func:`backup_schedule` the worker's daily backup job
(``confide.backup``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confide.core.config import Settings


def retention_days_by_channel(privacy: Mapping[str, Any]) -> dict[str, int]:
    """Days conversations are kept, per channel, from the rendered privacy settings."""
    return {str(channel): int(days) for channel, days in sorted(privacy["retention_days"].items())}


def backup_schedule(settings: Settings) -> str:
    """What Confide backs up, and when, in this deployment (the worker's ``backup`` job)."""
    return (
        "A daily backup of the database by the worker, compressed and encrypted "
        "(AES-256-GCM in authenticated chunks) under a key that is never stored beside it, "
        f"kept at most {settings.backup_keep_days} days (never longer than the shortest "
        "retention of a workspace), then pruned with its key destroyed. The key store is "
        "backed up separately, as wrapped keys only. A restore re-applies every erasure and "
        "retention deletion recorded after the backup (erasure journal)."
    )


def _item(label: str, value: str) -> dict[str, str]:
    return {"label": label, "value": value}


def _redaction(privacy: Mapping[str, Any]) -> str:
    kinds = [
        name
        for name, on in (
            ("card numbers", privacy["redact_cards"]),
            ("IBANs", privacy["redact_ibans"]),
            ("phone numbers", privacy["redact_phones"]),
            ("e-mail addresses", privacy["redact_emails"]),
        )
        if on
    ]
    if privacy["redaction_patterns"]:
        kinds.append(f"{len(privacy['redaction_patterns'])} custom pattern(s)")
    if not kinds:
        return "Off: messages are stored as typed."
    return "Masked before storage: " + ", ".join(kinds) + "."


def controller_measures(facts: Mapping[str, Any], settings: Settings) -> list[dict[str, str]]:
    """Measures of one workspace (Art. 30(1)(g)), from its settings and the deployment's."""
    privacy = facts["privacy"]
    workspace = facts["workspace"]
    ip = {
        "none": "not stored",
        "truncated": "truncated to the /24 (IPv4) or /48 (IPv6) network",
        "full": "stored in full",
    }[privacy["ip_handling"]]
    return [
        _item(
            "Multi-factor authentication",
            "Required for admins" if workspace.mfa_required_for_admins else "Optional for admins",
        ),
        _item(
            "IP addresses of visitors",
            f"{ip}; connection logs kept {privacy['connection_log_retention_days']} days",
        ),
        _item(
            "Transcripts",
            "Stored, encrypted per conversation"
            if privacy["store_transcripts"]
            else "Off: message texts are never written to the database",
        ),
        _item("Redaction", _redaction(privacy)),
        _item(
            "Consent before chatting",
            "Required" if privacy["consent_required"] else "Not required",
        ),
        *processor_measures(settings),
    ]


def processor_measures(settings: Settings) -> list[dict[str, str]]:
    """Measures of the deployment, common to every workspace (Art. 30(2)(d))."""
    keystore = (
        "a separate database" if settings.keystore_url else "a separate SQLite file (keys.db)"
    )
    return [
        _item(
            "Encryption at rest",
            "AES-256-GCM with a data key per data subject and per conversation; keys wrapped "
            f"by a master key and kept in {keystore}; erasure destroys the keys.",
        ),
        _item(
            "Access control",
            "Roles (admin, manager, agent, analyst); support sees nothing without a grant; "
            f"sign-in locked after {settings.lockout_threshold} failures for "
            f"{settings.lockout_duration_seconds // 60} minutes.",
        ),
        _item(
            "Sessions",
            f"Access tokens live {settings.access_token_ttl_seconds // 60} minutes; console "
            f"cookies {'Secure, ' if settings.cookie_secure else ''}HttpOnly, SameSite=Strict.",
        ),
        _item(
            "Audit",
            "Hash-chained ledger of every act and every read of personal data, with signed "
            "checkpoints; details encrypted under the subject's key.",
        ),
        _item(
            "Outbound requests",
            "Only to public addresses (SSRF checks at configuration and at each request)"
            + (
                f"; allowed private networks: {', '.join(settings.outbound_allowed_networks)}"
                if settings.outbound_allowed_networks
                else ""
            ),
        ),
        _item("Backups", backup_schedule(settings)),
        _item(
            "Logs",
            "No personal data in logs: client addresses, query strings and exception texts "
            "are removed.",
        ),
    ]
