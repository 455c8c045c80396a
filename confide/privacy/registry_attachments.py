"""Classification of attachments, a workspace's attachment limits, and purpose-bound visitor
attributes (issue 20)."""

from __future__ import annotations

from confide.privacy.datamap import OPERATIONAL, Table, personal

_SHREDDED = "crypto-shredded with the conversation's key; the row and its blobs are deleted"

ATTACHMENT_TABLES: dict[str, Table] = {
    "workspace_attachment_settings": Table(
        about="Whether a workspace accepts files in chats, the largest size and which types.",
        retention="While the workspace exists.",
        protection="Not about a person.",
        readers="Operators of the workspace; admins change it (audited).",
        columns={
            c: OPERATIONAL
            for c in ("workspace_id", "enabled", "max_bytes", "allowed_types", "updated_at")
        },
    ),
    "attachments": Table(
        about="Files a visitor or an operator sent in a web conversation. The bytes are not in "
        "the database: they are sealed blobs under blobs/attachments/ in the data dir (images "
        "re-encoded without metadata, with a thumbnail; documents as sent).",
        retention="With the conversation: deleted with it, its blobs after the commit; "
        "unreadable everywhere once the conversation's key is destroyed.",
        protection="Bytes, thumbnail and file name AES-256-GCM under the conversation's data "
        "key (chunked sealed streams), each bound to the attachment id; type judged by "
        "content; served only through short-lived signed links handed out after the policy "
        "check and an audit record; documents only as downloads, under a sandbox CSP.",
        readers="The visitor; operators who may read the conversation (every listing audited).",
        columns={
            "id": OPERATIONAL,
            "workspace_id": OPERATIONAL,
            "conversation_id": OPERATIONAL,
            "message_id": OPERATIONAL,
            "uploader_kind": OPERATIONAL,
            "uploader_operator_id": OPERATIONAL,
            "kind": OPERATIONAL,
            "file_type": OPERATIONAL,
            "content_type": OPERATIONAL,
            "size_bytes": OPERATIONAL,
            "width": OPERATIONAL,
            "height": OPERATIONAL,
            "name_sealed": personal("The file's name as sent.", erasure=_SHREDDED),
            "blob_key": personal(
                "Where the sealed bytes are (the file itself is personal data).",
                erasure=_SHREDDED,
            ),
            "thumbnail_key": personal("Where the sealed thumbnail is.", erasure=_SHREDDED),
            "created_at": OPERATIONAL,
        },
    ),
    "visitor_attribute_definitions": Table(
        about="Custom visitor attributes a workspace declares, each with its purpose and "
        "retention in days (e.g. shoe size, for size advice, 90 days): what may be collected, "
        "why, and for how long (GDPR Art. 5(1)(b),(e), Art. 30(1)(b),(f)).",
        retention="Until an admin removes the attribute (its values go with it).",
        protection="Not about a person; changes are audited.",
        readers="Operators of the workspace.",
        columns={
            c: OPERATIONAL
            for c in (
                "id",
                "workspace_id",
                "name",
                "purpose",
                "retention_days",
                "created_by",
                "created_at",
            )
        },
    ),
    "visitor_attribute_values": Table(
        about="A visitor's value of a declared attribute, kept only for that attribute's purpose.",
        retention="Each value expires on its own clock: retention_days after it was last set, "
        "the expire_visitor_attributes job deletes it (bounded batches).",
        protection="AES-256-GCM under the visitor's subject key, bound to the value id.",
        readers="Operators who may work the visitor's conversations; the visitor's export.",
        columns={
            "id": OPERATIONAL,
            "definition_id": OPERATIONAL,
            "visitor_id": OPERATIONAL,
            "value_sealed": personal(
                "The attribute's value, for the declared purpose only.",
                erasure="deleted; crypto-shredded with the subject's key",
            ),
            "set_at": personal("When the value was set."),
            "expires_at": OPERATIONAL,
        },
    ),
}
