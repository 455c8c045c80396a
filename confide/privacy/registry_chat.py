"""Classification of the chat tables: visitors, conversations, messages and their sealed
texts, presence, and social/SMS channel endpoints and deliveries."""

from __future__ import annotations

from confide.privacy.datamap import (
    OPERATIONAL,
    Table,
    credential,
    identifier,
    personal,
)

CONVERSATION_READERS = (
    "The visitor (their own conversations); admins; managers for their groups; agents for "
    "conversations assigned to them or waiting in their groups. Restricted conversations: "
    "admins and the visitor only; archived ones: an archive custodian with an open "
    "justification only; support: only while an admin's grant lasts. Analysts never."
)

CHAT_TABLES: dict[str, Table] = {
    "visitors": Table(
        about="People chatting through the widget or a channel, known by a random VUID.",
        retention="Erased (identity, attributes, tokens, connection logs) by the retention job "
        "once their last conversation reached end of life and nothing else of theirs is kept.",
        protection="The VUID is random, issued by the server; identity is in the vault.",
        readers=CONVERSATION_READERS,
        columns={
            "id": OPERATIONAL,
            "workspace_id": OPERATIONAL,
            "vuid": personal("Recognises a returning browser (first-party storage)."),
            "subject_id": personal("Link to the visitor's identifiers in the vault."),
            "created_at": personal("First visit with a chat."),
            "last_seen_at": personal("Last activity."),
        },
    ),
    "conversations": Table(
        about="One conversation on a channel: routing and timing facts, no text.",
        retention="Active retention per channel (the workspace's policy), then the restricted "
        "archive, then end of life: destroyed, one anonymised statistics row kept.",
        protection="No identifier; access decided by the policy module for every read.",
        readers=CONVERSATION_READERS,
        columns={
            "id": OPERATIONAL,
            "workspace_id": OPERATIONAL,
            "visitor_id": personal("Whose conversation."),
            "channel": OPERATIONAL,
            "status": OPERATIONAL,
            "group_id": OPERATIONAL,
            "assignee_id": personal("Which operator handles it."),
            "external_thread_index": personal(
                "Keyed hash of the social/SMS thread id (may be a handle or phone number), "
                "to match later messages of the thread; never the id itself."
            ),
            "external_thread_sealed": personal(
                "The thread id, encrypted under the conversation's data key, to address "
                "replies; unreadable once that key is destroyed."
            ),
            "call_metadata": personal("Call/video facts (duration, direction); never media."),
            "last_seq": OPERATIONAL,
            "created_at": personal("When the visitor started it."),
            "first_response_at": personal("Response time statistics."),
            "assigned_at": OPERATIONAL,
            "closed_at": personal("Handling time statistics."),
            "csat_score": personal("Satisfaction rating given by the visitor."),
            "visitor_context": personal(
                "What the widget knew when the chat started (page views, seconds on site, "
                "language, path without query or fragment), kept in the browser until then: "
                "routing and engagement. Sealed under the conversation's data key."
            ),
            "lifecycle": OPERATIONAL,
            "restricted": personal(
                "The visitor restricted processing (GDPR Art. 18): hidden from agents."
            ),
            "held": OPERATIONAL,
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
            "author_operator_id": personal("Which operator wrote it."),
            "kind": OPERATIONAL,
            "created_at": personal("When it was written."),
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
            "body": identifier("What was said, shown to the participants."),
            "created_at": OPERATIONAL,
        },
    ),
    "operator_presence": Table(
        about="Whether an operator takes chats now, and their cap.",
        retention="While the operator exists.",
        protection="Database access control.",
        readers="Operators of the workspace.",
        columns={
            "operator_id": personal("Whose presence."),
            "availability": personal("Available or away."),
            "max_concurrent_chats": OPERATIONAL,
            "last_assigned_at": personal("Round-robin fairness."),
            "updated_at": personal("Last presence change."),
        },
    ),
    "conversation_notes": Table(
        about="Operators' internal notes on a conversation, masked by the redaction policy; "
        "never shown in the chat, included in the visitor's access export (Art. 15).",
        retention="With the conversation (deleted with it; unreadable once its key is "
        "destroyed by erasure).",
        protection="AES-256-GCM under the conversation's data key, bound to the note id; "
        "every addition and read is audited.",
        readers="Operators who may work the conversation.",
        columns={
            "id": OPERATIONAL,
            "conversation_id": OPERATIONAL,
            "author_operator_id": OPERATIONAL,
            "body_sealed": personal(
                "What operators noted about the visitor's conversation.",
                erasure="crypto-shredded with the conversation's key",
            ),
            "created_at": OPERATIONAL,
        },
    ),
    "labels": Table(
        about="A workspace's labels for conversations.",
        retention="Until an admin deletes the label.",
        protection="Workspace vocabulary, not about a person.",
        readers="Operators of the workspace.",
        columns={
            "id": OPERATIONAL,
            "workspace_id": OPERATIONAL,
            "name": OPERATIONAL,
            "created_at": OPERATIONAL,
        },
    ),
    "conversation_labels": Table(
        about="Which labels a conversation carries.",
        retention="With the conversation or the label.",
        protection="Ids only.",
        readers="Operators who may work the conversation.",
        columns={"conversation_id": OPERATIONAL, "label_id": OPERATIONAL},
    ),
    "search_terms": Table(
        about="The word index of stored transcripts: which conversation contains which "
        "word, as a keyed hash per workspace, so operators can search encrypted messages.",
        retention="With the conversation: deleted when it is deleted (retention) or its "
        "visitor erased.",
        protection="No word is stored: HMAC-SHA256 under a per-workspace key derived from "
        "the instance secret, truncated to 128 bits. Reveals which conversations share a "
        "word and how many distinct words each has, not the words themselves.",
        readers="Nobody directly; searches return only conversations the operator may see.",
        columns={
            "workspace_id": OPERATIONAL,
            "term_hash": personal(
                "Keyed hash of a word of the conversation (searching transcripts).",
                export=False,
                erasure="deleted with the conversation's entries",
            ),
            "conversation_id": OPERATIONAL,
        },
    ),
    "saved_replies": Table(
        about="Canned answers operators insert with /shortcut: workspace-wide or personal.",
        retention="Until deleted by their author (personal) or an admin (workspace-wide); "
        "personal ones are deleted with their operator.",
        protection="Workspace content written by operators, not about visitors; shown to "
        "operators of the workspace (personal ones to their owner only).",
        readers="Operators of the workspace (personal replies: their owner).",
        columns={
            "id": OPERATIONAL,
            "workspace_id": OPERATIONAL,
            "owner_operator_id": OPERATIONAL,
            "shortcut": OPERATIONAL,
            "body": personal(
                "Text of the reply; written by operators, it can name them.",
                erasure="deleted with its personal owner",
            ),
            "created_at": OPERATIONAL,
            "updated_at": OPERATIONAL,
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
            "signing_secret": credential("Nonce from which the webhook signing secret is derived."),
            "outbound_url": OPERATIONAL,
            "outbound_country": OPERATIONAL,
            "enabled": OPERATIONAL,
            "created_at": OPERATIONAL,
        },
    ),
}

CHAT_TABLES.update(
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
                "created_at": personal("When the reply was sent out."),
            },
        ),
    }
)
