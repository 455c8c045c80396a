"""Classification of the data-subject request tables: cases, their history, portal links,
processing limits, request settings and the sealed mail outbox (``confide.privacy.requests``)."""

from __future__ import annotations

from confide.privacy.datamap import OPERATIONAL, Table, personal

_CASE_KEPT = "kept (pseudonymous): proof that the request was answered (Art. 5(2), 12)"

REQUEST_TABLES: dict[str, Table] = {
    "dsr_cases": Table(
        about="Requests of data subjects (access, portability, rectification, erasure, "
        "restriction, objection): whose, how they arrived, deadlines, status and the signed "
        "receipt.",
        retention="Kept as the controller's record that the request was answered; the "
        "requester's address is removed (and its key destroyed) when the case completes.",
        protection="The requester's address is AES-256-GCM under the case's own data key; the "
        "receipt and history hold counts and field names only.",
        readers="Admins of the workspace; the command line.",
        columns={
            "id": OPERATIONAL,
            "workspace_id": OPERATIONAL,
            "subject_id": personal("Whose request it is.", erasure=_CASE_KEPT),
            "visitor_id": personal("The visitor the request concerns.", erasure="set to null"),
            "kind": personal("What the person asked for.", erasure=_CASE_KEPT),
            "channel": personal("How the request arrived.", erasure=_CASE_KEPT),
            "status": OPERATIONAL,
            "processing": personal("The processing objected to.", erasure=_CASE_KEPT),
            "received_at": personal("When it arrived.", erasure=_CASE_KEPT),
            "verified_at": personal("When the identity was verified.", erasure=_CASE_KEPT),
            "due_at": OPERATIONAL,
            "target_at": OPERATIONAL,
            "completed_at": personal("When it was answered.", erasure=_CASE_KEPT),
            "extension_reason": personal("Why the deadline was extended.", erasure=_CASE_KEPT),
            "rejection_reason": personal("Why the request was refused.", erasure=_CASE_KEPT),
            "assignee_id": personal("The admin handling it.", export=False, erasure="kept"),
            "contact_sealed": personal(
                "Where to send the answer: the requester's address, sealed under the case key.",
                erasure="removed at completion; its key destroyed",
            ),
            "receipt": personal("The signed receipt (counts, no identifiers).", erasure=_CASE_KEPT),
            "export_key": personal("Where the access export ZIP is stored.", erasure=_CASE_KEPT),
        },
    ),
    "dsr_case_events": Table(
        about="History of each case: who changed what and why (field names, never values).",
        retention="As its case.",
        protection="Holds no identifier; reasons are written by admins for the person.",
        readers="Admins of the workspace.",
        columns={
            "id": OPERATIONAL,
            "case_id": OPERATIONAL,
            "at": personal("When the step happened.", erasure=_CASE_KEPT),
            "actor_kind": OPERATIONAL,
            "actor_id": personal("The operator who acted.", export=False, erasure="set to null"),
            "action": personal("What was done.", erasure=_CASE_KEPT),
            "status": OPERATIONAL,
            "reason": personal("Why (extension, rejection, blocked).", erasure=_CASE_KEPT),
            "details": personal("Counts and field names of the step.", erasure=_CASE_KEPT),
        },
    ),
    "portal_links": Table(
        about="One-time links of the privacy portal that prove control of an e-mail address.",
        retention="Deleted (with their key) by purge_portal_links 30 minutes after expiry.",
        protection="Only a keyed hash of the link's secret; the address AES-256-GCM under the "
        "link's own key, destroyed with the row.",
        readers="Nobody; the portal compares hashes.",
        columns={
            "id": OPERATIONAL,
            "workspace_id": OPERATIONAL,
            "token_hash": personal("Keyed hash of the link's secret.", export=False),
            "address_sealed": personal("The address the link was sent to, sealed.", export=False),
            "created_at": OPERATIONAL,
            "expires_at": OPERATIONAL,
            "verified_at": OPERATIONAL,
            "attempts": OPERATIONAL,
        },
    ),
    "dsr_processing_limits": Table(
        about="Restrictions (Art. 18) and objections (Art. 21) in force for a subject.",
        retention="While the subject exists; deleted by erasure.",
        protection="Ids and processing names only.",
        readers="Admins; the modules that must honour them.",
        columns={
            "id": OPERATIONAL,
            "workspace_id": OPERATIONAL,
            "subject_id": personal("Whose processing is limited."),
            "kind": personal("Restriction or objection."),
            "processing": personal("Which processing is stopped."),
            "case_id": OPERATIONAL,
            "since": personal("Since when."),
            "lifted_at": personal("When it was lifted."),
        },
    ),
    "dsr_settings": Table(
        about="A workspace's own answer target and portal options.",
        retention="While the workspace exists.",
        protection="Holds no personal data.",
        readers="Admins of the workspace.",
        columns={c: OPERATIONAL for c in ("workspace_id", "target_days", "instant_download")},
    ),
    "mail_outbox": Table(
        about="Mails waiting to be sent (request links, receipts, digests).",
        retention="Deleted with its key as soon as the mail has left.",
        protection="Recipient, subject and text AES-256-GCM under the row's own key.",
        readers="The send_mail job.",
        columns={
            "id": OPERATIONAL,
            "workspace_id": OPERATIONAL,
            "sealed": personal("The sealed mail.", export=False, erasure="deleted once sent"),
            "created_at": OPERATIONAL,
        },
    ),
}
