"""The subject data map, continued: the tables of the lifecycle work.

Attachments and purpose-bound attributes, data-subject requests, accountability (breaches,
subprocessors), custody (grants, legal holds) and retention. The vocabulary and the rules are
those of :mod:`confide.privacy.subject_map`, which merges these entries into ``SUBJECT_MAP``.
"""

from __future__ import annotations

from confide.privacy.datamap import (
    Reach,
    TableMap,
    not_personal,
)

LIFECYCLE_TABLES: dict[str, TableMap] = {
    "workspace_attachment_settings": not_personal("A workspace's attachment limits."),
    "attachments": TableMap(
        "Files sent in a conversation (bytes sealed in the blob store, name sealed).",
        "contract",
        "conversation",
        "include",
        (
            Reach("conversation", "conversation_id", "shred_key"),
            Reach("operator", "uploader_operator_id", "null_columns", ("uploader_operator_id",)),
        ),
        blob_columns=("blob_key", "thumbnail_key"),
    ),
    "visitor_attribute_definitions": TableMap(
        "Custom visitor attributes a workspace declares, with purpose and retention.",
        "not_personal",
        "none",
        "exclude",
        (Reach("operator", "created_by", "null_columns", ("created_by",)),),
    ),
    "visitor_attribute_values": TableMap(
        "A visitor's values of declared attributes (sealed; each expires on its own clock).",
        "contract",
        "attribute",
        "include",
        (Reach("visitor", "visitor_id", "shred_key"),),
    ),
    "breaches": TableMap(
        "The breach register (Art. 33(5)); names the admin who recorded each breach.",
        "legal_obligation",
        "audit",
        "exclude",
        (Reach("operator", "recorded_by", "keep_pseudonymised"),),
        keep_reason="The register must show who recorded a breach (Art. 33(5)); it names the "
        "operator stub.",
    ),
    "breach_notifications": not_personal("Notifications of a breach (counts, never addresses)."),
    "subprocessors": not_personal("Recipients of the deployment and of a workspace."),
    "controller_profiles": not_personal("The controller's published details (Art. 30(1)(a))."),
    "access_grants": TableMap(
        "Support access and archive openings: who could read what, when and why.",
        "legal_obligation",
        "account",
        "exclude",
        (
            Reach("conversation", "conversation_id", "delete_row"),
            Reach("operator", "grantee_id", "keep_pseudonymised"),
        ),
        keep_reason="The workspace's record of break-glass access (Art. 5(2)); it names the "
        "holder's operator stub.",
    ),
    "operator_permissions": TableMap(
        "Permissions given to an operator beyond their role (archive custodian).",
        "contract",
        "account",
        "exclude",
        (Reach("operator", "operator_id", "delete_row"),),
    ),
    "legal_holds": TableMap(
        "Legal holds: what must not be destroyed, why and who answers for it.",
        "legal_obligation",
        "none",
        "exclude",
        (
            Reach("visitor", "visitor_id", "null_columns", ("visitor_id",)),
            Reach("conversation", "conversation_id", "null_columns", ("conversation_id",)),
        ),
    ),
    "dsr_cases": TableMap(
        "A data subject's request and its receipt.",
        "legal_obligation",
        "none",
        "include",
        (
            Reach("subject", "subject_id", "keep_pseudonymised"),
            Reach("visitor", "visitor_id", "null_columns", ("visitor_id",)),
            Reach("operator", "assignee_id", "null_columns", ("assignee_id",)),
        ),
        keep_reason="Proof that the request was answered (Art. 5(2), 12): the case names the "
        "random subject id only; the requester's address was removed at completion.",
    ),
    "dsr_case_events": TableMap(
        "History of a request.",
        "legal_obligation",
        "none",
        "include",
        (Reach("operator", "actor_id", "null_columns", ("actor_id",)),),
    ),
    "portal_links": TableMap(
        "One-time privacy portal links (sealed address, hashed secret).",
        "legal_obligation",
        "none",
        "exclude",
    ),
    "dsr_processing_limits": TableMap(
        "Restrictions and objections in force.",
        "legal_obligation",
        "account",
        "include",
        (Reach("subject", "subject_id", "delete_row"),),
    ),
    "dsr_settings": not_personal("A workspace's request target and portal options."),
    "mail_outbox": TableMap(
        "Sealed mails waiting for the send_mail job.",
        "legitimate_interest",
        "none",
        "exclude",
    ),
    # Retention (issue 13).
    "conversation_statistics": TableMap(
        "Anonymised figures of a conversation, kept for reports after its end of life.",
        "legitimate_interest",
        "none",
        "exclude",
        (Reach("conversation", "conversation_id", "null_columns", ("conversation_id",)),),
    ),
    "retention_runs": not_personal("Reports of retention runs: counts per channel, no ids."),
    "retention_run_counts": not_personal("Counts of a retention run per workspace and channel."),
    "retention_alerts": not_personal("When admins were last told retention is overdue."),
}
