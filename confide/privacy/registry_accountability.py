"""Registry entries for the accountability tables (breach register, subprocessors, controller
details; ``confide.privacy.accountability``), merged into ``confide.privacy.registry``."""

from __future__ import annotations

from confide.privacy.datamap import OPERATIONAL, Table, personal

ACCOUNTABILITY_TABLES: dict[str, Table] = {
    "breaches": Table(
        about="The breach register (GDPR Art. 33(5)): what happened, what data and which "
        "categories of people, the likely consequences and the measures taken. Never the "
        "people themselves: who was exposed is derived from the audit ledger when asked.",
        retention="Kept as long as the workspace (the register documents compliance, "
        "Art. 5(2)); platform breaches as long as the deployment.",
        protection="Free text written by admins, who are told not to enter personal data.",
        readers="Admins of the workspace; the platform's operator for platform breaches.",
        columns={
            "id": OPERATIONAL,
            "workspace_id": OPERATIONAL,
            "title": OPERATIONAL,
            "nature": OPERATIONAL,
            "detected_at": OPERATIONAL,
            "aware_at": OPERATIONAL,
            "data_categories": OPERATIONAL,
            "subject_categories": OPERATIONAL,
            "approx_subjects": OPERATIONAL,
            "approx_records": OPERATIONAL,
            "consequences": OPERATIONAL,
            "measures": OPERATIONAL,
            "high_risk": OPERATIONAL,
            "affected_workspace_ids": OPERATIONAL,
            "recorded_by": personal("Which admin recorded the breach.", export=False),
            "created_at": OPERATIONAL,
            "closed_at": OPERATIONAL,
        },
    ),
    "breach_notifications": Table(
        about="Each notification of a breach (workspace admins, supervisory authority, data "
        "subjects), sent by e-mail or recorded as made by other means.",
        retention="With its breach.",
        protection="Counts of recipients only, never their addresses.",
        readers="Admins of the workspace; the platform's operator.",
        columns={
            "id": OPERATIONAL,
            "breach_id": OPERATIONAL,
            "audience": OPERATIONAL,
            "workspace_id": OPERATIONAL,
            "method": OPERATIONAL,
            "status": OPERATIONAL,
            "recipients": OPERATIONAL,
            "reference": OPERATIONAL,
            "created_at": OPERATIONAL,
            "sent_at": OPERATIONAL,
        },
    ),
    "subprocessors": Table(
        about="Recipients processing personal data on the deployment's or a workspace's "
        "behalf, with their country and the safeguard of a transfer outside the EEA.",
        retention="Until removed from the list.",
        protection="Names of organisations, not of people.",
        readers="Admins of the workspace (and the record of processing they export).",
        columns={
            "id": OPERATIONAL,
            "workspace_id": OPERATIONAL,
            "name": OPERATIONAL,
            "service": OPERATIONAL,
            "country": OPERATIONAL,
            "host": OPERATIONAL,
            "safeguard": OPERATIONAL,
            "safeguard_date": OPERATIONAL,
            "created_at": OPERATIONAL,
        },
    ),
    "controller_profiles": Table(
        about="The controller's published details for the record of processing (Art. "
        "30(1)(a)) and its supervisory authority (Art. 33).",
        retention="As long as the workspace.",
        protection="Published contact details of an organisation, its representative and "
        "its data protection officer (Art. 37(7) requires publishing them).",
        readers="Admins of the workspace (and the record of processing they export).",
        columns={
            "workspace_id": OPERATIONAL,
            "controller_name": OPERATIONAL,
            "controller_contact": OPERATIONAL,
            "representative": OPERATIONAL,
            "dpo_contact": OPERATIONAL,
            "authority_name": OPERATIONAL,
            "authority_email": OPERATIONAL,
            "updated_at": OPERATIONAL,
        },
    ),
}
