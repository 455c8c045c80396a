"""Registry entries for stored grants, operator permissions and legal holds (issues 13 and
18, custody part; merged into ``confide.privacy.registry.REGISTRY``)."""

from __future__ import annotations

from confide.privacy.datamap import OPERATIONAL, Table, personal

_FREE_TEXT = "Free text typed by an admin or custodian; the form asks for no visitor's data in it."

CUSTODY_TABLES: dict[str, Table] = {
    "access_grants": Table(
        about="Time-boxed access beyond a role: support access given by a workspace's admin "
        "(scope, duration, reason) and archive custodians' openings of archived conversations "
        "(incident-restore or legal-requisition with a reference).",
        retention="Kept with the workspace as its record of break-glass access; deleted with "
        "the conversation it names.",
        protection="No message text or identity: ids, scope, times and the stated reason. "
        "Every grant, read under it, expiry and revocation is also in the audit ledger.",
        readers="Admins of the workspace (console Access page, API).",
        columns={
            "id": OPERATIONAL,
            "workspace_id": OPERATIONAL,
            "kind": OPERATIONAL,
            "grantee_id": personal(
                "Who held the access (support account or custodian).",
                export=False,
                erasure="kept (operator stub)",
            ),
            "scope": OPERATIONAL,
            "conversation_id": OPERATIONAL,
            "reason": personal(_FREE_TEXT, export=False, erasure="kept"),
            "reference": personal("A legal requisition's reference.", export=False, erasure="kept"),
            "granted_by": personal("The admin who granted it.", export=False, erasure="kept"),
            "created_at": OPERATIONAL,
            "expires_at": OPERATIONAL,
            "revoked_at": OPERATIONAL,
            "revoked_by": personal("The admin who revoked it.", export=False, erasure="kept"),
            "expiry_recorded_at": OPERATIONAL,
        },
    ),
    "operator_permissions": Table(
        about="Permissions an admin gave an operator beyond their role (archive custodian).",
        retention="Until the admin dismisses the operator, or the account is erased.",
        protection="Ids only.",
        readers="Admins of the workspace; checked when a custodian opens an archive.",
        columns={
            "operator_id": personal("Who holds the permission.", export=False),
            "permission": OPERATIONAL,
            "granted_by": personal("The admin who gave it.", export=False, erasure="kept"),
            "granted_at": OPERATIONAL,
        },
    ),
    "legal_holds": Table(
        about="Legal holds (GDPR Art. 17(3)(e)) on a conversation, a data subject or a filter: "
        "erasure and retention skip what they cover.",
        retention="Kept as the workspace's record; a lifted hold keeps who lifted it and why.",
        protection="Ids, dates, channel and group only; the reasons are free text.",
        readers="Admins of the workspace.",
        columns={
            "id": OPERATIONAL,
            "workspace_id": OPERATIONAL,
            "target": OPERATIONAL,
            "conversation_id": OPERATIONAL,
            "visitor_id": personal(
                "The held data subject (a visitor).",
                export=False,
                erasure="set to NULL (only lifted holds can be)",
            ),
            "filter": OPERATIONAL,
            "reason": personal(_FREE_TEXT, export=False, erasure="kept"),
            "owner_id": personal(
                "The operator who answers for the hold.", export=False, erasure="kept"
            ),
            "created_by": personal("The admin who placed it.", export=False, erasure="kept"),
            "created_at": OPERATIONAL,
            "lifted_at": OPERATIONAL,
            "lifted_by": personal("The admin who lifted it.", export=False, erasure="kept"),
            "lift_reason": personal(_FREE_TEXT, export=False, erasure="kept"),
        },
    ),
}
